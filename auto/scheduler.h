/* The scheduler: snapkeepd's automatic backups, retention after each, on
 * this node, with no one at the keyboard.
 *
 * DESIGN
 * One planner thread and max_runs worker threads. The planner reads the
 * snapshot list every scan_interval seconds (and at once after run-now or a
 * commit), matches each snapshot to a policy (policy.h), and keeps one
 * source per matched snapshot: its state (schedule.h) is loaded from the
 * state database (state.h) or, for a snapshot never seen, starts with
 * first_seen = now. A source whose next run has come is queued; a worker
 * takes it, records the start durably *before* the backup (so that a crash
 * or kill -9 mid-run counts as a run and is never repeated for the same
 * slot), backs the snapshot up through container/ (sk_capture_backup), on
 * success applies the policy's retention to that snapshot's backups
 * (sk_capture_retain), and records the outcome and the next run. Workers
 * run at the configured nice value and I/O class, so that a backup yields
 * to the containers it protects. A source whose snapshot is gone is dropped
 * from the database at the next scan.
 *
 * With consistency = pause, the container's task is paused around the
 * backup (pause.h); tasks a killed daemon left paused are resumed at start.
 *
 * Maintenance (prune every prune_interval, a check reading check_subset %
 * of the packs every check_interval) runs as two more sources, on the node
 * that holds the repository's maintenance lease (backup/lease.h); the
 * others record "skipped" and who holds it.
 *
 * Committed layers are immutable: once captured, a layer source never runs
 * again. Snapshots being restored (label snapkeep.restoring) and views are
 * never sources. Nothing here blocks a snapshot RPC: the on_commit hook only
 * records the key and wakes the planner. */
#pragma once

#include "common/metrics.h"

#include <stdbool.h>
#include <stddef.h>

#include "auto/policy.h"
#include "auto/schedule.h"
#include "container/capture.h"

typedef struct sk_scheduler sk_scheduler;

/* Pause (pause true) or resume the task of container id in containerd
 * namespace ns, for policies with consistency = pause. 0, or -ENOENT (no
 * task: the container is not running), -ENOTCONN or -ETIMEDOUT (containerd
 * not reachable: retried), other -errno; *ret_error (owned) may name the
 * cause. Called from scheduler threads. */
typedef int (*sk_task_pause_fn)(const char *ns, const char *id, bool pause, char **ret_error, void *userdata);

typedef struct sk_scheduler_options {
        const sk_automation *automation; /* borrowed; outlives the scheduler */
        const char *state_dir;           /* the state database's directory */
        const char *node;                /* this node's name (jitter, the maintenance lease) */
        const char *node_id;             /* this daemon's id, lowercase hex, at most 64 digits: kept
                                          * with its root, it tags every scheduled backup's source */
        sk_capture_log_fn log;           /* finished lines, from any thread; NULL: none */
        void *log_userdata;
        sk_metrics *metrics;             /* NULL: none; else per-policy runs, next run, maintenance */
        sk_task_pause_fn pause_task;     /* NULL: consistency = pause cannot be honoured */
        void *pause_userdata;
        sk_identify_fn identify;         /* pods' identities (policies' k8s_namespaces, pod_label;
                                          * sandboxes skipped); NULL: none known */
        void *identify_userdata;
} sk_scheduler_options;

/* Start the planner and the workers. snap and cap are borrowed and must
 * outlive the scheduler. */
int sk_scheduler_new(sk_snapshotter *snap, sk_capture *cap, const sk_scheduler_options *opts, sk_scheduler **ret);

/* Start no more runs, and let running ones (once the capture is cancelled,
 * sk_capture_cancel) end as stopped: not counted as failed, retried after the
 * next start. Returns at once. */
void sk_scheduler_stop(sk_scheduler *s);
/* Stop (as above), wait for the running runs to end, and free. */
void sk_scheduler_free(sk_scheduler *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_scheduler *, sk_scheduler_free);

/* A source as `snapkeep daemon schedule` shows it. */
typedef struct sk_schedule_entry {
        char *source;           /* the snapshot's backend key (owned) */
        const char *state;      /* static: "idle", "pending", "running", "paused", "failed" */
        bool layer;             /* a committed layer (else a container's writable layer) */
        bool maint;             /* a maintenance job ("maintenance/prune", "maintenance/check") */
        sk_sched_state st;
} sk_schedule_entry;

/* Every source, sorted by key. *ret owned: sk_schedule_list_free(). */
int sk_scheduler_list(sk_scheduler *s, sk_schedule_entry **ret, size_t *ret_n);
void sk_schedule_list_free(sk_schedule_entry *l, size_t n);

/* Make sources due now: those of policy `what`, the source with key `what`,
 * or every source if what is NULL or "". Returns how many (>= 0); -ENOENT
 * if what names neither a policy nor a known source. The list is re-read
 * first, so a snapshot created a moment ago is found. */
int sk_scheduler_run_now(sk_scheduler *s, const char *what);

/* Put on hold (hold true) or release: policy `what` (its sources, also ones
 * found later), "maintenance", or the source with key `what`. A source on
 * hold shows "paused" and does not run on its schedule (run-now still runs
 * it); the hold set survives restarts. Returns how many sources it covers
 * now; -ENOENT if what names neither a policy nor a known source. */
int sk_scheduler_hold(sk_scheduler *s, const char *what, bool hold);

/* Called after a Commit of key: a layer under an on_commit policy is
 * captured soon, off the RPC's thread. Never blocks on a backup. */
void sk_scheduler_committed(sk_scheduler *s, const char *key);
