/* Which snapkeep labels a client may send, and when a restore label counts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/macro.h"
#include "container/capture.h"
#include "plugin/labelpolicy.h"
#include "tests/lib/testutil.h"

#define FULL_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int check(const char *key, const char *sel, unsigned allowed) {
        const char *why = NULL;
        int r = sk_restore_request_check(key, sel, allowed, &why);
        if (r < 0)
                assert_non_null(why);
        return r;
}

static void test_unpack_keys(void **state _unused_) {
        /* containerd 1.6 unpacker: "extract-%s %s" under the metadata prefix */
        assert_true(sk_key_is_unpack("default/7/extract-1700000000000000000-AbCd sha256:0123"));
        assert_true(sk_key_is_unpack("k8s.io/12/extract-1-x sha256:ab"));
        assert_true(sk_key_is_unpack("extract-1-x sha256:ab"));
        /* a space anywhere in the name: not a container id */
        assert_true(sk_key_is_unpack("default/3/web 1"));
        assert_false(sk_key_is_unpack("default/3/web1"));
        assert_false(sk_key_is_unpack("default/3/my-extract-1"));
        assert_false(sk_key_is_unpack("default/3/a/b"));
}

static void test_restore_requests(void **state _unused_) {
        const unsigned all = SK_RESTORE_ALLOW_LATEST | SK_RESTORE_ALLOW_PREFIX;
        /* a full id on a container's key: always */
        assert_int_equal(check("default/3/web1", FULL_ID, 0), 0);
        /* never on an unpack key, whatever the configuration */
        assert_int_equal(check("default/7/extract-1-x sha256:ab", FULL_ID, all), -EINVAL);
        assert_int_equal(check("default/7/extract-1-x sha256:ab", "latest", all), -EINVAL);
        /* latest and prefixes only when allowed */
        assert_int_equal(check("default/3/web1", "latest", 0), -EINVAL);
        assert_int_equal(check("default/3/web1", "latest", SK_RESTORE_ALLOW_LATEST), 0);
        /* a container selector is a "latest" selector: allowed only with latest */
        assert_int_equal(check("default/3/web1", "latest:default/web1", 0), -EINVAL);
        assert_int_equal(check("default/3/web1", "latest:default/web1", SK_RESTORE_ALLOW_LATEST), 0);
        assert_int_equal(check("default/3/web1", "latest:node-1:default/web1", SK_RESTORE_ALLOW_LATEST), 0);
        assert_int_equal(check("default/3/web1", "latest:web1", SK_RESTORE_ALLOW_LATEST), 0);
        assert_int_equal(check("default/3/web1", "latest:", SK_RESTORE_ALLOW_LATEST), -EINVAL);
        assert_int_equal(check("default/3/web1", "latest:a/b/c", SK_RESTORE_ALLOW_LATEST), -EINVAL);
        assert_int_equal(check("default/3/web1", "latest:we b", SK_RESTORE_ALLOW_LATEST), -EINVAL);
        assert_int_equal(check("default/3/web1", "latest:h:n/", SK_RESTORE_ALLOW_LATEST), -EINVAL);
        assert_int_equal(check("default/3/web1", "latest:x:y:z", SK_RESTORE_ALLOW_LATEST), -EINVAL);
        assert_int_equal(check("default/7/extract-1-x sha256:ab", "latest:default/web1", SK_RESTORE_ALLOW_LATEST),
                         -EINVAL);
        assert_int_equal(check("default/3/web1", "0123", 0), -EINVAL);
        assert_int_equal(check("default/3/web1", "0123", SK_RESTORE_ALLOW_LATEST), -EINVAL);
        assert_int_equal(check("default/3/web1", "0123", SK_RESTORE_ALLOW_PREFIX), 0);
        /* garbage never */
        assert_int_equal(check("default/3/web1", "012", all), -EINVAL);
        assert_int_equal(check("default/3/web1", "LATEST", all), -EINVAL);
        assert_int_equal(check("default/3/web1", FULL_ID "0", all), -EINVAL);
        assert_int_equal(check("default/3/web1", "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 0),
                         -EINVAL);
}

static void test_daemon_owned(void **state _unused_) {
        sk_label ok[] = { { (char *) "containerd.io/gc.root", (char *) "x" },
                          { (char *) SK_LABEL_RESTORE, (char *) FULL_ID },
                          { (char *) SK_LABEL_SNAPSHOT_REF, (char *) "sha256:ab" } };
        assert_null(sk_labels_daemon_owned(ok, ARRAY_SIZE(ok)));
        const char *owned[] = { SK_LABEL_RESTORING, SK_LABEL_BACKUP, SK_LABEL_BACKUP_TIME, SK_LABEL_LAYER_BACKUP };
        for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
                /* an empty value (a delete in Update) counts too */
                sk_label l[] = { ok[0], { (char *) owned[i], (char *) "" } };
                const char *bad = sk_labels_daemon_owned(l, ARRAY_SIZE(l));
                assert_non_null(bad);
                assert_string_equal(bad, owned[i]);
        }
}

static void test_selectors_parse(void **state _unused_) {
        unsigned a = 99;
        assert_int_equal(sk_restore_selectors_parse("", &a), 0);
        assert_int_equal(a, 0);
        assert_int_equal(sk_restore_selectors_parse("none", &a), 0);
        assert_int_equal(a, 0);
        assert_int_equal(sk_restore_selectors_parse("latest", &a), 0);
        assert_int_equal(a, SK_RESTORE_ALLOW_LATEST);
        assert_int_equal(sk_restore_selectors_parse(" prefix,latest ", &a), 0);
        assert_int_equal(a, SK_RESTORE_ALLOW_LATEST | SK_RESTORE_ALLOW_PREFIX);
        a = 7;
        assert_int_equal(sk_restore_selectors_parse("latest,all", &a), -EINVAL);
        assert_int_equal(a, 7);
        assert_int_equal(sk_restore_selectors_parse("latestx", &a), -EINVAL);
}

SK_TEST_MAIN(cmocka_unit_test(test_unpack_keys), cmocka_unit_test(test_restore_requests),
             cmocka_unit_test(test_daemon_owned), cmocka_unit_test(test_selectors_parse))
