/* Retention policy: which backups to keep, restic semantics.
 *
 * Backups are grouped by (hostname, sorted sources); the policy applies per
 * group. Within a group, newest first: keep_last keeps the n newest; each
 * keep_<period> keeps the newest backup of each of the n newest periods
 * (hour, day, ISO 8601 week %G-%V, month, year; local time, like restic) that
 * hold a backup; keep_tags keeps every backup carrying any of the tags. A
 * backup is kept if any rule keeps it. An empty policy keeps every backup
 * (forget never deletes everything by accident). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/engine.h"
#include "repo/tree.h"

typedef struct sk_forget_policy {
        unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
        const char *const *keep_tags;
        size_t n_keep_tags;
        /* sk_forget_run only: if set, the policy applies to the backups it
         * returns true for; every other backup is left alone (neither kept
         * nor removed, and not reported). The scheduler's retention uses it
         * to touch only one source's backups under one policy. */
        bool (*select)(const sk_manifest *m, void *userdata);
        void *select_userdata;
        /* sk_forget_run only: a backup id that is kept whatever the rules say
         * (the backup a scheduled run just made). */
        const char *keep_id;
        /* sk_forget_run only: called with the selected backups (oldest
         * first) and select_userdata before anything is deleted; a negative
         * return ends the run with that error and deletes nothing. */
        int (*approve)(sk_manifest *const *sel, size_t n, void *userdata);
        /* sk_forget_run only: take a shared lock, not the exclusive one. Only
         * for a selection no other writer forgets from (the scheduler's: one
         * source of one node under one policy): deleting a manifest disturbs
         * no backup, restore or check running beside it (each reads the
         * manifests it needs at its start, and a manifest gone since a listing
         * counts as forgotten), and prune, the one thing that must not run
         * beside it, takes the exclusive lock. See docs/FORMAT.md section 8. */
        bool shared_lock;
} sk_forget_policy;

/* Reasons a backup is kept (bit set in ret_reasons[i]). */
enum {
        SK_KEEP_LAST = 1 << 0,
        SK_KEEP_HOURLY = 1 << 1,
        SK_KEEP_DAILY = 1 << 2,
        SK_KEEP_WEEKLY = 1 << 3,
        SK_KEEP_MONTHLY = 1 << 4,
        SK_KEEP_YEARLY = 1 << 5,
        SK_KEEP_TAG = 1 << 6,
        SK_KEEP_NO_POLICY = 1 << 7,
        SK_KEEP_PINNED = 1 << 8, /* sk_forget_policy.keep_id */
};

/* Pure policy evaluation (no repository): for list[0..n) in any order, write
 * ret_reasons[i] (0 = forget). Uses the process's local time zone (TZ). */
int sk_forget_plan(sk_manifest *const *list, size_t n, const sk_forget_policy *policy, unsigned *ret_reasons);

/* Called once per backup with the decision (borrowed manifest). */
typedef void (*sk_forget_fn)(const sk_manifest *m, unsigned reasons, void *userdata);

typedef struct sk_forget_result {
        uint64_t kept;
        uint64_t removed;
} sk_forget_result;

/* Apply the policy: delete the manifests of forgotten backups (unless
 * dry_run) under the repository's exclusive lock (or shared_lock's; waiting up to
 * lock_wait_seconds; -EBUSY). Data is reclaimed by sk_prune_run() (the CLI's
 * --prune). */
int sk_forget_run(sk_repo *repo, const sk_forget_policy *policy, bool dry_run, unsigned lock_wait_seconds,
                  sk_forget_fn fn, void *userdata, sk_forget_result *ret_result);
