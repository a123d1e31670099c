#include "auto/scheduler.h"
#include "auto/sched-metrics.h"
#include "auto/scheduler-internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "auto/k8s-cache.h"
#include "auto/pause.h"
#include "auto/state.h"
#include "snapshot/key.h"
#include "common/array.h"
#include "backup/forget.h"
#include "backup/lease.h"
#include "repo/crypto.h"


int64_t sk_sched_now(void) {
        return (int64_t) time(NULL);
}

void sk_sched_fmt_time(int64_t t, char buf[32]) {
        if (t <= 0 || t == INT64_MAX) {
                snprintf(buf, 32, "%s", t <= 0 ? "never" : "none");
                return;
        }
        time_t tt = (time_t) t;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

static void source_free(source *x) {
        if (x) {
                free(x->key);
                free(x);
        }
}

static int key_cmp(const void *key, const void *element) {
        return strcmp(key, (*(source *const *) element)->key);
}

/* The source for key in s->v; *ret_at is where key is or would go. */
source *sk_sched_find(sk_scheduler *s, const char *key, size_t *ret_at) {
        bool found;
        size_t at = sk_lower_bound(s->v, s->n, sizeof(*s->v), key, key_cmp, &found);
        if (ret_at)
                *ret_at = at;
        return found ? s->v[at] : NULL;
}

/* Whether x is on hold: itself or its policy (snapkeep daemon pause). */
static bool is_held(const sk_scheduler *s, const source *x) {
        for (size_t i = 0; i < s->n_held; i++) {
                const char *h = s->held[i];
                if ((!strncmp(h, "source:", 7) && !strcmp(h + 7, x->key)) ||
                    (!strncmp(h, "policy:", 7) && !strcmp(h + 7, x->policy->name)))
                        return true;
        }
        return false;
}

int64_t sk_sched_next_of(sk_scheduler *s, const source *x) {
        if (x->layer && x->st.last_success > 0)
                return INT64_MAX; /* immutable: captured once */
        if (x->forced)
                return 0;
        if (is_held(s, x))
                return INT64_MAX; /* run-now still runs it */
        /* A last start in the future (the clock went back) would hold the
         * source until the clock catches up: count from now instead. */
        sk_sched_state st = x->st;
        int64_t now = sk_sched_now();
        if (st.last_start > now)
                st.last_start = now;
        int64_t t = sk_sched_next(x->policy, &st, x->jitter, s->a->retry_min, s->a->retry_max);
        /* A layer under on_commit is due when first seen (committed, or
         * present at start); after a failure, sk_sched_next's backoff. */
        if (x->layer && x->policy->on_commit && x->st.failures == 0)
                return x->st.first_seen;
        return t;
}

/* A run that started and never ended (the daemon stopped or crashed during
 * it): a failure, so that it is retried with backoff rather than waiting a
 * whole interval. */
static void load_state(sk_scheduler *s, const char *key, sk_sched_state *st) {
        if (sk_sched_db_get(s->db, key, st) < 0 || st->first_seen <= 0) {
                *st = (sk_sched_state) { .first_seen = sk_sched_now() };
                return;
        }
        if (st->last_start > st->last_end) {
                st->last_end = st->last_start;
                st->failures++;
                st->last_errno = -EINTR;
                snprintf(st->last_error, sizeof(st->last_error),
                         "interrupted: snapkeepd stopped or crashed while this run was going on");
        }
}

/* --- the scan: snapshots -> sources ------------------------------------------ */

typedef struct found {
        char *key;
        const sk_policy *policy;
        bool layer;
} found;

typedef struct scan_ctx {
        sk_scheduler *s;
        const sk_automation *a;
        found *v;
        size_t n, n_alloc;
        int error;
        char **missing;           /* active snapshots whose pod identity is to be asked */
        size_t n_missing, missing_alloc;
} scan_ctx;

static void scan_ctx_clear(scan_ctx *x) {
        for (size_t i = 0; i < x->n; i++)
                free(x->v[i].key);
        free(x->v);
        for (size_t i = 0; i < x->n_missing; i++)
                free(x->missing[i]);
        free(x->missing);
        x->v = NULL, x->missing = NULL;
        x->n = x->n_alloc = x->n_missing = x->missing_alloc = 0;
}

/* New containers asked about per scan (each a call to containerd): the
 * rest wait for the next scan, so a scan, and a stop waiting for it, stays
 * short however many containers start at once. */
#define SCAN_ASK_MAX 32

bool sk_sched_stopping(sk_scheduler *s) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        return stop;
}

