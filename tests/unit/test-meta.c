/* container/meta.c: snapkeep-container.json as FORMAT.md 7a describes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/macro.h"
#include "container/meta.h"
#include "tests/lib/testutil.h"

#define CHAIN1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define ID1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void expect_json(const sk_container_meta *m, const char *want) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        assert_int_equal(sk_container_meta_json(m, &buf, &len), 0);
        if (len != strlen(want) || memcmp(buf, want, len) != 0)
                fail_msg("got:\n%.*s\nwant:\n%s", (int) len, buf, want);
}

static void test_layer(void **state _unused_) {
        sk_container_layer layers[1] = { { CHAIN1, ID1 } };
        sk_container_record rec = { .committed = true, .snapshot = "default/4/" CHAIN1, .chain_id = CHAIN1,
                                    .layers = layers, .n_layers = 1 };
        const char *labels[] = { "containerd.io/snapshot.ref", CHAIN1, "q\"uote", "back\\slash\n" };
        const char *snaps[] = { "default/2/base" };
        sk_container_meta m = { .record = &rec, .parent = "default/2/base", .time = "2026-01-02T03:04:05Z",
                                .labels = labels, .n_labels = 2, .layer_snapshots = snaps };
        expect_json(&m, "{\n"
                        "  \"version\": 1,\n"
                        "  \"kind\": \"committed\",\n"
                        "  \"snapshot\": \"default/4/" CHAIN1 "\",\n"
                        "  \"namespace\": \"default\",\n"
                        "  \"name\": \"" CHAIN1 "\",\n"
                        "  \"parent\": \"default/2/base\",\n"
                        "  \"chain_id\": \"" CHAIN1 "\",\n"
                        "  \"time\": \"2026-01-02T03:04:05Z\",\n"
                        "  \"labels\": {\n"
                        "    \"containerd.io/snapshot.ref\": \"" CHAIN1 "\",\n"
                        "    \"q\\\"uote\": \"back\\\\slash\\u000a\"\n"
                        "  },\n"
                        "  \"layers\": [\n"
                        "    {\"chain_id\": \"" CHAIN1 "\", \"backup_id\": \"" ID1 "\", \"snapshot\": \"default/2/base\"}\n"
                        "  ]\n"
                        "}\n");
}

/* A key that is not NS/N/NAME, no parent, no labels or layers, and bytes
 * that are not UTF-8: still valid JSON. */
static void test_active_odd_key(void **state _unused_) {
        sk_container_record rec = { .snapshot = "plain\xff\xc3\xa9\xc3" };
        sk_container_meta m = { .record = &rec, .time = "t" };
        expect_json(&m, "{\n"
                        "  \"version\": 1,\n"
                        "  \"kind\": \"active\",\n"
                        "  \"snapshot\": \"plain\\u00ff\xc3\xa9\\u00c3\",\n"
                        "  \"namespace\": \"\",\n"
                        "  \"name\": \"plain\\u00ff\xc3\xa9\\u00c3\",\n"
                        "  \"parent\": \"\",\n"
                        "  \"chain_id\": \"\",\n"
                        "  \"time\": \"t\",\n"
                        "  \"labels\": {},\n"
                        "  \"layers\": []\n"
                        "}\n");
}

SK_TEST_MAIN(cmocka_unit_test(test_layer), cmocka_unit_test(test_active_odd_key))
