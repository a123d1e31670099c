/* Retention policy table tests (restic semantics), in UTC; and sk_forget_run
 * on a real repository: a selection, the approve veto, and the shared lock
 * the scheduler's retention takes beside other nodes' backups. */
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

#include "backup/forget.h"
#include "backup/manifest.h"
#include "tests/lib/testrepo.h"

typedef struct spec {
        const char *when;       /* "YYYY-MM-DD HH:MM" UTC */
        const char *host;
        const char *tag;
} spec;

static time_t parse(const char *s) {
        struct tm tm = {};
        assert_non_null(strptime(s, "%Y-%m-%d %H:%M", &tm));
        return timegm(&tm);
}

static sk_manifest **build(const spec *s, size_t n) {
        sk_manifest **v = calloc(n, sizeof(*v));
        for (size_t i = 0; i < n; i++) {
                sk_manifest *m = calloc(1, sizeof(*m));
                snprintf(m->id, sizeof(m->id), "%064zx", i + 1);
                m->time.tv_sec = parse(s[i].when);
                m->hostname = strdup(s[i].host ? s[i].host : "h");
                m->n_sources = 1;
                m->sources = calloc(1, sizeof(char *));
                m->sources[0] = strdup("/data");
                if (s[i].tag) {
                        m->n_tags = 1;
                        m->tags = calloc(1, sizeof(char *));
                        m->tags[0] = strdup(s[i].tag);
                }
                v[i] = m;
        }
        return v;
}

static void release(sk_manifest **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                sk_manifest_free(v[i]);
        free(v);
}

/* expect: one char per spec, 'k' kept, '-' forgotten. */
static void run(const spec *s, size_t n, const sk_forget_policy *p, const char *expect) {
        sk_manifest **v = build(s, n);
        unsigned *rs = calloc(n, sizeof(unsigned));
        assert_int_equal(sk_forget_plan(v, n, p, rs), 0);
        char got[64] = {};
        for (size_t i = 0; i < n; i++)
                got[i] = rs[i] ? 'k' : '-';
        assert_string_equal(got, expect);
        free(rs);
        release(v, n);
}

static const spec days[] = {
        { "2024-01-01 10:00" }, { "2024-01-01 18:00" }, { "2024-01-02 09:00" }, { "2024-01-02 21:00" },
        { "2024-01-03 08:00" }, { "2024-01-08 08:00" }, { "2024-02-01 08:00" }, { "2024-02-15 08:00" },
        { "2025-03-01 08:00" }, { "2025-03-01 08:30" },
};
#define N_DAYS (sizeof(days) / sizeof(days[0]))

static void test_last(void **state) {
        (void) state;
        run(days, N_DAYS, &(sk_forget_policy) { .keep_last = 3 }, "-------kkk");
        run(days, N_DAYS, &(sk_forget_policy) { .keep_last = 100 }, "kkkkkkkkkk");
}

static void test_daily(void **state) {
        (void) state;
        /* Newest per day, for the 4 newest days that have backups. */
        run(days, N_DAYS, &(sk_forget_policy) { .keep_daily = 4 }, "-----kkk-k");
        run(days, N_DAYS, &(sk_forget_policy) { .keep_daily = 7 }, "-k-kkkkk-k");
}

static void test_hourly(void **state) {
        (void) state;
        /* 08:00 and 08:30 are the same hour: only the newer one. */
        run(days, N_DAYS, &(sk_forget_policy) { .keep_hourly = 2 }, "-------k-k");
}

static void test_weekly_monthly_yearly(void **state) {
        (void) state;
        /* ISO weeks: Jan 1-3 2024 week 1, Jan 8 week 2, Feb 1 week 5, Feb 15 week 7, 2025-03-01 week 9. */
        run(days, N_DAYS, &(sk_forget_policy) { .keep_weekly = 3 }, "------kk-k"); /* w9, w7, w5 */
}

static void test_weekly_exact(void **state) {
        (void) state;
        run(days, N_DAYS, &(sk_forget_policy) { .keep_weekly = 5 }, "----kkkk-k");
        run(days, N_DAYS, &(sk_forget_policy) { .keep_monthly = 2 }, "-------k-k");
        run(days, N_DAYS, &(sk_forget_policy) { .keep_monthly = 3 }, "-----k-k-k");
        run(days, N_DAYS, &(sk_forget_policy) { .keep_yearly = 5 }, "-------k-k");
        /* Rules combine: a backup is kept if any rule keeps it. */
        run(days, N_DAYS, &(sk_forget_policy) { .keep_last = 1, .keep_yearly = 2 }, "-------k-k");
        run(days, N_DAYS, &(sk_forget_policy) { .keep_last = 2, .keep_monthly = 3 }, "-----k-kkk");
}