/* Whether to ask containerd who active snapshot key belongs to: when a
 * policy matches on pods, or in CRI's namespace (to skip pod sandboxes). */
static bool wants_identity(const sk_scheduler *s, const char *key) {
        size_t nl = 0;
        const char *ns = sk_key_namespace(key, &nl);
        return s->uses_k8s || (ns && nl == 6 && memcmp(ns, "k8s.io", 6) == 0);
}

static bool has_label(const sk_info *info, const char *key) {
        for (size_t i = 0; i < info->n_labels; i++)
                if (strcmp(info->labels[i].key, key) == 0)
                        return true;
        return false;
}

static int scan_one(const sk_info *info, void *userdata) {
        scan_ctx *x = userdata;
        if (has_label(info, SK_LABEL_RESTORING))
                return 0;
        const sk_k8s_identity *k8s = NULL;
        if (info->kind == SK_KIND_ACTIVE && !sk_key_is_unpack(info->name) && wants_identity(x->s, info->name)) {
                /* Inside the walk's read transaction: the cache only. */
                bool missing = false;
                k8s = sk_k8s_cache_get(x->s->k8s, info->name, false, &missing, NULL);
                if (missing) {
                        char *k = strdup(info->name);
                        if (!k || SK_GROW(x->missing, x->missing_alloc, x->n_missing + 1) < 0) {
                                free(k);
                                return -ENOMEM;
                        }
                        x->missing[x->n_missing++] = k;
                }
        }
        const sk_policy *p = sk_automation_match(x->a, info->name, info->kind, info->labels, info->n_labels, k8s);
        if (!p)
                return 0;
        if (info->kind == SK_KIND_COMMITTED && p->on_commit && !p->interval && !p->n_crons &&
            has_label(info, SK_LABEL_LAYER_BACKUP))
                return 0; /* rehydrated from the repository: already there */
        if (SK_GROW(x->v, x->n_alloc, x->n + 1) < 0)
                return -ENOMEM;
        char *k = strdup(info->name);
        if (!k)
                return -ENOMEM;
        x->v[x->n++] = (found) { k, p, info->kind == SK_KIND_COMMITTED };
        return 0;
}

static int found_cmp(const void *a, const void *b) {
        return strcmp(((const found *) a)->key, ((const found *) b)->key);
}

/* Caller holds mu. Adds x at position at. */
static int insert(sk_scheduler *s, source *x, size_t at) {
        return SK_INSERT_AT(s->v, s->n, s->n_alloc, at, x);
}

/* Read the snapshot list and bring the sources in line with it. Called by
 * the planner without mu held; takes it to merge. */
static int scan_locked(sk_scheduler *s);

static int scan(sk_scheduler *s) {
        pthread_mutex_lock(&s->scan_mu);
        int r = scan_locked(s);
        pthread_mutex_unlock(&s->scan_mu);
        return r;
}

