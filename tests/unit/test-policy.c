/* Backup policies (auto/policy.h): every key and its errors, the checks of
 * sk_automation_finish, the built-in default, and which policy a snapshot
 * gets (namespaces, labels, kinds, the policy label, unpack keys). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auto/policy.h"
#include "tests/lib/testutil.h"

static int set(sk_automation *a, const char *section, const char *key, const char *value) {
        const char *why = NULL;
        int r = sk_automation_set(a, section, 0, key, value, &why);
        if (r == -EINVAL)
                assert_non_null(why);
        return r;
}

static void test_parse(void **state) {
        (void) state;
        sk_automation a;
        sk_automation_init(&a);
        assert_int_equal(set(&a, "automation", "max_runs", "2"), 0);
        assert_int_equal(set(&a, "automation", "nice", "19"), 0);
        assert_int_equal(set(&a, "automation", "io_class", "best-effort"), 0);
        assert_int_equal(set(&a, "automation", "retry_min", "30s"), 0);
        assert_int_equal(set(&a, "automation", "retry_max", "2h"), 0);
        assert_int_equal(set(&a, "policy web", "namespaces", "default, k8s.io"), 0);
        assert_int_equal(set(&a, "policy web", "kinds", "containers"), 0);
        assert_int_equal(set(&a, "policy web", "label", "tier=web"), 0);
        assert_int_equal(set(&a, "policy web", "label", "backup"), 0);
        assert_int_equal(set(&a, "policy web", "interval", "15m"), 0);
        assert_int_equal(set(&a, "policy web", "times", "02:30,14:00"), 0);
        assert_int_equal(set(&a, "policy web", "cron", "0 */6 * * *"), 0);
        assert_int_equal(set(&a, "policy web", "jitter", "5m"), 0);
        assert_int_equal(set(&a, "policy web", "keep_last", "3"), 0);
        assert_int_equal(set(&a, "policy web", "keep_daily", "7"), 0);
        assert_int_equal(set(&a, "policy layers", "kinds", "layers"), 0);
        assert_int_equal(set(&a, "policy layers", "on_commit", "true"), 0);
        const char *why = NULL;
        unsigned line = 99;
        assert_int_equal(sk_automation_finish(&a, &why, &line), 0);
        assert_int_equal(a.n_policies, 2);
        assert_false(a.builtin);
        const sk_policy *p = sk_automation_find(&a, "web");
        assert_non_null(p);
        assert_int_equal(a.max_runs, 2);
        assert_int_equal(a.nice, 19);
        assert_int_equal(a.io_class, SK_IO_CLASS_BEST_EFFORT);
        assert_int_equal(a.retry_min, 30);
        assert_int_equal(a.retry_max, 7200);
        assert_int_equal(p->n_namespaces, 2);
        assert_string_equal(p->namespaces[1], "k8s.io");
        assert_int_equal(p->n_labels, 2);
        assert_null(p->label_values[1]);
        assert_int_equal(p->interval, 900);
        assert_int_equal(p->n_crons, 3); /* two times of day and one cron line */
        assert_int_equal(p->jitter, 300);
        assert_string_equal(p->when, "every 15m; at 02:30,14:00; cron 0 */6 * * *");
        char keep[128];
        sk_policy_retention_text(p, keep, sizeof(keep));
        assert_string_equal(keep, "keep_last=3 keep_daily=7");
        sk_automation_clear(&a);
}

