/* container/image-config.c: the image documents recorded with a container
 * backup, and the image --as-image makes of them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "common/macro.h"
#include "container/image-config.h"
#include "tests/lib/testutil.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static void sha(const char *s, char out[SK_OCI_DIGEST_MAX + 1]) {
        unsigned char h[32];
        unsigned int n = 0;
        EVP_Digest(s, strlen(s), h, &n, EVP_sha256(), NULL);
        strcpy(out, "sha256:");
        for (int i = 0; i < 32; i++)
                sprintf(out + 7 + 2 * i, "%02x", h[i]);
}

static void test_digest(void **state _unused_) {
        char d[SK_OCI_DIGEST_MAX + 1];
        sha("abc", d);
        assert_true(sk_oci_digest_valid(d, "abc", 3));
        assert_false(sk_oci_digest_valid(d, "abd", 3));
        assert_true(sk_oci_digest_valid(D1, NULL, 0));
        assert_false(sk_oci_digest_valid("sha512:11", NULL, 0));
        assert_false(sk_oci_digest_valid("sha256:ABCD111111111111111111111111111111111111111111111111111111111111", NULL, 0));
        assert_false(sk_oci_digest_valid("sha256:111", NULL, 0));
        assert_false(sk_oci_digest_valid(NULL, NULL, 0));
}

static void test_chain(void **state _unused_) {
        /* OCI image spec: ChainID(L0) = DiffID(L0); ChainID(L0..n) =
         * SHA256(ChainID(L0..n-1) + " " + DiffID(Ln)). */
        char c[SK_OCI_DIGEST_MAX + 1], want[SK_OCI_DIGEST_MAX + 1];
        sk_oci_chain_next(NULL, D1, c);
        assert_string_equal(c, D1);
        sk_oci_chain_next(D1, D2, c);
        sha(D1 " " D2, want);
        assert_string_equal(c, want);

        const char *cfg = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
        char **v = NULL;
        size_t n = 0;
        assert_int_equal(sk_oci_config_chain_ids(cfg, strlen(cfg), &v, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0], D1);
        assert_string_equal(v[1], want);
        sk_oci_strv_free(v, n);

        /* Hostile documents: wrong types, bad digests, not JSON, too big. */
        const char *bad[] = {
                "{\"rootfs\":{\"diff_ids\":[\"sha256:zz\"]}}",
                "{\"rootfs\":{\"diff_ids\":[1]}}",
                "{\"rootfs\":{\"diff_ids\":\"" D1 "\"}}",
                "{\"rootfs\":[]}",
                "[]",
                "not json",
                "{\"a\":1,\"a\":2}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(sk_oci_config_chain_ids(bad[i], strlen(bad[i]), &v, &n), -EBADMSG);
        char *big = malloc(SK_IMAGE_BLOB_MAX + 2);
        memset(big, ' ', SK_IMAGE_BLOB_MAX + 1);
        big[0] = '{';
        big[SK_IMAGE_BLOB_MAX] = '}';
        assert_int_equal(sk_oci_config_chain_ids(big, SK_IMAGE_BLOB_MAX + 1, &v, &n), -EBADMSG);
        free(big);
}

static void test_index(void **state _unused_) {
        const char *idx = "{\"schemaVersion\":2,\"manifests\":["
                          "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
                          "\",\"size\":10,\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
                          "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2
                          "\",\"size\":20,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                          "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3
                          "\",\"size\":30,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
        sk_oci_desc d;
        assert_int_equal(sk_oci_index_pick(idx, strlen(idx), &d), 0);
#if defined(__x86_64__)
        assert_string_equal(d.digest, D2);
        assert_int_equal(d.size, 20);
#endif
        const char *none = "{\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1
                           "\",\"size\":1,\"platform\":{\"os\":\"plan9\",\"architecture\":\"amd64\"}}]}";
        assert_int_equal(sk_oci_index_pick(none, strlen(none), &d), -ENOENT);
        const char *neg = "{\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
                          "\",\"size\":-1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
#if defined(__x86_64__)
        assert_int_equal(sk_oci_index_pick(neg, strlen(neg), &d), -EBADMSG);
#endif
        (void) neg;
}

static void test_add_layer(void **state _unused_) {
        const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/app\"],"
                          "\"Env\":[\"A=1\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]},"
                          "\"history\":[{\"created_by\":\"base\"}]}";
        const char *man = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                          "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" D3
                          "\",\"size\":5},\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
                          "\"digest\":\"" D2 "\",\"size\":7}]}";
        sk_oci_new_image img = {};
        assert_int_equal(sk_oci_image_add_layer(cfg, strlen(cfg), man, strlen(man), D3, 4096, 0, "test", &img), 0);
        /* The config keeps what it had and gains the layer and history. */
        assert_non_null(strstr(img.config, "\"Cmd\":[\"/bin/app\"]"));
        assert_non_null(strstr(img.config, "\"diff_ids\":[\"" D1 "\",\"" D3 "\"]"));
        assert_non_null(strstr(img.config, "\"created_by\":\"test\""));
        assert_true(sk_oci_digest_valid(img.config_desc.digest, img.config, img.config_len));
        assert_string_equal(img.config_desc.media_type, "application/vnd.docker.container.image.v1+json");
        /* The manifest: new config, old layer kept, new uncompressed layer. */
        assert_true(sk_oci_digest_valid(img.manifest_desc.digest, img.manifest, img.manifest_len));
        assert_string_equal(img.manifest_desc.media_type, "application/vnd.docker.distribution.manifest.v2+json");
        assert_non_null(strstr(img.manifest, img.config_desc.digest));
        assert_non_null(strstr(img.manifest, "\"digest\":\"" D2 "\""));
        assert_non_null(strstr(img.manifest, "\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\","
                                             "\"digest\":\"" D3 "\",\"size\":4096"));
        char **v = NULL;
        size_t n = 0;
        assert_int_equal(sk_oci_manifest_layer_digests(img.manifest, img.manifest_len, &v, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[1], D3);
        sk_oci_strv_free(v, n);
        char **chains = NULL;
        assert_int_equal(sk_oci_config_chain_ids(img.config, img.config_len, &chains, &n), 0);
        assert_int_equal(n, 2);
        sk_oci_strv_free(chains, n);
        sk_oci_new_image_clear(&img);

        /* diff_ids and layers that disagree in number: refused. */
        const char *cfg2 = "{\"rootfs\":{\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
        assert_int_equal(sk_oci_image_add_layer(cfg2, strlen(cfg2), man, strlen(man), D3, 1, 0, "t", &img), -EBADMSG);
        assert_int_equal(sk_oci_image_add_layer(cfg, strlen(cfg), man, strlen(man), "sha256:x", 1, 0, "t", &img),
                         -EBADMSG);
        assert_int_equal(sk_oci_image_add_layer(cfg, strlen(cfg), "{}", 2, D3, 1, 0, "t", &img), -EBADMSG);
        /* A "manifest" that says it is an index cannot become an image's target. */
        const char *idx = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                          "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D3 "\",\"size\":5},\"layers\":[{"
                          "\"mediaType\":\"x\",\"digest\":\"" D2 "\",\"size\":7}]}";
        assert_int_equal(sk_oci_image_add_layer(cfg, strlen(cfg), idx, strlen(idx), D3, 1, 0, "t", &img), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_digest),
                cmocka_unit_test(test_chain),
                cmocka_unit_test(test_index),
                cmocka_unit_test(test_add_layer),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
