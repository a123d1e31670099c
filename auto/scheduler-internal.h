/* The scheduler's state, shared by scheduler.c (sources, the scan, the
 * planner, the public calls) and scheduler-run.c (the workers: one run of a
 * backup or of maintenance, and its outcome). Private to auto/. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auto/k8s-cache.h"
#include "auto/pause.h"
#include "auto/sched-metrics.h"
#include "auto/scheduler.h"
#include "auto/state.h"
#include "backup/lease.h"

#define RETAIN_LOCK_WAIT 30 /* seconds a retention waits for another node's exclusive operation */
#define POLICY_TAG_PREFIX "snapkeep:policy="
#define SOURCE_TAG_PREFIX "snapkeep:source="
#define SOURCE_TAG_SIZE (sizeof(SOURCE_TAG_PREFIX) + 64 + 1 + 32)
#define LEASE_SETTLE_MS 1500 /* between writing the lease and reading it back */
#define PRUNE_LOCK_WAIT 60   /* seconds a prune waits for running backups */
#define MISSED_AFTER 60      /* seconds after its slot a run counts as missed (metrics) */

typedef struct source {
        char *key;
        const sk_policy *policy;
        bool layer;
        uint32_t jitter;
        sk_sched_state st;
        int64_t prev_start;       /* st.last_start before the running run began */
        bool running, queued, seen, forced;
        int maint;                /* 0, or MAINT_PRUNE / MAINT_CHECK: not a snapshot */
} source;

enum { MAINT_PRUNE = 1, MAINT_CHECK = 2 };

struct sk_scheduler {
        sk_snapshotter *snap;
        sk_capture *cap;
        const sk_automation *a;
        char *node;
        char node_id[65];         /* this daemon's identity in source tags */
        sk_sched_db *db;
        sk_capture_log_fn log;
        void *log_userdata;

        pthread_mutex_t mu;
        pthread_mutex_t scan_mu;  /* one scan at a time (planner, run-now): merges in order */
        atomic_bool commit_seen;  /* a Commit happened: scan soon (set without mu) */
        pthread_cond_t plan_cond; /* the planner: something changed */
        pthread_cond_t work_cond; /* the workers: a source is queued */
        source **v;               /* sorted by key */
        size_t n, n_alloc;
        char **queue;             /* keys, FIFO */
        size_t q_head, q_len, q_alloc;
        bool stop;
        sk_pause_ctx pause;
        sk_k8s_cache *k8s;        /* pods' identities (under scan_mu) */
        bool uses_k8s;            /* a policy matches on pods */
        char holder[SK_LEASE_HOLDER_MAX + 1]; /* this node in the maintenance lease */
        char **held;              /* the hold set ("policy:NAME", "source:KEY"), NULL-terminated */
        size_t n_held;
        int paused_left;          /* tasks still to resume (containerd was not reachable) */
        pthread_t planner;
        pthread_t workers[16];
        unsigned n_workers;
        bool planner_started;
        sk_sched_metrics m;
};

#define slog(s, level, ...) sk_auto_log((s)->log, (s)->log_userdata, (level), __VA_ARGS__)

/* scheduler.c */
int64_t sk_sched_now(void);
void sk_sched_fmt_time(int64_t t, char buf[32]);
/* The source for key in s->v (caller holds mu); *ret_at is where it is or would go. */
source *sk_sched_find(sk_scheduler *s, const char *key, size_t *ret_at);
/* When x runs next (caller holds mu). */
int64_t sk_sched_next_of(sk_scheduler *s, const source *x);
/* Whether the scheduler is stopping (takes mu). */
bool sk_sched_stopping(sk_scheduler *s);
/* The source tag of key: "snapkeep:source=<node id>:<hash>". */
void sk_sched_source_tag(const sk_scheduler *s, const char *key, char out[SOURCE_TAG_SIZE]);

/* scheduler-run.c: a worker thread (arg: the scheduler). */
void *sk_sched_worker_main(void *arg);
