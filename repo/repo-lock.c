/* Locks of the repository object: taking the repository lock (lock.c), and
 * the guard that index files and objects are written under (guarded_put):
 * what names data is written only while the lock is known to be ours. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "store/backend.h"
#include "repo/lock.h"

/* --- lock guard --- */

static sk_lock *guard_get(sk_repo *repo) {
        pthread_mutex_lock(&repo->lock);
        sk_lock *g = repo->guard;
        pthread_mutex_unlock(&repo->lock);
        return g;
}

static int guard_check(sk_repo *repo, sk_lock *g, const char *path, bool written) {
        int r = sk_lock_check(g, true);
        if (r >= 0)
                return 0;
        if (written)
                (void) sk_backend_del(repo->b, path);
        if (r == -ESTALE)
                return sk_repo_fail(r, "repository lock %s lost (%s); %s %s", sk_lock_id(g), sk_lock_lost_reason(g), path,
                            written ? "was written but is removed again" : "not written");
        return sk_repo_fail(r, "checking repository lock %s before %s: %s", sk_lock_id(g), path, strerror(-r));
}

/* Index files and manifests name data. They are written only under a lock
 * known to be ours just before and just after the write (FORMAT.md 9): a
 * lock lost meanwhile may have let a prune trash what they name, so the
 * object written goes again and the write fails. The lock is read here, not
 * passed: the caller releases it only after its writes are done. */
int sk_repo_guarded_put(sk_repo *repo, const char *path, const void *buf, size_t len) {
        sk_lock *g = guard_get(repo);
        int r;
        if (g && (r = guard_check(repo, g, path, false)) < 0)
                return r;
        r = sk_backend_put(repo->b, path, buf, len);
        if (r < 0)
                return sk_repo_fail(r, "writing %s: %s", path, strerror(-r));
        return g ? guard_check(repo, g, path, true) : 0;
}

/* --- locks --- */

static void guard_released(sk_lock *l, void *userdata) {
        sk_repo *repo = userdata;
        pthread_mutex_lock(&repo->lock);
        if (repo->guard == l)
                repo->guard = NULL;
        pthread_mutex_unlock(&repo->lock);
}

int sk_repo_set_lock_stale(sk_repo *repo, unsigned seconds) {
        if (seconds != 0 && seconds < 2)
                return sk_repo_fail(-EINVAL, "lock stale time of %us is too short (at least 2)", seconds);
        repo->lock_stale_seconds = seconds;
        return 0;
}

unsigned sk_repo_lock_stale(const sk_repo *repo) {
        return repo->lock_stale_seconds ? repo->lock_stale_seconds : SK_LOCK_STALE_SECONDS;
}

int sk_repo_lock_check(sk_repo *repo, sk_lock *l) {
        (void) repo;
        int r = sk_lock_check(l, true);
        if (r == -ESTALE)
                return sk_repo_fail(r, "repository lock %s lost (%s)", sk_lock_id(l), sk_lock_lost_reason(l));
        if (r < 0)
                return sk_repo_fail(r, "checking repository lock %s: %s", sk_lock_id(l), strerror(-r));
        return 0;
}

int sk_repo_lock(sk_repo *repo, bool exclusive, unsigned wait_seconds, sk_lock **ret) {
        char *holder = NULL;
        sk_lock *l = NULL;
        int r = sk_lock_acquire(repo->b, exclusive, wait_seconds, repo->lock_stale_seconds, &l, &holder);
        if (r == -EBUSY) {
                sk_repo_fail(r, "repository is locked: %s", holder ? holder : "by another process");
                free(holder);
                return r;
        }
        if (r < 0)
                return sk_repo_fail(r, "taking lock: %s", strerror(-r));
        /* The index was loaded at open, possibly before a prune that ran
         * while we waited: only now, under the lock, is it safe to trust. */
        r = sk_repo_reload_index(repo);
        if (r < 0) {
                sk_lock_release(l);
                return r;
        }
        /* From now on index and object writes check this lock (sk_repo_guarded_put). */
        sk_lock_on_release(l, guard_released, repo);
        pthread_mutex_lock(&repo->lock);
        repo->guard = l;
        pthread_mutex_unlock(&repo->lock);
        *ret = l;
        return 0;
}

int sk_repo_unlock_stale(sk_repo *repo, unsigned *ret_removed) {
        int r = sk_lock_remove_stale(repo->b, repo->lock_stale_seconds, ret_removed);
        if (r < 0)
                return sk_repo_fail(r, "removing stale locks: %s", strerror(-r));
        return 0;
}

int sk_repo_remove_lock_tombstones(sk_repo *repo, unsigned *ret_removed) {
        int r = sk_lock_remove_tombstones(repo->b, SK_LOCK_TOMBSTONE_SECONDS, ret_removed);
        if (r < 0)
                return sk_repo_fail(r, "removing old lock tombstones: %s", strerror(-r));
        return 0;
}
