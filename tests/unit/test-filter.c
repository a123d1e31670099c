/* Unit tests for snapshot/filter.c: containerd's filter language. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot/filter.h"
#include "tests/lib/testutil.h"

static sk_label labels_a[] = {
        { .key = "containerd.io/gc.root", .value = "check-walk" },
        { .key = "l", .value = "2" },
        { .key = "a.b", .value = "dotted" },
        { .key = "empty-ish", .value = " x" },
};

static const sk_info info_active = {
        .name = "default/1/a-wl",
        .parent = "p-wl",
        .kind = SK_KIND_ACTIVE,
        .labels = labels_a,
        .n_labels = 4,
};

static const sk_info info_committed = {
        .name = "p",
        .parent = NULL,
        .kind = SK_KIND_COMMITTED,
};

static const sk_info info_view = {
        .name = "v",
        .parent = "p",
        .kind = SK_KIND_VIEW,
        .labels = labels_a,
        .n_labels = 1,
};

/* Parse fs (n of them) and return whether info matches; fails the test on a
 * parse error. */
static bool m(const sk_info *info, size_t n, const char *const *fs) {
        sk_filter *f = NULL;
        char *err = NULL;
        int r = sk_filter_parse(fs, n, &f, &err);
        if (r < 0)
                fail_msg("parse of \"%s\" failed: %d %s", n ? fs[0] : "", r, err ? err : "");
        bool res = sk_filter_match(f, info);
        sk_filter_free(f);
        free(err);
        return res;
}

static bool m1(const sk_info *info, const char *f) { return m(info, 1, &f); }

/* Expect a parse error whose message contains want. */
static void bad(const char *f, const char *want) {
        sk_filter *flt = NULL;
        char *err = NULL;
        int r = sk_filter_parse(&f, 1, &flt, &err);
        if (r != -EINVAL) {
                sk_filter_free(flt);
                fail_msg("\"%s\" parsed (r=%d), expected an error containing \"%s\"", f, r, want);
        }
        assert_null(flt);
        assert_non_null(err);
        if (!strstr(err, want))
                fail_msg("error for \"%s\" is \"%s\", expected to contain \"%s\"", f, err, want);
        free(err);
}

static void test_empty_matches_all(void **state) {
        (void) state;
        assert_true(m(&info_active, 0, NULL));
        assert_true(m1(&info_committed, ""));
        /* "" is containerd's Always, and filters are ORed */
        const char *fs[] = { "name==nomatch", "" };
        assert_true(m(&info_committed, 2, fs));
}

static void test_equal_not_equal(void **state) {
        (void) state;
        assert_true(m1(&info_committed, "name==p"));
        assert_false(m1(&info_committed, "name==q"));
        assert_true(m1(&info_committed, "name!=q"));
        assert_false(m1(&info_committed, "name!=p"));
        assert_true(m1(&info_active, "kind==active"));
        assert_true(m1(&info_committed, "kind==committed"));
        assert_true(m1(&info_view, "kind==view"));
        assert_false(m1(&info_view, "kind==active"));
        assert_true(m1(&info_view, "parent==p"));
        assert_false(m1(&info_committed, "parent==p"));
        /* containerd's walk test: parent!="" selects snapshots with a parent */
        assert_true(m1(&info_view, "parent!=\"\""));
        assert_false(m1(&info_committed, "parent!=\"\""));
        /* != on an absent label is true (value "" differs) */
        assert_true(m1(&info_committed, "labels.l!=2"));
        assert_false(m1(&info_active, "labels.l!=2"));
        assert_true(m1(&info_active, "labels.l==2"));
        /* unquoted values may hold '/', ':' and '=' after the operator */
        static sk_label lab[] = { { .key = "ref", .value = "sha256:ab/cd=e" } };
        const sk_info i = { .name = "x", .kind = SK_KIND_ACTIVE, .labels = lab, .n_labels = 1 };
        assert_true(m1(&i, "labels.ref==sha256:ab/cd=e"));
        /* '.' inside a value is part of it */
        assert_false(m1(&info_committed, "name==p.q"));
}

static void test_presence(void **state) {
        (void) state;
        assert_true(m1(&info_active, "labels.l"));
        assert_false(m1(&info_view, "labels.l"));
        assert_false(m1(&info_committed, "labels.l"));
        assert_true(m1(&info_committed, "name"));
        /* parent is always "present" in containerd's adaptor, even empty */
        assert_true(m1(&info_committed, "parent"));
        assert_false(m1(&info_committed, "unknownfield"));
        /* dotted label keys: either as path components or quoted */
        assert_true(m1(&info_active, "labels.a.b==dotted"));
        assert_true(m1(&info_active, "labels.\"a.b\"==dotted"));
        assert_false(m1(&info_active, "labels.a"));
}

static void test_quoted_keys(void **state) {
        (void) state;
        assert_true(m1(&info_active, "labels.\"containerd.io/gc.root\"==check-walk"));
        assert_true(m1(&info_view, "labels.\"containerd.io/gc.root\""));
        assert_false(m1(&info_committed, "labels.\"containerd.io/gc.root\""));
        /* quoted values with escapes */
        assert_true(m1(&info_active, "labels.\"empty-ish\"==\" x\""));
        assert_true(m1(&info_active, "labels.\"empty-ish\"==\"\\x20x\""));
        assert_true(m1(&info_active, "labels.\"empty-ish\"==\"\\u0020x\""));
        assert_true(m1(&info_active, "labels.\"empty-ish\"==\"\\040x\""));
        assert_true(m1(&info_active, "name==\"default/1/a-wl\""));
}