static void test_errors(void **state) {
        (void) state;
        static const struct {
                const char *section, *key, *value;
        } bad[] = {
                { "policy x", "interval", "0" },        { "policy x", "interval", "5y" },
                { "policy x", "interval", "-1m" },      { "policy x", "interval", "367d" },
                { "policy x", "times", "25:00" },       { "policy x", "times", "2:30" },
                { "policy x", "cron", "* * *" },        { "policy x", "cron", "61 * * * *" },
                { "policy x", "kinds", "views" },       { "policy x", "keep_last", "-1" },
                { "policy x", "keep_last", "many" },    { "policy x", "jitter", "2d" },
                { "policy x", "consistency", "freeze" }, { "policy x", "namespaces", "a/b" },
                { "policy x", "colour", "blue" },       { "policy none", "interval", "1h" },
                { "policy a b", "interval", "1h" },     { "policy ", "interval", "1h" },
                { "automation", "max_runs", "0" },      { "automation", "max_runs", "17" },
                { "automation", "nice", "20" },         { "automation", "io_class", "rt" },
                { "automation", "enabled", "maybe" },   { "automation", "bogus", "1" },
                { "policy x", "label", "=v" },          { "policy x", "on_commit", "perhaps" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sk_automation a;
                sk_automation_init(&a);
                int r = set(&a, bad[i].section, bad[i].key, bad[i].value);
                if (r != -EINVAL)
                        fail_msg("[%s] %s = %s: %d, expected -EINVAL", bad[i].section, bad[i].key, bad[i].value, r);
                sk_automation_clear(&a);
        }
        sk_automation a;
        sk_automation_init(&a);
        assert_int_equal(set(&a, "snapkeepd", "root", "/x"), -ENOENT); /* not ours */
        sk_automation_clear(&a);
}

static void test_finish(void **state) {
        (void) state;
        const char *why = NULL;
        unsigned line = 0;
        sk_automation a;

        /* no policy: the built-in default */
        sk_automation_init(&a);
        assert_int_equal(sk_automation_finish(&a, &why, &line), 0);
        assert_true(a.builtin);
        assert_int_equal(a.n_policies, 1);
        assert_string_equal(a.policies[0].name, "default");
        assert_int_equal(a.policies[0].interval, 3600);
        assert_int_equal(a.policies[0].kinds, SK_SOURCE_CONTAINER);
        assert_int_equal(a.policies[0].keep_daily, 7);
        sk_automation_clear(&a);

        /* a policy with no schedule names its section's line */
        sk_automation_init(&a);
        assert_int_equal(sk_automation_set(&a, "policy quiet", 12, "keep_last", "1", &why), 0);
        assert_int_equal(sk_automation_finish(&a, &why, &line), -EINVAL);
        assert_int_equal(line, 12);
        assert_non_null(strstr(why, "no schedule"));
        sk_automation_clear(&a);

        /* containers need a clock; on_commit needs layers */
        sk_automation_init(&a);
        assert_int_equal(set(&a, "policy c", "on_commit", "true"), 0);
        assert_int_equal(sk_automation_finish(&a, &why, &line), -EINVAL);
        sk_automation_clear(&a);

        sk_automation_init(&a);
        assert_int_equal(set(&a, "automation", "retry_min", "2h"), 0);
        assert_int_equal(set(&a, "automation", "retry_max", "1h"), 0);
        assert_int_equal(sk_automation_finish(&a, &why, &line), -EINVAL);
        sk_automation_clear(&a);

        /* pause: containers only, with a default timeout */
        sk_automation_init(&a);
        assert_int_equal(set(&a, "policy p", "interval", "1h"), 0);
        assert_int_equal(set(&a, "policy p", "consistency", "pause"), 0);
        assert_int_equal(sk_automation_finish(&a, &why, &line), 0);
        assert_int_equal(a.policies[0].pause_timeout, 30);
        sk_automation_clear(&a);
        sk_automation_init(&a);
        assert_int_equal(set(&a, "policy p", "kinds", "layers"), 0);
        assert_int_equal(set(&a, "policy p", "on_commit", "true"), 0);
        assert_int_equal(set(&a, "policy p", "consistency", "pause"), 0);
        assert_int_equal(sk_automation_finish(&a, &why, &line), -EINVAL);
        assert_non_null(strstr(why, "pause"));
        sk_automation_clear(&a);
}

static void test_match(void **state) {
        (void) state;
        const char *why = NULL;
        unsigned line;
        sk_automation a;
        sk_automation_init(&a);
        assert_int_equal(set(&a, "policy web", "namespaces", "prod"), 0);
        assert_int_equal(set(&a, "policy web", "label", "tier=web"), 0);
        assert_int_equal(set(&a, "policy web", "interval", "1h"), 0);
        assert_int_equal(set(&a, "policy rest", "interval", "1d"), 0);
        assert_int_equal(set(&a, "policy layers", "kinds", "layers"), 0);
        assert_int_equal(set(&a, "policy layers", "on_commit", "yes"), 0);
        assert_int_equal(sk_automation_finish(&a, &why, &line), 0);

        sk_label web[] = { { "tier", "web" } };
        sk_label other[] = { { "tier", "db" } };
        sk_label chosen[] = { { "tier", "web" }, { SK_LABEL_POLICY, "rest" } };
        sk_label none[] = { { SK_LABEL_POLICY, "none" } };
        sk_label layerpol[] = { { SK_LABEL_POLICY, "layers" } };
        assert_string_equal(sk_automation_match(&a, "prod/3/c1", SK_KIND_ACTIVE, web, 1, NULL)->name, "web");
        assert_string_equal(sk_automation_match(&a, "prod/3/c1", SK_KIND_ACTIVE, other, 1, NULL)->name, "rest");
        assert_string_equal(sk_automation_match(&a, "dev/3/c1", SK_KIND_ACTIVE, web, 1, NULL)->name, "rest");
        assert_string_equal(sk_automation_match(&a, "prod/3/c1", SK_KIND_ACTIVE, chosen, 2, NULL)->name, "rest");
        assert_null(sk_automation_match(&a, "prod/3/c1", SK_KIND_ACTIVE, none, 1, NULL));
        /* a policy chosen by label must cover the kind */
        assert_null(sk_automation_match(&a, "prod/3/c1", SK_KIND_ACTIVE, layerpol, 1, NULL));
        assert_null(sk_automation_match(&a, "prod/3/v", SK_KIND_VIEW, NULL, 0, NULL));
        assert_null(sk_automation_match(&a, "prod/3/extract-1-x sha256:ab", SK_KIND_ACTIVE, NULL, 0, NULL));
        assert_string_equal(sk_automation_match(&a, "prod/4/sha256:ab", SK_KIND_COMMITTED, NULL, 0, NULL)->name,
                            "layers");

        /* ... and a label choosing a policy of the other kind is reported */
        assert_string_equal(sk_automation_kind_missed(&a, "prod/3/c1", SK_KIND_ACTIVE, layerpol, 1)->name, "layers");
        assert_null(sk_automation_kind_missed(&a, "prod/3/extract-1-x sha256:ab", SK_KIND_ACTIVE, layerpol, 1));
        assert_null(sk_automation_kind_missed(&a, "prod/4/sha256:ab", SK_KIND_COMMITTED, layerpol, 1));
        sk_label restpol[] = { { SK_LABEL_POLICY, "rest" } };
        assert_string_equal(sk_automation_kind_missed(&a, "prod/4/sha256:ab", SK_KIND_COMMITTED, restpol, 1)->name,
                            "rest");
        assert_null(sk_automation_kind_missed(&a, "prod/3/c1", SK_KIND_ACTIVE, restpol, 1));
        assert_null(sk_automation_kind_missed(&a, "prod/3/c1", SK_KIND_ACTIVE, none, 1));
        assert_null(sk_automation_kind_missed(&a, "prod/3/c1", SK_KIND_ACTIVE, web, 1));
        assert_int_equal(sk_automation_check_label(&a, "web", &why), 0);
        assert_int_equal(sk_automation_check_label(&a, "none", &why), 0);
        assert_int_equal(sk_automation_check_label(&a, "nosuch", &why), -EINVAL);
        assert_int_equal(sk_automation_check_label(&a, "", &why), -EINVAL);
        sk_automation_clear(&a);
}

static void test_match_k8s(void **state) {
        (void) state;
        const char *why = NULL;
        unsigned line;
        sk_automation a;
        sk_automation_init(&a);
        assert_int_equal(set(&a, "policy web", "k8s_namespaces", "team-a, team-b"), 0);
        assert_int_equal(set(&a, "policy web", "pod_label", "app=web"), 0);
        assert_int_equal(set(&a, "policy web", "interval", "1h"), 0);
        assert_int_equal(set(&a, "policy any-team-c", "k8s_namespaces", "team-c"), 0);
        assert_int_equal(set(&a, "policy any-team-c", "kinds", "all"), 0);
        assert_int_equal(set(&a, "policy any-team-c", "interval", "2h"), 0);
        assert_int_equal(set(&a, "policy rest", "interval", "1d"), 0);
        assert_int_equal(sk_automation_finish(&a, &why, &line), 0);
        /* Values that are not Kubernetes names or labels are refused at start. */
        sk_automation bad;
        sk_automation_init(&bad);
        assert_int_equal(set(&bad, "policy bad", "k8s_namespaces", "Team_A"), -EINVAL);
        assert_int_equal(set(&bad, "policy bad", "pod_label", "app=a b"), -EINVAL);
        assert_int_equal(set(&bad, "policy bad", "pod_label", "-app"), -EINVAL);
        sk_automation_clear(&bad);
        assert_true(sk_automation_uses_k8s(&a));

        sk_k8s_identity web = {}, db = {}, c = {}, sandbox = {};
        assert_int_equal(sk_k8s_identity_take(&web, SK_CRI_LABEL_POD_NAMESPACE, "team-b"), 1);
        assert_int_equal(sk_k8s_identity_take(&web, SK_CRI_LABEL_POD_NAME, "p"), 1);
        assert_int_equal(sk_k8s_identity_take(&web, SK_CRI_LABEL_CONTAINER_NAME, "c"), 1);
        assert_int_equal(sk_k8s_identity_add_pod_label(&web, "app", "web"), 0);
        db = web;
        db.n_pod_labels = 0;
        c = db;
        strcpy(c.namespace_, "team-c");
        sandbox = c;
        sandbox.sandbox = true;
        assert_string_equal(sk_automation_match(&a, "k8s.io/3/x", SK_KIND_ACTIVE, NULL, 0, &web)->name, "web");
        assert_string_equal(sk_automation_match(&a, "k8s.io/3/x", SK_KIND_ACTIVE, NULL, 0, &db)->name, "rest");
        assert_string_equal(sk_automation_match(&a, "k8s.io/3/x", SK_KIND_ACTIVE, NULL, 0, &c)->name, "any-team-c");
        /* unknown identity: only policies without Kubernetes matchers */
        assert_string_equal(sk_automation_match(&a, "k8s.io/3/x", SK_KIND_ACTIVE, NULL, 0, NULL)->name, "rest");
        /* a sandbox is never backed up; a layer has no pod */
        assert_null(sk_automation_match(&a, "k8s.io/3/x", SK_KIND_ACTIVE, NULL, 0, &sandbox));
        assert_null(sk_automation_match(&a, "k8s.io/4/sha256:ab", SK_KIND_COMMITTED, NULL, 0, NULL));
        sk_k8s_identity_clear(&web);
        sk_automation_clear(&a);
}

static void test_duration(void **state) {
        (void) state;
        uint32_t d;
        assert_int_equal(sk_parse_duration("90", 1000, &d), 0);
        assert_int_equal(d, 90);
        assert_int_equal(sk_parse_duration("2w", UINT32_MAX, &d), 0);
        assert_int_equal(d, 14 * 86400);
        assert_int_equal(sk_parse_duration("1h30m", UINT32_MAX, &d), -EINVAL);
        assert_int_equal(sk_parse_duration("99999999999999999999s", UINT32_MAX, &d), -EINVAL);
        assert_int_equal(sk_parse_duration("2h", 3600, &d), -EINVAL);
        assert_int_equal(sk_parse_duration("", 3600, &d), -EINVAL);
}

SK_TEST_MAIN(cmocka_unit_test(test_parse), cmocka_unit_test(test_errors), cmocka_unit_test(test_finish),
             cmocka_unit_test(test_match), cmocka_unit_test(test_match_k8s), cmocka_unit_test(test_duration))
