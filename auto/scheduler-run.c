/* The scheduler's workers (scheduler-internal.h): each takes a due source
 * from the queue, records its start durably, runs the backup (with the
 * policy's pause and retention) or the maintenance, and records the outcome;
 * a run cancelled by snapkeepd's stop is undone in the state instead. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auto/scheduler-internal.h"
#include "backup/forget.h"
#include "common/macro.h"
#include "common/pace.h"

/* --- workers --------------------------------------------------------------------- */

static void lower_priority(sk_scheduler *s) {
        pid_t tid = (pid_t) syscall(SYS_gettid);
        /* On a busy node these threads also keep to a share of one core
         * (common/pace.h; process-wide, the same for every worker). */
        sk_pace_set_busy_share(s->a->busy_cpu_share);
        /* Threads a backup starts (chunk pool, pack writers) inherit both. */
        if (s->a->cpu_class == SK_CPU_CLASS_IDLE) {
                /* SCHED_IDLE: any runnable normal thread (a container, containerd,
                 * our own RPC workers) preempts a backup at once; nice 19 still
                 * waits out a time slice, which showed in Commit latency. */
                struct sched_param sp = { .sched_priority = 0 };
                if (sched_setscheduler(tid, SCHED_IDLE, &sp) < 0)
                        slog(s, SK_CAPTURE_LOG_WARNING, "scheduler: cannot give backups idle CPU priority: %s",
                             strerror(errno));
        } else if (s->a->nice > 0 && setpriority(PRIO_PROCESS, (id_t) tid, s->a->nice) < 0)
                slog(s, SK_CAPTURE_LOG_WARNING, "scheduler: cannot lower the CPU priority of backups: %s",
                     strerror(errno));
        if (s->a->io_class != SK_IO_CLASS_NONE) {
                /* ioprio_set(IOPRIO_WHO_PROCESS, tid, class << 13 | level):
                 * glibc has no wrapper; level 7 is the lowest best-effort. */
                int prio = (int) s->a->io_class << 13 | (s->a->io_class == SK_IO_CLASS_BEST_EFFORT ? 7 : 0);
                if (syscall(SYS_ioprio_set, 1, (int) tid, prio) < 0)
                        slog(s, SK_CAPTURE_LOG_WARNING, "scheduler: cannot set the I/O class of backups: %s",
                             strerror(errno));
        }
}

/* A scheduled run in the idle I/O class gives way to snapshot operations
 * (common/foreground.h), except while that would hold up someone else: while
 * a container's task is paused for the backup, and during maintenance, which
 * holds the repository's exclusive lock that restores may be waiting for.
 * Then the worker thread (and the threads the run starts, which inherit it)
 * uses the lowest best-effort level instead, and the idle class after; and
 * no scheduled work is paced for CPU meanwhile (common/pace.h: with
 * max_runs > 1 another worker's paced backup may hold what this one needs). */
static void not_giving_way(const sk_scheduler *s, bool on) {
        sk_pace_hold(on);
        if (s->a->io_class != SK_IO_CLASS_IDLE)
                return;
        int prio = on ? (int) SK_IO_CLASS_BEST_EFFORT << 13 | 7 : (int) SK_IO_CLASS_IDLE << 13;
        if (syscall(SYS_ioprio_set, 1, 0, prio) < 0)
                slog(s, SK_CAPTURE_LOG_WARNING, "scheduler: cannot set the I/O class of a run: %s",
                     strerror(errno));
}

/* Record a run's outcome (r, and err or backup_id; note: a message kept in
 * last_error although the run succeeded, e.g. "skipped: ..."), compute the
 * next run, store it, and wake the planner. *ret gets the new state. */
static int record_outcome(sk_scheduler *s, source *x, int r, const char *err, const char *backup_id,
                          const char *note, sk_sched_state *ret) {
        pthread_mutex_lock(&s->mu);
        int64_t end = sk_sched_now();
        x->st.last_end = end;
        if (r >= 0) {
                x->st.last_success = end;
                x->st.failures = 0;
                x->st.last_errno = 0;
                snprintf(x->st.last_error, sizeof(x->st.last_error), "%s", note ? note : "");
                if (backup_id && backup_id[0])
                        snprintf(x->st.last_backup, sizeof(x->st.last_backup), "%s", backup_id);
        } else {
                x->st.failures++;
                x->st.last_errno = r;
                snprintf(x->st.last_error, sizeof(x->st.last_error), "%s", err ? err : strerror(-r));
        }
        x->st.next_run = sk_sched_next_of(s, x);
        int q = sk_sched_db_put(s->db, x->key, &x->st);
        *ret = x->st;
        x->running = false;
        pthread_cond_signal(&s->plan_cond);
        pthread_mutex_unlock(&s->mu);
        return q;
}

/* A run cancelled by snapkeepd's stop (sk_capture_cancel) is undone in the
 * state: neither a failure nor a run, and its slot is due again, so the next
 * start catches it up once. Stored, so a crash before the exit keeps it. */
