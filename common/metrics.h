/* Metrics: counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * DESIGN
 * A registry (sk_metrics) holds families (sk_metric): a name, a help text, a
 * type and up to SK_METRIC_MAX_LABELS label names. A family's series (one per
 * set of label values) are made on first use, or up front with
 * sk_metric_touch() so that a counter reads 0 before anything happened
 * (Prometheus' rate() and alerting on absence need the series to exist).
 * Each family has its own mutex, so recording in one RPC path never waits
 * for another's; a record is a lock, a short scan of the family's series
 * and an add. Label values are bounded by construction (methods, codes,
 * policy names from the config), and each family stops making series at
 * SK_METRIC_MAX_SERIES all the same: what would be more is dropped, never
 * grown into, and counted in sk_metrics_dropped().
 *
 * Values computed at scrape time (a next-run time, a repository's size) come
 * from collectors, functions the registry calls at the start of every
 * sk_metrics_render(), which set gauges.
 *
 * Names and label names are the caller's (checked against Prometheus'
 * grammar when added); label values and help texts are escaped on output.
 * The registry never prints or logs; it returns -errno. */
#pragma once

#include <stddef.h>

#include "common/macro.h"

#define SK_METRIC_MAX_LABELS 3
#define SK_METRIC_MAX_SERIES 256
#define SK_METRIC_MAX_BUCKETS 24

typedef struct sk_metrics sk_metrics;
typedef struct sk_metric sk_metric;

typedef enum sk_metric_type {
        SK_METRIC_COUNTER,
        SK_METRIC_GAUGE,
        SK_METRIC_HISTOGRAM,
} sk_metric_type;

typedef void (*sk_metrics_collect_fn)(sk_metrics *m, void *userdata);

int sk_metrics_new(sk_metrics **ret);
void sk_metrics_free(sk_metrics *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_metrics *, sk_metrics_free);

/* Add a family. labels: NULL-terminated, at most SK_METRIC_MAX_LABELS (NULL
 * for none); buckets: histograms only, n ascending finite upper bounds (the
 * +Inf bucket is implied), at most SK_METRIC_MAX_BUCKETS. -EINVAL for a bad
 * name, label or bucket list, -EEXIST for a name already added. The family
 * lives as long as the registry. */
int sk_metrics_add(sk_metrics *m, const char *name, const char *help, sk_metric_type type,
                   const char *const *labels, const double *buckets, size_t n_buckets, sk_metric **ret);

/* A family for sk_metrics_add_defs(): what sk_metrics_add() takes, and where
 * in the caller's struct (base + offset) its handle goes. */
typedef struct sk_metric_def {
        size_t offset;
        const char *name, *help;
        sk_metric_type type;
        const char *labels[SK_METRIC_MAX_LABELS + 1]; /* NULL-terminated */
        const double *buckets;
        size_t n_buckets;
} sk_metric_def;

/* sk_metrics_add() of each of defs[0..n), in order; stops at the first error. */
int sk_metrics_add_defs(sk_metrics *m, const sk_metric_def *defs, size_t n, void *base);

/* Call fn(m, userdata) at the start of each render (in the order added). */
int sk_metrics_add_collector(sk_metrics *m, sk_metrics_collect_fn fn, void *userdata);

/* Record into the series of the given label values (as many as the family
 * has labels; NULL when it has none). A NULL family is a no-op, so that a
 * caller without metrics needs no test. Counters only go up: a negative
 * delta is ignored. */
void sk_metric_add(sk_metric *f, const char *const *values, double delta);
void sk_metric_set(sk_metric *f, const char *const *values, double value);
void sk_metric_observe(sk_metric *f, const char *const *values, double value);
void sk_metric_touch(sk_metric *f, const char *const *values);

/* The current value of a counter or gauge series, or of a histogram's count;
 * 0 if it does not exist. For tests and collectors. */
double sk_metric_get(sk_metric *f, const char *const *values);

/* Series not made because a family was full. */
unsigned long sk_metrics_dropped(sk_metrics *m);

/* Run the collectors and render every family. *ret is malloc()ed, NUL
 * terminated, *ret_len bytes without the NUL. */
int sk_metrics_render(sk_metrics *m, char **ret, size_t *ret_len);