static void test_regexp(void **state) {
        (void) state;
        /* unanchored search, as Go's MatchString */
        assert_true(m1(&info_active, "name~=a-w"));
        assert_true(m1(&info_active, "name~=^default/[0-9]+/"));
        assert_false(m1(&info_active, "name~=^a-wl$"));
        assert_true(m1(&info_active, "name~=/a-wl$/"));
        assert_true(m1(&info_active, "name~=|^default/1|"));
        assert_true(m1(&info_active, "labels.l~=/[0-9]{1,2}/"));
        assert_true(m1(&info_active, "name~=\"(a|b)-wl\""));
        /* escaped quote inside a slash-quoted pattern */
        static sk_label lab[] = { { .key = "p", .value = "a/b" } };
        const sk_info i = { .name = "x", .kind = SK_KIND_ACTIVE, .labels = lab, .n_labels = 1 };
        assert_true(m1(&i, "labels.p~=/^a\\/b$/"));
        /* still accepted: repetition of a group, brackets holding ']' and '{' */
        assert_true(m1(&info_active, "name~=/(a*)*-wl/"));
        assert_true(m1(&info_active, "name~=/[]a{]+-wl$/"));
        assert_true(m1(&info_active, "name~=/^[[:alpha:]]+\\/[0-9]{1}\\/a{1,3}-w/"));
        /* absent field is matched as "" */
        assert_true(m1(&info_committed, "labels.l~=^$"));
        assert_false(m1(&info_committed, "labels.l~=/./"));
}

static void test_and_or(void **state) {
        (void) state;
        assert_true(m1(&info_active, "kind==active,labels.\"containerd.io/gc.root\"==check-walk"));
        assert_false(m1(&info_view, "kind==active,labels.\"containerd.io/gc.root\"==check-walk"));
        assert_true(m1(&info_active, "name==default/1/a-wl,labels.l"));
        assert_false(m1(&info_active, "name==default/1/a-wl,labels.nope"));
        const char *ors[] = { "name==p", "name==v" };
        assert_true(m(&info_committed, 2, ors));
        assert_true(m(&info_view, 2, ors));
        assert_false(m(&info_active, 2, ors));
        /* whitespace before tokens is skipped */
        assert_true(m1(&info_committed, "  name == p, kind==committed"));
}

static void test_errors(void **state) {
        (void) state;
        bad("name==", "expected value or quoted");
        bad("name==p,", "expected field or quoted");
        bad("name@p", "expected an operator");
        bad("name=p", "unsupported operator");
        bad("name===p", "unsupported operator");
        bad("name==/p/", "invalid quote encountered");
        bad("labels./k/", "invalid quote encountered");
        bad("name==\"p", "quoted literal not terminated");
        bad("name==\"\\q\"", "illegal escape sequence");
        bad("name==\"\\x4\"", "illegal numeric escape sequence");
        bad("name==p q", "unexpected input");
        /* containerd does not skip whitespace after a value either */
        bad("name==p ,kind==view", "unexpected input");
        bad("image~=,id?=?fbaq", "expected value or quoted");
        bad("name~=(", "invalid regular expression");
        /* what would make glibc's regcomp explode is refused up front */
        bad("name~=a++", "nested repetition");
        bad("name~=)+++++++++++++++++++++++", "nested repetition");
        bad("name~=/a{2}{3}/", "nested repetition");
        bad("name~=/a{1001}/", "repeat count");
        bad("name~=/((a{1000}){1000}){1000}/", "too large");
        /* linear, but slow per byte: glibc takes about 1 s on a 4 KiB value */
        bad("name~=/(.?){1000}b/", "too large");
        assert_true(m1(&info_active, "name~=/(.?){100}a-wl/"));
        /* RE2 (containerd's syntax) has no back-references, and glibc's
         * regexec backtracks exponentially on them */
        bad("name~=^(a*)*\\1$", "back-references");
        bad("name~=/(x)\\\\9/", "back-references");
        /* escapes RE2 reads differently from glibc (or rejects) are refused */
        bad("name~=a\\d", "escape");
        bad("name~=a\\q", "escape");
        bad("name~=\\<a", "escape");
        /* a bracket expression takes a backslash literally: no back-reference */
        assert_true(m1(&info_active, "name~=/^[\\\\1a-z\\/0-9-]+$/"));
        assert_true(m1(&info_active, "name~=/\\\\bdefault\\/1\\/a-wl\\\\b/"));
        assert_true(m1(&info_active, "name~=\\.*default"));
        /* the pattern's length is bounded */
        {
                char big[8200] = "name~=/";
                memset(big + 7, 'a', 8190);
                big[8197] = '/';
                big[8198] = '\0';
                bad(big, "too long");
        }
        bad(".name", "expected field or quoted");
        bad("name==\"a\\x00b\"", "unquoting failed");
        /* the position is reported, 1-based, with the filter's index */
        const char *fs[] = { "name==p", "kind@x" };
        sk_filter *f = NULL;
        char *err = NULL;
        assert_int_equal(sk_filter_parse(fs, 2, &f, &err), -EINVAL);
        assert_null(f);
        assert_non_null(err);
        assert_non_null(strstr(err, "filter 2, column 5:"));
        free(err);
        /* ret_error may be NULL */
        assert_int_equal(sk_filter_parse(fs, 2, &f, NULL), -EINVAL);
}

SK_TEST_MAIN(cmocka_unit_test(test_empty_matches_all), cmocka_unit_test(test_equal_not_equal),
             cmocka_unit_test(test_presence), cmocka_unit_test(test_quoted_keys),
             cmocka_unit_test(test_regexp), cmocka_unit_test(test_and_or), cmocka_unit_test(test_errors))
