#include "auto/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "snapshot/key.h"

#define AUTOMATION_SECTION "automation"
#define POLICY_PREFIX "policy "
#define VALUE_MAX 1024 /* bytes of one value we keep (a label, a namespace) */

void sk_automation_init(sk_automation *a) {
        *a = (sk_automation) {
                .enabled = true,
                .max_runs = 1,
                .nice = 10,
                .io_class = SK_IO_CLASS_IDLE,
                .busy_cpu_share = 25,
                .retry_min = 60,
                .retry_max = 3600,
                .scan_interval = 10,
                .maintenance = true,
                .prune_interval = 86400,
                .check_interval = 7 * 86400,
                .check_subset = 5,
        };
}

static void policy_clear(sk_policy *p) {
        for (size_t i = 0; i < p->n_namespaces; i++)
                free(p->namespaces[i]);
        for (size_t i = 0; i < p->n_labels; i++) {
                free(p->label_keys[i]);
                free(p->label_values[i]);
        }
        for (size_t i = 0; i < p->n_k8s_namespaces; i++)
                free(p->k8s_namespaces[i]);
        for (size_t i = 0; i < p->n_pod_labels; i++) {
                free(p->pod_label_keys[i]);
                free(p->pod_label_values[i]);
        }
}

void sk_automation_clear(sk_automation *a) {
        for (size_t i = 0; i < a->n_policies; i++)
                policy_clear(&a->policies[i]);
        free(a->policies);
        sk_automation_init(a);
}

int sk_parse_duration(const char *s, uint32_t max, uint32_t *ret) {
        char *end;
        if (!(*s >= '0' && *s <= '9'))
                return -EINVAL;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno)
                return -EINVAL;
        unsigned long long unit = 1;
        switch (*end) {
        case '\0': break;
        case 's': unit = 1; end++; break;
        case 'm': unit = 60; end++; break;
        case 'h': unit = 3600; end++; break;
        case 'd': unit = 86400; end++; break;
        case 'w': unit = 7 * 86400; end++; break;
        default: return -EINVAL;
        }
        if (*end != '\0' || n == 0 || n > max / unit)
                return -EINVAL;
        *ret = (uint32_t) (n * unit);
        return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret) {
        char *end;
        if (!(*s >= '0' && *s <= '9'))
                return -EINVAL;
        errno = 0;
        unsigned long n = strtoul(s, &end, 10);
        if (errno || *end != '\0' || n > max)
                return -EINVAL;
        *ret = (unsigned) n;
        return 0;
}

/* "N" or "N%", 1..100. */
static int parse_percent(const char *s, unsigned *ret) {
        char num[8];
        size_t n = strcspn(s, "%");
        if (n == 0 || n >= sizeof(num) || (s[n] && strcmp(s + n, "%") != 0))
                return -EINVAL;
        memcpy(num, s, n);
        num[n] = '\0';
        if (parse_uint(num, 100, ret) < 0 || *ret < 1)
                return -EINVAL;
        return 0;
}

