/* Unit tests for common/metrics.c: the exact text format (types, help
 * escaping, label value escaping, cumulative histogram buckets, +Inf),
 * series made at 0 by touch, names checked, counters that only go up, the
 * series cap, collectors, and recording from several threads at once. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"
#include "tests/lib/testutil.h"

static char *render(sk_metrics *m) {
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(sk_metrics_render(m, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        return text;
}

static void test_format(void **state) {
        (void) state;
        sk_metrics *m = NULL;
        sk_metric *c = NULL, *g = NULL, *h = NULL;
        assert_int_equal(sk_metrics_new(&m), 0);
        assert_int_equal(sk_metrics_add(m, "t_calls_total", "Calls, by \"method\".\nSecond \\ line.", SK_METRIC_COUNTER,
                                        (const char *[]) { "method", "code", NULL }, NULL, 0, &c), 0);
        assert_int_equal(sk_metrics_add(m, "t_size_bytes", "Size.", SK_METRIC_GAUGE, NULL, NULL, 0, &g), 0);
        assert_int_equal(sk_metrics_add(m, "t_seconds", "Latency.", SK_METRIC_HISTOGRAM, (const char *[]) { "m", NULL },
                                        (const double[]) { 0.001, 0.5, 2 }, 3, &h), 0);
        sk_metric_touch(c, (const char *[]) { "Stat", "OK" });
        sk_metric_add(c, (const char *[]) { "Pre\"pare\\\n", "NotFound" }, 2);
        sk_metric_add(c, (const char *[]) { "Pre\"pare\\\n", "NotFound" }, 1);
        sk_metric_add(c, (const char *[]) { "Pre\"pare\\\n", "NotFound" }, -5); /* ignored: a counter */
        sk_metric_set(g, NULL, 1.5);
        sk_metric_observe(h, (const char *[]) { "x" }, 0.0009765625); /* 2^-10: sums exactly */
        sk_metric_observe(h, (const char *[]) { "x" }, 0.5); /* le is inclusive */
        sk_metric_observe(h, (const char *[]) { "x" }, 3);
        char *text = render(m);
        assert_string_equal(text,
                            "# HELP t_calls_total Calls, by \"method\".\\nSecond \\\\ line.\n"
                            "# TYPE t_calls_total counter\n"
                            "t_calls_total{method=\"Stat\",code=\"OK\"} 0\n"
                            "t_calls_total{method=\"Pre\\\"pare\\\\\\n\",code=\"NotFound\"} 3\n"
                            "# HELP t_size_bytes Size.\n"
                            "# TYPE t_size_bytes gauge\n"
                            "t_size_bytes 1.5\n"
                            "# HELP t_seconds Latency.\n"
                            "# TYPE t_seconds histogram\n"
                            "t_seconds_bucket{m=\"x\",le=\"0.001\"} 1\n"
                            "t_seconds_bucket{m=\"x\",le=\"0.5\"} 2\n"
                            "t_seconds_bucket{m=\"x\",le=\"2\"} 2\n"
                            "t_seconds_bucket{m=\"x\",le=\"+Inf\"} 3\n"
                            "t_seconds_sum{m=\"x\"} 3.5009765625\n"
                            "t_seconds_count{m=\"x\"} 3\n");
        free(text);
        assert_true(sk_metric_get(c, (const char *[]) { "Pre\"pare\\\n", "NotFound" }) == 3);
        assert_true(sk_metric_get(h, (const char *[]) { "x" }) == 3);
        assert_true(sk_metric_get(h, (const char *[]) { "y" }) == 0);
        /* A NULL family is a no-op. */
        sk_metric_add(NULL, NULL, 1);
        sk_metric_observe(NULL, NULL, 1);
        sk_metrics_free(m);
}

/* Values beyond int64 (no undefined cast) and bucket bounds in their
 * shortest form (le="0.1", which a query can name). */
static void test_values(void **state) {
        (void) state;
        sk_metrics *m = NULL;
        sk_metric *g = NULL, *h = NULL;
        assert_int_equal(sk_metrics_new(&m), 0);
        assert_int_equal(sk_metrics_add(m, "big", "h", SK_METRIC_GAUGE, NULL, NULL, 0, &g), 0);
        assert_int_equal(sk_metrics_add(m, "lat_seconds", "h", SK_METRIC_HISTOGRAM, NULL, (const double[]) { 0.1, 0.25 },
                                        2, &h), 0);
        sk_metric_set(g, NULL, 1e20);
        sk_metric_observe(h, NULL, 0.1);
        char *text = render(m);
        assert_non_null(strstr(text, "\nbig 1e+20\n"));
        assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.1\"} 1\n"));
        assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.25\"} 1\n"));
        assert_non_null(strstr(text, "lat_seconds_sum 0.1\n"));
        free(text);
        sk_metrics_free(m);
}

