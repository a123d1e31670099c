/* Unit tests for cli/json.c (the CLI's JSON writer and byte-string helpers)
 * and the CLI's size parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "cli/json.h"
#include "tests/lib/testutil.h"

/* Run fn against a writer on a memory stream and return what it wrote. */
/* What fn writes is exactly want. */
static void expect_json(void (*fn)(sk_json *j), const char *want) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        sk_json j = SK_JSON_INIT(f);
        fn(&j);
        fclose(f);
        assert_string_equal(buf, want);
        free(buf);
}

static void write_object(sk_json *j) {
        sk_json_begin_object(j);
        sk_json_kv_str(j, "a", "x\"y\\z\n");
        sk_json_kv_u64(j, "n", 18446744073709551615ull);
        sk_json_key(j, "list");
        sk_json_begin_array(j);
        sk_json_i64(j, -5);
        sk_json_bool(j, true);
        sk_json_null(j);
        sk_json_begin_object(j);
        sk_json_end_object(j);
        sk_json_end_array(j);
        sk_json_kv_str(j, "none", NULL);
        sk_json_end_object(j);
}

static void test_structure(void **state) {
        (void) state;
        expect_json(write_object, "{\"a\":\"x\\\"y\\\\z\\n\",\"n\":18446744073709551615,"
                                  "\"list\":[-5,true,null,{}],\"none\":null}\n");
}

static void write_paths(sk_json *j) {
        sk_json_begin_object(j);
        sk_json_path(j, "ok", "caf\xc3\xa9/\xe5\x90\x8d");
        sk_json_path(j, "bad", "x\xff\xfe\x01");
        sk_json_end_object(j);
}

static void test_non_utf8(void **state) {
        (void) state;
        /* Valid UTF-8 passes through without a _base64 sibling; invalid bytes
         * become the character U+00XX (the JSON string "\u00ff\u00fe" written
         * unescaped, as jansson writes it) and the exact bytes follow in base64. */
        expect_json(write_paths, "{\"ok\":\"caf\xc3\xa9/\xe5\x90\x8d\","
                                 "\"bad\":\"x\xc3\xbf\xc3\xbe\\u0001\",\"bad_base64\":\"eP/+AQ==\"}\n");
}

static void test_utf8_valid(void **state) {
        (void) state;
        assert_true(sk_utf8_valid("plain", 5));
        assert_true(sk_utf8_valid("\xf0\x9f\x98\x80", 4));      /* U+1F600 */
        assert_false(sk_utf8_valid("\xc0\xaf", 2));             /* overlong '/' */
        assert_false(sk_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
        assert_false(sk_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
        assert_false(sk_utf8_valid("\xe5\x90", 2));             /* truncated */
        assert_false(sk_utf8_valid("\x80", 1));                 /* lone continuation */
}

static void test_base64(void **state) {
        (void) state;
        const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
        const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                char *b = sk_base64(in[i], strlen(in[i]));
                assert_string_equal(b, want[i]);
                free(b);
        }
}

static void test_time(void **state) {
        (void) state;
        char buf[64];
        struct timespec ts = { .tv_sec = 1795272390, .tv_nsec = 5 };
        sk_format_time(buf, sizeof(buf), &ts);
        assert_string_equal(buf, "2026-11-21T14:46:30.000000005Z");
}

static void test_parse_size(void **state) {
        (void) state;
        uint64_t v;
        assert_int_equal(sk_cli_parse_size("512K", &v), 0);
        assert_int_equal(v, 512 * 1024);
        assert_int_equal(sk_cli_parse_size("16MiB", &v), 0);
        assert_int_equal(v, 16u << 20);
        assert_int_equal(sk_cli_parse_size("1G", &v), 0);
        assert_int_equal(v, 1u << 30);
        assert_int_equal(sk_cli_parse_size("4096", &v), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(sk_cli_parse_size("-1", &v), -EINVAL);
        assert_int_equal(sk_cli_parse_size("12X", &v), -EINVAL);
        assert_int_equal(sk_cli_parse_size("", &v), -EINVAL);
        assert_int_equal(sk_cli_parse_size("99999999999999999999", &v), -EINVAL);
        assert_int_equal(sk_cli_parse_u64("7", &v), 0);
        assert_int_equal(v, 7);
        assert_int_equal(sk_cli_parse_u64("7k", &v), -EINVAL);
}

SK_TEST_MAIN(cmocka_unit_test(test_structure), cmocka_unit_test(test_non_utf8),
             cmocka_unit_test(test_utf8_valid), cmocka_unit_test(test_base64), cmocka_unit_test(test_time),
             cmocka_unit_test(test_parse_size))
