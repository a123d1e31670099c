/* Repository maintenance for the scheduler (auto/): the maintenance lease,
 * prune and a partial check, on the daemon's repository handle (under its
 * mutex, like every operation on it). */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "backup/check.h"
#include "backup/lease.h"
#include "backup/prune.h"
#include "container/capture-internal.h"

typedef struct maint_op {
        const char *holder;
        uint32_t ttl;
        unsigned settle_ms, lock_wait, subset;
        void *ret; /* sk_lease, sk_prune_result or sk_check_result */
} maint_op;

/* fn on the open repository, under its mutex. */
static int with_repo(sk_capture *c, int (*fn)(sk_capture *c, maint_op *op, char **ret_error), maint_op *op,
                     char **ret_error) {
        pthread_mutex_lock(&c->repo_mutex);
        int r = sk_cap_open_repo(c, ret_error);
        if (r >= 0)
                r = fn(c, op, ret_error);
        pthread_mutex_unlock(&c->repo_mutex);
        return r;
}

static int lease_op(sk_capture *c, maint_op *op, char **ret_error) {
        int r = sk_lease_take(c->repo, "lease", op->holder, op->ttl, op->settle_ms, &c->lease_watch, op->ret);
        if (r < 0)
                sk_cap_errorf(ret_error, "maintenance lease: %s", strerror(-r));
        return r;
}

/* Progress of prune and check: only the stop's cancellation (sk_capture_cancel),
 * no events. Prune is cancelled while it marks, before it deletes anything. */
static int maint_progress(const sk_progress *p, void *userdata) {
        (void) p;
        sk_capture *c = userdata;
        return atomic_load(&c->cancelled) ? -ECANCELED : 0;
}

static int prune_op(sk_capture *c, maint_op *op, char **ret_error) {
        sk_prune_options o = { .lock_wait_seconds = op->lock_wait, .progress = maint_progress, .userdata = c };
        int r = sk_prune_run(c->repo, &o, op->ret);
        if (r >= 0)
                sk_cap_metric_repo_size(c);
        if (r < 0)
                sk_cap_errorf(ret_error, "prune: %s",
                              r == -EBUSY ? "the repository is locked by a backup or another prune" : strerror(-r));
        return r;
}

static int check_op(sk_capture *c, maint_op *op, char **ret_error) {
        sk_check_options o = { .read_data_subset_pct = op->subset, .progress = maint_progress, .userdata = c };
        sk_check_result *res = op->ret;
        int r = sk_check_run(c->repo, &o, res);
        if (r >= 0)
                sk_cap_metric_repo_size(c);
        if (r == -EBADMSG)
                sk_cap_errorf(ret_error, "check: the repository has %llu errors (run snapkeep check to see them)",
                              (unsigned long long) res->errors);
        else if (r < 0)
                sk_cap_errorf(ret_error, "check: %s", r == -EBUSY ? "a prune is running" : strerror(-r));
        return r;
}

int sk_capture_lease(sk_capture *c, const char *holder, uint32_t ttl_seconds, unsigned settle_ms, sk_lease *ret,
                     char **ret_error) {
        maint_op op = { .holder = holder, .ttl = ttl_seconds, .settle_ms = settle_ms, .ret = ret };
        return with_repo(c, lease_op, &op, ret_error);
}

int sk_capture_prune(sk_capture *c, unsigned lock_wait_seconds, sk_prune_result *ret, char **ret_error) {
        maint_op op = { .lock_wait = lock_wait_seconds, .ret = ret };
        return with_repo(c, prune_op, &op, ret_error);
}

int sk_capture_check(sk_capture *c, unsigned read_data_subset_pct, sk_check_result *ret, char **ret_error) {
        maint_op op = { .subset = read_data_subset_pct, .ret = ret };
        return with_repo(c, check_op, &op, ret_error);
}
