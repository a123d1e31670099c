/* common/foreground: a thread in the idle I/O class waits while a foreground
 * operation runs (and for the quiet time after it), never past its bound; any
 * other thread never waits. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/foreground.h"

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *idle_waiter(void *arg) {
        unsigned *ret = arg;
        /* ioprio_set(IOPRIO_WHO_PROCESS, this thread, IOPRIO_CLASS_IDLE) */
        if (syscall(SYS_ioprio_set, 1, 0, 3 << 13) < 0) {
                *ret = UINT32_MAX;
                return NULL;
        }
        *ret = sk_foreground_give_way(200);
        return NULL;
}

static unsigned wait_in_idle_thread(void) {
        unsigned w = 0;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, idle_waiter, &w), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_not_equal(w, UINT32_MAX);
        return w;
}

typedef struct holder {
        unsigned ms;
        atomic_bool entered;
} holder;

static void *hold_foreground(void *arg) {
        holder *h = arg;
        sk_foreground_enter();
        atomic_store(&h->entered, true);
        nanosleep(&(struct timespec) { 0, (long) h->ms * 1000000L }, NULL);
        sk_foreground_leave();
        return NULL;
}

static void test_idle_class_waits(void **state) {
        (void) state;
        /* nothing running, nothing recent */
        nanosleep(&(struct timespec) { 0, (SK_FOREGROUND_QUIET_MS + 5) * 1000000L }, NULL);
        assert_int_equal(wait_in_idle_thread(), 0);

        /* an operation of 80 ms: the idle thread waits until it ends plus the quiet time */
        holder h = { 80, false };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, hold_foreground, &h), 0);
        while (!atomic_load(&h.entered))
                sched_yield();
        int64_t t0 = now_ms();
        unsigned w = wait_in_idle_thread();
        int64_t took = now_ms() - t0;
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_true(w >= 60);
        assert_true(took >= 60 && took < 200 + 300); /* generous: the machine may be busy */

        /* an operation longer than the bound: the wait stops at the bound */
        h.ms = 900;
        atomic_store(&h.entered, false);
        assert_int_equal(pthread_create(&t, NULL, hold_foreground, &h), 0);
        while (!atomic_load(&h.entered))
                sched_yield();
        w = wait_in_idle_thread();
        assert_true(w >= 200 && w < 200 + 300);
        assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_other_threads_never_wait(void **state) {
        (void) state;
        sk_foreground_enter();
        assert_int_equal(sk_foreground_give_way(500), 0); /* this thread: best-effort class */
        sk_foreground_leave();
        assert_int_equal(sk_foreground_give_way(500), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_idle_class_waits),
                cmocka_unit_test(test_other_threads_never_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
