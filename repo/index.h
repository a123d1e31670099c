/* Blob index: (blob id, type) -> pack, offset, lengths, and the index file
 * codec (docs/FORMAT.md section 6).
 *
 * DESIGN: a log-structured index. Recent inserts go to a small open-addressing
 * table (placed by a seeded hash of the whole id: crafted ids must not share
 * a probe cluster). When it holds DEFAULT_FREEZE_AT entries it is sorted into an
 * immutable run (index-run.h): records in a spill file's mapping when the index
 * has a spill directory, with a radix directory and a Bloom filter of about
 * 2 bytes per entry in memory. Runs are merged into one when the newer ones
 * add up to a quarter of the oldest, or there are 8, and the newest ones
 * among themselves when 3 are of a size (size tiers); a merge of 256 Ki records or more
 * runs in a thread of its own (index-merge.h), so that the caller (who
 * holds the repository's lock) is not held for seconds, and is installed by
 * a later call. Loading a repository's
 * index files stages every entry and sorts them once (sk_index_stage): no
 * table is ever built for the whole repository. So memory per blob is a few
 * bytes of heap, plus page cache the kernel can drop, instead of a 48-byte
 * slot at a load of at most 0.7 (about 96 bytes per blob at 16 million).
 *
 * The newest version of a key decides: a replace writes a newer version, and
 * removing a pack is O(1): the index's clock marks the pack's entries dead,
 * so a dead newest version answers "absent" without uncovering an older one
 * (tests/unit/test-index-model.c holds every answer to a plain table's).
 * Not thread-safe: the repository serialises access. A merge thread reads
 * only immutable runs and its own copies. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/pack.h"

typedef struct sk_index sk_index;

#define SK_INDEX_NO_PACK UINT32_MAX

typedef struct sk_index_entry {
        sk_blob_id id;
        uint32_t pack;          /* pack number (sk_index_pack_name) */
        uint32_t offset;        /* record offset */
        uint32_t stored_len;    /* ciphertext length (record = +112) */
        uint32_t raw_len;
        uint8_t type;
        uint8_t flags;
} sk_index_entry;

int sk_index_new(sk_index **ret);
void sk_index_free(sk_index *idx);

/* Keep runs' records in an unlinked file in this directory (O_TMPFILE; the
 * descriptor is duplicated). -1, or a directory that refuses O_TMPFILE:
 * anonymous memory. */
int sk_index_set_spill_dir(sk_index *idx, int dirfd);
/* Tests and benchmarks: freeze the table at freeze_at entries; a staged batch
 * smaller than small_commit goes through the table; record buffers smaller
 * than spill_min_bytes stay in memory (defaults: 256 Ki, 4096, 32 MiB). */
void sk_index_tune(sk_index *idx, size_t freeze_at, size_t small_commit, size_t spill_min_bytes);
/* Tests and benchmarks: merges of at least background_min records (default
 * 256 Ki) run in the background; delay_ms holds each background result back
 * that long (default 0), or until the index waits for it (SK_INDEX_HOLD_MERGES:
 * only then; so that a test changes the index while a merge is in flight, on a
 * runner of any speed). */
#define SK_INDEX_HOLD_MERGES UINT_MAX
void sk_index_tune_merges(sk_index *idx, size_t background_min, unsigned delay_ms);
/* Wait for a merge in flight and install it. >= 0, or the merge's -errno
 * (the runs are then left as they were: still correct). */
int sk_index_merge_wait(sk_index *idx);
/* Install a merge that has finished, without waiting (a finished merge
 * holds its inputs and its result until installed: a caller that goes idle
 * polls). The same returns. */
int sk_index_merge_poll(sk_index *idx);
typedef struct sk_index_stats {
        size_t runs;                    /* sorted runs now */
        bool merging;                   /* a background merge is not installed yet (finished or not) */
        unsigned merges;                /* merges installed */
        unsigned background_merges;     /* of those, run in a thread of their own */
} sk_index_stats;
void sk_index_get_stats(const sk_index *idx, sk_index_stats *ret);
/* Heap bytes the index holds, and how many records are in spill files. */
void sk_index_memory(const sk_index *idx, size_t *heap, size_t *spilled_records);

/* Bulk loading: stage entries (their packs added already), then commit. The
 * commit equals sk_index_insert(e, false) of each staged entry in order (the
 * first of a key wins; one live in the index already wins over all), but
 * sorts a large batch into a run at once. discard drops what is staged. */
int sk_index_stage(sk_index *idx, const sk_index_entry *e);
int sk_index_stage_commit(sk_index *idx);
void sk_index_stage_discard(sk_index *idx);
/* How much is staged, and back to that: what one file staged before it
 * failed half-way is taken back. */
size_t sk_index_stage_mark(const sk_index *idx);
void sk_index_stage_rollback(sk_index *idx, size_t mark);