static void test_names(void **state) {
        (void) state;
        sk_metrics *m = NULL;
        assert_int_equal(sk_metrics_new(&m), 0);
        assert_int_equal(sk_metrics_add(m, "ok_name:x", "h", SK_METRIC_GAUGE, NULL, NULL, 0, NULL), 0);
        assert_int_equal(sk_metrics_add(m, "ok_name:x", "h", SK_METRIC_GAUGE, NULL, NULL, 0, NULL), -EEXIST);
        assert_int_equal(sk_metrics_add(m, "9starts_with_digit", "h", SK_METRIC_GAUGE, NULL, NULL, 0, NULL), -EINVAL);
        assert_int_equal(sk_metrics_add(m, "has-dash", "h", SK_METRIC_GAUGE, NULL, NULL, 0, NULL), -EINVAL);
        assert_int_equal(sk_metrics_add(m, "", "h", SK_METRIC_GAUGE, NULL, NULL, 0, NULL), -EINVAL);
        assert_int_equal(sk_metrics_add(m, "a", "h", SK_METRIC_GAUGE, (const char *[]) { "__reserved", NULL }, NULL, 0,
                                        NULL), -EINVAL);
        assert_int_equal(sk_metrics_add(m, "b", "h", SK_METRIC_GAUGE, (const char *[]) { "co:lon", NULL }, NULL, 0, NULL),
                         -EINVAL);
        assert_int_equal(sk_metrics_add(m, "c", "h", SK_METRIC_HISTOGRAM, (const char *[]) { "le", NULL },
                                        (const double[]) { 1 }, 1, NULL), -EINVAL);
        assert_int_equal(sk_metrics_add(m, "d", "h", SK_METRIC_GAUGE, (const char *[]) { "a", "b", "c", "d", NULL }, NULL,
                                        0, NULL), -EINVAL);
        assert_int_equal(sk_metrics_add(m, "e", "h", SK_METRIC_HISTOGRAM, NULL, (const double[]) { 2, 1 }, 2, NULL),
                         -EINVAL);
        assert_int_equal(sk_metrics_add(m, "f", "h", SK_METRIC_HISTOGRAM, NULL, NULL, 0, NULL), -EINVAL);
        assert_int_equal(sk_metrics_add(m, "g", "h", SK_METRIC_COUNTER, NULL, (const double[]) { 1 }, 1, NULL), -EINVAL);
        sk_metrics_free(m);
}

static void test_cap(void **state) {
        (void) state;
        sk_metrics *m = NULL;
        sk_metric *c = NULL;
        assert_int_equal(sk_metrics_new(&m), 0);
        assert_int_equal(sk_metrics_add(m, "many_total", "h", SK_METRIC_COUNTER, (const char *[]) { "k", NULL }, NULL, 0,
                                        &c), 0);
        char v[32];
        for (int i = 0; i < SK_METRIC_MAX_SERIES + 10; i++) {
                snprintf(v, sizeof(v), "v%d", i);
                sk_metric_add(c, (const char *[]) { v }, 1);
        }
        assert_int_equal(sk_metrics_dropped(m), 10);
        assert_true(sk_metric_get(c, (const char *[]) { "v0" }) == 1);
        assert_true(sk_metric_get(c, (const char *[]) { "v300" }) == 0);
        /* An existing series still counts when the family is full. */
        sk_metric_add(c, (const char *[]) { "v1" }, 1);
        assert_true(sk_metric_get(c, (const char *[]) { "v1" }) == 2);
        sk_metrics_free(m);
}

static void collect(sk_metrics *m, void *userdata) {
        (void) m;
        int *calls = userdata;
        (*calls)++;
}

static void set_from_collector(sk_metrics *m, void *userdata) {
        (void) m;
        sk_metric_set(userdata, NULL, 42);
}

static void test_collectors(void **state) {
        (void) state;
        sk_metrics *m = NULL;
        sk_metric *g = NULL;
        int calls = 0;
        assert_int_equal(sk_metrics_new(&m), 0);
        assert_int_equal(sk_metrics_add(m, "answer", "h", SK_METRIC_GAUGE, NULL, NULL, 0, &g), 0);
        assert_int_equal(sk_metrics_add_collector(m, collect, &calls), 0);
        assert_int_equal(sk_metrics_add_collector(m, set_from_collector, g), 0);
        char *text = render(m);
        assert_int_equal(calls, 1);
        assert_non_null(strstr(text, "\nanswer 42\n"));
        free(text);
        sk_metrics_free(m);
}

typedef struct worker_arg {
        sk_metric *c, *h;
} worker_arg;

static void *worker(void *p) {
        worker_arg *a = p;
        for (int i = 0; i < 20000; i++) {
                sk_metric_add(a->c, (const char *[]) { i % 2 ? "odd" : "even" }, 1);
                sk_metric_observe(a->h, NULL, (double) (i % 3));
        }
        return NULL;
}

static void test_threads(void **state) {
        (void) state;
        sk_metrics *m = NULL;
        worker_arg a = {};
        assert_int_equal(sk_metrics_new(&m), 0);
        assert_int_equal(sk_metrics_add(m, "n_total", "h", SK_METRIC_COUNTER, (const char *[]) { "k", NULL }, NULL, 0,
                                        &a.c), 0);
        assert_int_equal(sk_metrics_add(m, "h_seconds", "h", SK_METRIC_HISTOGRAM, NULL, (const double[]) { 1 }, 1, &a.h),
                         0);
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_create(&t[i], NULL, worker, &a), 0);
        for (int i = 0; i < 3; i++)
                free(render(m)); /* rendering meanwhile is safe */
        for (int i = 0; i < 4; i++)
                pthread_join(t[i], NULL);
        assert_true(sk_metric_get(a.c, (const char *[]) { "odd" }) == 40000);
        assert_true(sk_metric_get(a.c, (const char *[]) { "even" }) == 40000);
        assert_true(sk_metric_get(a.h, NULL) == 80000);
        char *text = render(m);
        /* 0 and 1 are <= 1: two thirds of the observations (rounded). */
        assert_non_null(strstr(text, "h_seconds_bucket{le=\"1\"} 53336\n"));
        assert_non_null(strstr(text, "h_seconds_bucket{le=\"+Inf\"} 80000\n"));
        free(text);
        sk_metrics_free(m);
}

SK_TEST_MAIN(cmocka_unit_test(test_format), cmocka_unit_test(test_values), cmocka_unit_test(test_names), cmocka_unit_test(test_cap),
             cmocka_unit_test(test_collectors), cmocka_unit_test(test_threads))
