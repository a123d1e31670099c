/* Prune: reclaim space no backup needs.
 *
 * DESIGN: under the repository's exclusive lock (backups hold shared locks, so
 * prune waits for or refuses while one runs), mark every blob reachable from
 * every manifest by walking trees; a manifest that cannot be read aborts
 * prune (deleting its blobs would destroy data). Then: packs with no live
 * blob are deleted; packs whose live share is below the threshold are repacked
 * (live blobs copied into new packs, then the old pack deleted); packs no
 * index knows about (leftovers of a crashed backup) are deleted after checking
 * that none of their blobs is referenced; temp files are removed; the index is
 * rewritten to describe exactly the remaining packs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backup/engine.h"

typedef struct sk_prune_options {
        /* Repack a pack when less than this % of its bytes are live. 0 = 50. */
        unsigned repack_below_pct;
        bool dry_run;                   /* compute and report, change nothing */
        unsigned lock_wait_seconds;     /* wait for running backups (0: -EBUSY at once) */
        sk_progress_fn progress;
        sk_problem_fn problem;
        void *userdata;
} sk_prune_options;

typedef struct sk_prune_result {
        uint64_t backups;               /* manifests walked */
        uint64_t blobs_live;
        uint64_t blobs_removed;
        uint64_t packs_deleted;
        uint64_t packs_repacked;
        uint64_t packs_unindexed_deleted;       /* crash leftovers */
        uint64_t bytes_freed;           /* pack bytes removed minus bytes rewritten */
        uint64_t temp_files_removed;    /* leftovers of interrupted writes */
        /* blobs an older snapkeep deduplicated across types (a tree stored
         * only as a data blob, or the reverse), stored again under the type
         * their references need (dry run: found) */
        uint64_t blobs_retyped;
} sk_prune_result;

/* -EBUSY if the exclusive lock cannot be had (a backup is running); the
 * repository is unchanged then. */
int sk_prune_run(sk_repo *repo, const sk_prune_options *opts, sk_prune_result *ret_result);