static void test_tags_and_groups(void **state) {
        (void) state;
        static const spec s[] = {
                { "2024-01-01 10:00", "a", "keep" }, { "2024-01-02 10:00", "a", NULL }, { "2024-01-03 10:00", "a", NULL },
                { "2024-01-01 11:00", "b", NULL },   { "2024-01-02 11:00", "b", NULL },
        };
        const char *tags[] = { "keep" };
        run(s, 5, &(sk_forget_policy) { .keep_last = 1, .keep_tags = tags, .n_keep_tags = 1 }, "k-k-k");
        /* Groups are per host: keep_last 1 keeps one of each. */
        run(s, 5, &(sk_forget_policy) { .keep_last = 1 }, "--k-k");
}

static void test_empty_policy(void **state) {
        (void) state;
        run(days, N_DAYS, &(sk_forget_policy) {}, "kkkkkkkkkk");
        sk_manifest **v = build(days, 2);
        unsigned rs[2];
        assert_int_equal(sk_forget_plan(v, 2, &(sk_forget_policy) {}, rs), 0);
        assert_int_equal(rs[0], SK_KEEP_NO_POLICY);
        assert_int_equal(sk_forget_plan(v, 2, &(sk_forget_policy) { .keep_last = 1, .keep_daily = 1 }, rs), 0);
        assert_int_equal(rs[1], SK_KEEP_LAST | SK_KEEP_DAILY);
        assert_int_equal(rs[0], 0);
        release(v, 2);
}

/* ---- sk_forget_run on a repository ---------------------------------------- */

static const spec src_x[] = {
        { "2026-01-01 10:00", "h", "src=x" }, { "2026-01-01 11:00", "h", "src=x" },
        { "2026-01-01 12:00", "h", "src=x" }, { "2026-01-01 13:00", "h", "src=x" },
        { "2026-01-01 09:00", "h", "src=y" }, /* another source: never touched */
};

static int repo_setup(void **state) {
        sk_test_repo_setup(state);
        sk_test_repo *f = *state;
        sk_manifest **v = build(src_x, 5);
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(sk_backup_store(f->repo, v[i]), 0);
        release(v, 5);
        return 0;
}

static bool select_x(const sk_manifest *m, void *userdata) {
        (void) userdata;
        return m->n_tags == 1 && strcmp(m->tags[0], "src=x") == 0;
}

static int veto(sk_manifest *const *sel, size_t n, void *userdata) {
        (void) sel;
        *(size_t *) userdata = n;
        return -ESTALE;
}

static size_t n_backups(sk_repo *repo) {
        char **ids = NULL;
        size_t n = 0;
        assert_int_equal(sk_backup_ids(repo, &ids, &n), 0);
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
        return n;
}

static void test_run_shared_lock(void **state) {
        sk_test_repo *f = *state;
        sk_forget_result res = {};
        /* another node's backup holds a shared lock */
        sk_lock *other = NULL;
        assert_int_equal(sk_repo_lock(f->repo, false, 0, &other), 0);
        sk_forget_policy p = { .keep_last = 1, .select = select_x };
        assert_int_equal(sk_forget_run(f->repo, &p, false, 0, NULL, NULL, &res), -EBUSY); /* exclusive */
        assert_int_equal(n_backups(f->repo), 5);

        /* the approve veto deletes nothing */
        size_t seen = 0;
        p.shared_lock = true;
        p.approve = veto;
        p.select_userdata = &seen;
        assert_int_equal(sk_forget_run(f->repo, &p, false, 0, NULL, NULL, &res), -ESTALE);
        assert_int_equal(seen, 4);
        assert_int_equal(n_backups(f->repo), 5);

        /* shared: runs beside the other backup; only src=x is judged */
        p.approve = NULL;
        assert_int_equal(sk_forget_run(f->repo, &p, false, 0, NULL, NULL, &res), 0);
        assert_int_equal(res.kept, 1);
        assert_int_equal(res.removed, 3);
        assert_int_equal(n_backups(f->repo), 2);
        sk_manifest *m = NULL;
        assert_int_equal(sk_backup_load(f->repo, "0000000000000000000000000000000000000000000000000000000000000004", &m), 0);
        sk_manifest_free(m);
        assert_int_equal(sk_backup_load(f->repo, "0000000000000000000000000000000000000000000000000000000000000005", &m), 0);
        sk_manifest_free(m);
        sk_lock_release(other);

        /* a prune's exclusive lock keeps it out */
        sk_lock *prune = NULL;
        assert_int_equal(sk_repo_lock(f->repo, true, 0, &prune), 0);
        assert_int_equal(sk_forget_run(f->repo, &p, false, 0, NULL, NULL, &res), -EBUSY);
        sk_lock_release(prune);
}

int main(void) {
        setenv("TZ", "UTC", 1);
        tzset();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_last),
                cmocka_unit_test(test_daily),
                cmocka_unit_test(test_hourly),
                cmocka_unit_test(test_weekly_monthly_yearly),
                cmocka_unit_test(test_weekly_exact),
                cmocka_unit_test(test_tags_and_groups),
                cmocka_unit_test(test_empty_policy),
                cmocka_unit_test_setup_teardown(test_run_shared_lock, repo_setup, sk_test_repo_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
