/* common/pace: the CPU bucket keeps paced work at its share, the node counts
 * as busy only with fewer than SK_PACE_FREE_CORES idle cores, and a real
 * thread of the idle classes on a busy node keeps to its share, where
 * unpaced it would take a whole core. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/pace.h"
#include "tests/lib/testutil.h"

#define MS 1000000LL

static void test_bucket_share(void **state) {
        (void) state;
        sk_cpu_bucket b = {};
        /* within the burst: no wait; past it: what is over, at 25% of a core */
        assert_int_equal(sk_cpu_bucket_charge(&b, 1000 * MS, SK_PACE_BURST_MS * MS, 25), 0);
        assert_int_equal(sk_cpu_bucket_charge(&b, 1000 * MS, 10 * MS, 25), 40 * MS);
        /* a worker that does 5 ms of work between pacing points and sleeps as
         * told keeps to the share over ten simulated seconds */
        static const unsigned shares[] = { 10, 25, 60 };
        for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
                b = (sk_cpu_bucket) {};
                int64_t now = 0, used = 0;
                while (now < 10000 * MS) {
                        now += 5 * MS;
                        used += 5 * MS;
                        now += sk_cpu_bucket_charge(&b, now, 5 * MS, shares[i]);
                }
                double got = (double) used / (double) now * 100;
                assert_true(got > shares[i] - 1.0 && got < shares[i] + 1.0);
        }
        /* 100%: never a wait */
        b = (sk_cpu_bucket) {};
        for (int i = 0; i < 100; i++)
                assert_int_equal(sk_cpu_bucket_charge(&b, i * MS, 50 * MS, 100), 0);
}

static void test_node_busy(void **state) {
        (void) state;
        assert_true(sk_pace_node_busy(2, 1000 * MS, 1000 * MS));      /* one of two cores busy */
        assert_false(sk_pace_node_busy(2, 200 * MS, 1000 * MS));      /* a quiet node */
        assert_true(sk_pace_node_busy(16, 15000 * MS, 1000 * MS));
        assert_false(sk_pace_node_busy(16, 14000 * MS, 1000 * MS));   /* two idle cores */
        assert_false(sk_pace_node_busy(1, 100 * MS, 1000 * MS));      /* one core, nothing else running */
        assert_true(sk_pace_node_busy(1, 600 * MS, 1000 * MS));
        assert_false(sk_pace_node_busy(2, 1000 * MS, 0));
        assert_false(sk_pace_node_busy(2, -5 * MS, 1000 * MS));
}

static int64_t clock_ns(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct run {
        double cpu_share; /* of the measured window */
        unsigned slept_ms;
        int err;
} run;

/* The classes auto/scheduler-run.c gives a scheduled backup. */
static int idle_classes(void) {
        struct sched_param sp = { .sched_priority = 0 };
        if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0 || syscall(SYS_ioprio_set, 1, 0, 3 << 13) < 0)
                return -1;
        return 0;
}

static void *paced_worker(void *arg) {
        run *r = arg;
        if (idle_classes() < 0) {
                r->err = -1;
                return NULL;
        }
        int64_t start = clock_ns(CLOCK_MONOTONIC), w0 = 0, c0 = 0;
        for (;;) {
                int64_t now = clock_ns(CLOCK_MONOTONIC);
                /* measure after the first load samples have been taken */
                if (!w0 && now - start >= 3 * SK_PACE_SAMPLE_MS * MS) {
                        w0 = now;
                        c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
                }
                if (now - start >= 3 * SK_PACE_SAMPLE_MS * MS + 1500 * MS) {
                        r->cpu_share = (double) (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double) (now - w0);
                        return NULL;
                }
                /* 2 ms of work between pacing points, like a chunk */
                int64_t c = clock_ns(CLOCK_THREAD_CPUTIME_ID);
                while (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c < 2 * MS)
                        ;
                r->slept_ms += sk_pace_background();
        }
}

/* In the idle classes, while a hold is on: 800 ms of pacing points, never a sleep. */
static void *held_worker(void *arg) {
        run *r = arg;
        if (idle_classes() < 0) {
                r->err = -1;
                return NULL;
        }
        int64_t start = clock_ns(CLOCK_MONOTONIC);
        while (clock_ns(CLOCK_MONOTONIC) - start < 800 * MS) {
                int64_t c = clock_ns(CLOCK_THREAD_CPUTIME_ID);
                while (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c < 2 * MS &&
                       clock_ns(CLOCK_MONOTONIC) - start < 800 * MS)
                        ;
                r->slept_ms += sk_pace_background();
        }
        return NULL;
}

/* Make the node busy: all cores but one spin in other processes, so one
 * core is left, which an unpaced SCHED_IDLE thread would fill. */
static long others_spin(pid_t kids[64]) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        long n = ncpu - 1 < 1 ? 1 : ncpu - 1 < 64 ? ncpu - 1 : 64;
        for (long i = 0; i < n; i++) {
                kids[i] = fork();
                assert_true(kids[i] >= 0);
                if (kids[i] == 0) {
                        alarm(10);
                        for (;;)
                                ;
                }
        }
        return n;
}

static void others_stop(pid_t kids[64], long n) {
        for (long i = 0; i < n; i++) {
                kill(kids[i], SIGKILL);
                waitpid(kids[i], NULL, 0);
        }
}

static void test_paced_on_busy_node(void **state) {
        (void) state;
        pid_t kids[64];
        long n = others_spin(kids);
        sk_pace_set_busy_share(20);
        run r = {};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, paced_worker, &r), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        others_stop(kids, n);
        sk_pace_set_busy_share(100);
        assert_int_equal(r.err, 0);
        print_message("paced thread: %.0f%% of a core over 1.5 s, slept %u ms\n", r.cpu_share * 100, r.slept_ms);
        /* 20% and the burst; unpaced it is near 100% */
        assert_true(r.cpu_share < 0.35);
}

static void test_unpaced_thread(void **state) {
        (void) state;
        /* a thread of normal scheduling is never paced, nor anything while
         * a hold is on (a paused container, maintenance) */
        sk_pace_set_busy_share(1);
        for (int i = 0; i < 5; i++)
                assert_int_equal(sk_pace_background(), 0);
        pid_t kids[64];
        long n = others_spin(kids); /* a busy node, where the thread would be paced */
        sk_pace_hold(true);
        sk_pace_hold(true);
        sk_pace_hold(false);
        run r = {};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, held_worker, &r), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        sk_pace_hold(false);
        others_stop(kids, n);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.slept_ms, 0);
        sk_pace_set_busy_share(100);
}

SK_TEST_MAIN(cmocka_unit_test(test_bucket_share), cmocka_unit_test(test_node_busy),
             cmocka_unit_test(test_paced_on_busy_node), cmocka_unit_test(test_unpaced_thread))
