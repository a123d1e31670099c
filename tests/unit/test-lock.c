/* Repository locks over the local backend: shared+shared, exclusive vs
 * shared (both directions), waiting with a timeout, stale detection (dead
 * pid on this host, old refresh time), refresh, lost lock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/backend.h"
#include "backup/lock.h"
#include "common/fsutil.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
        char *dir;
        sk_backend *b;
} fixture;

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));
        f->dir = sk_test_mkdtemp("sk-lock");
        if (!f->dir || sk_backend_open(f->dir, 1, &f->b) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        sk_backend_free(f->b);
        sk_rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static int count_cb(const char *name, uint64_t size, void *ud) {
        (void) name;
        (void) size;
        (*(int *) ud)++;
        return 0;
}

static int nlocks(sk_backend *b) {
        int n = 0;
        assert_int_equal(sk_backend_list(b, "locks/", count_cb, &n), 0);
        return n;
}

static void test_shared_exclusive(void **state) {
        fixture *f = *state;
        sk_lock *s1 = NULL, *s2 = NULL, *x = NULL;
        char *holder = NULL;
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s1, &holder), 0);
        assert_null(holder);
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s2, NULL), 0);
        assert_int_equal(nlocks(f->b), 2);

        assert_int_equal(sk_lock_acquire(f->b, true, 0, 0, &x, &holder), -EBUSY);
        assert_non_null(holder);
        assert_non_null(strstr(holder, "shared lock"));
        assert_non_null(strstr(holder, "pid"));
        free(holder);
        holder = NULL;
        assert_int_equal(nlocks(f->b), 2); /* the refused request left nothing behind */

        /* waiting: still refused after the timeout, and it did wait */
        time_t t0 = time(NULL);
        assert_int_equal(sk_lock_acquire(f->b, true, 2, 0, &x, NULL), -EBUSY);
        assert_true(time(NULL) - t0 >= 2);

        assert_int_equal(sk_lock_release(s1), 0);
        assert_int_equal(sk_lock_release(s2), 0);
        assert_int_equal(nlocks(f->b), 0);

        assert_int_equal(sk_lock_acquire(f->b, true, 0, 0, &x, NULL), 0);
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s1, &holder), -EBUSY);
        assert_non_null(strstr(holder, "exclusive lock"));
        assert_non_null(strstr(holder, sk_lock_id(x)));
        free(holder);
        assert_int_equal(sk_lock_acquire(f->b, true, 0, 0, &s1, NULL), -EBUSY);
        assert_int_equal(sk_lock_release(x), 0);
        assert_int_equal(sk_lock_release(NULL), 0);
}

static void test_wait_succeeds_when_released(void **state) {
        fixture *f = *state;
        sk_lock *s = NULL, *x = NULL;
        /* a child holds a shared lock for ~1 s, then exits (releasing it) */
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sk_backend *b;
                if (sk_backend_open(f->dir, 0, &b) < 0 || sk_lock_acquire(b, false, 0, 0, &s, NULL) < 0)
                        _exit(1);
                (void) !write(pfd[1], "x", 1);
                sleep(1);
                sk_lock_release(s);
                sk_backend_free(b);
                _exit(0);
        }
        char c;
        assert_int_equal(read(pfd[0], &c, 1), 1);
        close(pfd[0]);
        close(pfd[1]);
        assert_int_equal(sk_lock_acquire(f->b, true, 0, 0, &x, NULL), -EBUSY);
        assert_int_equal(sk_lock_acquire(f->b, true, 10, 0, &x, NULL), 0);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        assert_int_equal(sk_lock_release(x), 0);
}

static void put_fake(fixture *f, const char *id, const char *host, long pid, long age, int exclusive) {
        char buf[512], name[64];
        long now = (long) time(NULL);
        int n = snprintf(buf, sizeof(buf), "snapkeep-lock 1\nexclusive %d\nhost %s\npid %ld\ncreated %ld\ntime %ld\n",
                         exclusive, host, pid, now - age, now - age);
        snprintf(name, sizeof(name), "locks/%s", id);
        assert_int_equal(sk_backend_put(f->b, name, buf, (size_t) n), 0);
}

static void test_stale(void **state) {
        fixture *f = *state;
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        /* a dead process on this host */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(0);
        waitpid(pid, NULL, 0);
        put_fake(f, "00000000000000aa", host, pid, 0, 1);
        /* a live-looking lock on another host, refreshed an hour ago */
        put_fake(f, "00000000000000bb", "some-other-host", 1, 3600, 1);

        sk_lock *s = NULL, *x = NULL;
        /* both are stale: a shared request ignores them (but leaves them) */
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s, NULL), 0);
        assert_int_equal(nlocks(f->b), 3);
        assert_int_equal(sk_lock_release(s), 0);
        /* an exclusive request removes them */
        assert_int_equal(sk_lock_acquire(f->b, true, 0, 0, &x, NULL), 0);
        assert_int_equal(nlocks(f->b), 1);
        assert_int_equal(sk_lock_release(x), 0);

        /* a fresh lock on another host is live */
        put_fake(f, "00000000000000cc", "some-other-host", 1, 10, 0);
        char *holder = NULL;
        assert_int_equal(sk_lock_acquire(f->b, true, 0, 0, &x, &holder), -EBUSY);
        assert_non_null(strstr(holder, "some-other-host"));
        free(holder);
        /* ... unless the caller's staleness limit is shorter than its age */
        assert_int_equal(sk_lock_acquire(f->b, true, 0, 5, &x, NULL), 0);
        assert_int_equal(sk_lock_release(x), 0);

        /* remove_stale: removes the stale, keeps the live and our own */
        put_fake(f, "00000000000000dd", "some-other-host", 1, 7200, 0);
        put_fake(f, "00000000000000ee", "some-other-host", 1, 0, 0);
        unsigned removed = 0;
        assert_int_equal(sk_lock_remove_stale(f->b, 0, &removed), 0);
        assert_int_equal(removed, 1);
        assert_int_equal(nlocks(f->b), 1);

        /* an unreadable lock file counts as live (conservative) */
        assert_int_equal(sk_backend_del(f->b, "locks/00000000000000ee"), 0);
        assert_int_equal(sk_backend_put(f->b, "locks/00000000000000ff", "garbage", 7), 0);
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s, &holder), -EBUSY);
        assert_non_null(strstr(holder, "unreadable"));
        free(holder);
}

static void test_refresh(void **state) {
        fixture *f = *state;
        sk_lock *s = NULL;
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s, NULL), 0);
        char name[64];
        snprintf(name, sizeof(name), "locks/%s", sk_lock_id(s));
        /* backdate our lock, refresh, check the time moved forward */
        put_fake(f, sk_lock_id(s), "h", 1, 1000, 0);
        assert_int_equal(sk_lock_refresh(s), 0);
        char *buf;
        size_t len;
        assert_int_equal(sk_backend_get(f->b, name, 0, SIZE_MAX, (void **) &buf, &len), 0);
        const char *t = strstr(buf, "\ntime ");
        assert_non_null(t);
        long when = atol(t + 6);
        assert_true(when >= (long) time(NULL) - 5);
        free(buf);
        /* somebody removed it: refresh reports the loss */
        assert_int_equal(sk_backend_del(f->b, name), 0);
        assert_int_equal(sk_lock_refresh(s), -ENOENT);
        assert_int_equal(sk_lock_release(s), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_shared_exclusive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_succeeds_when_released, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
