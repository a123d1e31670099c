/* S3 backend configuration without a server: environment parsing, the AWS
 * credentials file (profiles, "profile " prefix, comments, precedence of the
 * environment), refusal of bad values, and URL validation (which fails before
 * any request is made). Requests against a real radosgw are covered by
 * tests/integration/test-s3-*.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/backend-s3.h"
#include "common/fsutil.h"
#include "tests/lib/testutil.h"

static const char *vars[] = {
        "SNAPKEEP_S3_ENDPOINT", "SNAPKEEP_S3_REGION", "SNAPKEEP_S3_STYLE", "SNAPKEEP_S3_CONNECTIONS",
        "SNAPKEEP_S3_RETRY_SECONDS", "SNAPKEEP_S3_MULTIPART_THRESHOLD", "SNAPKEEP_S3_PART_SIZE",
        "SNAPKEEP_S3_READAHEAD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_REGION", "HOME",
};

static char *dir;

static int setup(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
                unsetenv(vars[i]);
        dir = sk_test_mkdtemp("sk-s3cfg");
        return dir ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        sk_rm_rf(dir);
        free(dir);
        return 0;
}

static void write_creds(const char *text) {
        char path[512];
        snprintf(path, sizeof(path), "%s/credentials", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
}

static void test_env_defaults(void **state) {
        (void) state;
        sk_s3_config c;
        setenv("AWS_ACCESS_KEY_ID", "AK", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
        assert_int_equal(sk_s3_config_from_env(&c), 0);
        assert_string_equal(c.endpoint, "https://s3.amazonaws.com");
        assert_string_equal(c.region, "us-east-1");
        assert_true(c.virtual_host);            /* AWS default */
        assert_int_equal(c.connections, 8);
        assert_int_equal(c.multipart_threshold, 64u << 20);
        assert_string_equal(c.access_key, "AK");
        assert_string_equal(c.secret_key, "SK");
        assert_null(c.session_token);
        sk_s3_config_done(&c);

        setenv("SNAPKEEP_S3_ENDPOINT", "http://127.0.0.1:7480", 1);
        setenv("SNAPKEEP_S3_CONNECTIONS", "3", 1);
        setenv("SNAPKEEP_S3_PART_SIZE", "8M", 1);
        setenv("AWS_REGION", "eu-west-1", 1);
        setenv("AWS_SESSION_TOKEN", "TOK", 1);
        assert_int_equal(sk_s3_config_from_env(&c), 0);
        assert_false(c.virtual_host);           /* explicit endpoint: path style */
        assert_string_equal(c.region, "eu-west-1");
        assert_int_equal(c.connections, 3);
        assert_int_equal(c.part_size, 8u << 20);
        assert_string_equal(c.session_token, "TOK");
        sk_s3_config_done(&c);

        setenv("SNAPKEEP_S3_STYLE", "virtual", 1);
        setenv("SNAPKEEP_S3_REGION", "default", 1);
        assert_int_equal(sk_s3_config_from_env(&c), 0);
        assert_true(c.virtual_host);
        assert_string_equal(c.region, "default");  /* SNAPKEEP_S3_REGION wins over AWS_REGION */
        sk_s3_config_done(&c);
}

static void test_bad_values(void **state) {
        (void) state;
        sk_s3_config c;
        setenv("AWS_ACCESS_KEY_ID", "AK", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
        setenv("SNAPKEEP_S3_STYLE", "sideways", 1);
        assert_int_equal(sk_s3_config_from_env(&c), -EINVAL);
        assert_non_null(strstr(sk_backend_s3_last_error(), "SNAPKEEP_S3_STYLE"));
        unsetenv("SNAPKEEP_S3_STYLE");
        setenv("SNAPKEEP_S3_CONNECTIONS", "0", 1);
        assert_int_equal(sk_s3_config_from_env(&c), -EINVAL);
        setenv("SNAPKEEP_S3_CONNECTIONS", "4x", 1);
        assert_int_equal(sk_s3_config_from_env(&c), -EINVAL);
        unsetenv("SNAPKEEP_S3_CONNECTIONS");
        setenv("SNAPKEEP_S3_PART_SIZE", "1M", 1);     /* parts must be >= 5 MiB */
        assert_int_equal(sk_s3_config_from_env(&c), -EINVAL);
}

static void test_credentials_file(void **state) {
        (void) state;
        sk_s3_config c;
        write_creds("# comment\n[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key=defaultsecret\n"
                    "\n[profile ci]\n  aws_access_key_id =  CIKEY  \n; other comment\naws_secret_access_key = ci/secret+x\n"
                    "[other]\naws_access_key_id = OTHER\n");
        assert_int_equal(sk_s3_config_from_env(&c), 0);
        assert_string_equal(c.access_key, "DEFAULTKEY");
        assert_string_equal(c.secret_key, "defaultsecret");
        sk_s3_config_done(&c);
        setenv("AWS_PROFILE", "ci", 1);
        assert_int_equal(sk_s3_config_from_env(&c), 0);
        assert_string_equal(c.access_key, "CIKEY");
        assert_string_equal(c.secret_key, "ci/secret+x");
        sk_s3_config_done(&c);
        /* a profile without a secret is no credentials */
        setenv("AWS_PROFILE", "other", 1);
        assert_int_equal(sk_s3_config_from_env(&c), -EACCES);
        assert_non_null(strstr(sk_backend_s3_last_error(), "no S3 credentials"));
        /* the environment wins over the file */
        setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
        assert_int_equal(sk_s3_config_from_env(&c), 0);
        assert_string_equal(c.access_key, "ENVKEY");
        sk_s3_config_done(&c);
        /* nothing anywhere */
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
        assert_int_equal(sk_s3_config_from_env(&c), -EACCES);
}

static void test_bad_urls(void **state) {
        (void) state;
        sk_s3_config c;
        sk_backend *b = NULL;
        setenv("AWS_ACCESS_KEY_ID", "AK", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
        setenv("SNAPKEEP_S3_ENDPOINT", "http://127.0.0.1:9", 1);
        assert_int_equal(sk_s3_config_from_env(&c), 0);
        assert_int_equal(sk_backend_s3_open_config("s3://ab/x", &c, 0, &b), -EINVAL);   /* bucket too short */
        assert_non_null(strstr(sk_backend_s3_last_error(), "not a valid bucket name"));
        assert_int_equal(sk_backend_s3_open_config("s3://bucket/a/../b", &c, 0, &b), -EINVAL);
        assert_int_equal(sk_backend_s3_open_config("file:///x", &c, 0, &b), -EINVAL);
        free(c.endpoint);
        c.endpoint = strdup("ftp://host");
        assert_int_equal(sk_backend_s3_open_config("s3://bucket/x", &c, 0, &b), -EINVAL);
        assert_non_null(strstr(sk_backend_s3_last_error(), "endpoint"));
        free(c.endpoint);
        c.endpoint = strdup("http://host:1/path");
        assert_int_equal(sk_backend_s3_open_config("s3://bucket/x", &c, 0, &b), -EINVAL);
        assert_null(b);
        sk_s3_config_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_env_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
                cmocka_unit_test_setup_teardown(test_credentials_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
