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

int sk_capture_lease(sk_capture *c, const char *holder, uint32_t ttl_seconds, unsigned settle_ms, sk_lease *ret,
                     char **ret_error) {
        pthread_mutex_lock(&c->repo_mutex);
        int r = sk_cap_open_repo(c, ret_error);
        if (r >= 0) {
                r = sk_lease_take(c->repo, "lease", holder, ttl_seconds, settle_ms, ret);
                if (r < 0)
                        sk_cap_errorf(ret_error, "maintenance lease: %s", strerror(-r));
        }
        pthread_mutex_unlock(&c->repo_mutex);
        return r;
}

int sk_capture_prune(sk_capture *c, unsigned lock_wait_seconds, sk_prune_result *ret, char **ret_error) {
        pthread_mutex_lock(&c->repo_mutex);
        int r = sk_cap_open_repo(c, ret_error);
        if (r >= 0) {
                sk_prune_options o = { .lock_wait_seconds = lock_wait_seconds };
                r = sk_prune_run(c->repo, &o, ret);
                if (r < 0)
                        sk_cap_errorf(ret_error, "prune: %s", r == -EBUSY ? "the repository is locked by a backup "
                                      "or another prune" : strerror(-r));
        }
        pthread_mutex_unlock(&c->repo_mutex);
        return r;
}

int sk_capture_check(sk_capture *c, unsigned read_data_subset_pct, sk_check_result *ret, char **ret_error) {
        pthread_mutex_lock(&c->repo_mutex);
        int r = sk_cap_open_repo(c, ret_error);
        if (r >= 0) {
                sk_check_options o = { .read_data_subset_pct = read_data_subset_pct };
                r = sk_check_run(c->repo, &o, ret);
                if (r == -EBADMSG)
                        sk_cap_errorf(ret_error, "check: the repository has %llu errors (run snapkeep check to see "
                                      "them)", (unsigned long long) ret->errors);
                else if (r < 0)
                        sk_cap_errorf(ret_error, "check: %s", r == -EBUSY ? "a prune is running" : strerror(-r));
        }
        pthread_mutex_unlock(&c->repo_mutex);
        return r;
}