/* Number for a pack name (32 binary bytes), added if new. */
int sk_index_pack_add(sk_index *idx, const uint8_t name[32], uint32_t *ret);
/* Borrowed name of pack number n (valid until the index is freed), or NULL. */
const uint8_t *sk_index_pack_name(const sk_index *idx, uint32_t n);
/* Lookup by name: 1 found (*ret set), 0 not. */
int sk_index_pack_find(const sk_index *idx, const uint8_t name[32], uint32_t *ret);

/* Entries are keyed by (id, type): the same id may be present once as a data
 * blob and once as a tree blob (FORMAT.md section 6).
 * Insert e. Returns 1 if inserted, 0 if (id, type) was present (kept as is),
 * or -ENOMEM. With replace, an existing entry is overwritten (returns 0). */
int sk_index_insert(sk_index *idx, const sk_index_entry *e, bool replace);

/* 1 and *ret (may be NULL) if (id, type) is found, else 0. */
int sk_index_lookup(const sk_index *idx, const sk_blob_id *id, sk_blob_type type, sk_index_entry *ret);

size_t sk_index_count(const sk_index *idx);

/* Remove every entry of pack n (O(1); see DESIGN). */
int sk_index_remove_pack(sk_index *idx, uint32_t n);

/* Call cb for every live entry (in no particular order; e is valid during the
 * call only). Negative cb return stops. */
typedef int (*sk_index_fn)(const sk_index_entry *e, void *userdata);
int sk_index_foreach(const sk_index *idx, sk_index_fn cb, void *userdata);

/* --- index file codec --- */

/* Bounds (FORMAT.md section 6). Writers put at most SK_INDEX_FILE_MAX_ENTRIES
 * entries in one file (splitting the packs of a flush over several files),
 * which with a section per entry at worst is 176 MiB; readers refuse files
 * larger than SK_INDEX_FILE_MAX without reading them (skipped and reported
 * like a corrupt one; rebuild-index rewrites them). */
#define SK_INDEX_FILE_MAX_ENTRIES (1u << 21)
#define SK_INDEX_FILE_MAX (256u << 20)

/* One pack section of an index file. */
typedef struct sk_index_section {
        uint8_t pack[32];
        const sk_pack_record *entries;       /* offset, stored_len, raw_len, type, flags, id */
        size_t n;
} sk_index_section;

/* Encode a sealed index file (header + SEAL) into *ret (owned). */
int sk_index_file_encode(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                         const uint8_t nonce[SK_NONCE_SIZE], const sk_index_section *s, size_t n,
                         void **ret, size_t *ret_len);

/* Decode an index file: -EPROTO for unknown version/features, -EBADMSG for
 * anything corrupt. cb(pack name, record) for every entry; the record's salt
 * and nonce are zero. Entries are checked for plausibility (lengths, type,
 * flags) before cb sees them. */
typedef int (*sk_index_file_fn)(const uint8_t pack[32], const sk_pack_record *r, void *userdata);
int sk_index_file_decode(const sk_pack_keys *keys, const void *buf, size_t len, sk_index_file_fn cb,
                         void *userdata);

/* The sealed envelope shared by index files, config and objects (FORMAT.md
 * section 1): salt | nonce | ciphertext | tag. */
#define SK_SEAL_OVERHEAD (SK_SALT_SIZE + SK_NONCE_SIZE + SK_TAG_SIZE)
#define SK_FILE_HEADER_SIZE 24
/* Write the common 24-byte file header (version 1). */
void sk_file_header_encode(const char magic[8], uint8_t out[SK_FILE_HEADER_SIZE]);
/* The same with another version (only config has one: FORMAT.md section 4). */
void sk_file_header_encode_version(const char magic[8], uint16_t version, uint8_t out[SK_FILE_HEADER_SIZE]);
/* Check magic (-EBADMSG), version 1 and required features (-EPROTO). */
int sk_file_header_parse(const void *buf, size_t len, const char magic[8]);
/* The same accepting versions 1..max_version; returns the version. */
int sk_file_header_parse_version(const void *buf, size_t len, const char magic[8], uint16_t max_version);
/* Seal len bytes of plaintext into out (len + SK_SEAL_OVERHEAD bytes). */
int sk_seal_envelope(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                     const uint8_t nonce[SK_NONCE_SIZE], const void *aad, size_t aadlen, const void *in,
                     size_t len, uint8_t *out);
/* Open an envelope of len bytes (>= SK_SEAL_OVERHEAD, else -EBADMSG) into a
 * new buffer *ret (owned, NUL after *ret_len). */
int sk_open_envelope(const sk_pack_keys *keys, const void *aad, size_t aadlen, const void *env, size_t len,
                     void **ret, size_t *ret_len);
