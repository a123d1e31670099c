/* The maintenance lease (backup/lease.c) on a real local repository: taken
 * when free, refused while another node's is valid, renewed by its holder,
 * garbage counts as expired, and a far-future expiry written by a hostile or
 * broken node is honoured for one lease time at most once nobody renews it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backup/lease.h"
#include "tests/lib/testrepo.h"

static void put_lease(sk_repo *repo, const char *body) {
        assert_int_equal(sk_repo_put_object(repo, "maint", "lease", body, strlen(body)), 0);
}

static void test_take_renew_refuse(void **state) {
        sk_test_repo *f = *state;
        sk_lease l;
        sk_lease_watch wa = {}, wb = {};
        int64_t now = (int64_t) time(NULL);
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-a", 60, 0, &wa, &l), 1);
        assert_string_equal(l.holder, "node-a");
        assert_in_range(l.expires, now + 59, now + 61);
        /* B sees A's valid lease and is told who holds it */
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-b", 60, 0, &wb, &l), 0);
        assert_string_equal(l.holder, "node-a");
        /* A renews */
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-a", 60, 0, &wa, &l), 1);
        /* bad holder names and a zero lease time are refused */
        assert_int_equal(sk_lease_take(f->repo, "lease", "node a", 60, 0, &wa, &l), -EINVAL);
        assert_int_equal(sk_lease_take(f->repo, "lease", "", 60, 0, &wa, &l), -EINVAL);
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-a", 0, 0, &wa, &l), -EINVAL);
}

static void test_expired_and_garbage(void **state) {
        sk_test_repo *f = *state;
        sk_lease l;
        char body[128];
        snprintf(body, sizeof(body), "snapkeep-lease 1\nholder node-a\nexpires %lld\n", (long long) time(NULL) - 1);
        put_lease(f->repo, body);
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-b", 60, 0, NULL, &l), 1);
        const char *garbage[] = {
                "snapkeep-lease 2\nholder node-a\nexpires 99999999999\n",
                "snapkeep-lease 1\nholder node a\nexpires 99999999999\n",
                "snapkeep-lease 1\nholder node-a\nexpires 99999999999\nextra\n",
                "snapkeep-lease 1\nholder node-a\nexpires -5\n",
                "",
        };
        for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
                put_lease(f->repo, garbage[i]);
                assert_int_equal(sk_lease_take(f->repo, "lease", "node-c", 60, 0, NULL, &l), 1);
                assert_string_equal(l.holder, "node-c");
        }
}

/* A lease that claims to last for decades: honoured only for one lease time
 * after it was first seen unchanged; a renewal (new expiry) starts over. */
static void test_far_future_is_bounded(void **state) {
        sk_test_repo *f = *state;
        sk_lease l;
        sk_lease_watch w = {};
        int64_t now = (int64_t) time(NULL);
        put_lease(f->repo, "snapkeep-lease 1\nholder evil\nexpires 4000000000\n");
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-b", 30, 0, &w, &l), 0);
        assert_string_equal(l.holder, "evil");
        assert_in_range(l.expires, now + 29, now + 31); /* honoured until, not 4000000000 */
        /* without the watch, the lease's own word would decide: blocked */
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-b", 30, 0, NULL, &l), 0);
        assert_int_equal(l.expires, 4000000000LL);
        /* 31 s later (moved back in the watch instead of sleeping), unchanged: expired */
        w.since -= 31;
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-b", 30, 0, &w, &l), 1);
        assert_string_equal(l.holder, "node-b");

        /* a holder that renews (a new expiry each time) keeps its lease */
        sk_lease_watch w2 = {};
        put_lease(f->repo, "snapkeep-lease 1\nholder node-a\nexpires 4000000000\n");
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-c", 30, 0, &w2, &l), 0);
        w2.since -= 20;
        put_lease(f->repo, "snapkeep-lease 1\nholder node-a\nexpires 4000000001\n");
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-c", 30, 0, &w2, &l), 0);
        w2.since -= 20; /* 20 s after the renewal: still within one lease time of it */
        assert_int_equal(sk_lease_take(f->repo, "lease", "node-c", 30, 0, &w2, &l), 0);
        assert_string_equal(l.holder, "node-a");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                SK_REPO_TEST(test_take_renew_refuse),
                SK_REPO_TEST(test_expired_and_garbage),
                SK_REPO_TEST(test_far_future_is_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
