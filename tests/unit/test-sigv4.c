/* SigV4 signer against the published AWS examples: the S3 documentation's
 * "GET Object" example (range request, known canonical request hash and
 * signature) and the signature test suite's get-vanilla and
 * get-vanilla-query-order-key-case cases; plus URI/query encoding rules that
 * a real S3 server (radosgw) enforces: RFC 3986, '~' kept, %20 for space,
 * sorted query, "key=" for empty values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/sigv4.h"
#include "tests/lib/testutil.h"

static void test_uri_encode(void **state) {
        (void) state;
        static const struct {
                const char *in;
                bool keep_slash;
                const char *want;
        } cases[] = {
                { "a b~c-_.Z9/x+y=z&%", false, "a%20b~c-_.Z9%2Fx%2By%3Dz%26%25" },
                { "data/ab/ab12 3", true, "data/ab/ab12%203" },
                /* bytes >= 0x80 are encoded byte by byte, uppercase hex */
                { "\xe1\x88\xb4", true, "%E1%88%B4" },
                { "", false, "" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *s;
                assert_int_equal(sk_sigv4_uri_encode(cases[i].in, cases[i].keep_slash, &s), 0);
                assert_string_equal(s, cases[i].want);
                free(s);
        }
}

static void test_canonical_query(void **state) {
        (void) state;
        char *s;
        sk_sigv4_pair q[] = {
                { "prefix", "locks/" },
                { "list-type", "2" },
                { "continuation-token", "1/a b+c~" },
                { "uploads", NULL },
                { "A", "" },
        };
        assert_int_equal(sk_sigv4_canonical_query(q, 5, &s), 0);
        /* sorted by byte value: uppercase first; empty values keep '=' */
        assert_string_equal(s, "A=&continuation-token=1%2Fa%20b%2Bc~&list-type=2&prefix=locks%2F&uploads=");
        free(s);
        assert_int_equal(sk_sigv4_canonical_query(NULL, 0, &s), 0);
        assert_string_equal(s, "");
        free(s);
        /* same name: sorted by value */
        sk_sigv4_pair d[] = { { "k", "b" }, { "k", "a" } };
        assert_int_equal(sk_sigv4_canonical_query(d, 2, &s), 0);
        assert_string_equal(s, "k=a&k=b");
        free(s);
}

static void test_signing_key(void **state) {
        (void) state;
        /* AWS documentation "Derive a signing key" example. */
        uint8_t k[32];
        char hex[65];
        assert_int_equal(sk_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam",
                                              k),
                         0);
        for (int i = 0; i < 32; i++)
                sprintf(hex + 2 * i, "%02x", k[i]);
        assert_string_equal(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

/* The S3 documentation's GET Object example (first 10 bytes of test.txt). */
static void test_s3_get_object_example(void **state) {
        (void) state;
        sk_sigv4_pair h[] = {
                { "Host", "examplebucket.s3.amazonaws.com" },
                { "Range", "bytes=0-9" },
                { "x-amz-content-sha256", SK_SIGV4_EMPTY_SHA256 },
                { "x-amz-date", "20130524T000000Z" },
        };
        sk_sigv4_request rq = {
                .method = "GET", .canonical_uri = "/test.txt", .canonical_query = "",
                .headers = h, .n_headers = 4, .payload_hash = SK_SIGV4_EMPTY_SHA256,
                .amz_date = "20130524T000000Z", .region = "us-east-1", .service = "s3",
        };
        char *creq, *signed_headers, *sts, *auth, *sig;
        assert_int_equal(sk_sigv4_canonical_request(&rq, &creq, &signed_headers), 0);
        assert_string_equal(creq, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                                  "x-amz-content-sha256:" SK_SIGV4_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
                                  "host;range;x-amz-content-sha256;x-amz-date\n" SK_SIGV4_EMPTY_SHA256);
        assert_string_equal(signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
        assert_int_equal(sk_sigv4_string_to_sign(&rq, creq, &sts), 0);
        assert_string_equal(sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                                 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
        assert_int_equal(sk_sigv4_authorization(&rq, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                                &auth, &sig),
                         0);
        assert_string_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
        assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                                  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                                  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
        /* a changed secret or header changes the signature */
        free(auth);
        free(sig);
        assert_int_equal(sk_sigv4_authorization(&rq, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ",
                                                &auth, &sig),
                         0);
        assert_string_not_equal(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
        free(creq);
        free(signed_headers);
        free(sts);
        free(auth);
        free(sig);
}

static char *vanilla(const sk_sigv4_pair *q, size_t nq, const sk_sigv4_pair *h, size_t nh) {
        char *query, *sig, *auth;
        assert_int_equal(sk_sigv4_canonical_query(q, nq, &query), 0);
        sk_sigv4_request rq = {
                .method = "GET", .canonical_uri = "/", .canonical_query = query, .headers = h, .n_headers = nh,
                .payload_hash = SK_SIGV4_EMPTY_SHA256, .amz_date = "20150830T123600Z", .region = "us-east-1",
                .service = "service",
        };
        assert_int_equal(sk_sigv4_authorization(&rq, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &auth,
                                                &sig),
                         0);
        free(query);
        free(auth);
        return sig;
}

/* Signature test suite: get-vanilla and get-vanilla-query-order-key-case. */
static void test_get_vanilla(void **state) {
        (void) state;
        /* header names in mixed case and unsorted: canonicalisation must fix both */
        sk_sigv4_pair h[] = { { "X-Amz-Date", "20150830T123600Z" }, { "Host", "  example.amazonaws.com " } };
        char *sig = vanilla(NULL, 0, h, 2);
        assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        free(sig);
        sk_sigv4_pair q[] = { { "Param2", "value2" }, { "Param1", "value1" } };
        sig = vanilla(q, 2, h, 2);
        assert_string_equal(sig, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
        free(sig);
}

static void test_header_trim_and_reject(void **state) {
        (void) state;
        sk_sigv4_pair h[] = { { "My-Header", "  a   b \t c  " } };
        sk_sigv4_request rq = {
                .method = "PUT", .canonical_uri = "/b/k", .canonical_query = "", .headers = h, .n_headers = 1,
                .payload_hash = "UNSIGNED-PAYLOAD", .amz_date = "20150830T123600Z", .region = "r", .service = "s3",
        };
        char *creq;
        assert_int_equal(sk_sigv4_canonical_request(&rq, &creq, NULL), 0);
        assert_string_equal(creq, "PUT\n/b/k\n\nmy-header:a b c\n\nmy-header\nUNSIGNED-PAYLOAD");
        free(creq);
        sk_sigv4_pair bad[] = { { "X", "a\r\nInjected: 1" } };
        rq.headers = bad;
        assert_int_equal(sk_sigv4_canonical_request(&rq, &creq, NULL), -EINVAL);
        rq.headers = h;
        rq.amz_date = "2015-08-30";
        assert_int_equal(sk_sigv4_canonical_request(&rq, &creq, NULL), -EINVAL);
}

SK_TEST_MAIN(cmocka_unit_test(test_uri_encode), cmocka_unit_test(test_canonical_query),
             cmocka_unit_test(test_signing_key), cmocka_unit_test(test_s3_get_object_example),
             cmocka_unit_test(test_get_vanilla), cmocka_unit_test(test_header_trim_and_reject))