static int parse_bool(const char *s, bool *ret) {
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
                *ret = true;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static bool valid_name(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > SK_POLICY_NAME_MAX || strcmp(s, "none") == 0 || strcmp(s, "maintenance") == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '.' || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

/* Split a list on commas and blanks, calling fn for each item. */
static int each_item(const char *value, int (*fn)(const char *item, void *u), void *u) {
        _cleanup_free_ char *copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        int n = 0;
        for (char *save = NULL, *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
                int r = fn(t, u);
                if (r < 0)
                        return r;
                n++;
        }
        return n == 0 ? -EINVAL : 0;
}

typedef struct item_ctx {
        sk_policy *p;
        const char **why;
} item_ctx;

/* Append a copy of item to list (n entries, at most SK_POLICY_MATCH_MAX). */
static int add_name(char **list, size_t *n, const char *item, bool valid, const char *too_many, const char *invalid,
                    const char **why) {
        if (*n >= SK_POLICY_MATCH_MAX) {
                *why = too_many;
                return -EINVAL;
        }
        if (!valid) {
                *why = invalid;
                return -EINVAL;
        }
        char *s = strdup(item);
        if (!s)
                return -ENOMEM;
        list[(*n)++] = s;
        return 0;
}

static int add_namespace(const char *item, void *u) {
        item_ctx *x = u;
        return add_name(x->p->namespaces, &x->p->n_namespaces, item, strlen(item) <= VALUE_MAX && !strchr(item, '/'),
                        "at most 16 namespaces", "a namespace is a name without '/'", x->why);
}

static int add_k8s_namespace(const char *item, void *u) {
        item_ctx *x = u;
        return add_name(x->p->k8s_namespaces, &x->p->n_k8s_namespaces, item, sk_k8s_name_valid(item),
                        "at most 16 Kubernetes namespaces",
                        "a Kubernetes namespace is a DNS name (lowercase letters, digits, '-' and '.')", x->why);
}

static int add_kind(const char *item, void *u) {
        item_ctx *x = u;
        if (!strcmp(item, "containers") || !strcmp(item, "container"))
                x->p->kinds |= SK_SOURCE_CONTAINER;
        else if (!strcmp(item, "layers") || !strcmp(item, "layer"))
                x->p->kinds |= SK_SOURCE_LAYER;
        else if (!strcmp(item, "all"))
                x->p->kinds |= SK_SOURCE_CONTAINER | SK_SOURCE_LAYER;
        else {
                *x->why = "must list containers and/or layers (or all)";
                return -EINVAL;
        }
        return 0;
}

/* "HH:MM", one item of times = ... */
static int add_time(const char *item, void *u) {
        item_ctx *x = u;
        unsigned h, m;
        char tail;
        if (sscanf(item, "%2u:%2u%c", &h, &m, &tail) != 2 || strlen(item) != 5 || h > 23 || m > 59) {
                *x->why = "must list times of day as HH:MM (00:00 to 23:59)";
                return -EINVAL;
        }
        if (x->p->n_crons >= SK_POLICY_CRONS_MAX) {
                *x->why = "at most 16 times and cron lines together";
                return -EINVAL;
        }
        int r = sk_cron_daily(h, m, &x->p->crons[x->p->n_crons]);
        if (r >= 0)
                x->p->n_crons++;
        return r;
}

/* One "label = KEY[=VALUE]" line into keys/values (n of them); pod: the
 * pair must be a Kubernetes label. */
static int add_label(char **keys, char **values, size_t *n, bool pod, const char *value, const char **why) {
        if (*n >= SK_POLICY_MATCH_MAX) {
                *why = "at most 16 label lines";
                return -EINVAL;
        }
        const char *eq = strchr(value, '=');
        size_t kn = eq ? (size_t) (eq - value) : strlen(value);
        if (kn == 0 || kn > VALUE_MAX || (eq && strlen(eq + 1) > VALUE_MAX)) {
                *why = "must be KEY=VALUE or KEY (present with any value)";
                return -EINVAL;
        }
        char *k = strndup(value, kn), *v = eq ? strdup(eq + 1) : NULL;
        if (!k || (eq && !v)) {
                free(k);
                free(v);
                return -ENOMEM;
        }
        if (pod && !sk_k8s_label_valid(k, v ? v : "")) {
                free(k);
                free(v);
                *why = "must be a Kubernetes label, KEY=VALUE or KEY (a name of [A-Za-z0-9._-], "
                       "optionally after a DNS prefix and '/'; a value of up to 63 of [A-Za-z0-9._-])";
                return -EINVAL;
        }
        keys[*n] = k;
        values[(*n)++] = v;
        return 0;
}

static sk_policy *policy_get(sk_automation *a, const char *name, unsigned line, const char **why) {
        for (size_t i = 0; i < a->n_policies; i++)
                if (strcmp(a->policies[i].name, name) == 0)
                        return &a->policies[i];
        if (!valid_name(name)) {
                *why = "a policy name is 1 to 40 letters, digits, '.', '_' or '-', and not \"none\" or \"maintenance\"";
                return NULL;
        }
        if (a->n_policies >= SK_POLICIES_MAX) {
                *why = "at most 64 policies";
                return NULL;
        }
        sk_policy *v = realloc(a->policies, (a->n_policies + 1) * sizeof(*v));
        if (!v) {
                *why = "out of memory";
                return NULL;
        }
        a->policies = v;
        sk_policy *p = &v[a->n_policies++];
        *p = (sk_policy) { .line = line };
        strcpy(p->name, name);
        return p;
}

static int set_automation(sk_automation *a, const char *key, const char *value, const char **why) {
        unsigned u;
        if (!strcmp(key, "enabled")) {
                if (parse_bool(value, &a->enabled) < 0)
                        goto bad_bool;
        } else if (!strcmp(key, "max_runs")) {
                if (parse_uint(value, 16, &u) < 0 || u < 1) {
                        *why = "must be a number from 1 to 16";
                        return -EINVAL;
                }
                a->max_runs = u;
        } else if (!strcmp(key, "nice")) {
                if (parse_uint(value, 19, &u) < 0) {
                        *why = "must be a number from 0 to 19";
                        return -EINVAL;
                }
                a->nice = (int) u;
        } else if (!strcmp(key, "cpu_class")) {
                if (!strcmp(value, "idle"))
                        a->cpu_class = SK_CPU_CLASS_IDLE;
                else if (!strcmp(value, "nice"))
                        a->cpu_class = SK_CPU_CLASS_NICE;
                else {
                        *why = "must be idle or nice";
                        return -EINVAL;
                }
        } else if (!strcmp(key, "io_class")) {
                if (!strcmp(value, "idle"))
                        a->io_class = SK_IO_CLASS_IDLE;
                else if (!strcmp(value, "best-effort"))
                        a->io_class = SK_IO_CLASS_BEST_EFFORT;
                else if (!strcmp(value, "none"))
                        a->io_class = SK_IO_CLASS_NONE;
                else {
                        *why = "must be idle, best-effort or none";
                        return -EINVAL;
                }
        } else if (!strcmp(key, "maintenance")) {
                if (parse_bool(value, &a->maintenance) < 0)
                        goto bad_bool;
        } else if (!strcmp(key, "check_read_data_subset") || !strcmp(key, "busy_cpu_share")) {
                if (parse_percent(value, &u) < 0) {
                        *why = "must be a percentage from 1 to 100";
                        return -EINVAL;
                }
                if (!strcmp(key, "busy_cpu_share"))
                        a->busy_cpu_share = u;
                else
                        a->check_subset = u;
        } else if (!strcmp(key, "prune_interval") || !strcmp(key, "check_interval") || !strcmp(key, "lease_ttl")) {
                uint32_t d;
                if (sk_parse_duration(value, 366u * 86400, &d) < 0) {
                        *why = "must be a duration such as 12h, 1d or 1w (at most 366d)";
                        return -EINVAL;
                }
                if (!strcmp(key, "prune_interval"))
                        a->prune_interval = d;
                else if (!strcmp(key, "check_interval"))
                        a->check_interval = d;
                else
                        a->lease_ttl = d;
        } else if (!strcmp(key, "retry_min") || !strcmp(key, "retry_max") || !strcmp(key, "scan_interval")) {
                uint32_t d;
                if (sk_parse_duration(value, 7 * 86400, &d) < 0) {
                        *why = "must be a duration such as 30s, 5m or 1h (at most 7d)";
                        return -EINVAL;
                }
                if (!strcmp(key, "scan_interval"))
                        a->scan_interval = d;
                else if (!strcmp(key, "retry_min"))
                        a->retry_min = d;
                else
                        a->retry_max = d;
        } else {
                *why = "is not a known key of [automation]";
                return -EINVAL;
        }
        return 0;
bad_bool:
        *why = "must be true or false";
        return -EINVAL;
}

static void add_when(sk_policy *p, const char *what, const char *value) {
        size_t n = strlen(p->when);
        snprintf(p->when + n, sizeof(p->when) - n, "%s%s %s", n ? "; " : "", what, value);
}

void sk_policy_retention_text(const sk_policy *p, char *buf, size_t size) {
        const struct {
                const char *name;
                unsigned n;
        } k[] = { { "keep_last", p->keep_last },     { "keep_hourly", p->keep_hourly },
                  { "keep_daily", p->keep_daily },   { "keep_weekly", p->keep_weekly },
                  { "keep_monthly", p->keep_monthly }, { "keep_yearly", p->keep_yearly } };
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(k) && used < size; i++)
                if (k[i].n)
                        used += (size_t) snprintf(buf + used, size - used, "%s%s=%u", used ? " " : "", k[i].name,
                                                  k[i].n);
        if (!buf[0])
                snprintf(buf, size, "keep all");
}

static int set_policy(sk_policy *p, const char *key, const char *value, const char **why) {
        item_ctx x = { p, why };
        unsigned *keep = NULL;
        int r;

        if (!strcmp(key, "namespaces")) {
                r = each_item(value, add_namespace, &x);
                if (r == -EINVAL && !*why)
                        *why = "must list containerd namespaces";
                return r;
        }
        if (!strcmp(key, "kinds")) {
                p->kinds = 0;
                r = each_item(value, add_kind, &x);
                if (r == -EINVAL && !*why)
                        *why = "must list containers and/or layers (or all)";
                return r;
        }
        if (!strcmp(key, "label"))
                return add_label(p->label_keys, p->label_values, &p->n_labels, false, value, why);
        if (!strcmp(key, "pod_label"))
                return add_label(p->pod_label_keys, p->pod_label_values, &p->n_pod_labels, true, value, why);
        if (!strcmp(key, "k8s_namespaces")) {
                r = each_item(value, add_k8s_namespace, &x);
                if (r == -EINVAL && !*why)
                        *why = "must list Kubernetes namespaces";
                return r;
        }
        if (!strcmp(key, "interval")) {
                if (sk_parse_duration(value, SK_POLICY_INTERVAL_MAX, &p->interval) < 0) {
                        *why = "must be a duration such as 30s, 15m, 1h or 1d (at most 366d)";
                        return -EINVAL;
                }
                add_when(p, "every", value);
                return 0;
        }
        if (!strcmp(key, "times")) {
                r = each_item(value, add_time, &x);
                if (r == -EINVAL && !*why)
                        *why = "must list times of day as HH:MM";
                if (r >= 0)
                        add_when(p, "at", value);
                return r;
        }
        if (!strcmp(key, "cron")) {
                if (p->n_crons >= SK_POLICY_CRONS_MAX) {
                        *why = "at most 16 times and cron lines together";
                        return -EINVAL;
                }
                r = sk_cron_parse(value, &p->crons[p->n_crons], why);
                if (r < 0)
                        return r;
                p->n_crons++;
                add_when(p, "cron", value);
                return 0;
        }
        if (!strcmp(key, "jitter")) {
                if (!strcmp(value, "0")) {
                        p->jitter = 0;
                        return 0;
                }
                if (sk_parse_duration(value, 86400, &p->jitter) < 0) {
                        *why = "must be 0 or a duration such as 30s or 5m (at most 1d)";
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(key, "consistency")) {
                if (!strcmp(value, "none"))
                        p->consistency = SK_CONSISTENCY_NONE;
                else if (!strcmp(value, "pause"))
                        p->consistency = SK_CONSISTENCY_PAUSE;
                else {
                        *why = "must be none or pause";
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(key, "pause_timeout")) {
                if (sk_parse_duration(value, 600, &p->pause_timeout) < 0) {
                        *why = "must be a duration from 1s to 10m";
                        return -EINVAL;
                }
                return 0;
        }
        if (!strcmp(key, "on_commit")) {
                if (parse_bool(value, &p->on_commit) < 0) {
                        *why = "must be true or false";
                        return -EINVAL;
                }
                if (p->on_commit)
                        add_when(p, "on", "commit");
                return 0;
        }
        if (!strcmp(key, "keep_last"))
                keep = &p->keep_last;
        else if (!strcmp(key, "keep_hourly"))
                keep = &p->keep_hourly;
        else if (!strcmp(key, "keep_daily"))
                keep = &p->keep_daily;
        else if (!strcmp(key, "keep_weekly"))
                keep = &p->keep_weekly;
        else if (!strcmp(key, "keep_monthly"))
                keep = &p->keep_monthly;
        else if (!strcmp(key, "keep_yearly"))
                keep = &p->keep_yearly;
        if (keep) {
                if (parse_uint(value, 100000, keep) < 0) {
                        *why = "must be a number from 0 to 100000";
                        return -EINVAL;
                }
                return 0;
        }
        *why = "is not a known key of a [policy NAME] section";
        return -EINVAL;
}

int sk_automation_set(sk_automation *a, const char *section, unsigned line, const char *key, const char *value,
                      const char **ret_why) {
        *ret_why = NULL;
        if (!strcmp(section, AUTOMATION_SECTION))
                return set_automation(a, key, value, ret_why);
        if (strncmp(section, POLICY_PREFIX, strlen(POLICY_PREFIX)) != 0)
                return -ENOENT;
        sk_policy *p = policy_get(a, section + strlen(POLICY_PREFIX), line, ret_why);
        if (!p)
                return *ret_why && !strcmp(*ret_why, "out of memory") ? -ENOMEM : -EINVAL;
        return set_policy(p, key, value, ret_why);
}

/* The schedules of the two maintenance jobs, as policies of their own. */
static void maint_policies(sk_automation *a) {
        a->maint_prune = (sk_policy) { .interval = a->prune_interval };
        a->maint_check = (sk_policy) { .interval = a->check_interval };
        snprintf(a->maint_prune.name, sizeof(a->maint_prune.name), "maintenance");
        snprintf(a->maint_check.name, sizeof(a->maint_check.name), "maintenance");
        snprintf(a->maint_prune.when, sizeof(a->maint_prune.when), "prune every %us", a->prune_interval);
        snprintf(a->maint_check.when, sizeof(a->maint_check.when), "check %u%% every %us", a->check_subset,
                 a->check_interval);
        if (!a->lease_ttl)
                a->lease_ttl = 2 * (a->prune_interval < a->check_interval ? a->prune_interval : a->check_interval);
}

int sk_automation_finish(sk_automation *a, const char **ret_why, unsigned *ret_line) {
        *ret_line = 0;
        maint_policies(a);
        if (a->retry_max < a->retry_min) {
                *ret_why = "[automation] retry_max is shorter than retry_min";
                return -EINVAL;
        }
        if (a->n_policies == 0) {
                const char *why;
                sk_policy *p = policy_get(a, "default", 0, &why);
                if (!p)
                        return -ENOMEM;
                p->kinds = SK_SOURCE_CONTAINER;
                p->interval = 3600;
                p->jitter = 300;
                p->keep_last = 3;
                p->keep_hourly = 24;
                p->keep_daily = 7;
                p->keep_weekly = 4;
                p->keep_monthly = 6;
                add_when(p, "every", "1h");
                a->builtin = true;
                return 0;
        }
        for (size_t i = 0; i < a->n_policies; i++) {
                sk_policy *p = &a->policies[i];
                *ret_line = p->line;
                if (p->kinds == 0)
                        p->kinds = SK_SOURCE_CONTAINER;
                if (!p->interval && !p->n_crons && !p->on_commit) {
                        *ret_why = "the policy has no schedule: give interval, times, cron or on_commit";
                        return -EINVAL;
                }
                if (p->on_commit && !(p->kinds & SK_SOURCE_LAYER)) {
                        *ret_why = "on_commit needs kinds to include layers";
                        return -EINVAL;
                }
                if ((p->kinds & SK_SOURCE_CONTAINER) && !p->interval && !p->n_crons) {
                        *ret_why = "containers need a clock: give interval, times or cron";
                        return -EINVAL;
                }
                if (p->consistency == SK_CONSISTENCY_PAUSE && !(p->kinds & SK_SOURCE_CONTAINER)) {
                        *ret_why = "consistency = pause needs kinds to include containers (layers have no task)";
                        return -EINVAL;
                }
                if (p->consistency == SK_CONSISTENCY_PAUSE && !p->pause_timeout)
                        p->pause_timeout = 30;
        }
        *ret_line = 0;
        return 0;
}

const sk_policy *sk_automation_find(const sk_automation *a, const char *name) {
        for (size_t i = 0; i < a->n_policies; i++)
                if (strcmp(a->policies[i].name, name) == 0)
                        return &a->policies[i];
        return NULL;
}

int sk_automation_check_label(const sk_automation *a, const char *value, const char **ret_why) {
        if (strcmp(value, "none") == 0 || sk_automation_find(a, value))
                return 0;
        *ret_why = "names no configured backup policy (give a policy's name or \"none\")";
        return -EINVAL;
}

static const char *label_value(const sk_label *l, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(l[i].key, key) == 0)
                        return l[i].value;
        return NULL;
}

static bool policy_covers(const sk_policy *p, const char *key, const sk_label *l, size_t n) {
        if (p->n_namespaces) {
                size_t nl;
                const char *ns = sk_key_namespace(key, &nl);
                bool hit = false;
                for (size_t i = 0; i < p->n_namespaces && !hit; i++)
                        hit = ns && strlen(p->namespaces[i]) == nl && memcmp(p->namespaces[i], ns, nl) == 0;
                if (!hit)
                        return false;
        }
        for (size_t i = 0; i < p->n_labels; i++) {
                const char *v = label_value(l, n, p->label_keys[i]);
                if (!v || (p->label_values[i] && strcmp(v, p->label_values[i]) != 0))
                        return false;
        }
        return true;
}

static bool policy_uses_k8s(const sk_policy *p) {
        return p->n_k8s_namespaces || p->n_pod_labels;
}

bool sk_automation_uses_k8s(const sk_automation *a) {
        for (size_t i = 0; i < a->n_policies; i++)
                if (policy_uses_k8s(&a->policies[i]))
                        return true;
        return false;
}

static bool policy_covers_pod(const sk_policy *p, const sk_k8s_identity *k8s) {
        if (!policy_uses_k8s(p))
                return true;
        if (!k8s)
                return false;
        bool hit = p->n_k8s_namespaces == 0;
        for (size_t i = 0; i < p->n_k8s_namespaces && !hit; i++)
                hit = strcmp(p->k8s_namespaces[i], k8s->namespace_) == 0;
        for (size_t i = 0; i < p->n_pod_labels && hit; i++) {
                const char *v = sk_k8s_identity_pod_label(k8s, p->pod_label_keys[i]);
                hit = v && (!p->pod_label_values[i] || strcmp(v, p->pod_label_values[i]) == 0);
        }
        return hit;
}

const sk_policy *sk_automation_match(const sk_automation *a, const char *key, sk_kind kind, const sk_label *labels,
                                     size_t n_labels, const sk_k8s_identity *k8s) {
        unsigned want;
        if (k8s && k8s->sandbox)
                return NULL; /* a pod's sandbox ("pause") holds no state of its own */
        if (kind == SK_KIND_ACTIVE && !sk_key_is_unpack(key))
                want = SK_SOURCE_CONTAINER;
        else if (kind == SK_KIND_COMMITTED)
                want = SK_SOURCE_LAYER;
        else
                return NULL;
        const char *chosen = label_value(labels, n_labels, SK_LABEL_POLICY);
        if (chosen) {
                if (strcmp(chosen, "none") == 0)
                        return NULL;
                const sk_policy *p = sk_automation_find(a, chosen);
                return p && (p->kinds & want) ? p : NULL;
        }
        for (size_t i = 0; i < a->n_policies; i++)
                if ((a->policies[i].kinds & want) && policy_covers(&a->policies[i], key, labels, n_labels) &&
                    (want == SK_SOURCE_CONTAINER ? policy_covers_pod(&a->policies[i], k8s)
                                                 : !policy_uses_k8s(&a->policies[i])))
                        return &a->policies[i];
        return NULL;
}

const sk_policy *sk_automation_kind_missed(const sk_automation *a, const char *key, sk_kind kind,
                                           const sk_label *labels, size_t n_labels) {
        const char *chosen = label_value(labels, n_labels, SK_LABEL_POLICY);
        if (!chosen || strcmp(chosen, "none") == 0)
                return NULL;
        const sk_policy *p = sk_automation_find(a, chosen);
        /* An unpack's active snapshot becomes a layer when committed. */
        unsigned want = kind == SK_KIND_COMMITTED || (kind == SK_KIND_ACTIVE && sk_key_is_unpack(key))
                                ? SK_SOURCE_LAYER
                        : kind == SK_KIND_ACTIVE ? SK_SOURCE_CONTAINER
                                                 : 0;
        return p && want && !(p->kinds & want) ? p : NULL;
}