static int scan_locked(sk_scheduler *s) {
        scan_ctx x = { .s = s, .a = s->a };
        int r;
        for (int pass = 0;; pass++) {
                sk_k8s_cache_begin(s->k8s);
                r = sk_snapshotter_walk(s->snap, scan_one, &x);
                if (r < 0 || x.n_missing == 0 || pass == 1)
                        break;
                /* New containers: ask containerd who they are outside the
                 * walk's transaction (a slow containerd must not keep it
                 * open), then walk again with the answers. */
                for (size_t i = 0; i < x.n_missing && i < SCAN_ASK_MAX && !sk_sched_stopping(s); i++) {
                        _cleanup_free_ char *err = NULL;
                        (void) sk_k8s_cache_get(s->k8s, x.missing[i], true, NULL, &err);
                        if (err)
                                slog(s, SK_CAPTURE_LOG_DEBUG, "%s: Kubernetes identity not known now: %s",
                                     x.missing[i], err);
                }
                scan_ctx_clear(&x);
        }
        if (r >= 0)
                sk_k8s_cache_sweep(s->k8s); /* after a full walk only: a cut one saw too little */
        if (r < 0)
                goto out;
        if (x.n > 1) /* qsort(NULL, 0, ...) is undefined */
                qsort(x.v, x.n, sizeof(*x.v), found_cmp);
        int64_t now = sk_sched_now();

        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n; i++)
                s->v[i]->seen = false;
        for (size_t i = 0; i < x.n; i++) {
                size_t at;
                source *src = sk_sched_find(s, x.v[i].key, &at);
                if (src) {
                        src->seen = true;
                        if (src->policy != x.v[i].policy) { /* relabelled: the new policy's next slot */
                                src->policy = x.v[i].policy;
                                snprintf(src->st.policy, sizeof(src->st.policy), "%s", src->policy->name);
                                src->jitter = sk_sched_jitter(s->node, src->key, src->policy->jitter);
                                src->st.next_run = sk_sched_next_of(s, src);
                                (void) sk_sched_db_put(s->db, src->key, &src->st);
                        }
                        continue;
                }
                src = calloc(1, sizeof(*src));
                if (!src) {
                        r = -ENOMEM;
                        break;
                }
                src->key = TAKE_PTR(x.v[i].key);
                src->policy = x.v[i].policy;
                src->layer = x.v[i].layer;
                src->seen = true;
                src->jitter = sk_sched_jitter(s->node, src->key, src->policy->jitter);
                load_state(s, src->key, &src->st);
                if (strcmp(src->st.policy, src->policy->name) != 0) {
                        /* A new source, or one whose policy changed while the
                         * daemon was down: counts from now under its policy. */
                        if (src->st.policy[0])
                                src->st.first_seen = now, src->st.last_start = 0, src->st.failures = 0;
                        snprintf(src->st.policy, sizeof(src->st.policy), "%s", src->policy->name);
                }
                src->st.next_run = sk_sched_next_of(s, src);
                (void) sk_sched_db_put(s->db, src->key, &src->st);
                r = insert(s, src, at);
                if (r < 0) {
                        source_free(src);
                        break;
                }
        }
        /* Sources whose snapshot is gone (and not running): forget them. */
        size_t w = 0;
        for (size_t i = 0; i < s->n; i++) {
                source *src = s->v[i];
                if (src->seen || src->maint || src->running || src->queued || r < 0) {
                        s->v[w++] = src;
                        continue;
                }
                (void) sk_sched_db_delete(s->db, src->key);
                source_free(src);
        }
        s->n = w;
        pthread_mutex_unlock(&s->mu);
out:
        scan_ctx_clear(&x);
        return r;
}

/* Records of sources that no longer exist (removed while the daemon was
 * down): the first scan only adds, so collect the rest and delete them. */
typedef struct stale_ctx {
        sk_scheduler *s;
        char **keys;
        size_t n, n_alloc;
} stale_ctx;

static int collect_stale(const char *key, const sk_sched_state *st, void *userdata) {
        (void) st;
        stale_ctx *x = userdata;
        if (sk_sched_find(x->s, key, NULL))
                return 0;
        if (SK_GROW(x->keys, x->n_alloc, x->n + 1) < 0)
                return -ENOMEM;
        if (!(x->keys[x->n] = strdup(key)))
                return -ENOMEM;
        x->n++;
        return 0;
}

/* Caller holds mu (the walk is read-only; deletes come after it). */
static void drop_stale(sk_scheduler *s) {
        stale_ctx x = { .s = s };
        (void) sk_sched_db_foreach(s->db, collect_stale, &x);
        for (size_t i = 0; i < x.n; i++) {
                (void) sk_sched_db_delete(s->db, x.keys[i]);
                free(x.keys[i]);
        }
        free(x.keys);
}

/* --- queue ---------------------------------------------------------------------- */

/* Caller holds mu. */
static int enqueue(sk_scheduler *s, source *x) {
        if (s->q_head + s->q_len == s->q_alloc) {
                if (s->q_head > 0) {
                        memmove(s->queue, s->queue + s->q_head, s->q_len * sizeof(*s->queue));
                        s->q_head = 0;
                } else if (SK_GROW(s->queue, s->q_alloc, s->q_alloc + 1) < 0)
                        return -ENOMEM;
        }
        char *k = strdup(x->key);
        if (!k)
                return -ENOMEM;
        s->queue[s->q_head + s->q_len++] = k;
        x->queued = true;
        pthread_cond_signal(&s->work_cond);
        return 0;
}

/* "snapkeep:source=<node id>:<SHA-256 of the backend key, 32 hex>": which
 * snapshot of which node a scheduled backup is of, whatever the host is
 * called and however snapshot ids repeat across nodes. Retention selects on
 * it; a hash, so that a client choosing keys cannot aim at another's tag. */
