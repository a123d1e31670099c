/* auto/k8s-cache.c: each container asked about once, a missing container
 * asked again later, failures never kept, entries dropped with their
 * snapshot. containerd is a stub here (a unit test; the real one is in
 * tests/integration/test-cri.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auto/k8s-cache.h"
#include "common/macro.h"
#include "tests/lib/testutil.h"

typedef struct stub {
        int calls;
        int answer; /* what the next call returns */
        char last_ns[64], last_name[64];
} stub;

static int identify(const char *ns, const char *name, sk_k8s_identity *ret, char **ret_error, void *userdata) {
        stub *s = userdata;
        s->calls++;
        snprintf(s->last_ns, sizeof(s->last_ns), "%s", ns);
        snprintf(s->last_name, sizeof(s->last_name), "%s", name);
        if (s->answer == 1) {
                sk_k8s_identity_take(ret, SK_CRI_LABEL_POD_NAMESPACE, "team-a");
                sk_k8s_identity_take(ret, SK_CRI_LABEL_POD_NAME, "web-0");
                sk_k8s_identity_take(ret, SK_CRI_LABEL_CONTAINER_NAME, "app");
                sk_k8s_identity_add_pod_label(ret, "app", "web");
        }
        if (s->answer < 0 && s->answer != -ENOENT && ret_error)
                *ret_error = strdup("containerd is down");
        return s->answer;
}

static void test_cache(void **state _unused_) {
        stub s = { .answer = 1 };
        _cleanup_(sk_k8s_cache_freep) sk_k8s_cache *c = NULL;
        assert_int_equal(sk_k8s_cache_new(identify, &s, &c), 0);

        /* Without ask nothing is called: the key is reported missing. */
        bool missing = false;
        assert_null(sk_k8s_cache_get(c, "k8s.io/3/abc", false, &missing, NULL));
        assert_true(missing);
        assert_int_equal(s.calls, 0);

        const sk_k8s_identity *id = sk_k8s_cache_get(c, "k8s.io/3/abc", true, NULL, NULL);
        assert_non_null(id);
        assert_string_equal(id->pod, "web-0");
        assert_string_equal(s.last_ns, "k8s.io");
        assert_string_equal(s.last_name, "abc");
        /* Kept: asked once only, with or without ask. */
        missing = false;
        assert_non_null(sk_k8s_cache_get(c, "k8s.io/3/abc", false, &missing, NULL));
        assert_false(missing);
        assert_non_null(sk_k8s_cache_get(c, "k8s.io/3/abc", true, NULL, NULL));
        assert_int_equal(s.calls, 1);

        /* "Not a pod" is kept too. */
        s.answer = 0;
        assert_null(sk_k8s_cache_get(c, "default/4/plain", true, NULL, NULL));
        missing = false;
        assert_null(sk_k8s_cache_get(c, "default/4/plain", false, &missing, NULL));
        assert_false(missing);
        assert_int_equal(s.calls, 2);

        /* A failure is not kept: the next scan asks again. */
        s.answer = -ENOTCONN;
        _cleanup_free_ char *err = NULL;
        assert_null(sk_k8s_cache_get(c, "k8s.io/5/down", true, NULL, &err));
        assert_non_null(err);
        missing = false;
        assert_null(sk_k8s_cache_get(c, "k8s.io/5/down", false, &missing, NULL));
        assert_true(missing);

        /* No container yet: kept, but due for another look later. */
        s.answer = -ENOENT;
        int before = s.calls;
        assert_null(sk_k8s_cache_get(c, "k8s.io/6/early", true, NULL, NULL));
        missing = false;
        assert_null(sk_k8s_cache_get(c, "k8s.io/6/early", false, &missing, NULL));
        assert_false(missing); /* not before SK_K8S_CACHE_RECHECK seconds */
        assert_int_equal(s.calls, before + 1);

        /* Sweep: what a scan did not see goes. */
        sk_k8s_cache_begin(c);
        s.answer = 1;
        assert_non_null(sk_k8s_cache_get(c, "k8s.io/3/abc", false, NULL, NULL));
        sk_k8s_cache_sweep(c);
        missing = false;
        assert_null(sk_k8s_cache_get(c, "default/4/plain", false, &missing, NULL));
        assert_true(missing); /* forgotten, so to be asked again */
        assert_non_null(sk_k8s_cache_get(c, "k8s.io/3/abc", false, NULL, NULL));

        /* A key without a namespace is never asked about. */
        before = s.calls;
        assert_null(sk_k8s_cache_get(c, "nonamespace", true, NULL, NULL));
        assert_int_equal(s.calls, before);
}

int main(void) {
        const struct CMUnitTest tests[] = { cmocka_unit_test(test_cache) };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