static void record_cancelled(sk_scheduler *s, source *x) {
        pthread_mutex_lock(&s->mu);
        x->st.last_start = x->prev_start;
        if (x->st.runs)
                x->st.runs--;
        x->st.next_run = sk_sched_next_of(s, x);
        int q = sk_sched_db_put(s->db, x->key, &x->st);
        x->running = false;
        pthread_mutex_unlock(&s->mu);
        if (q < 0)
                slog(s, SK_CAPTURE_LOG_ERROR, "scheduler: cannot record the stop of %s: %s", x->key, strerror(-q));
}

/* Maintenance: prune or a partial check, by the node that holds the lease. */
static void run_maint(sk_scheduler *s, source *x, const char *key) {
        sk_pace_thread_restart(); /* what this worker did before is not this run's */
        bool prune = x->maint == MAINT_PRUNE;
        const char *what = prune ? "prune" : "check";
        _cleanup_free_ char *err = NULL;
        char note[320] = "", done[256] = "";
        sk_lease lease = {};
        int r = sk_capture_lease(s->cap, s->holder, s->a->lease_ttl, LEASE_SETTLE_MS, &lease, &err);
        if (r == 0) {
                char until[32];
                sk_sched_fmt_time(lease.expires, until);
                snprintf(note, sizeof(note), "skipped: %s holds the maintenance lease until %s", lease.holder, until);
        } else if (r > 0 && prune) {
                sk_prune_result pr = {};
                not_giving_way(s, true);
                r = sk_capture_prune(s->cap, PRUNE_LOCK_WAIT, &pr, &err);
                not_giving_way(s, false);
                snprintf(done, sizeof(done), "%llu backups, %llu packs trashed, %llu deleted, %llu bytes freed",
                         (unsigned long long) pr.backups, (unsigned long long) pr.packs_trashed,
                         (unsigned long long) pr.packs_deleted, (unsigned long long) pr.bytes_freed);
        } else if (r > 0) {
                sk_check_result cr = {};
                not_giving_way(s, true);
                r = sk_capture_check(s->cap, s->a->check_subset, &cr, &err);
                not_giving_way(s, false);
                snprintf(done, sizeof(done), "%llu backups, %llu of %llu packs read, no errors",
                         (unsigned long long) cr.backups, (unsigned long long) cr.packs_read,
                         (unsigned long long) cr.packs);
        }
        if (r == -ECANCELED && sk_sched_stopping(s)) {
                record_cancelled(s, x);
                slog(s, SK_CAPTURE_LOG_INFO, "maintenance: %s cancelled: snapkeepd is stopping", what);
                return;
        }
        sk_sched_state st;
        int q = record_outcome(s, x, r, err, NULL, note[0] ? note : NULL, &st);
        if (note[0])
                sk_metric_add(s->m.skipped, (const char *[]) { x->policy->name }, 1);
        else {
                sk_sched_metrics_run(&s->m, x->policy->name, SK_SCHED_RUN_START);
                sk_sched_metrics_run(&s->m, x->policy->name, r >= 0);
        }
        if (r >= 0 && !note[0])
                sk_metric_set(prune ? s->m.last_prune : s->m.last_check, NULL, (double) sk_sched_now());
        char next[32];
        sk_sched_fmt_time(st.next_run, next);
        if (r < 0)
                slog(s, SK_CAPTURE_LOG_ERROR, "maintenance: %s failed (%u in a row): %s; retry %s", what, st.failures,
                     st.last_error, next);
        else if (note[0])
                slog(s, SK_CAPTURE_LOG_INFO, "maintenance: %s %s; next %s", what, note, next);
        else
                slog(s, SK_CAPTURE_LOG_INFO, "maintenance: %s done as %s: %s; next %s", what, s->holder, done, next);
        if (q < 0)
                slog(s, SK_CAPTURE_LOG_ERROR, "scheduler: cannot record the run of %s: %s", key, strerror(-q));
}