void sk_sched_source_tag(const sk_scheduler *s, const char *key, char out[SOURCE_TAG_SIZE]) {
        uint8_t h[SK_SHA256_SIZE] = {};
        (void) sk_sha256(key, strlen(key), h);
        int n = snprintf(out, SOURCE_TAG_SIZE, SOURCE_TAG_PREFIX "%s:", s->node_id);
        for (size_t i = 0; i < 16 && (size_t) n + 2 < SOURCE_TAG_SIZE; i++, n += 2)
                snprintf(out + n, 3, "%02x", h[i]);
}

/* --- planner ---------------------------------------------------------------------- */

static void *planner_main(void *arg) {
        sk_scheduler *s = arg;
        int64_t last_scan = 0;
        bool first = true;

        pthread_mutex_lock(&s->mu);
        while (!s->stop) {
                int64_t now = sk_sched_now();
                if (atomic_exchange(&s->commit_seen, false) || now >= last_scan + (int64_t) s->a->scan_interval) {
                        pthread_mutex_unlock(&s->mu);
                        int r = scan(s);
                        if (r < 0)
                                slog(s, SK_CAPTURE_LOG_ERROR, "scheduler: cannot read the snapshot list: %s",
                                     strerror(-r));
                        pthread_mutex_lock(&s->mu);
                        if (first && r >= 0) {
                                drop_stale(s);
                                first = false;
                        }
                        last_scan = now = sk_sched_now();
                }
                if (s->paused_left > 0) {
                        pthread_mutex_unlock(&s->mu);
                        int left = sk_pause_resume_leftovers(&s->pause);
                        pthread_mutex_lock(&s->mu);
                        s->paused_left = left;
                }
                int64_t wake = last_scan + (int64_t) s->a->scan_interval;
                for (size_t i = 0; i < s->n; i++) {
                        source *x = s->v[i];
                        if (x->running || x->queued)
                                continue;
                        int64_t next = sk_sched_next_of(s, x);
                        if (next <= now) {
                                if (enqueue(s, x) < 0)
                                        slog(s, SK_CAPTURE_LOG_ERROR, "scheduler: out of memory");
                        } else if (next < wake)
                                wake = next;
                }
                /* Wait on the monotonic clock: a wall clock stepped back must not
                 * hold the planner for as long as the step. */
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t wait = wake - sk_sched_now();
                ts.tv_sec += (time_t) (wait < 1 ? 1 : wait > 3600 ? 3600 : wait);
                pthread_cond_timedwait(&s->plan_cond, &s->mu, &ts);
        }
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

/* The metrics computed at scrape time: per policy, the newest success and
 * the earliest next run over its sources; the runs going on. */
static void collect(sk_metrics *m, void *userdata) {
        (void) m;
        sk_scheduler *s = userdata;
        size_t np = s->a->n_policies + 1; /* + maintenance */
        _cleanup_free_ int64_t *last = calloc(np, sizeof(*last)), *next = calloc(np, sizeof(*next));
        if (!last || !next)
                return;
        unsigned running = 0;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n; i++) {
                const source *x = s->v[i];
                size_t p = x->maint ? np - 1 : (size_t) (x->policy - s->a->policies);
                if (p >= np)
                        continue;
                running += x->running;
                if (x->st.last_success > last[p])
                        last[p] = x->st.last_success;
                if (x->st.next_run > 0 && x->st.next_run != INT64_MAX && (!next[p] || x->st.next_run < next[p]))
                        next[p] = x->st.next_run;
        }
        pthread_mutex_unlock(&s->mu);
        for (size_t p = 0; p < np; p++) {
                if (p == np - 1 && !s->a->maintenance)
                        break;
                sk_sched_metrics_policy(&s->m, p < np - 1 ? s->a->policies[p].name : s->a->maint_prune.name, last[p],
                                        next[p]);
        }
        sk_metric_set(s->m.running, NULL, running);
}

/* --- public ------------------------------------------------------------------------- */

/* A maintenance job as a source of its own (never removed by a scan). */
static int add_maint(sk_scheduler *s, const char *key, int which, const sk_policy *p) {
        source *x = calloc(1, sizeof(*x));
        if (!x || !(x->key = strdup(key))) {
                free(x);
                return -ENOMEM;
        }
        x->policy = p;
        x->maint = which;
        load_state(s, key, &x->st);
        snprintf(x->st.policy, sizeof(x->st.policy), "%s", p->name);
        x->st.next_run = sk_sched_next_of(s, x);
        (void) sk_sched_db_put(s->db, key, &x->st);
        size_t at;
        if (sk_sched_find(s, key, &at)) {
                source_free(x);
                return 0;
        }
        int r = insert(s, x, at);
        if (r < 0)
                source_free(x);
        return r;
}

