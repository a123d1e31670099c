/* The next-run arithmetic (auto/schedule.h): strictly after the last start,
 * the earliest schedule wins, jitter is fixed per (node, source), missed
 * slots are caught up once, failures back off up to a ceiling, and a new
 * source waits for its next slot. Also the state database (auto/state.h):
 * records survive a reopen, bad records are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auto/schedule.h"
#include "auto/state.h"
#include "common/fsutil.h"
#include "tests/lib/testutil.h"

#define T0 1798761600 /* 2027-01-01 00:00:00 UTC */

static sk_policy policy_with(uint32_t interval, const char *cron) {
        sk_policy p = { .kinds = SK_SOURCE_CONTAINER, .interval = interval };
        if (cron) {
                const char *why;
                assert_int_equal(sk_cron_parse(cron, &p.crons[0], &why), 0);
                p.n_crons = 1;
        }
        return p;
}

static int utc(void **state) {
        (void) state;
        setenv("TZ", "UTC", 1);
        tzset();
        return 0;
}

static void test_interval(void **state) {
        (void) state;
        sk_policy p = policy_with(600, NULL);
        sk_sched_state s = { .first_seen = T0 };
        /* a new source waits one interval from when it was first seen */
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 600);
        s.last_start = T0 + 700;
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 1300);
}

static void test_cron_strictly_after(void **state) {
        (void) state;
        sk_policy p = policy_with(0, "0 * * * *"); /* hourly */
        sk_sched_state s = { .first_seen = T0 + 10 };
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 3600);
        /* started exactly at a slot: the next slot, never the same one again */
        s.last_start = T0 + 3600;
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 7200);
        /* with jitter 90 s, the run is 90 s after each slot, and a start at
         * slot + 90 is that slot's run */
        s.last_start = T0 + 3600 + 90;
        assert_int_equal(sk_sched_next(&p, &s, 90, 60, 3600), T0 + 7200 + 90);
        s.last_start = T0 + 3600 + 89;
        assert_int_equal(sk_sched_next(&p, &s, 90, 60, 3600), T0 + 3600 + 90);
}

static void test_earliest_wins(void **state) {
        (void) state;
        sk_policy p = policy_with(7200, "30 * * * *");
        sk_sched_state s = { .first_seen = T0, .last_start = T0 };
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 1800);
        p = policy_with(600, "30 * * * *");
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 600);
}

/* The daemon was down for a day with an hourly policy: the next run is in
 * the past (due now), and once it ran, the next is after that run: exactly
 * one catch-up, not 24. */
static void test_catch_up_once(void **state) {
        (void) state;
        sk_policy p = policy_with(0, "0 * * * *");
        sk_sched_state s = { .first_seen = T0, .last_start = T0 };
        int64_t now = T0 + 86400 + 1234;
        int64_t next = sk_sched_next(&p, &s, 0, 60, 3600);
        assert_true(next <= now);
        int runs = 0;
        for (int tick = 0; tick < 100; tick++) {
                if (sk_sched_next(&p, &s, 0, 60, 3600) <= now) {
                        s.last_start = now;
                        runs++;
                }
        }
        assert_int_equal(runs, 1);
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 86400 + 3600);
}

static void test_backoff(void **state) {
        (void) state;
        sk_policy p = policy_with(86400, NULL);
        sk_sched_state s = { .first_seen = T0, .last_start = T0, .failures = 1 };
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 60);
        s.failures = 2;
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 120);
        s.failures = 5;
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 960);
        s.failures = 40; /* capped, no overflow */
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 3600);
        /* a regular run before the retry wins */
        p = policy_with(300, NULL);
        assert_int_equal(sk_sched_next(&p, &s, 0, 60, 3600), T0 + 300);
        /* no clock (on_commit): only the retry */
        sk_policy oc = { .kinds = SK_SOURCE_LAYER, .on_commit = true };
        s.failures = 1;
        assert_int_equal(sk_sched_next(&oc, &s, 0, 60, 3600), T0 + 60);
        s.failures = 0;
        assert_int_equal(sk_sched_next(&oc, &s, 0, 60, 3600), INT64_MAX);
}

