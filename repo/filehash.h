/* The content hash of a regular file (docs/FORMAT-tree.md, "Content hash"):
 * SHA-256 over, for each stored extent in order, its data bytes followed by
 * u64 offset || u64 length (little-endian), then u64 size. It is computed
 * while reading a source file (backup) and checked over exactly the bytes
 * written or exported (restore, OCI export); this module is the one place the
 * rule is written down in code, so the three cannot drift apart.
 *
 * An incremental hasher: feed an extent's data with sk_filehash_update as it
 * streams, close the extent with sk_filehash_extent (the position fields
 * follow the data, so a reader can hash while streaming even when a file
 * shrinks and the extent ends early), and end with the file size. Built on
 * crypto.h's streaming SHA-256, so OpenSSL failures come back as -errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

#define SK_FILEHASH_SIZE 32

typedef struct sk_filehash sk_filehash;

/* A hasher ready for a file's first extent. */
int sk_filehash_new(sk_filehash **ret);
/* Frees h (NULL is fine); returns NULL. */
sk_filehash *sk_filehash_free(sk_filehash *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_filehash *, sk_filehash_free);

/* Start over for another file. */
int sk_filehash_reset(sk_filehash *h);
/* More data bytes of the current extent, in file order. */
int sk_filehash_update(sk_filehash *h, const void *data, size_t len);
/* The current extent is complete: it starts at offset and holds length bytes
 * (those just fed). An extent with no data is not stored, so not hashed:
 * call this only for length >= 1. */
int sk_filehash_extent(sk_filehash *h, uint64_t offset, uint64_t length);
/* The file ends at size: write the digest. The hasher must be reset before
 * it is used again. */
int sk_filehash_final(sk_filehash *h, uint64_t size, uint8_t out[SK_FILEHASH_SIZE]);
/* sk_filehash_final compared with expected: 0 if equal, -EBADMSG if not. */
int sk_filehash_verify(sk_filehash *h, uint64_t size, const uint8_t expected[SK_FILEHASH_SIZE]);
