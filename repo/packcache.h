/* A read-ahead cache of pack spans, so that a restore reads each pack in a
 * few large requests instead of one request per blob.
 *
 * A restore asks for blobs in the order its files need them, and a backup
 * wrote them into packs in that same order, so consecutive blob reads fall
 * in the same pack, one after another. On a miss the cache loads the span
 * of the pack that starts at the wanted record and runs on for the current
 * read-ahead size (at most span_max); later reads inside the span are copied
 * out of memory. On S3 that turns one ranged GET per blob into one GET per
 * span; on a local repository one pread per span instead of an
 * open/pread/close per blob.
 *
 * Without a plan (sk_packcache_plan), the read-ahead size adapts, like the
 * kernel's: a span that is evicted
 * having served less than a quarter of its bytes (a restore of a backup whose
 * blobs are scattered over old packs) shrinks it, one that served more than
 * half grows it back. Spans being loaded are shared: a second reader of the
 * same span waits for the first one's load instead of loading it again.
 *
 * The cache knows packs only by number and knows nothing of the format:
 * bytes are handed out as they were read, and the caller verifies them (the
 * AEAD tag of each record) exactly as it does for a direct read.
 *
 * Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

typedef struct sk_packcache sk_packcache;

/* Read len bytes at offset of pack into *io_buf, *ret_len of them (fewer
 * than len only at the end of the pack). On entry *io_buf is NULL or the
 * buffer of a span just retired, of *io_cap bytes: the fetch fills it when
 * it can (its pages are already mapped: a fresh 20 MiB buffer per span cost
 * a restore 5,000 page faults per GiB), or frees it and returns a new
 * malloc'd one; *io_cap is the capacity of what it returns. On error *io_buf
 * is NULL or a buffer the cache frees. >= 0 or -errno. */
typedef int (*sk_packcache_fetch_fn)(void *userdata, uint32_t pack, uint64_t offset, size_t len, void **io_buf,
                                     size_t *io_cap, size_t *ret_len);

typedef struct sk_packcache_stats {
        uint64_t spans_loaded;          /* fetches of spans (requests to the backend) */
        uint64_t bytes_loaded;          /* bytes those fetches returned */
        uint64_t bytes_served;          /* bytes copied out to readers */
        uint64_t declined;              /* reads left to the caller */
} sk_packcache_stats;

/* entries spans of at most span_max bytes each are kept (memory bound:
 * entries x span_max, plus one record larger than span_max). */
int sk_packcache_new(unsigned entries, size_t span_max, sk_packcache_fetch_fn fetch, void *userdata,
                     sk_packcache **ret);
void sk_packcache_free(sk_packcache *pc);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_packcache *, sk_packcache_free);

/* Copy [offset, offset + len) of pack into a new malloc'd *ret. Returns 1 if
 * served, 0 if the cache declined (every entry busy, or the pack ended before
 * offset + len: the caller reads directly, and reports truncation itself), or
 * the fetch's -errno. */
int sk_packcache_read(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len, void **ret);
/* The same for a caller whose pack number was valid at generation (read
 * with sk_packcache_generation at the time it looked the number up): after
 * a drop since (the caller's numbering was replaced: the number may name
 * another pack now), the read is declined, never served from a span loaded
 * under the new numbering. */
int sk_packcache_read_as_of(sk_packcache *pc, uint64_t generation, uint32_t pack, uint64_t offset, size_t len,
                            void **ret);
/* Counts sk_packcache_drop calls. */
uint64_t sk_packcache_generation(sk_packcache *pc);

/* Say that [offset, offset + len) of pack will be read, once per call (a
 * restore plans every blob it needs before it starts). Once anything is
 * planned, the adaptive read-ahead is off and a miss loads, in one request,
 * the pack's range from the first to the last planned record that still has
 * reads to come (or at most span_max from the wanted record), the way
 * restic reads a pack. When a span goes while planned reads of its records
 * remain (a deduplicated blob that a later file reads again), those records
 * are kept in memory (at most 64 MiB in all) instead of being fetched again.
 * len > 4 GiB is -EINVAL; otherwise >= 0 or -ENOMEM. */
int sk_packcache_plan(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len);

/* Load the span starting at [offset, offset + len) of pack now, in the
 * calling thread, so that readers find it ready (a restore's walker calls
 * it for blobs the workers will want soon). Only a free entry or one whose
 * span has mostly been read already is used: a prefetch never pushes out
 * data a reader still needs. Returns 1 if it loaded a span, 0 if the bytes
 * are already cached or being loaded or no entry was free, or -errno. */
int sk_packcache_prefetch(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len);

/* Run prefetches in n loader threads (1 .. entries) from now on: a
 * prefetch is queued (one per pack, at most 16 waiting; returns 1 if
 * queued) and returns at once, and the loaders fetch several spans at the
 * same time, each into a free entry or one whose span has mostly been read
 * (waiting for one), never pushing out data a reader still needs. For a
 * remote store, where every fetch is a round trip; spans should then cover
 * whole packs, since the queue keeps one request per pack. Calling it again
 * changes nothing; if no thread can be started, prefetches stay synchronous
 * (still 0: loaders only make reads faster). The threads end in
 * sk_packcache_free. */
int sk_packcache_start_loaders(sk_packcache *pc, unsigned n);

/* Free every cached span no reader is using, and forget the plan, the
 * queued prefetches and the adapted read-ahead size (the figures are kept).
 * A load in flight meanwhile is not kept (its pack number may name another
 * pack now): its reader is declined and reads directly. */
void sk_packcache_drop(sk_packcache *pc);

/* For reads without a plan (the single-blob reads of ls, diff, a backup's
 * parent trees): read ahead at most ra_max bytes (clamped to 64 KiB ..
 * span_max; the adaptive size starts there again), and with exact_first leave a
 * pack's first read to the caller unless its record lies within the pack's
 * first 64 KiB, so that one blob read from the middle of a pack (a file
 * restored alone) costs no extra transfer; a second read of the same pack
 * (the last 64 packs are remembered), or one near its start (a restore or
 * a walk begins there), loads a span: the window of the read-ahead size
 * aligned around the record (so that a walk going backwards through a pack
 * shares windows as well). The defaults: ra_max = span_max and no exact
 * first reads; spans then run forward from the record. */
void sk_packcache_tune(sk_packcache *pc, size_t ra_max, bool exact_first);

void sk_packcache_get_stats(sk_packcache *pc, sk_packcache_stats *ret);