int sk_scheduler_new(sk_snapshotter *snap, sk_capture *cap, const sk_scheduler_options *o, sk_scheduler **ret) {
        sk_scheduler *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->snap = snap;
        s->cap = cap;
        s->a = o->automation;
        s->log = o->log;
        s->log_userdata = o->log_userdata;
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->work_cond, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->plan_cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&s->scan_mu, NULL);
        int r = -ENOMEM;
        s->node = strdup(o->node ? o->node : "");
        if (!s->node)
                goto fail;
        r = -EINVAL;
        if (!o->node_id || !o->node_id[0] || strlen(o->node_id) >= sizeof(s->node_id) ||
            strspn(o->node_id, "0123456789abcdef") != strlen(o->node_id))
                goto fail;
        strcpy(s->node_id, o->node_id);
        r = sk_sched_db_open(o->state_dir, &s->db);
        if (r < 0)
                goto fail;
        s->uses_k8s = sk_automation_uses_k8s(s->a);
        r = sk_k8s_cache_new(o->identify, o->identify_userdata, &s->k8s);
        if (r < 0)
                goto fail;
        s->pause = (sk_pause_ctx) { .fn = o->pause_task, .userdata = o->pause_userdata, .db = s->db,
                                    .log = o->log, .log_userdata = o->log_userdata };
        /* Before any backup: tasks a killed daemon left paused run again. */
        s->paused_left = sk_pause_resume_leftovers(&s->pause);
        /* The lease holder: this host and this daemon's state directory, so
         * that a restart keeps its lease and two daemons on one host differ. */
        snprintf(s->holder, sizeof(s->holder), "%.*s:%08x", 180, s->node[0] ? s->node : "node",
                 sk_sched_jitter("", o->state_dir, UINT32_MAX));
        for (char *c = s->holder; *c; c++)
                if (*c <= ' ' || *c > '~')
                        *c = '_';
        r = sk_sched_db_held_list(s->db, &s->held, &s->n_held);
        if (r < 0)
                goto fail;
        r = sk_sched_metrics_init(&s->m, o->metrics, s->a);
        if (r >= 0 && o->metrics)
                r = sk_metrics_add_collector(o->metrics, collect, s);
        if (r < 0)
                goto fail;
        if (s->a->maintenance) {
                r = add_maint(s, "maintenance/prune", MAINT_PRUNE, &s->a->maint_prune);
                if (r >= 0)
                        r = add_maint(s, "maintenance/check", MAINT_CHECK, &s->a->maint_check);
                if (r < 0)
                        goto fail;
        }
        for (unsigned i = 0; i < s->a->max_runs && i < 16; i++) {
                r = -pthread_create(&s->workers[i], NULL, sk_sched_worker_main, s);
                if (r < 0)
                        goto fail;
                s->n_workers++;
        }
        r = -pthread_create(&s->planner, NULL, planner_main, s);
        if (r < 0)
                goto fail;
        s->planner_started = true;
        *ret = s;
        return 0;
fail:
        sk_scheduler_free(s);
        return r;
}

void sk_scheduler_stop(sk_scheduler *s) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->work_cond);
        pthread_cond_broadcast(&s->plan_cond);
        pthread_mutex_unlock(&s->mu);
}

void sk_scheduler_free(sk_scheduler *s) {
        if (!s)
                return;
        sk_scheduler_stop(s);
        if (s->planner_started)
                pthread_join(s->planner, NULL);
        for (unsigned i = 0; i < s->n_workers; i++)
                pthread_join(s->workers[i], NULL);
        for (size_t i = 0; i < s->n; i++)
                source_free(s->v[i]);
        free(s->v);
        for (size_t i = 0; i < s->q_len; i++)
                free(s->queue[s->q_head + i]);
        free(s->queue);
        for (size_t i = 0; i < s->n_held; i++)
                free(s->held[i]);
        free(s->held);
        sk_sched_db_free(s->db);
        sk_k8s_cache_free(s->k8s);
        pthread_cond_destroy(&s->work_cond);
        pthread_cond_destroy(&s->plan_cond);
        pthread_mutex_destroy(&s->scan_mu);
        pthread_mutex_destroy(&s->mu);
        free(s->node);
        free(s);
}

