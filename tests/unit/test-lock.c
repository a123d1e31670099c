/* Repository locks over the local backend: shared+shared, exclusive vs
 * shared (both directions), waiting with a timeout, stale detection (dead
 * pid on this host, old refresh time), refresh, lost lock. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/backend.h"
#include "repo/lock.h"
#include "common/fsutil.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
        char *dir;
        sk_backend *b;
} fixture;

static int setup(void **state) {
        fixture *f = sk_test_fixture_new(state, sizeof(*f), "sk-lock");
        return sk_backend_open(f->dir, 1, NULL, NULL, &f->b) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        sk_backend_free(f->b);
        return sk_test_fixture_free(f);
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
                if (sk_backend_open(f->dir, 0, NULL, NULL, &b) < 0 || sk_lock_acquire(b, false, 0, 0, &s, NULL) < 0)
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

/* extra: more lines (boot id, pid namespace), or "" */
static void put_fake_ex(fixture *f, const char *id, const char *host, long pid, long age, int exclusive,
                        const char *extra) {
        char buf[1024], name[64];
        long now = (long) time(NULL);
        int n = snprintf(buf, sizeof(buf),
                         "snapkeep-lock 1\nexclusive %d\nhost %s\npid %ld\ncreated %ld\ntime %ld\n%s", exclusive,
                         host, pid, now - age, now - age, extra);
        snprintf(name, sizeof(name), "locks/%s", id);
        assert_int_equal(sk_backend_put(f->b, name, buf, (size_t) n), 0);
}

static void put_fake(fixture *f, const char *id, const char *host, long pid, long age, int exclusive) {
        put_fake_ex(f, id, host, pid, age, exclusive, "");
}

/* "boot <our boot id>\npidns <ns>\n" */
static void our_ids(char *out, size_t size, const char *pidns) {
        char boot[64] = "", ns[64] = "";
        FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "r");
        assert_non_null(fp);
        assert_non_null(fgets(boot, sizeof(boot), fp));
        fclose(fp);
        boot[strcspn(boot, "\n")] = 0;
        ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
        assert_true(n > 0);
        ns[n] = 0;
        snprintf(out, size, "boot %s\npidns %s\n", boot, pidns ? pidns : ns);
}

static int exists(fixture *f, const char *name) {
        uint64_t size;
        return sk_backend_head(f->b, name, &size) == 0;
}

/* the pid of a process of ours that has exited */
static pid_t dead_pid(void) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(0);
        waitpid(pid, NULL, 0);
        return pid;
}

static void test_stale(void **state) {
        fixture *f = *state;
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        pid_t pid = dead_pid();
        char ids[256];
        our_ids(ids, sizeof(ids), NULL);
        put_fake_ex(f, "00000000000000aa", host, pid, 0, 1, ids);
        /* a live-looking lock on another host, refreshed an hour ago */
        put_fake(f, "00000000000000bb", "some-other-host", 1, 3600, 1);

        sk_lock *s = NULL, *x = NULL;
        /* both are stale: even a shared request removes them, each after a
         * tombstone that tells its holder (if it still runs) */
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s, NULL), 0);
        assert_int_equal(nlocks(f->b), 1);
        assert_true(exists(f, "lockgone/00000000000000aa"));
        assert_true(exists(f, "lockgone/00000000000000bb"));
        assert_int_equal(sk_lock_release(s), 0);
        assert_int_equal(nlocks(f->b), 0);

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
        assert_int_equal(sk_lock_refresh(s), -ESTALE);
        assert_non_null(strstr(sk_lock_lost_reason(s), "deleted"));
        /* ... and the refresh did not bring it back */
        assert_false(exists(f, name));
        assert_int_equal(sk_lock_release(s), 0);
}

/* A pid is only meaningful in the holder's pid namespace and boot: a dead-
 * looking pid from another namespace (kill says ESRCH for a live process
 * there) or an old-format lock without those lines is not stale. */
static void test_pid_rule_namespaces(void **state) {
        fixture *f = *state;
        char host[256] = "", ids[256];
        gethostname(host, sizeof(host) - 1);
        pid_t pid = dead_pid();
        our_ids(ids, sizeof(ids), "pid:[1]");
        put_fake_ex(f, "00000000000000a1", host, pid, 0, 1, ids);
        sk_lock *s = NULL;
        char *holder = NULL;
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s, &holder), -EBUSY);
        free(holder);
        assert_int_equal(sk_backend_del(f->b, "locks/00000000000000a1"), 0);
        put_fake(f, "00000000000000a2", host, pid, 0, 1);
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s, &holder), -EBUSY);
        free(holder);
}

/* Whoever removes a stale lock leaves a tombstone first; the holder's
 * refresh then neither resurrects the lock nor succeeds, and the loss is
 * sticky even once the tombstone is gone. */
static void test_tombstone_no_resurrection(void **state) {
        fixture *f = *state;
        sk_lock *s = NULL, *x = NULL;
        char name[64], tomb[64];
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 0, &s, NULL), 0);
        snprintf(name, sizeof(name), "locks/%s", sk_lock_id(s));
        snprintf(tomb, sizeof(tomb), "lockgone/%s", sk_lock_id(s));
        assert_int_equal(sk_lock_check(s, true), 0);
        /* make it look an hour old: an exclusive request removes it */
        put_fake(f, sk_lock_id(s), "some-other-host", 1, 3600, 0);
        assert_int_equal(sk_lock_acquire(f->b, true, 0, 0, &x, NULL), 0);
        assert_false(exists(f, name));
        assert_true(exists(f, tomb));
        assert_int_equal(sk_lock_check(s, false), 0);   /* no I/O: not known yet */
        assert_int_equal(sk_lock_refresh(s), -ESTALE);
        assert_false(exists(f, name));
        assert_non_null(strstr(sk_lock_lost_reason(s), "removed as stale"));
        /* the race: the tombstone is written, the refresh's own write lands
         * after the removal; its post-check takes the file out again */
        assert_int_equal(sk_lock_release(x), 0);
        assert_int_equal(sk_backend_del(f->b, tomb), 0);
        assert_int_equal(sk_lock_check(s, true), -ESTALE);
        assert_int_equal(sk_lock_refresh(s), -ESTALE);
        assert_false(exists(f, name));
        assert_int_equal(nlocks(f->b), 0);
        assert_int_equal(sk_lock_release(s), 0);
}

