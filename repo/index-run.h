/* Sorted index runs: the part of the blob index (index.h) that holds nearly
 * every entry once a repository is large.
 *
 * DESIGN: a run is an immutable array of fixed-size records sorted by (blob
 * id, type), with two small in-memory helpers: a radix directory over the
 * first bits of the id (ids are HMAC outputs, uniformly spread, so each
 * bucket holds a handful of records and a lookup is one short binary search)
 * and a blocked Bloom filter of 10 bits per record, so that a lookup of an
 * absent id, the common case while a backup stores new data, usually touches
 * no record at all. The records live in a mapping of an unlinked temporary
 * file (O_TMPFILE) when the index has a spill directory: their pages are then
 * page cache, written back and dropped by the kernel under memory pressure,
 * instead of anonymous memory that a machine without swap can never give
 * back. Without one they are in anonymous memory.
 *
 * The temporary file is never read back by another process or after a
 * restart, so it has no on-disk format to keep: it is scratch memory.
 *
 * Hostile ids (a key holder can write index files) can crowd one directory
 * bucket: the search stays a binary search, and sorting falls back from
 * insertion sort to qsort for crowded buckets, so the worst case is
 * O(n log n), never quadratic. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/pack.h"

/* One record (56 bytes). seq orders equal keys while a run is built: the
 * lowest seq of a key is the one kept. */
typedef struct sk_run_rec {
        uint8_t id[SK_BLOB_ID_SIZE];
        uint8_t type, flags;
        uint8_t tomb;           /* a removed entry that hides older runs' */
        uint8_t pad;
        uint32_t pack, offset, stored_len, raw_len;
        uint32_t seq;
} sk_run_rec;

/* A growable array of records, in a spill file or anonymous memory. */
typedef struct sk_recbuf {
        sk_run_rec *v;
        size_t n, cap;
        int fd;                 /* the spill file while the buffer grows, else -1 */
        bool file;              /* in a spill file (its descriptor may be closed) */
        int dirfd;              /* borrowed: where to spill, -1 nowhere */
        size_t spill_min;       /* bytes from which the records go to a file */
} sk_recbuf;

/* The spill: where and from what size records go to a file. */
typedef struct sk_spill {
        int dirfd;              /* an open directory, -1: anonymous memory */
        size_t min_bytes;       /* smaller buffers stay in memory */
} sk_spill;

/* A buffer starts in memory and moves to an unlinked file in spill.dirfd
 * (O_TMPFILE) when it outgrows spill.min_bytes; a directory that refuses
 * O_TMPFILE leaves it in memory. The spill directory must outlive b. */
int sk_recbuf_init(sk_recbuf *b, const sk_spill *spill);
int sk_recbuf_push(sk_recbuf *b, const sk_run_rec *r);
void sk_recbuf_done(sk_recbuf *b);

typedef struct sk_index_run sk_index_run;

/* Build a run from b's records (consumed, also on failure): sorted by (id,
 * type, seq), and of each (id, type) only the record with the lowest seq
 * kept. The sort's second buffer spills as spill says. */
int sk_index_run_build(sk_recbuf *b, const sk_spill *spill, sk_index_run **ret);
/* A run from records already sorted by (id, type) with unique keys. */
int sk_index_run_from_sorted(sk_recbuf *b, sk_index_run **ret);
void sk_index_run_free(sk_index_run *run);
/* Building and a pass over every record touch every page: unmap them from
 * this process (a spilled run's pages stay in the page cache, dirty ones are
 * written back), so that what stays resident is what lookups touch. */
void sk_index_run_release(const sk_index_run *run);

size_t sk_index_run_count(const sk_index_run *run);
const sk_run_rec *sk_index_run_at(const sk_index_run *run, size_t i);
/* The record of (id, type), or NULL. */
const sk_run_rec *sk_index_run_find(const sk_index_run *run, const uint8_t id[SK_BLOB_ID_SIZE], uint8_t type);
/* Bytes of anonymous memory the run holds (directory, filter, and the
 * records when they are not in a spill file). */
size_t sk_index_run_heap_bytes(const sk_index_run *run);
bool sk_index_run_spilled(const sk_index_run *run);

/* Order of a record and a key by (id, type): <0, 0, >0. The first 8 bytes
 * decide nearly always (ids are uniform), compared as one big-endian word. */
static inline int sk_run_rec_cmp_key(const sk_run_rec *a, const uint8_t id[SK_BLOB_ID_SIZE], uint8_t type) {
        uint64_t x, y;
        __builtin_memcpy(&x, a->id, 8);
        __builtin_memcpy(&y, id, 8);
        if (x != y)
                return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
        int c = __builtin_memcmp(a->id + 8, id + 8, SK_BLOB_ID_SIZE - 8);
        return c ? c : (int) a->type - (int) type;
}
