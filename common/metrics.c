#include "common/metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

typedef struct series {
        char *values[SK_METRIC_MAX_LABELS];
        double value;     /* counter or gauge; a histogram's sum */
        uint64_t count;   /* histogram: observations */
        uint64_t *bucket; /* histogram: per bucket (not cumulative), n_buckets entries */
} series;

struct sk_metric {
        char *name, *help;
        sk_metric_type type;
        size_t n_labels;
        char *labels[SK_METRIC_MAX_LABELS];
        double buckets[SK_METRIC_MAX_BUCKETS];
        size_t n_buckets;
        atomic_ulong *dropped; /* the registry's */
        pthread_mutex_t mu;
        series s[SK_METRIC_MAX_SERIES];
        size_t n;
};

typedef struct collector {
        sk_metrics_collect_fn fn;
        void *userdata;
} collector;

struct sk_metrics {
        pthread_mutex_t mu; /* the lists below; one render at a time */
        sk_metric **f;
        size_t n_f;
        collector *c;
        size_t n_c;
        atomic_ulong dropped;
};

int sk_metrics_new(sk_metrics **ret) {
        sk_metrics *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        pthread_mutex_init(&m->mu, NULL);
        *ret = m;
        return 0;
}

static void family_free(sk_metric *f) {
        for (size_t i = 0; i < f->n; i++) {
                for (size_t j = 0; j < f->n_labels; j++)
                        free(f->s[i].values[j]);
                free(f->s[i].bucket);
        }
        for (size_t j = 0; j < f->n_labels; j++)
                free(f->labels[j]);
        free(f->name);
        free(f->help);
        pthread_mutex_destroy(&f->mu);
        free(f);
}

void sk_metrics_free(sk_metrics *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_f; i++)
                family_free(m->f[i]);
        free(m->f);
        free(m->c);
        pthread_mutex_destroy(&m->mu);
        free(m);
}

/* Prometheus: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names without
 * the colon, and names starting with "__" are reserved. */
static bool valid_name(const char *s, bool label) {
        if (!s || !*s || (label && strncmp(s, "__", 2) == 0))
                return false;
        for (const char *p = s; *p; p++) {
                bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (!label && *p == ':');
                if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
                        return false;
        }
        return true;
}

int sk_metrics_add(sk_metrics *m, const char *name, const char *help, sk_metric_type type,
                   const char *const *labels, const double *buckets, size_t n_buckets, sk_metric **ret) {
        size_t nl = 0;
        if (!valid_name(name, false) || !help)
                return -EINVAL;
        for (; labels && labels[nl]; nl++)
                if (nl == SK_METRIC_MAX_LABELS || !valid_name(labels[nl], true) || strcmp(labels[nl], "le") == 0)
                        return -EINVAL;
        if (type == SK_METRIC_HISTOGRAM) {
                if (n_buckets == 0 || n_buckets > SK_METRIC_MAX_BUCKETS)
                        return -EINVAL;
                for (size_t i = 0; i < n_buckets; i++)
                        if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
                                return -EINVAL;
        } else if (n_buckets)
                return -EINVAL;

        sk_metric *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        pthread_mutex_init(&f->mu, NULL);
        f->type = type;
        f->n_labels = nl;
        f->n_buckets = n_buckets;
        f->dropped = &m->dropped;
        if (n_buckets)
                memcpy(f->buckets, buckets, n_buckets * sizeof(*buckets));
        f->name = strdup(name);
        f->help = strdup(help);
        bool ok = f->name && f->help;
        for (size_t j = 0; j < nl; j++)
                ok = (f->labels[j] = strdup(labels[j])) && ok;
        if (!ok) {
                family_free(f);
                return -ENOMEM;
        }

        pthread_mutex_lock(&m->mu);
        int r = 0;
        for (size_t i = 0; i < m->n_f && r == 0; i++)
                if (strcmp(m->f[i]->name, name) == 0)
                        r = -EEXIST;
        sk_metric **nf = r ? NULL : realloc(m->f, (m->n_f + 1) * sizeof(*nf));
        if (!r && !nf)
                r = -ENOMEM;
        if (r == 0) {
                m->f = nf;
                m->f[m->n_f++] = f;
        }
        pthread_mutex_unlock(&m->mu);
        if (r < 0) {
                family_free(f);
                return r;
        }
        if (ret)
                *ret = f;
        return 0;
}