/* The timer thread refreshes without the caller's help; a holder that could
 * not refresh for more than half the stale time counts its lock as lost. */
static void test_timer_and_freshness(void **state) {
        fixture *f = *state;
        sk_lock *s = NULL;
        char name[64], *buf = NULL;
        size_t len;
        assert_int_equal(sk_lock_refresh_interval(0), SK_LOCK_REFRESH_SECONDS);
        assert_int_equal(sk_lock_refresh_interval(6), 1);
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 6, &s, NULL), 0);
        snprintf(name, sizeof(name), "locks/%s", sk_lock_id(s));
        put_fake(f, sk_lock_id(s), "h", 1, 1000, 0);
        sleep(3);
        assert_int_equal(sk_backend_get(f->b, name, 0, SIZE_MAX, (void **) &buf, &len), 0);
        assert_true(atol(strstr(buf, "\ntime ") + 6) >= (long) time(NULL) - 3);
        free(buf);
        assert_int_equal(sk_lock_check(s, true), 0);
        assert_int_equal(sk_lock_release(s), 0);

        /* a holder whose refreshes fail (storage gone) loses the lock by the
         * freshness rule alone: 3 s without refresh > 6 s / 2 */
        assert_int_equal(sk_lock_acquire(f->b, false, 0, 6, &s, NULL), 0);
        assert_int_equal(sk_lock_check(s, false), 0);
        char *moved = NULL;
        assert_true(asprintf(&moved, "%s/locks-away", f->dir) > 0);
        char *locks = NULL;
        assert_true(asprintf(&locks, "%s/locks", f->dir) > 0);
        assert_int_equal(rename(locks, moved), 0);
        assert_int_equal(mkdir(locks, 0700), 0);
        assert_int_equal(chmod(locks, 0500), 0);
        sleep(4);
        if (geteuid() != 0) /* root writes anyway: then the file is merely gone */
                assert_non_null(strstr(sk_lock_lost_reason(s), "not refreshed"));
        assert_int_equal(sk_lock_check(s, false), -ESTALE);
        assert_int_equal(chmod(locks, 0700), 0);
        assert_int_equal(sk_lock_release(s), 0);
        free(moved);
        free(locks);
}

/* A holder stopped (SIGSTOP: its refresh thread too) for more than half the
 * stale time finds its lock lost once it runs again, though nobody removed
 * it: others could have judged it stale meanwhile. */
static void test_stopped_holder(void **state) {
        fixture *f = *state;
        int up[2], down[2];     /* child -> parent, parent -> child */
        assert_int_equal(pipe(up), 0);
        assert_int_equal(pipe(down), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sk_lock *s = NULL;
                char c = 0;
                if (sk_lock_acquire(f->b, false, 0, 4, &s, NULL) < 0 || write(up[1], &c, 1) != 1)
                        _exit(10);
                if (read(down[0], &c, 1) != 1)  /* parent: stopped us, then continued */
                        _exit(11);
                int r = sk_lock_check(s, false);
                bool why = strstr(sk_lock_lost_reason(s), "not refreshed") != NULL;
                sk_lock_release(s);
                _exit(r == -ESTALE && why ? 0 : 12);
        }
        char c = 0;
        assert_int_equal(read(up[0], &c, 1), 1);
        assert_int_equal(kill(pid, SIGSTOP), 0);
        sleep(3);
        assert_int_equal(kill(pid, SIGCONT), 0);
        assert_int_equal(write(down[1], &c, 1), 1);
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        close(up[0]);
        close(up[1]);
        close(down[0]);
        close(down[1]);
}

static void test_remove_tombstones(void **state) {
        fixture *f = *state;
        char buf[128];
        int n = snprintf(buf, sizeof(buf), "snapkeep-lock-gone 1\nhost h\npid 1\ntime %ld\n",
                         (long) time(NULL) - 100);
        assert_int_equal(sk_backend_put(f->b, "lockgone/0000000000000001", buf, (size_t) n), 0);
        n = snprintf(buf, sizeof(buf), "snapkeep-lock-gone 1\nhost h\npid 1\ntime %ld\n", (long) time(NULL));
        assert_int_equal(sk_backend_put(f->b, "lockgone/0000000000000002", buf, (size_t) n), 0);
        unsigned removed = 0;
        assert_int_equal(sk_lock_remove_tombstones(f->b, 50, &removed), 0);
        assert_int_equal(removed, 1);
        assert_false(exists(f, "lockgone/0000000000000001"));
        assert_true(exists(f, "lockgone/0000000000000002"));
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_shared_exclusive), SK_FIXTURE_TEST(test_wait_succeeds_when_released),
             SK_FIXTURE_TEST(test_stale), SK_FIXTURE_TEST(test_refresh),
             SK_FIXTURE_TEST(test_pid_rule_namespaces), SK_FIXTURE_TEST(test_tombstone_no_resurrection),
             SK_FIXTURE_TEST(test_timer_and_freshness), SK_FIXTURE_TEST(test_stopped_holder),
             SK_FIXTURE_TEST(test_remove_tombstones))