int sk_scheduler_list(sk_scheduler *s, sk_schedule_entry **ret, size_t *ret_n) {
        pthread_mutex_lock(&s->mu);
        sk_schedule_entry *l = calloc(s->n ? s->n : 1, sizeof(*l));
        int r = l ? 0 : -ENOMEM;
        size_t n = 0;
        for (; r == 0 && n < s->n; n++) {
                const source *x = s->v[n];
                if (!(l[n].source = strdup(x->key))) {
                        r = -ENOMEM;
                        break;
                }
                l[n].layer = x->layer;
                l[n].maint = x->maint != 0;
                l[n].st = x->st;
                l[n].st.next_run = x->running ? 0 : sk_sched_next_of(s, x);
                l[n].state = x->running ? "running"
                             : x->queued ? "pending"
                             : is_held(s, x) ? "paused"
                             : x->st.failures ? "failed"
                                              : "idle";
        }
        pthread_mutex_unlock(&s->mu);
        if (r < 0) {
                sk_schedule_list_free(l, n);
                return r;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

void sk_schedule_list_free(sk_schedule_entry *l, size_t n) {
        if (!l)
                return;
        for (size_t i = 0; i < n; i++)
                free(l[i].source);
        free(l);
}

int sk_scheduler_run_now(sk_scheduler *s, const char *what) {
        int r = scan(s);
        if (r < 0)
                return r;
        bool all = !what || !what[0];
        bool policy = !all && sk_automation_find(s->a, what);
        int n = 0;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->n; i++) {
                source *x = s->v[i];
                if (all || (policy && strcmp(x->policy->name, what) == 0) || strcmp(x->key, what) == 0) {
                        x->forced = true;
                        n++;
                }
        }
        pthread_cond_signal(&s->plan_cond);
        pthread_mutex_unlock(&s->mu);
        return n == 0 && !all && !policy ? -ENOENT : n;
}

int sk_scheduler_hold(sk_scheduler *s, const char *what, bool hold) {
        if (!what || !what[0])
                return -EINVAL;
        bool policy = sk_automation_find(s->a, what) != NULL;
        if (!policy && strcmp(what, "maintenance") == 0)
                policy = true;
        _cleanup_free_ char *entry = NULL;
        pthread_mutex_lock(&s->mu);
        int n = 0;
        for (size_t i = 0; i < s->n; i++)
                n += policy ? strcmp(s->v[i]->policy->name, what) == 0 : strcmp(s->v[i]->key, what) == 0;
        int r = 0;
        if (!policy && n == 0)
                r = -ENOENT;
        else if (asprintf(&entry, "%s:%s", policy ? "policy" : "source", what) < 0) {
                entry = NULL;
                r = -ENOMEM;
        }
        size_t at = s->n_held;
        for (size_t i = 0; r >= 0 && i < s->n_held; i++)
                if (strcmp(s->held[i], entry) == 0)
                        at = i;
        if (r >= 0 && hold && at == s->n_held) {
                size_t cap = s->n_held + 1; /* exact: the array is NULL-terminated, not grown by doubling */
                char **v = realloc(s->held, (cap + 1) * sizeof(*v));
                r = v ? sk_sched_db_held_put(s->db, entry) : -ENOMEM;
                if (v)
                        s->held = v;
                if (r >= 0) {
                        s->held[s->n_held++] = TAKE_PTR(entry);
                        s->held[s->n_held] = NULL;
                }
        } else if (r >= 0 && !hold && at < s->n_held) {
                r = sk_sched_db_held_delete(s->db, entry);
                if (r >= 0) {
                        free(s->held[at]);
                        s->held[at] = s->held[--s->n_held];
                        s->held[s->n_held] = NULL;
                }
        }
        pthread_cond_signal(&s->plan_cond);
        pthread_mutex_unlock(&s->mu);
        return r < 0 ? r : n;
}

void sk_scheduler_committed(sk_scheduler *s, const char *key) {
        (void) key; /* the scan finds it; only wake the planner */
        /* Never wait for mu on a Commit: it is held across LMDB commits. If
         * it is busy, the planner sees the flag when it next looks (within
         * scan_interval at the latest). */
        atomic_store(&s->commit_seen, true);
        if (pthread_mutex_trylock(&s->mu) == 0) {
                pthread_cond_signal(&s->plan_cond);
                pthread_mutex_unlock(&s->mu);
        }
}
