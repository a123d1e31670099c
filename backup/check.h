/* Repository check: structure and (optionally) data.
 *
 * DESIGN: the structure pass loads every manifest and walks every reachable
 * tree once (trees are deduplicated by id), noting every referenced blob and,
 * for each, the first backup and path that uses it. It then asks the
 * repository to check its index against the packs. The data pass reads and
 * verifies every blob of every pack (or of a deterministic subset of packs,
 * chosen by pack id, so repeated runs with the same seed read the same packs).
 * Every bad blob is mapped back to the backups and files that reference it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backup/engine.h"

typedef struct sk_check_options {
        bool read_data;                 /* read and verify every pack */
        /* 1..100: read only this percentage of packs (implies read_data). 0: all
         * when read_data, none otherwise. */
        unsigned read_data_subset_pct;
        /* Selects which subset; same seed, same packs. 0 = a random seed. */
        uint64_t subset_seed;
        unsigned lock_wait_seconds;     /* wait this long if a prune holds the lock */
        sk_progress_fn progress;
        sk_problem_fn problem;          /* every problem found, see engine.h */
        void *userdata;
} sk_check_options;

typedef struct sk_check_result {
        uint64_t backups;
        uint64_t trees;
        uint64_t blobs_referenced;
        uint64_t packs;
        uint64_t packs_trashed;         /* out of the index, awaiting deletion by a later prune */
        uint64_t packs_read;
        uint64_t blobs_read;
        uint64_t errors;                /* problems reported with SK_PROBLEM_ERROR */
        uint64_t warnings;              /* e.g. unreferenced packs (prune removes them) */
} sk_check_result;

/* Returns 0 if no error was found, -EBADMSG if the repository has errors
 * (all reported through problem and counted in result), other -errno if the
 * check could not run. Takes the shared lock without waiting (-EBUSY while
 * prune runs). Warnings (unindexed packs) do not make it fail. */
int sk_check_run(sk_repo *repo, const sk_check_options *opts, sk_check_result *result);