static void test_jitter(void **state) {
        (void) state;
        assert_int_equal(sk_sched_jitter("n1", "default/1/c", 0), 0);
        uint32_t a = sk_sched_jitter("n1", "default/1/c", 300);
        assert_true(a < 300);
        assert_int_equal(sk_sched_jitter("n1", "default/1/c", 300), a); /* stable */
        /* spread: 50 nodes do not all land on one second */
        uint32_t first = sk_sched_jitter("node0", "default/1/c", 300);
        int same = 0;
        for (int i = 1; i < 50; i++) {
                char node[16];
                snprintf(node, sizeof(node), "node%d", i);
                same += sk_sched_jitter(node, "default/1/c", 300) == first;
        }
        assert_true(same < 5);
}

static void test_state_db(void **state) {
        (void) state;
        char *dir = sk_test_mkdtemp("sk-sched-db");
        char *path = sk_test_path(dir, "db");
        sk_sched_state s = { .first_seen = T0, .last_start = T0 + 5, .last_success = T0 + 9, .failures = 2,
                             .runs = 7, .last_errno = -EIO, .next_run = T0 + 99 };
        snprintf(s.policy, sizeof(s.policy), "web");
        snprintf(s.last_error, sizeof(s.last_error), "%s", "repository unwritable");
        memset(s.last_backup, 'a', 64);
        {
                _cleanup_(sk_sched_db_freep) sk_sched_db *db = NULL;
                assert_int_equal(sk_sched_db_open(path, &db), 0);
                assert_int_equal(sk_sched_db_put(db, "default/3/c1", &s), 0);
                assert_int_equal(sk_sched_db_put(db, "default/4/c2", &s), 0);
                assert_int_equal(sk_sched_db_delete(db, "default/4/c2"), 0);
                assert_int_equal(sk_sched_db_delete(db, "default/4/c2"), 0); /* absent is fine */
        }
        _cleanup_(sk_sched_db_freep) sk_sched_db *db = NULL;
        assert_int_equal(sk_sched_db_open(path, &db), 0);
        sk_sched_state got;
        assert_int_equal(sk_sched_db_get(db, "default/3/c1", &got), 0);
        assert_string_equal(got.policy, "web");
        assert_string_equal(got.last_error, s.last_error);
        assert_string_equal(got.last_backup, s.last_backup);
        assert_int_equal(got.first_seen, s.first_seen);
        assert_int_equal(got.last_start, s.last_start);
        assert_int_equal(got.last_success, s.last_success);
        assert_int_equal(got.next_run, s.next_run);
        assert_int_equal(got.failures, 2);
        assert_int_equal(got.runs, 7);
        assert_int_equal(got.last_errno, -EIO);
        assert_int_equal(sk_sched_db_get(db, "default/4/c2", &got), -ENOENT);
        /* strings longer than their fields are cut, never overrun */
        memset(s.last_error, 'x', sizeof(s.last_error));
        s.last_error[sizeof(s.last_error) - 1] = '\0';
        assert_int_equal(sk_sched_db_put(db, "k", &s), 0);
        assert_int_equal(sk_sched_db_get(db, "k", &got), 0);
        assert_int_equal(strlen(got.last_error), sizeof(s.last_error) - 1);
        sk_rm_rf(dir);
        free(path);
        free(dir);
}

SK_TEST_MAIN(cmocka_unit_test_setup(test_interval, utc), cmocka_unit_test_setup(test_cron_strictly_after, utc),
             cmocka_unit_test_setup(test_earliest_wins, utc), cmocka_unit_test_setup(test_catch_up_once, utc),
             cmocka_unit_test_setup(test_backoff, utc), cmocka_unit_test(test_jitter),
             cmocka_unit_test(test_state_db))
