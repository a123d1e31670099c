/* Room auto/: node-level automatic snapshots. Which snapshots are backed up
 * when, and what is kept: backup policies (this file), cron expressions
 * (cron.h), the next-run arithmetic (schedule.h), the scheduler's durable
 * state (state.h) and the scheduler thread that runs captures and retention
 * through container/ (scheduler.h). Knows containerd's snapshot keys and
 * labels through snapshot/ and container/; knows nothing of gRPC. Uses
 * container, snapshot, backup, repo, store, io, common (Makefile DEPS_auto).
 *
 * Policies: named sets of rules read from snapkeepd's config file, one
 * "[policy NAME]" section each, plus one "[automation]" section for the
 * scheduler itself. A plain value: sk_automation owns everything it points
 * to. Parsing is split by key (sk_automation_set, called for each line of
 * the file) and a final check (sk_automation_finish) so that the caller,
 * which owns the file, can name file and line in its messages. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auto/cron.h"
#include "container/k8s.h"
#include "snapshot/snapshotter.h"

/* A snapshot chooses its policy, or opts out with "none". */
#define SK_LABEL_POLICY "containerd.io/snapshot/snapkeep.policy"

/* [A-Za-z0-9._-], not "none" or "maintenance". 40: libinih cuts a section
 * name to 49 bytes, so "policy " and a longer name would arrive cut short
 * (and two long names could merge); a cut name is over 40 and refused. */
#define SK_POLICY_NAME_MAX 40
#define SK_POLICIES_MAX 64
#define SK_POLICY_CRONS_MAX 16  /* cron lines plus times of day */
#define SK_POLICY_MATCH_MAX 16  /* namespaces, labels */
#define SK_POLICY_INTERVAL_MIN 1
#define SK_POLICY_INTERVAL_MAX (366u * 24 * 3600)

/* What a policy covers. */
enum {
        SK_SOURCE_CONTAINER = 1 << 0, /* containers' writable layers (active snapshots) */
        SK_SOURCE_LAYER = 1 << 1,     /* committed image layers */
};

typedef enum sk_consistency {
        SK_CONSISTENCY_NONE = 0,
        SK_CONSISTENCY_PAUSE = 1,
} sk_consistency;

typedef struct sk_policy {
        char name[SK_POLICY_NAME_MAX + 1];
        unsigned line;            /* the section's line in the file, 0 if built in */
        unsigned kinds;           /* SK_SOURCE_*; default containers */
        char *namespaces[SK_POLICY_MATCH_MAX]; /* none: every namespace */
        size_t n_namespaces;
        char *label_keys[SK_POLICY_MATCH_MAX]; /* all must match */
        char *label_values[SK_POLICY_MATCH_MAX]; /* NULL: the key is present */
        size_t n_labels;
        /* Kubernetes (container/k8s.h): a policy with any of these covers only
         * pod containers whose identity is known and matches. */
        char *k8s_namespaces[SK_POLICY_MATCH_MAX]; /* none: every pod namespace */
        size_t n_k8s_namespaces;
        char *pod_label_keys[SK_POLICY_MATCH_MAX]; /* all must match */
        char *pod_label_values[SK_POLICY_MATCH_MAX]; /* NULL: the key is present */
        size_t n_pod_labels;
        uint32_t interval;        /* seconds; 0: none */
        sk_cron crons[SK_POLICY_CRONS_MAX];
        size_t n_crons;
        uint32_t jitter;          /* seconds added to every calendar slot, per source */
        unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
        sk_consistency consistency;
        uint32_t pause_timeout;   /* seconds, with SK_CONSISTENCY_PAUSE; default 30 */
        bool on_commit;           /* layers: captured when committed, not on a clock */
        char when[256];           /* the schedule as written, for status: "every 1h; at 02:30; cron ..." */
} sk_policy;

/* I/O scheduling class of the scheduler's backups (ioprio_set). */
/* CPU scheduling of the scheduler's backups. */
typedef enum sk_cpu_class {
        SK_CPU_CLASS_IDLE = 0,    /* SCHED_IDLE: only CPU time nothing else wants (default) */
        SK_CPU_CLASS_NICE = 1,    /* normal scheduling at `nice` */
} sk_cpu_class;

typedef enum sk_io_class {
        SK_IO_CLASS_NONE = 0,     /* leave as the daemon's */
        SK_IO_CLASS_BEST_EFFORT = 2,
        SK_IO_CLASS_IDLE = 3,
} sk_io_class;

