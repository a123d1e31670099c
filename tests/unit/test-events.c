/* container/events.c: the event ring's numbering, overflow and waiting, on
 * its own (test-capture drives it through a capture handle). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "container/events.h"

static void test_order_and_since(void **state) {
        (void) state;
        _cleanup_(sk_event_ring_freep) sk_event_ring *r = NULL;
        assert_int_equal(sk_event_ring_new(&r), 0);
        assert_int_equal(sk_event_ring_last(r), 0);
        sk_capture_event ev[4];
        assert_int_equal(sk_event_ring_read(r, 0, 0, ev, 4), 0);

        sk_event_ring_post(r, "backup-start", "ns/1/a", NULL, 0, 0, 0, "%s", "writable layer");
        sk_event_ring_post(r, "backup-done", "ns/1/a", "abc", 3, 4, 5, "%d new blobs", 7);
        sk_event_ring_post(r, "error", NULL, NULL, 0, 0, 0, NULL);
        assert_int_equal(sk_event_ring_last(r), 3);

        assert_int_equal(sk_event_ring_read(r, 0, 0, ev, 4), 3);
        assert_int_equal(ev[0].seq, 1);
        assert_string_equal(ev[0].kind, "backup-start");
        assert_string_equal(ev[0].message, "writable layer");
        assert_string_equal(ev[1].backup_id, "abc");
        assert_string_equal(ev[1].message, "7 new blobs");
        assert_int_equal(ev[1].files_done, 3);
        assert_int_equal(ev[1].bytes_total, 5);
        assert_string_equal(ev[2].snapshot, "");
        assert_string_equal(ev[2].message, "");
        assert_true(ev[2].time_ns > 0);

        /* Only what came after `since`, at most max. */
        assert_int_equal(sk_event_ring_read(r, 1, 0, ev, 1), 1);
        assert_int_equal(ev[0].seq, 2);
        assert_int_equal(sk_event_ring_read(r, 3, 0, ev, 4), 0);
        /* A number from a previous run of the daemon: everything again. */
        assert_int_equal(sk_event_ring_read(r, 99, 0, ev, 4), 3);
        assert_int_equal(ev[0].seq, 1);
}

static void test_overflow(void **state) {
        (void) state;
        _cleanup_(sk_event_ring_freep) sk_event_ring *r = NULL;
        assert_int_equal(sk_event_ring_new(&r), 0);
        for (int i = 0; i < SK_EVENT_RING + 10; i++)
                sk_event_ring_post(r, "progress", "k", NULL, (uint64_t) i, 0, 0, NULL);
        static sk_capture_event ev[SK_EVENT_RING + 10];
        /* The oldest ten were overwritten: a reader behind gets what is left. */
        assert_int_equal(sk_event_ring_read(r, 0, 0, ev, SK_EVENT_RING + 10), SK_EVENT_RING);
        assert_int_equal(ev[0].seq, 11);
        assert_int_equal(ev[SK_EVENT_RING - 1].seq, SK_EVENT_RING + 10);
        assert_int_equal(ev[SK_EVENT_RING - 1].files_done, SK_EVENT_RING + 9);
}

static void test_wait_times_out(void **state) {
        (void) state;
        _cleanup_(sk_event_ring_freep) sk_event_ring *r = NULL;
        assert_int_equal(sk_event_ring_new(&r), 0);
        sk_capture_event ev[1];
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(sk_event_ring_read(r, 0, 50, ev, 1), 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        int64_t ms = (int64_t) (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
        assert_true(ms >= 40);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order_and_since),
                cmocka_unit_test(test_overflow),
                cmocka_unit_test(test_wait_times_out),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