int sk_metrics_add_defs(sk_metrics *m, const sk_metric_def *defs, size_t n, void *base) {
        for (size_t i = 0; i < n; i++) {
                sk_metric **f = (sk_metric **) ((char *) base + defs[i].offset);
                int r = sk_metrics_add(m, defs[i].name, defs[i].help, defs[i].type, defs[i].labels, defs[i].buckets,
                                       defs[i].n_buckets, f);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sk_metrics_add_collector(sk_metrics *m, sk_metrics_collect_fn fn, void *userdata) {
        pthread_mutex_lock(&m->mu);
        collector *nc = realloc(m->c, (m->n_c + 1) * sizeof(*nc));
        if (nc) {
                m->c = nc;
                m->c[m->n_c++] = (collector) { fn, userdata };
        }
        pthread_mutex_unlock(&m->mu);
        return nc ? 0 : -ENOMEM;
}

/* The series of values in f, made if missing (NULL: full or out of memory).
 * Called with f->mu held. */
static series *find(sk_metric *f, const char *const *values, bool make) {
        for (size_t i = 0; i < f->n; i++) {
                size_t j = 0;
                while (j < f->n_labels && strcmp(f->s[i].values[j], values[j] ? values[j] : "") == 0)
                        j++;
                if (j == f->n_labels)
                        return &f->s[i];
        }
        if (!make)
                return NULL;
        if (f->n == SK_METRIC_MAX_SERIES) {
                atomic_fetch_add(f->dropped, 1);
                return NULL;
        }
        series *s = &f->s[f->n];
        *s = (series) {};
        bool ok = true;
        for (size_t j = 0; j < f->n_labels; j++)
                ok = (s->values[j] = strdup(values[j] ? values[j] : "")) && ok;
        if (ok && f->type == SK_METRIC_HISTOGRAM)
                ok = (s->bucket = calloc(f->n_buckets, sizeof(*s->bucket))) != NULL;
        if (!ok) {
                for (size_t j = 0; j < f->n_labels; j++)
                        free(s->values[j]);
                free(s->bucket);
                atomic_fetch_add(f->dropped, 1);
                return NULL;
        }
        f->n++;
        return s;
}

void sk_metric_add(sk_metric *f, const char *const *values, double delta) {
        if (!f || f->type == SK_METRIC_HISTOGRAM || (f->type == SK_METRIC_COUNTER && !(delta >= 0)))
                return;
        pthread_mutex_lock(&f->mu);
        series *s = find(f, values, true);
        if (s)
                s->value += delta;
        pthread_mutex_unlock(&f->mu);
}

void sk_metric_set(sk_metric *f, const char *const *values, double value) {
        if (!f || f->type != SK_METRIC_GAUGE)
                return;
        pthread_mutex_lock(&f->mu);
        series *s = find(f, values, true);
        if (s)
                s->value = value;
        pthread_mutex_unlock(&f->mu);
}

void sk_metric_observe(sk_metric *f, const char *const *values, double value) {
        if (!f || f->type != SK_METRIC_HISTOGRAM || isnan(value))
                return;
        pthread_mutex_lock(&f->mu);
        series *s = find(f, values, true);
        if (s) {
                size_t b = 0;
                while (b < f->n_buckets && value > f->buckets[b])
                        b++;
                if (b < f->n_buckets)
                        s->bucket[b]++;
                s->count++;
                s->value += value;
        }
        pthread_mutex_unlock(&f->mu);
}

void sk_metric_touch(sk_metric *f, const char *const *values) {
        if (!f)
                return;
        pthread_mutex_lock(&f->mu);
        (void) find(f, values, true);
        pthread_mutex_unlock(&f->mu);
}

double sk_metric_get(sk_metric *f, const char *const *values) {
        if (!f)
                return 0;
        pthread_mutex_lock(&f->mu);
        series *s = find(f, values, false);
        double v = !s ? 0 : f->type == SK_METRIC_HISTOGRAM ? (double) s->count : s->value;
        pthread_mutex_unlock(&f->mu);
        return v;
}

unsigned long sk_metrics_dropped(sk_metrics *m) {
        return atomic_load(&m->dropped);
}

/* --- rendering ----------------------------------------------------------------- */

/* Escape \ and newline (help texts), and " too (label values). */
static void put_escaped(FILE *o, const char *s, bool quote) {
        for (const char *p = s; *p; p++) {
                if (*p == '\\')
                        fputs("\\\\", o);
                else if (*p == '\n')
                        fputs("\\n", o);
                else if (quote && *p == '"')
                        fputs("\\\"", o);
                else
                        fputc(*p, o);
        }
}

/* The shortest decimal that reads back as v ("0.1", not
 * "0.10000000000000001"), so that a query on le="0.1" matches. */
static const char *shortest(double v, char b[32]) {
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(b, 32, "%.*g", prec, v);
                if (strtod(b, NULL) == v)
                        break;
        }
        return b;
}

/* A sample value: integers as such (counts), +Inf/-Inf/NaN spelt as the
 * format wants, anything else with full precision. */
static void put_value(FILE *o, double v) {
        if (isnan(v))
                fputs("NaN", o);
        else if (isinf(v))
                fputs(v > 0 ? "+Inf" : "-Inf", o);
        else if (fabs(v) < 9.007199254740992e15 && v == (double) (int64_t) v) /* range first: the cast of a
                                                                                 * larger value is undefined */
                fprintf(o, "%lld", (long long) v);
        else {
                char b[32];
                fputs(shortest(v, b), o);
        }
}

/* name{l1="v1",...,extra} value */
static void put_sample(FILE *o, const sk_metric *f, const series *s, const char *suffix, const char *le, double v) {
        fputs(f->name, o);
        fputs(suffix, o);
        if (f->n_labels || le) {
                fputc('{', o);
                for (size_t j = 0; j < f->n_labels; j++) {
                        fprintf(o, "%s%s=\"", j ? "," : "", f->labels[j]);
                        put_escaped(o, s->values[j], true);
                        fputc('"', o);
                }
                if (le)
                        fprintf(o, "%sle=\"%s\"", f->n_labels ? "," : "", le);
                fputc('}', o);
        }
        fputc(' ', o);
        put_value(o, v);
        fputc('\n', o);
}

static void render_family(FILE *o, sk_metric *f) {
        static const char *const type_name[] = { "counter", "gauge", "histogram" };
        pthread_mutex_lock(&f->mu);
        fprintf(o, "# HELP %s ", f->name);
        put_escaped(o, f->help, false);
        fprintf(o, "\n# TYPE %s %s\n", f->name, type_name[f->type]);
        for (size_t i = 0; i < f->n; i++) {
                const series *s = &f->s[i];
                if (f->type != SK_METRIC_HISTOGRAM) {
                        put_sample(o, f, s, "", NULL, s->value);
                        continue;
                }
                uint64_t cum = 0;
                for (size_t b = 0; b < f->n_buckets; b++) {
                        char le[32];
                        cum += s->bucket[b];
                        shortest(f->buckets[b], le);
                        put_sample(o, f, s, "_bucket", le, (double) cum);
                }
                put_sample(o, f, s, "_bucket", "+Inf", (double) s->count);
                put_sample(o, f, s, "_sum", NULL, s->value);
                put_sample(o, f, s, "_count", NULL, (double) s->count);
        }
        pthread_mutex_unlock(&f->mu);
}

int sk_metrics_render(sk_metrics *m, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *o = open_memstream(&buf, &len);
        if (!o)
                return -ENOMEM;
        pthread_mutex_lock(&m->mu);
        /* Collectors set gauges through the families' own locks, and may not
         * add families or collectors (m->mu is held). */
        for (size_t i = 0; i < m->n_c; i++)
                m->c[i].fn(m, m->c[i].userdata);
        for (size_t i = 0; i < m->n_f; i++)
                render_family(o, m->f[i]);
        pthread_mutex_unlock(&m->mu);
        bool failed = ferror(o);
        if (fclose(o) != 0 || failed) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}