typedef struct sk_automation {
        bool enabled;             /* default true */
        unsigned max_runs;        /* backups running at once on this node, 1..16; default 1 */
        sk_cpu_class cpu_class;   /* default idle */
        int nice;                 /* 0..19, default 10 (with cpu_class nice) */
        sk_io_class io_class;     /* default idle */
        unsigned busy_cpu_share;  /* percent of one core backups use on a busy node, 1..100; default 25 (common/pace.h) */
        uint32_t retry_min;       /* seconds before the first retry of a failed run; default 60 */
        uint32_t retry_max;       /* the backoff's ceiling; default 3600 */
        uint32_t scan_interval;   /* how often the snapshot list is read, seconds; default 10 */
        bool maintenance;         /* scheduled prune and check (default true) */
        uint32_t prune_interval;  /* default 1d */
        uint32_t check_interval;  /* default 7d */
        unsigned check_subset;    /* percent of packs a scheduled check reads, 1..100; default 5 */
        uint32_t lease_ttl;       /* the maintenance lease's time; 0: twice the shorter interval */
        sk_policy maint_prune, maint_check; /* their schedules, filled by sk_automation_finish */
        sk_policy *policies;      /* in file order: the first match wins */
        size_t n_policies;
        bool builtin;             /* no policy was configured: the default one applies */
} sk_automation;

/* Defaults, no policy yet. */
void sk_automation_init(sk_automation *a);
void sk_automation_clear(sk_automation *a);

/* One "key = value" line of section "automation" or "policy NAME" (line:
 * for messages). Repeated keys add (namespaces, label, cron, times) or
 * replace (the rest). 0, -ENOENT (not a section of ours: the caller says
 * so), -EINVAL with *ret_why (static text), -ENOMEM. */
int sk_automation_set(sk_automation *a, const char *section, unsigned line, const char *key, const char *value,
                      const char **ret_why);

/* After the whole file: every policy must have a schedule (interval, times,
 * cron or on_commit) and retention must keep something; with no policy at all
 * the built-in default is added:
 *   [policy default]  kinds = containers, interval = 1h, jitter = 5m,
 *                     keep_last = 3, keep_hourly = 24, keep_daily = 7,
 *                     keep_weekly = 4, keep_monthly = 6
 * -EINVAL with *ret_why (static) and *ret_line (the offending policy's
 * section line). */
int sk_automation_finish(sk_automation *a, const char **ret_why, unsigned *ret_line);

/* The policy by name, or NULL. */
const sk_policy *sk_automation_find(const sk_automation *a, const char *name);

/* Whether a SK_LABEL_POLICY value is acceptable: a configured policy's name
 * or "none". 0, or -EINVAL with *ret_why (static). */
int sk_automation_check_label(const sk_automation *a, const char *value, const char **ret_why);

/* The policy that covers snapshot `key` (a backend key "ns/N/name") of
 * `kind` with these labels, or NULL (views, unpack keys, opted out, a pod's
 * sandbox, or no policy matches). k8s: the Kubernetes identity of the
 * snapshot's container, NULL when it is not a pod's or not known; a policy
 * with k8s_namespaces or pod_label lines never covers a snapshot without one.
 * A SK_LABEL_POLICY label naming a policy picks it when the policy covers the
 * kind, whatever its namespaces and labels say. */
const sk_policy *sk_automation_match(const sk_automation *a, const char *key, sk_kind kind, const sk_label *labels,
                                     size_t n_labels, const sk_k8s_identity *k8s);
/* The policy a SK_LABEL_POLICY label among labels chooses when that policy
 * does not back up snapshots of this kind (a layers-only policy on a
 * container's writable layer, or the reverse), else NULL. The label is valid
 * (the snapshot may change kind: a container's layer can be committed), but
 * nothing is scheduled while it does not cover the kind: snapkeepd says so. */
const sk_policy *sk_automation_kind_missed(const sk_automation *a, const char *key, sk_kind kind,
                                           const sk_label *labels, size_t n_labels);
/* Whether any policy matches on Kubernetes identities. */
bool sk_automation_uses_k8s(const sk_automation *a);

/* The retention as text ("keep_last=3 keep_daily=7", or "keep all"). */
void sk_policy_retention_text(const sk_policy *p, char *buf, size_t size);

/* Parse a duration: a number with unit s, m, h, d or w ("90s", "15m",
 * "1h30m" is not accepted: one unit), or plain seconds. 1 .. max seconds.
 * 0 or -EINVAL. */
int sk_parse_duration(const char *s, uint32_t max, uint32_t *ret);
