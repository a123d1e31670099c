#include "auto/sched-metrics.h"

#include <stddef.h>

#define PER_POLICY { "policy", NULL }
#define DEF(field, ...) { offsetof(sk_sched_metrics, field), __VA_ARGS__ }
static const sk_metric_def families[] = {
        DEF(attempted, "snapkeep_scheduled_backups_attempted_total",
            "Scheduled backups started, by policy (\"maintenance\": prune and check).", SK_METRIC_COUNTER, PER_POLICY),
        DEF(succeeded, "snapkeep_scheduled_backups_succeeded_total", "Scheduled backups that succeeded, by policy.",
            SK_METRIC_COUNTER, PER_POLICY),
        DEF(failed, "snapkeep_scheduled_backups_failed_total",
            "Scheduled backups that failed (each is retried with backoff), by policy.", SK_METRIC_COUNTER, PER_POLICY),
        DEF(missed, "snapkeep_scheduler_missed_runs_total",
            "Runs that started more than a minute after their slot (the daemon was down or every worker busy); a "
            "missed slot is caught up once.",
            SK_METRIC_COUNTER, PER_POLICY),
        DEF(skipped, "snapkeep_scheduler_skipped_runs_total",
            "Runs skipped: maintenance while another node holds the lease.", SK_METRIC_COUNTER, PER_POLICY),
        DEF(last_success, "snapkeep_scheduled_backup_last_success_timestamp_seconds",
            "When the newest successful scheduled backup of the policy's sources ended (0: never).", SK_METRIC_GAUGE,
            PER_POLICY),
        DEF(next_run, "snapkeep_scheduler_next_run_timestamp_seconds",
            "The earliest next run of the policy's sources (0: none planned).", SK_METRIC_GAUGE, PER_POLICY),
        DEF(running, "snapkeep_scheduler_running_backups", "Scheduled backups and maintenance jobs running now.",
            SK_METRIC_GAUGE),
        DEF(last_prune, "snapkeep_maintenance_last_prune_timestamp_seconds",
            "When this daemon last finished a prune (0: not since it started).", SK_METRIC_GAUGE),
        DEF(last_check, "snapkeep_maintenance_last_check_timestamp_seconds",
            "When this daemon last finished a partial check (0: not since it started).", SK_METRIC_GAUGE),
};

int sk_sched_metrics_init(sk_sched_metrics *sm, sk_metrics *m, const sk_automation *a) {
        *sm = (sk_sched_metrics) {};
        if (!m)
                return 0;
        int r = sk_metrics_add_defs(m, families, sizeof(families) / sizeof(families[0]), sm);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
                sk_metric *f = *(sk_metric **) ((char *) sm + families[i].offset);
                if (!families[i].labels[0]) {
                        sk_metric_touch(f, NULL);
                        continue;
                }
                for (size_t p = 0; p < a->n_policies; p++)
                        sk_metric_touch(f, (const char *[]) { a->policies[p].name });
                if (a->maintenance)
                        sk_metric_touch(f, (const char *[]) { a->maint_prune.name });
        }
        return 0;
}

void sk_sched_metrics_run(sk_sched_metrics *sm, const char *policy, int phase_or_ok) {
        const char *v[] = { policy };
        if (phase_or_ok == SK_SCHED_RUN_START)
                sk_metric_add(sm->attempted, v, 1);
        else
                sk_metric_add(phase_or_ok ? sm->succeeded : sm->failed, v, 1);
}

void sk_sched_metrics_policy(sk_sched_metrics *sm, const char *policy, int64_t last_success, int64_t next_run) {
        const char *v[] = { policy };
        sk_metric_set(sm->last_success, v, (double) (last_success > 0 ? last_success : 0));
        sk_metric_set(sm->next_run, v, (double) (next_run > 0 && next_run != INT64_MAX ? next_run : 0));
}
