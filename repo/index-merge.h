/* Merging the blob index's sorted runs (index-run.h) into one, in the
 * caller's thread or in a thread of its own.
 *
 * DESIGN: a merge reads only what cannot change under it: the runs (which
 * are immutable) and copies, taken when it starts, of each run's clock value
 * and of when each pack was last removed (index.h: an entry is dead when its
 * pack was removed after its run was written). The index keeps using the
 * runs while the merge runs, and installs the result in its own thread
 * later (index.c): so a merge of millions of entries no longer holds the
 * repository's lock. What changes meanwhile stays correct without the
 * merge's knowledge:
 *  - an insert or a table freeze writes a newer version or a newer run,
 *    which hides the merged one as it hid the inputs;
 *  - a pack removed after the start: the merged run is stamped with the
 *    clock value of the start, so its entries of that pack are dead.
 * A full merge includes the oldest run, so a tombstone or dead version is
 * dropped together with every older version of its key. A partial one
 * (the newer runs only, so that they stay few between full merges) keeps a
 * tombstone for the newest version of a key that is dead, to hide what the
 * runs below it hold. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/index-run.h"

typedef struct sk_run_merge sk_run_merge;

/* When each pack was last removed, copied at the start. packs[n] for the
 * numbers below npacks; others for the placeholders above (pairs of number
 * and clock, sorted by number). All NULL and 0: nothing was ever removed. */
typedef struct sk_merge_removed {
        uint64_t *packs;
        uint32_t npacks;
        uint64_t (*others)[2];
        size_t nothers;
} sk_merge_removed;

/* Merge runs[0 .. n) (oldest first, run_seq their clock values; full: runs[0]
 * is the index's oldest run) into one of the newest version of each key:
 * the live ones, and with !full tombstones for the dead ones. removed is
 * taken over (freed by the merge, also on failure); spill
 * is copied, and its directory must stay open until the merge is finished
 * or cancelled. With background, the work runs in a new thread (a thread
 * that cannot start: -errno, nothing taken over but removed); delay_ms
 * (tests) holds the result back that long, or until sk_run_merge_finish
 * waits for it (UINT_MAX: only then). Without, it is done when this
 * returns. */
int sk_run_merge_start(sk_index_run *const *runs, const uint64_t *run_seq, size_t n, bool full,
                       sk_merge_removed removed, const sk_spill *spill, bool background, unsigned delay_ms,
                       sk_run_merge **ret);

/* Whether the merge has finished (successfully or not); never blocks. */
bool sk_run_merge_ready(sk_run_merge *m);

/* How many runs it merges (the n it was started with). */
size_t sk_run_merge_inputs(const sk_run_merge *m);

/* Wait for the merge, free it, and return its run (*ret, released:
 * index-run.h) or its -errno (a full spill disk, no memory). */
int sk_run_merge_finish(sk_run_merge *m, sk_index_run **ret);

/* Stop the merge as soon as it can, wait for it and free it with its result
 * (the index is being freed). */
void sk_run_merge_cancel(sk_run_merge *m);
