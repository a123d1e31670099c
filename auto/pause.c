#include "auto/pause.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot/key.h"

struct sk_pause_guard {
        const sk_pause_ctx *c;
        char *task; /* "ns/id" */
        pthread_mutex_t mu;
        pthread_cond_t cond;
        bool done, resumed;
        uint32_t timeout_s;
        pthread_t thread;
};

void sk_auto_log(sk_capture_log_fn fn, void *userdata, int level, const char *fmt, ...) {
        if (!fn)
                return;
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fn(level, buf, userdata);
}

#define plog(c, level, ...) sk_auto_log((c)->log, (c)->log_userdata, (level), __VA_ARGS__)

/* Split "ns/id" (task) and call the callback. */
static int call(const sk_pause_ctx *c, const char *task, bool pause, char **ret_error) {
        const char *slash = strchr(task, '/');
        if (!slash || slash == task || !slash[1] || (size_t) (slash - task) >= 256)
                return -EINVAL;
        char ns[256];
        memcpy(ns, task, (size_t) (slash - task));
        ns[slash - task] = '\0';
        return c->fn(ns, slash + 1, pause, ret_error, c->userdata);
}

/* Transient: containerd not reachable now; the task stays in the set. */
static bool transient(int r) {
        return r == -ENOTCONN || r == -ETIMEDOUT;
}

static int resume(const sk_pause_ctx *c, const char *task) {
        char *err = NULL;
        int r = call(c, task, false, &err);
        if (r < 0 && transient(r)) {
                plog(c, SK_CAPTURE_LOG_ERROR, "cannot resume task %s yet (it stays paused until containerd answers): %s", task,
                     err ? err : strerror(-r));
                free(err);
                return r;
        }
        if (r < 0) /* gone, or not paused any more: nothing left to undo */
                plog(c, SK_CAPTURE_LOG_DEBUG, "resume of task %s: %s", task, err ? err : strerror(-r));
        free(err);
        (void) sk_sched_db_paused_delete(c->db, task);
        return 0;
}

static void *guard_main(void *arg) {
        sk_pause_guard *g = arg;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += g->timeout_s;
        pthread_mutex_lock(&g->mu);
        while (!g->done)
                if (pthread_cond_timedwait(&g->cond, &g->mu, &deadline) == ETIMEDOUT)
                        break;
        if (!g->done) {
                plog(g->c, SK_CAPTURE_LOG_WARNING, "task %s was paused for pause_timeout (%u s) and is resumed while its backup goes on: "
                              "this backup is only crash-consistent", g->task, g->timeout_s);
                g->resumed = resume(g->c, g->task) == 0;
        }
        pthread_mutex_unlock(&g->mu);
        return NULL;
}

int sk_pause_begin(const sk_pause_ctx *c, const char *key, uint32_t timeout_s, sk_pause_guard **ret,
                   char **ret_error) {
        *ret = NULL;
        size_t nl = 0;
        const char *ns = sk_key_namespace(key, &nl);
        if (!c->fn || !ns)
                return -ENOENT;
        sk_pause_guard *g = calloc(1, sizeof(*g));
        if (!g || asprintf(&g->task, "%.*s/%s", (int) nl, ns, sk_key_name(key)) < 0) {
                free(g);
                return -ENOMEM;
        }
        g->c = c;
        g->timeout_s = timeout_s ? timeout_s : 30;
        pthread_mutex_init(&g->mu, NULL);
        pthread_cond_init(&g->cond, NULL);
        /* In the set before the pause: a crash right after it still resumes. */
        int r = sk_sched_db_paused_put(c->db, g->task);
        if (r >= 0)
                r = call(c, g->task, true, ret_error);
        if (r >= 0)
                r = -pthread_create(&g->thread, NULL, guard_main, g);
        if (r < 0) {
                if (r != -ENOENT && r != -EINVAL) /* maybe paused: make sure it is not */
                        (void) resume(c, g->task);
                else
                        (void) sk_sched_db_paused_delete(c->db, g->task);
                pthread_cond_destroy(&g->cond);
                pthread_mutex_destroy(&g->mu);
                free(g->task);
                free(g);
                return r == -EINVAL ? -ENOENT : r;
        }
        *ret = g;
        return 0;
}

bool sk_pause_end(sk_pause_guard *g) {
        pthread_mutex_lock(&g->mu);
        g->done = true;
        bool late = g->resumed;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->thread, NULL);
        if (!g->resumed)
                (void) resume(g->c, g->task);
        pthread_cond_destroy(&g->cond);
        pthread_mutex_destroy(&g->mu);
        free(g->task);
        free(g);
        return late;
}

int sk_pause_resume_leftovers(const sk_pause_ctx *c) {
        char **l = NULL;
        size_t n = 0;
        if (!c->fn || sk_sched_db_paused_list(c->db, &l, &n) < 0)
                return 0;
        int left = 0;
        for (size_t i = 0; i < n; i++) {
                plog(c, SK_CAPTURE_LOG_INFO, "resuming task %s, paused for a backup when snapkeepd stopped", l[i]);
                left += resume(c, l[i]) < 0;
                free(l[i]);
        }
        free(l);
        return left;
}
