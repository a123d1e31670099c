/* The scheduler's metrics (private to auto/): per policy, runs attempted,
 * succeeded and failed, missed and skipped slots, the last success and the
 * next run; and this node's last prune and check. Every series of every
 * configured policy exists at 0 from the start. With no registry every call
 * is a no-op (the families stay NULL). */
#pragma once

#include <stdint.h>

#include "auto/policy.h"
#include "common/metrics.h"

typedef struct sk_sched_metrics {
        sk_metric *attempted, *succeeded, *failed, *missed, *skipped;
        sk_metric *last_success, *next_run, *running, *last_prune, *last_check;
} sk_sched_metrics;

/* Register the families in m and make every policy's series. */
int sk_sched_metrics_init(sk_sched_metrics *sm, sk_metrics *m, const sk_automation *a);

/* A run of policy started / ended (ok: it succeeded). */
void sk_sched_metrics_run(sk_sched_metrics *sm, const char *policy, int phase_or_ok);
#define SK_SCHED_RUN_START (-1)

/* Values computed at scrape time by the scheduler's collector. next_run is
 * 0 or INT64_MAX when nothing is planned (exposed as 0). */
void sk_sched_metrics_policy(sk_sched_metrics *sm, const char *policy, int64_t last_success, int64_t next_run);
