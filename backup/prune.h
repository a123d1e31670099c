/* Prune: reclaim space no backup needs, by delayed deletion
 * (docs/FORMAT.md section 9b).
 *
 * DESIGN: under the repository's exclusive lock (backups hold shared locks, so
 * prune waits for or refuses while one runs), mark every blob reachable from
 * every manifest by walking trees; a manifest that cannot be read aborts
 * prune (deleting its blobs would destroy data). A lock can be wrongly judged
 * stale (a stopped or suspended backup), so prune never deletes what it has
 * just found unreferenced: garbage packs (no live blob; packs no index names,
 * left by crashed or lock-losing backups; packs whose live share is below the
 * threshold, after their live blobs were repacked) are written to a trash
 * record and taken out of the index, so no new backup deduplicates against
 * them. A later prune, once the record is older than the grace period,
 * re-marks from the manifests of that time and deletes each trashed pack
 * that is still garbage; one that holds a now-live blob found nowhere else is
 * indexed again (undeleted). Index entries whose pack is gone are dropped.
 * Temp files and old lock tombstones are removed. Every step is crash safe:
 * the record is written before the index changes, the index before any
 * deletion, so a crash leaves redundant objects, never a dangling reference. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backup/engine.h"

typedef struct sk_prune_options {
        /* Repack a pack when less than this % of its bytes are live. 0 = 50. */
        unsigned repack_below_pct;
        bool dry_run;                   /* compute and report, change nothing */
        /* Delete trashed packs once their record is this old. 0 = default
         * (sk_prune_default_grace). */
        uint64_t grace_seconds;
        /* Delete garbage at once, without a trash record (grace 0). Safe
         * against writers only through the lock protocol (tombstones and the
         * writers' checks after each write); a writer whose write was in
         * flight when its lock was removed, and that crashes before its
         * check, can leave a manifest naming deleted data. For tests and
         * repositories nobody else writes to. */
        bool no_grace;
        unsigned lock_wait_seconds;     /* wait for running backups (0: -EBUSY at once) */
        sk_progress_fn progress;
        sk_problem_fn problem;
        void *userdata;
} sk_prune_options;

typedef struct sk_prune_result {
        uint64_t backups;               /* manifests walked */
        uint64_t blobs_live;
        uint64_t blobs_removed;         /* index entries dropped (their packs trashed or deleted) */
        uint64_t packs_deleted;         /* deleted now (trashed long enough ago; or no_grace) */
        uint64_t packs_repacked;
        uint64_t packs_unindexed_deleted;       /* crash leftovers deleted at once (no_grace only) */
        uint64_t packs_trashed;         /* newly put in a trash record */
        uint64_t packs_waiting;         /* in a record younger than the grace period */
        uint64_t packs_undeleted;       /* in an expired record but needed again: kept */
        uint64_t index_entries_missing; /* index entries whose pack is gone, dropped */
        uint64_t trash_records_removed;
        uint64_t next_delete_seconds;   /* until the oldest waiting record expires (0: none waits) */
        uint64_t bytes_freed;           /* pack bytes removed minus bytes rewritten */
        uint64_t bytes_trashed;         /* pack bytes newly trashed */
        uint64_t temp_files_removed;    /* leftovers of interrupted writes */
        /* blobs an older snapkeep deduplicated across types (a tree stored
         * only as a data blob, or the reverse), stored again under the type
         * their references need (dry run: found) */
        uint64_t blobs_retyped;
        unsigned tombstones_removed;    /* lock tombstones older than a day */
} sk_prune_result;

/* -EBUSY if the exclusive lock cannot be had (a backup is running); the
 * repository is unchanged then. */
int sk_prune_run(sk_repo *repo, const sk_prune_options *opts, sk_prune_result *ret_result);

/* One hour, or twice the lock stale time if longer: a trashed pack outlives
 * any lock that was alive when it was trashed, with margin for a write that
 * was in flight then. */
#define SK_PRUNE_GRACE_SECONDS (60 * 60)
uint64_t sk_prune_default_grace(sk_repo *repo);
