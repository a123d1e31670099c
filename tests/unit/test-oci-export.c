/* oci-export: image reference normalisation (the archive itself is tested
 * end to end by tests/integration/test-containers-offline.sh). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "container/oci-export.h"
#include "tests/lib/testutil.h"

static void test_normalize(void **state) {
        (void) state;
        static const struct {
                const char *in, *out;
        } ok[] = {
                { "busybox", "docker.io/library/busybox:latest" },
                { "busybox:1.36", "docker.io/library/busybox:1.36" },
                { "me/app:v1", "docker.io/me/app:v1" },
                { "docker.io/me/app", "docker.io/me/app:latest" },
                { "registry.local:5000/a/b:c", "registry.local:5000/a/b:c" },
                { "localhost/x:y", "localhost/x:y" },
        };
        char buf[512];
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                assert_int_equal(sk_oci_normalize_ref(ok[i].in, buf, sizeof(buf)), 0);
                assert_string_equal(buf, ok[i].out);
        }
        static const char *const bad[] = { "", "a b", "x@sha256:00", "/x", "x/", "x:", "a\"b", "a\nb" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(sk_oci_normalize_ref(bad[i], buf, sizeof(buf)), -EINVAL);
        assert_int_equal(sk_oci_normalize_ref("busybox", buf, 10), -EINVAL);
}

SK_TEST_MAIN(cmocka_unit_test(test_normalize))
