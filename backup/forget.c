/* Retention policy (see forget.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/forget.h"
#include "backup/manifest.h"
#include "repo/repo.h"
#include "common/macro.h"

/* Group key: hostname NUL sorted sources joined by NUL. */
static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *group_key(const sk_manifest *m, size_t *ret_len) {
        char **s = malloc((m->n_sources + 1) * sizeof(char *));
        if (!s)
                return NULL;
        memcpy(s, m->sources, m->n_sources * sizeof(char *));
        qsort(s, m->n_sources, sizeof(char *), str_cmp);
        size_t len = strlen(m->hostname) + 1;
        for (size_t i = 0; i < m->n_sources; i++)
                len += strlen(s[i]) + 1;
        char *k = malloc(len), *p = k;
        if (k) {
                p = stpcpy(p, m->hostname) + 1;
                for (size_t i = 0; i < m->n_sources; i++)
                        p = stpcpy(p, s[i]) + 1;
                *ret_len = len;
        }
        free(s);
        return k;
}

typedef struct item {
        size_t idx;
        const sk_manifest *m;
        char *key;
        size_t key_len;
} item;

/* Newest first; same time: larger id first, so the order is total. */
static int item_cmp(const void *a, const void *b) {
        const item *x = a, *y = b;
        if (x->m->time.tv_sec != y->m->time.tv_sec)
                return x->m->time.tv_sec > y->m->time.tv_sec ? -1 : 1;
        if (x->m->time.tv_nsec != y->m->time.tv_nsec)
                return x->m->time.tv_nsec > y->m->time.tv_nsec ? -1 : 1;
        return -strcmp(x->m->id, y->m->id);
}

/* Bucket number of t for a period; equal numbers = same bucket. */
static long long bucket(int period, time_t t) {
        struct tm tm;
        localtime_r(&t, &tm);
        long long y = tm.tm_year + 1900LL;
        switch (period) {
        case 0: return ((y * 100 + tm.tm_mon) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
        case 1: return (y * 100 + tm.tm_mon) * 100 + tm.tm_mday;
        case 2: {
                char buf[32];
                strftime(buf, sizeof(buf), "%G%V", &tm);
                return atoll(buf);
        }
        case 3: return y * 100 + tm.tm_mon;
        default: return y;
        }
}

int sk_forget_plan(sk_manifest *const *list, size_t n, const sk_forget_policy *p, unsigned *ret_reasons) {
        bool empty = !p->keep_last && !p->keep_hourly && !p->keep_daily && !p->keep_weekly && !p->keep_monthly &&
                     !p->keep_yearly && !p->n_keep_tags;
        item *it = calloc(n ? n : 1, sizeof(item));
        unsigned *reasons = calloc(n ? n : 1, sizeof(unsigned));
        int r = 0;
        if (!it || !reasons) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                it[i].idx = i;
                it[i].m = list[i];
                it[i].key = group_key(list[i], &it[i].key_len);
                if (!it[i].key) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (n > 1)
                qsort(it, n, sizeof(item), item_cmp);
        if (empty) {
                for (size_t i = 0; i < n; i++)
                        reasons[i] = SK_KEEP_NO_POLICY;
                memcpy(ret_reasons, reasons, n * sizeof(unsigned));
                goto out;
        }
        bool *done = calloc(n ? n : 1, sizeof(bool));
        if (!done) {
                r = -ENOMEM;
                goto out;
        }
        const unsigned counts[5] = { p->keep_hourly, p->keep_daily, p->keep_weekly, p->keep_monthly, p->keep_yearly };
        const unsigned bits[5] = { SK_KEEP_HOURLY, SK_KEEP_DAILY, SK_KEEP_WEEKLY, SK_KEEP_MONTHLY, SK_KEEP_YEARLY };
        for (size_t g = 0; g < n; g++) {
                if (done[g])
                        continue;
                /* One group: every item with the same key, newest first. */
                unsigned last_n = 0, left[5];
                long long last_b[5];
                bool have_b[5] = {};
                memcpy(left, counts, sizeof(left));
                for (size_t i = g; i < n; i++) {
                        if (done[i] || it[i].key_len != it[g].key_len || memcmp(it[i].key, it[g].key, it[g].key_len))
                                continue;
                        done[i] = true;
                        unsigned rs = 0;
                        const sk_manifest *m = it[i].m;
                        if (last_n < p->keep_last) {
                                rs |= SK_KEEP_LAST;
                                last_n++;
                        }
                        for (int k = 0; k < 5; k++) {
                                if (!left[k])
                                        continue;
                                long long b = bucket(k, m->time.tv_sec);
                                if (!have_b[k] || b != last_b[k]) {
                                        rs |= bits[k];
                                        left[k]--;
                                        last_b[k] = b;
                                        have_b[k] = true;
                                }
                        }
                        for (size_t t = 0; t < p->n_keep_tags; t++)
                                for (size_t u = 0; u < m->n_tags; u++)
                                        if (strcmp(p->keep_tags[t], m->tags[u]) == 0)
                                                rs |= SK_KEEP_TAG;
                        reasons[it[i].idx] = rs;
                }
        }
        free(done);
        memcpy(ret_reasons, reasons, n * sizeof(unsigned));
out:
        if (it)
                for (size_t i = 0; i < n; i++)
                        free(it[i].key);
        free(it);
        free(reasons);
        return r;
}

int sk_forget_run(sk_repo *repo, const sk_forget_policy *policy, bool dry_run, unsigned lock_wait_seconds,
                  sk_forget_fn fn, void *userdata, sk_forget_result *ret_result) {
        sk_lock *lock = NULL;
        sk_manifest **list = NULL, **sel = NULL;
        size_t n = 0, n_sel = 0;
        unsigned *reasons = NULL;
        sk_forget_result res = {};
        int r;

        if (!dry_run) {
                r = sk_repo_lock(repo, !policy->shared_lock, lock_wait_seconds, &lock);
                if (r < 0)
                        return r;
        }
        r = sk_backup_list(repo, NULL, NULL, &list, &n);
        if (r < 0)
                goto out;
        reasons = calloc(n ? n : 1, sizeof(unsigned));
        sel = calloc(n ? n : 1, sizeof(*sel));
        if (!reasons || !sel) {
                r = -ENOMEM;
                goto out;
        }
        /* sel borrows from list, which keeps owning every manifest. */
        for (size_t i = 0; i < n; i++)
                if (!policy->select || policy->select(list[i], policy->select_userdata))
                        sel[n_sel++] = list[i];
        if (policy->approve && (r = policy->approve(sel, n_sel, policy->select_userdata)) < 0)
                goto out;
        r = sk_forget_plan(sel, n_sel, policy, reasons);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n_sel; i++) {
                if (policy->keep_id && strcmp(sel[i]->id, policy->keep_id) == 0)
                        reasons[i] |= SK_KEEP_PINNED;
                if (!reasons[i] && !dry_run) {
                        r = sk_backup_delete(repo, sel[i]->id);
                        if (r < 0)
                                goto out;
                }
                if (reasons[i])
                        res.kept++;
                else
                        res.removed++;
                if (fn)
                        fn(sel[i], reasons[i], userdata);
        }
        if (ret_result)
                *ret_result = res;
        r = 0;
out:
        free(reasons);
        free(sel);
        sk_backup_list_free(list, n);
        sk_lock_release(lock);
        return r;
}