static void run_one(sk_scheduler *s, source *x, const sk_policy *p, const char *key, bool layer) {
        sk_pace_thread_restart(); /* what this worker did before is not this run's */
        char tag[sizeof(POLICY_TAG_PREFIX) + SK_POLICY_NAME_MAX], src_tag[SOURCE_TAG_SIZE];
        snprintf(tag, sizeof(tag), POLICY_TAG_PREFIX "%s", p->name);
        sk_sched_source_tag(s, key, src_tag);
        const char *tags[] = { tag, src_tag };
        sk_capture_result res = {};
        _cleanup_free_ char *err = NULL;

        sk_pause_guard *guard = NULL;
        int r = 0;
        if (!layer && p->consistency == SK_CONSISTENCY_PAUSE) {
                r = sk_pause_begin(&s->pause, key, p->pause_timeout, &guard, &err);
                if (r == -ENOENT) /* not running: nothing changes while it is read */
                        r = 0;
        }
        if (guard)
                not_giving_way(s, true);
        if (r >= 0)
                r = sk_capture_backup(s->cap, key, tags, ARRAY_SIZE(tags), &res, &err);
        if (guard)
                not_giving_way(s, false);
        bool late = guard && sk_pause_end(guard);
        if (r == -ECANCELED && sk_sched_stopping(s)) {
                record_cancelled(s, x);
                slog(s, SK_CAPTURE_LOG_INFO,
                     "scheduled backup of %s (policy %s) cancelled: snapkeepd is stopping; retried after it starts",
                     key, p->name);
                return;
        }
        char retain_note[300] = "";
        if (guard)
                snprintf(retain_note, sizeof(retain_note), "; task paused %s", late ? "until pause_timeout only"
                                                                                    : "throughout");
        if (r >= 0 && !layer && (p->keep_last | p->keep_hourly | p->keep_daily | p->keep_weekly |
                                 p->keep_monthly | p->keep_yearly)) {
                sk_forget_policy fp = {
                        .keep_last = p->keep_last, .keep_hourly = p->keep_hourly, .keep_daily = p->keep_daily,
                        .keep_weekly = p->keep_weekly, .keep_monthly = p->keep_monthly,
                        .keep_yearly = p->keep_yearly,
                };
                sk_forget_result fr = {};
                _cleanup_free_ char *rerr = NULL;
                int q = sk_capture_retain(s->cap, res.backup_id, tags, ARRAY_SIZE(tags), &fp, RETAIN_LOCK_WAIT, &fr,
                                          &rerr);
                if (q < 0)
                        /* The backup is safe; only old ones stay longer. Say so,
                         * and try again after the next backup. */
                        slog(s, SK_CAPTURE_LOG_WARNING, "scheduled backup of %s (policy %s): %s", key, p->name,
                             rerr ? rerr : strerror(-q));
                else {
                        size_t l = strlen(retain_note);
                        snprintf(retain_note + l, sizeof(retain_note) - l, "; retention kept %llu, forgot %llu",
                                 (unsigned long long) fr.kept, (unsigned long long) fr.removed);
                }
        }

        sk_sched_state st;
        int q = record_outcome(s, x, r, err, r >= 0 ? res.backup_id : "", NULL, &st);
        sk_sched_metrics_run(&s->m, p->name, r >= 0);
        char next[32];
        sk_sched_fmt_time(st.next_run, next);
        if (r >= 0)
                slog(s, SK_CAPTURE_LOG_INFO, "scheduled backup of %s (policy %s): backup %.12s in %.1f s%s; next %s",
                     key, p->name, res.backup_id, res.seconds, retain_note, next);
        else
                slog(s, SK_CAPTURE_LOG_ERROR,
                     "scheduled backup of %s (policy %s) failed (%u in a row): %s; retry %s", key, p->name,
                     st.failures, st.last_error, next);
        if (q < 0)
                slog(s, SK_CAPTURE_LOG_ERROR, "scheduler: cannot record the run of %s: %s", key, strerror(-q));
}

void *sk_sched_worker_main(void *arg) {
        sk_scheduler *s = arg;
        lower_priority(s);
        pthread_mutex_lock(&s->mu);
        while (!s->stop) {
                if (s->q_len == 0) {
                        pthread_cond_wait(&s->work_cond, &s->mu);
                        continue;
                }
                char *key = s->queue[s->q_head++];
                s->q_len--;
                if (s->q_len == 0)
                        s->q_head = 0;
                source *x = sk_sched_find(s, key, NULL);
                if (!x || x->running) {
                        free(key);
                        continue;
                }
                /* Late by more than a minute, and not asked for: a missed
                 * slot, caught up now (once: next_of counts from now on). */
                int64_t planned = x->st.next_run;
                if (!x->forced && planned > 0 && planned != INT64_MAX && sk_sched_now() - planned > MISSED_AFTER)
                        sk_metric_add(s->m.missed, (const char *[]) { x->policy->name }, 1);
                if (!x->maint) /* maintenance counts in run_maint: a skip is no attempt */
                        sk_sched_metrics_run(&s->m, x->policy->name, SK_SCHED_RUN_START);
                x->queued = false;
                x->forced = false;
                x->running = true;
                /* Durable before the backup starts: a crash mid-run must not
                 * make the restarted daemon run this slot again. */
                x->prev_start = x->st.last_start;
                x->st.last_start = sk_sched_now();
                x->st.runs++;
                x->st.next_run = 0;
                int q = sk_sched_db_put(s->db, x->key, &x->st);
                const sk_policy *p = x->policy;
                bool layer = x->layer;
                pthread_mutex_unlock(&s->mu);
                if (q < 0)
                        slog(s, SK_CAPTURE_LOG_ERROR, "scheduler: cannot record the start of %s: %s", key,
                             strerror(-q));
                /* x stays valid: the scan never frees a running source. */
                if (x->maint)
                        run_maint(s, x, key);
                else
                        run_one(s, x, p, key, layer);
                free(key);
                pthread_mutex_lock(&s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        return NULL;
}
