/* container/k8s.c: what of a container's CRI labels becomes its Kubernetes
 * identity, and the checks hostile values meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/macro.h"
#include "container/k8s.h"
#include "container/record.h"
#include "tests/lib/testutil.h"

static void test_names(void **state _unused_) {
        assert_true(sk_k8s_name_valid("team-a"));
        assert_true(sk_k8s_name_valid("a"));
        assert_true(sk_k8s_name_valid("web-0.shard.1"));
        assert_false(sk_k8s_name_valid(""));
        assert_false(sk_k8s_name_valid(NULL));
        assert_false(sk_k8s_name_valid("Team"));    /* uppercase */
        assert_false(sk_k8s_name_valid("-a"));      /* must start alphanumeric */
        assert_false(sk_k8s_name_valid("a-"));
        assert_false(sk_k8s_name_valid("a/b"));
        assert_false(sk_k8s_name_valid("a b"));
        assert_false(sk_k8s_name_valid("a\nsnapkeep:k8s-pod=x"));
        assert_false(sk_k8s_name_valid("a\"b"));
        char long_name[300];
        memset(long_name, 'a', sizeof(long_name));
        long_name[253] = 0;
        assert_true(sk_k8s_name_valid(long_name));
        long_name[253] = 'a';
        long_name[254] = 0;
        assert_false(sk_k8s_name_valid(long_name));
}

static void test_labels(void **state _unused_) {
        assert_true(sk_k8s_label_valid("app", "web"));
        assert_true(sk_k8s_label_valid("app.kubernetes.io/name", "web_1.x-y"));
        assert_true(sk_k8s_label_valid("tier", ""));
        assert_false(sk_k8s_label_valid("", "x"));
        assert_false(sk_k8s_label_valid("/app", "x"));
        assert_false(sk_k8s_label_valid("Bad_Prefix/app", "x"));
        assert_false(sk_k8s_label_valid("a/b/c", "x"));
        assert_false(sk_k8s_label_valid("app", "-x"));
        assert_false(sk_k8s_label_valid("app", "x y"));
        assert_false(sk_k8s_label_valid("app", "x,y=z"));
        char v[80];
        memset(v, 'v', sizeof(v));
        v[63] = 0;
        assert_true(sk_k8s_label_valid("app", v));
        v[63] = 'v';
        v[64] = 0;
        assert_false(sk_k8s_label_valid("app", v));
}

static void test_identity_and_tags(void **state _unused_) {
        _cleanup_(sk_k8s_identity_clear) sk_k8s_identity id = {};
        assert_int_equal(sk_k8s_identity_take(&id, SK_CRI_LABEL_POD_NAMESPACE, "team-a"), 1);
        assert_int_equal(sk_k8s_identity_take(&id, SK_CRI_LABEL_POD_NAME, "pod1"), 1);
        assert_false(sk_k8s_identity_known(&id));
        /* A hostile value is dropped, not shortened: the identity stays unknown. */
        assert_int_equal(sk_k8s_identity_take(&id, SK_CRI_LABEL_CONTAINER_NAME, "c1\nsnapkeep:layer"), 0);
        assert_false(sk_k8s_identity_known(&id));
        assert_int_equal(sk_k8s_identity_take(&id, "io.kubernetes.other", "x"), 0);
        assert_int_equal(sk_k8s_identity_take(&id, SK_CRI_LABEL_CONTAINER_NAME, "c1"), 1);
        assert_true(sk_k8s_identity_known(&id));
        assert_false(id.sandbox);

        char bufs[3][300];
        const char *tags[3];
        assert_int_equal(sk_k8s_identity_tags(&id, bufs, tags), 3);
        assert_string_equal(tags[0], "snapkeep:k8s-namespace=team-a");
        assert_string_equal(tags[1], "snapkeep:k8s-pod=pod1");
        assert_string_equal(tags[2], "snapkeep:k8s-container=c1");

        /* A valid but long name would make a tag over SK_TAG_MAX: left out. */
        char long_name[254];
        memset(long_name, 'p', 253);
        long_name[253] = 0;
        assert_int_equal(sk_k8s_identity_take(&id, SK_CRI_LABEL_POD_NAME, long_name), 1);
        assert_int_equal(sk_k8s_identity_tags(&id, bufs, tags), 2);
        assert_string_equal(tags[1], "snapkeep:k8s-container=c1");
}

static void test_pod_labels(void **state _unused_) {
        _cleanup_(sk_k8s_identity_clear) sk_k8s_identity id = {};
        assert_int_equal(sk_k8s_identity_add_pod_label(&id, "app", "web"), 0);
        assert_int_equal(sk_k8s_identity_add_pod_label(&id, "io.kubernetes.pod.name", "p"), 0);  /* kubelet's own */
        assert_int_equal(sk_k8s_identity_add_pod_label(&id, "io.cri-containerd.kind", "sandbox"), 0);
        assert_int_equal(sk_k8s_identity_add_pod_label(&id, "bad key", "x"), 0);
        assert_int_equal(sk_k8s_identity_add_pod_label(&id, "app", "other"), 0); /* first one wins */
        assert_int_equal(id.n_pod_labels, 1);
        assert_string_equal(sk_k8s_identity_pod_label(&id, "app"), "web");
        assert_null(sk_k8s_identity_pod_label(&id, "tier"));
        /* Bounded: labels past SK_K8S_POD_LABELS_MAX are ignored. */
        for (int i = 0; i < 100; i++) {
                char k[16];
                snprintf(k, sizeof(k), "l%d", i);
                assert_int_equal(sk_k8s_identity_add_pod_label(&id, k, "v"), 0);
        }
        assert_int_equal(id.n_pod_labels, SK_K8S_POD_LABELS_MAX);

        sk_k8s_identity sb = {};
        assert_int_equal(sk_k8s_identity_take(&sb, SK_CRI_LABEL_KIND, "sandbox"), 1);
        assert_int_equal(sk_k8s_identity_take(&sb, SK_CRI_LABEL_POD_NAMESPACE, "ns"), 1);
        assert_int_equal(sk_k8s_identity_take(&sb, SK_CRI_LABEL_POD_NAME, "p"), 1);
        assert_true(sb.sandbox);
        assert_true(sk_k8s_identity_known(&sb));
        sk_k8s_identity_clear(&sb);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_labels),
                cmocka_unit_test(test_identity_and_tags),
                cmocka_unit_test(test_pod_labels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
