/* The content hash of a regular file (docs/FORMAT-tree.md, "Content hash").
 * Two rules, told apart by the version of the tree blob holding the file:
 *
 *  rule 1 (version-1 repositories): SHA-256 over, for each stored extent in
 *  order, its data bytes followed by u64 offset || u64 length, then u64 size.
 *  Every byte is hashed here and again for its chunk id.
 *
 *  rule 2 (version-2 repositories): SHA-256 over "SKFHASH2", then for each
 *  extent in order its chunks' ids and u32 lengths followed by u64 offset ||
 *  u64 length, then u64 size. The data bytes are hashed once, for the chunk
 *  ids, which every read checks against the plaintext (repo/pack.c), so the
 *  end-to-end check costs nothing per byte.
 *
 * It is computed while reading a source file (backup) and checked over
 * exactly what was written or exported (restore, OCI export); this module is
 * the one place the rules are written down in code, so the three cannot
 * drift apart.
 *
 * An incremental hasher: feed an extent's data with sk_filehash_update and
 * each chunk's id with sk_filehash_chunk as they stream (a rule ignores what
 * it does not hash, so callers feed both), close the extent with
 * sk_filehash_extent (the position fields follow the data, so a reader can
 * hash while streaming even when a file shrinks and the extent ends early),
 * and end with the file size. Built on crypto.h's streaming SHA-256, so
 * OpenSSL failures come back as -errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

#define SK_FILEHASH_SIZE 32
#define SK_FILEHASH_ID_SIZE 32  /* a chunk id (= SK_BLOB_ID_SIZE) */

/* The rules; a repository of format version N writes rule N. */
#define SK_FILEHASH_RULE_DATA 1
#define SK_FILEHASH_RULE_CHUNKS 2

typedef struct sk_filehash sk_filehash;

/* A hasher following rule (SK_FILEHASH_RULE_*; -EINVAL for another), ready
 * for a file's first extent. */
int sk_filehash_new(int rule, sk_filehash **ret);
/* Frees h (NULL is fine); returns NULL. */
sk_filehash *sk_filehash_free(sk_filehash *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_filehash *, sk_filehash_free);

/* Start over for another file, following rule (-EINVAL for an unknown one). */
int sk_filehash_reset(sk_filehash *h, int rule);
/* More data bytes of the current extent, in file order (rule 1 only). */
int sk_filehash_update(sk_filehash *h, const void *data, size_t len);
/* The next chunk of the current extent: its id and plaintext length, in
 * file order (rule 2 only). */
int sk_filehash_chunk(sk_filehash *h, const uint8_t id[SK_FILEHASH_ID_SIZE], uint32_t len);
/* The current extent is complete: it starts at offset and holds length bytes
 * (those just fed). An extent with no data is not stored, so not hashed:
 * call this only for length >= 1. */
int sk_filehash_extent(sk_filehash *h, uint64_t offset, uint64_t length);
/* The file ends at size: write the digest. The hasher must be reset before
 * it is used again. */
int sk_filehash_final(sk_filehash *h, uint64_t size, uint8_t out[SK_FILEHASH_SIZE]);
/* sk_filehash_final compared with expected: 0 if equal, -EBADMSG if not. */
int sk_filehash_verify(sk_filehash *h, uint64_t size, const uint8_t expected[SK_FILEHASH_SIZE]);
