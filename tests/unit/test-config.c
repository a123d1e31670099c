/* snapkeepd's configuration: defaults, the INI file, flags, and their order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "plugin/config.h"
#include "plugin/labelpolicy.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
        char *dir;
} fixture;

static int setup(void **state) {
        sk_test_fixture_new(state, sizeof(fixture), "test-config");
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        assert_int_equal(sk_rm_rf(f->dir), 0);
        return sk_test_fixture_free(f);
}

/* Write text to <dir>/name and return the path (owned). */
static char *write_conf(fixture *f, const char *name, const char *text) {
        char *path;
        assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
        FILE *fp = fopen(path, "we");
        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
        return path;
}

/* Run sk_config_from_args on a NULL-terminated list of arguments. */
static int parse(sk_config *c, sk_config_action *action, char **error, ...) {
        char *argv[32] = { (char *) "snapkeepd" };
        int argc = 1;
        va_list ap;
        va_start(ap, error);
        for (const char *a; (a = va_arg(ap, const char *));)
                argv[argc++] = (char *) a;
        va_end(ap);
        *error = NULL;
        return sk_config_from_args(argc, argv, c, action, error);
}

static void test_defaults(void **state _unused_) {
        sk_config c;
        sk_config_action action;
        char *error;

        assert_int_equal(parse(&c, &action, &error, "--config=", NULL), 0);
        assert_int_equal(action, SK_CONFIG_RUN);
        assert_string_equal(c.root, "/var/lib/snapkeep");
        assert_string_equal(c.socket, "/run/snapkeep/snapkeep.sock");
        assert_int_equal(c.log_level, SK_LOG_INFO);
        assert_true(c.workers >= 2 && c.workers <= 4);
        assert_null(c.config_path);
        sk_config_clear(&c);
}

/* The admin socket follows --socket unless it is given itself, so two daemons
 * on different sockets never share one. */
static void test_admin_socket_default(void **state _unused_) {
        sk_config c;
        sk_config_action action;
        char *error;

        assert_int_equal(parse(&c, &action, &error, "--config=", NULL), 0);
        assert_string_equal(c.admin_socket, "/run/snapkeep/admin.sock");
        sk_config_clear(&c);
        assert_int_equal(parse(&c, &action, &error, "--config=", "--socket=/tmp/n1/snap.sock", NULL), 0);
        assert_string_equal(c.admin_socket, "/tmp/n1/admin.sock");
        sk_config_clear(&c);
        assert_int_equal(parse(&c, &action, &error, "--config=", "--socket=/tmp/n1/snap.sock",
                               "--admin-socket=/tmp/adm/a.sock", NULL), 0);
        assert_string_equal(c.admin_socket, "/tmp/adm/a.sock");
        sk_config_clear(&c);
}

static void test_file_then_flags(void **state) {
        fixture *f = *state;
        sk_config c;
        sk_config_action action;
        char *error;
        char *path = write_conf(f, "a.conf",
                                "# comment\n"
                                "; another comment\n"
                                "[snapkeepd]\n"
                                "root = /srv/snap\n"
                                "socket=/tmp/x/sk.sock\n"
                                "log_level = debug\n"
                                "workers = 7\n");

        assert_int_equal(parse(&c, &action, &error, "--config", path, NULL), 0);
        assert_string_equal(c.root, "/srv/snap");
        assert_string_equal(c.socket, "/tmp/x/sk.sock");
        assert_int_equal(c.log_level, SK_LOG_DEBUG);
        assert_int_equal(c.workers, 7);
        assert_string_equal(c.config_path, path);
        sk_config_clear(&c);

        /* Flags win over the file, wherever they stand on the command line. */
        assert_int_equal(parse(&c, &action, &error, "--root=/r2", "-w", "3", "--config", path, "--log-level",
                               "error", "-s", "/s2.sock", NULL),
                         0);
        assert_string_equal(c.root, "/r2");
        assert_string_equal(c.socket, "/s2.sock");
        assert_int_equal(c.log_level, SK_LOG_ERROR);
        assert_int_equal(c.workers, 3);
        sk_config_clear(&c);

        /* The last of repeated flags wins. */
        assert_int_equal(parse(&c, &action, &error, "--config=", "--workers=2", "--workers=5", NULL), 0);
        assert_int_equal(c.workers, 5);
        sk_config_clear(&c);
        free(path);
}

static void expect_file_error(fixture *f, const char *text, int line, const char *needle) {
        sk_config c;
        sk_config_action action;
        char *error;
        char *path = write_conf(f, "bad.conf", text);
        char *where;

        assert_int_equal(parse(&c, &action, &error, "-c", path, NULL), -EINVAL);
        assert_non_null(error);
        assert_true(asprintf(&where, "%s:%d:", path, line) > 0);
        if (strstr(error, where) == NULL || strstr(error, needle) == NULL)
                fail_msg("error '%s' lacks '%s' or '%s'", error, where, needle);
        free(where);
        free(error);
        free(path);
}

static void test_file_errors(void **state) {
        fixture *f = *state;

        expect_file_error(f, "[snapkeepd]\nroot = /a\nsokcet = /b\n", 3, "not a known key");
        expect_file_error(f, "[other]\nroot = /a\n", 2, "unknown section");
        expect_file_error(f, "root = /a\n", 1, "unknown section");
        expect_file_error(f, "[snapkeepd]\nroot = relative/dir\n", 2, "absolute");
        expect_file_error(f, "[snapkeepd]\nworkers = 0\n", 2, "1 to 64");
        expect_file_error(f, "[snapkeepd]\nworkers = 65\n", 2, "1 to 64");
        expect_file_error(f, "[snapkeepd]\nworkers = two\n", 2, "1 to 64");
        expect_file_error(f, "[snapkeepd]\nworkers = -1\n", 2, "1 to 64");
        expect_file_error(f, "[snapkeepd]\nworkers = 3x\n", 2, "1 to 64");
        expect_file_error(f, "[snapkeepd]\nlog_level = loud\n", 2, "error, warn, info or debug");
        expect_file_error(f, "[snapkeepd]\nthis line has no equals sign\n", 2, "syntax error");
        /* A socket path must fit struct sockaddr_un (108 bytes). */
        char text[300];
        snprintf(text, sizeof(text), "[snapkeepd]\nsocket = /%0150d\n", 0);
        expect_file_error(f, text, 2, "too long");
}

/* libinih reads a line in chunks of 199 bytes and parses each chunk as a
 * line of its own, and C strings end a line at a NUL: the tail of a long
 * comment, or the bytes after a NUL, must not become settings. */
static void test_long_lines_and_nul(void **state) {
        fixture *f = *state;
        char text[600];
        snprintf(text, sizeof(text), "[snapkeepd]\n# %0197d" "workers = 7\n", 0);
        expect_file_error(f, text, 2, "longer than");
        snprintf(text, sizeof(text), "[snapkeepd]\nroot = /%0191d" "socket = /x\n", 0);
        expect_file_error(f, text, 2, "longer than");
        /* The longest line allowed still parses whole. */
        snprintf(text, sizeof(text), "[snapkeepd]\nroot = /%0190d\nworkers=3\n", 0);
        char *path = write_conf(f, "long.conf", text);
        sk_config c;
        char *error = NULL;
        assert_int_equal(sk_config_init(&c), 0);
        assert_int_equal(sk_config_load_file(&c, path, &error), 0);
        assert_int_equal(strlen(c.root), 191);
        assert_int_equal(c.workers, 3);
        sk_config_clear(&c);
        free(path);

        static const char nul[] = "[snapkeepd]\nworkers = 3\0\nworkers = 9\n";
        assert_true(asprintf(&path, "%s/nul.conf", f->dir) > 0);
        FILE *fp = fopen(path, "we");
        assert_non_null(fp);
        assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, fp), sizeof(nul) - 1);
        assert_int_equal(fclose(fp), 0);
        assert_int_equal(sk_config_init(&c), 0);
        assert_int_equal(sk_config_load_file(&c, path, &error), -EINVAL);
        assert_non_null(error);
        assert_non_null(strstr(error, "NUL"));
        free(error);
        sk_config_clear(&c);
        free(path);
}

static void test_bad_file_leaves_config(void **state) {
        fixture *f = *state;
        sk_config c;
        char *error = NULL;
        char *path = write_conf(f, "half.conf", "[snapkeepd]\nroot = /new\nworkers = 100\n");

        assert_int_equal(sk_config_init(&c), 0);
        assert_int_equal(sk_config_load_file(&c, path, &error), -EINVAL);
        assert_non_null(error);
        assert_string_equal(c.root, "/var/lib/snapkeep");
        assert_null(c.config_path);
        free(error);
        sk_config_clear(&c);
        free(path);
}

static void test_missing_file(void **state) {
        fixture *f = *state;
        sk_config c;
        sk_config_action action;
        char *error, *path;

        /* Named explicitly: must exist. */
        assert_true(asprintf(&path, "%s/nope.conf", f->dir) > 0);
        assert_int_equal(parse(&c, &action, &error, "--config", path, NULL), -ENOENT);
        assert_non_null(error);
        assert_non_null(strstr(error, path));
        free(error);
        free(path);

        error = NULL;
        assert_int_equal(sk_config_init(&c), 0);
        assert_int_equal(sk_config_load_file(&c, "/nonexistent/snapkeepd.conf", &error), -ENOENT);
        free(error);
        sk_config_clear(&c);
}

static void test_flag_errors(void **state _unused_) {
        sk_config c;
        sk_config_action action;
        char *error;

        const char *cases[][3] = {
                { "--bogus", NULL, "unknown option --bogus" },
                { "-x", NULL, "unknown option -x" },
                { "--root", NULL, "needs a value" },
                { "--workers=0", NULL, "--workers 0: must be a number from 1 to 64" },
                { "--log-level=verbose", NULL, "--log-level verbose" },
                { "--socket=rel.sock", NULL, "absolute" },
                { "--config=", "extra", "unexpected argument 'extra'" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(parse(&c, &action, &error, "--config=", cases[i][0], cases[i][1], NULL), -EINVAL);
                assert_non_null(error);
                if (!strstr(error, cases[i][2]))
                        fail_msg("case %zu: error '%s' lacks '%s'", i, error, cases[i][2]);
                free(error);
        }
}

/* Who may restore what, and how many restores run at once (labelpolicy.h). */
static void test_restore_keys(void **state) {
        fixture *f = *state;
        sk_config c;
        sk_config_action action;
        char *error = NULL;

        assert_int_equal(parse(&c, &action, &error, "--config=", NULL), 0);
        assert_int_equal(c.restore_selectors, 0); /* full ids only */
        assert_int_equal(c.restores, SK_RESTORES_DEFAULT);
        sk_config_clear(&c);

        char *path = write_conf(f, "r.conf", "[snapkeepd]\nrestore_selectors = latest, prefix\nrestores = 3\n");
        assert_int_equal(parse(&c, &action, &error, "--config", path, NULL), 0);
        assert_int_equal(c.restore_selectors, SK_RESTORE_ALLOW_LATEST | SK_RESTORE_ALLOW_PREFIX);
        assert_int_equal(c.restores, 3);
        sk_config_clear(&c);
        assert_int_equal(parse(&c, &action, &error, "--config", path, "--restore-selectors=none", "--restores=1",
                               NULL),
                         0);
        assert_int_equal(c.restore_selectors, 0);
        assert_int_equal(c.restores, 1);
        sk_config_clear(&c);
        free(path);

        assert_int_equal(parse(&c, &action, &error, "--config=", "--restore-selectors=newest", NULL), -EINVAL);
        assert_non_null(strstr(error, "--restore-selectors"));
        free(error);
        assert_int_equal(parse(&c, &action, &error, "--config=", "--restores=0", NULL), -EINVAL);
        free(error);
        assert_int_equal(parse(&c, &action, &error, "--config=", "--restores=17", NULL), -EINVAL);
        free(error);
}

/* metrics_address: off by default; HOST:PORT, [V6]:PORT, :PORT; bad ones named. */
static void test_metrics_address(void **state) {
        fixture *f = *state;
        sk_config c;
        sk_config_action action;
        char *error = NULL;

        assert_int_equal(parse(&c, &action, &error, "--config=", NULL), 0);
        assert_null(c.metrics_address);
        sk_config_clear(&c);
        const char *good[] = { "127.0.0.1:9184", "[::1]:9184", ":9184", "node-1.example:65535" };
        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                char flag[64];
                snprintf(flag, sizeof(flag), "--metrics-address=%s", good[i]);
                assert_int_equal(parse(&c, &action, &error, "--config=", flag, NULL), 0);
                assert_string_equal(c.metrics_address, good[i]);
                sk_config_clear(&c);
        }
        char *path = write_conf(f, "m.conf", "[snapkeepd]\nmetrics_address = 0.0.0.0:9184\n");
        assert_int_equal(parse(&c, &action, &error, "--config", path, NULL), 0);
        assert_string_equal(c.metrics_address, "0.0.0.0:9184");
        sk_config_clear(&c);
        assert_int_equal(parse(&c, &action, &error, "--config", path, "--metrics-address=off", NULL), 0);
        assert_null(c.metrics_address);
        sk_config_clear(&c);
        free(path);
        const char *bad[][2] = {
                { "9184", "HOST:PORT" }, { ":0", "1 to 65535" }, { "1.2.3.4:70000", "1 to 65535" },
                { "[::1:9184", "unclosed" }, { "::1:9184", "HOST:PORT" }, { "h:", "1 to 65535" },
                { "h:-1", "1 to 65535" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char flag[64];
                snprintf(flag, sizeof(flag), "--metrics-address=%s", bad[i][0]);
                assert_int_equal(parse(&c, &action, &error, "--config=", flag, NULL), -EINVAL);
                if (!strstr(error, bad[i][1]) || !strstr(error, "--metrics-address"))
                        fail_msg("%s: error '%s' lacks '%s'", bad[i][0], error, bad[i][1]);
                free(error);
        }
}

static void test_help_version(void **state _unused_) {
        sk_config c;
        sk_config_action action;
        char *error;

        assert_int_equal(parse(&c, &action, &error, "--help", NULL), 0);
        assert_int_equal(action, SK_CONFIG_HELP);
        sk_config_clear(&c);
        assert_int_equal(parse(&c, &action, &error, "-V", NULL), 0);
        assert_int_equal(action, SK_CONFIG_VERSION);
        sk_config_clear(&c);
        /* --help must work even when the config file is broken. */
        assert_int_equal(parse(&c, &action, &error, "--config=/nonexistent/x.conf", "-h", NULL), 0);
        assert_int_equal(action, SK_CONFIG_HELP);
        sk_config_clear(&c);

        FILE *fp = tmpfile();
        assert_non_null(fp);
        sk_config_print_help(fp, "snapkeepd");
        long size = ftell(fp);
        fclose(fp);
        assert_true(size > 500);
}

/* The shipped default config must parse and say what the built-in defaults
 * say. */
static void test_shipped_config(void **state _unused_) {
        const char *src = getenv("SK_SRC");
        char *path, *error = NULL;
        sk_config c;

        assert_true(asprintf(&path, "%s/packaging/snapkeepd.conf", src && *src ? src : ".") > 0);
        if (access(path, R_OK) < 0) {
                free(path);
                skip();
        }
        assert_int_equal(sk_config_init(&c), 0);
        unsigned workers = c.workers;
        int r = sk_config_load_file(&c, path, &error);
        if (r < 0)
                fail_msg("%s", error ? error : "load failed");
        assert_string_equal(c.root, SK_DEFAULT_ROOT);
        assert_string_equal(c.socket, SK_DEFAULT_SOCKET);
        assert_int_equal(c.log_level, SK_LOG_INFO);
        assert_int_equal(c.workers, workers);
        sk_config_clear(&c);
        free(path);
}

/* The container keys (moved from test-capture, which links container/ only). */
static void test_config_keys(void **state) {
        fixture *f = *state;
        char *path, *error = NULL;
        sk_config c;
        assert_int_equal(sk_config_init(&c), 0);
        assert_string_equal(c.admin_socket, SK_DEFAULT_ADMIN_SOCKET);
        assert_string_equal(c.repo, SK_DEFAULT_REPO);
        assert_true(c.remote_layers);
        assert_null(c.password_file);
        path = write_conf(f, "a.conf",
                          "[snapkeepd]\nadmin_socket = /tmp/x.sock\nrepo = s3://b/r\npassword_file = /etc/pw\n"
                          "remote_layers = false\n");
        assert_int_equal(sk_config_load_file(&c, path, &error), 0);
        assert_string_equal(c.admin_socket, "/tmp/x.sock");
        assert_string_equal(c.repo, "s3://b/r");
        assert_string_equal(c.password_file, "/etc/pw");
        assert_false(c.remote_layers);
        free(path);
        path = write_conf(f, "b.conf", "[snapkeepd]\nremote_layers = maybe\n");
        assert_int_equal(sk_config_load_file(&c, path, &error), -EINVAL);
        assert_non_null(strstr(error, "true or false"));
        free(error);
        free(path);
        sk_config_clear(&c);

        sk_config_action action;
        char *argv[] = { (char *) "snapkeepd", (char *) "--config=", (char *) "--admin-socket=/run/a.sock",
                         (char *) "--key-file=/k", (char *) "--no-remote-layers", (char *) "--repo=/r", NULL };
        assert_int_equal(sk_config_from_args(6, argv, &c, &action, &error), 0);
        assert_string_equal(c.admin_socket, "/run/a.sock");
        assert_string_equal(c.key_file, "/k");
        assert_string_equal(c.repo, "/r");
        assert_false(c.remote_layers);
        sk_config_clear(&c);
        char *bad[] = { (char *) "snapkeepd", (char *) "--config=", (char *) "--password-file=relative", NULL };
        assert_int_equal(sk_config_from_args(3, bad, &c, &action, &error), -EINVAL);
        free(error);
}

/* The repository's storage settings come from the file (the daemon falls back
 * to its environment for what the file leaves unset); bad values name the
 * file and line. */
static void test_store_settings(void **state) {
        fixture *f = *state;
        sk_config c;
        sk_config_action action;
        char *error = NULL;
        char *path = write_conf(f, "s3.conf",
                                "[snapkeepd]\nrepo = s3://bucket/prefix\ns3_endpoint = http://127.0.0.1:7480\n"
                                "s3_region = eu-west-1\ns3_style = virtual\n"
                                "s3_credentials_file = /etc/snapkeep/aws\ns3_profile = backup\ncache_dir = off\n");
        assert_int_equal(parse(&c, &action, &error, "-c", path, NULL), 0);
        assert_string_equal(sk_config_store_setting(&c, "SNAPKEEP_S3_ENDPOINT"), "http://127.0.0.1:7480");
        assert_string_equal(sk_config_store_setting(&c, "SNAPKEEP_S3_REGION"), "eu-west-1");
        assert_string_equal(sk_config_store_setting(&c, "SNAPKEEP_S3_STYLE"), "virtual");
        assert_string_equal(sk_config_store_setting(&c, "AWS_SHARED_CREDENTIALS_FILE"), "/etc/snapkeep/aws");
        assert_string_equal(sk_config_store_setting(&c, "AWS_PROFILE"), "backup");
        assert_string_equal(sk_config_store_setting(&c, "SNAPKEEP_CACHE_DIR"), "off");
        /* secrets are never taken from the file */
        assert_null(sk_config_store_setting(&c, "AWS_SECRET_ACCESS_KEY"));
        assert_null(sk_config_store_setting(&c, "AWS_ACCESS_KEY_ID"));
        sk_config_clear(&c);
        free(path);

        path = write_conf(f, "plain.conf", "[snapkeepd]\nrepo = /srv/repo\n");
        assert_int_equal(parse(&c, &action, &error, "-c", path, NULL), 0);
        assert_null(sk_config_store_setting(&c, "SNAPKEEP_S3_ENDPOINT"));
        assert_null(sk_config_store_setting(&c, "SNAPKEEP_CACHE_DIR"));
        sk_config_clear(&c);
        free(path);

        expect_file_error(f, "[snapkeepd]\ns3_endpoint = 127.0.0.1:7480\n", 2, "http://");
        expect_file_error(f, "[snapkeepd]\n\ns3_style = sideways\n", 3, "path or virtual");
        expect_file_error(f, "[snapkeepd]\ns3_region = eu west\n", 2, "without spaces");
        expect_file_error(f, "[snapkeepd]\ncache_dir = relative/dir\n", 2, "absolute path");
        expect_file_error(f, "[snapkeepd]\ns3_credentials_file = aws\n", 2, "absolute path");
        expect_file_error(f, "[snapkeepd]\naws_secret_access_key = x\n", 2, "aws_secret_access_key");
}

/* Zero configuration: with no repository or secret configured the daemon
 * derives both from its root and may create them; anything configured turns
 * that off. Policies: the built-in one without a section, and errors that
 * name the file, the line and the key. */
static void test_automation(void **state) {
        fixture *f = *state;
        sk_config c;
        sk_config_action action;
        char *error = NULL;

        assert_int_equal(parse(&c, &action, &error, "--config=", "--root=/srv/sk/", NULL), 0);
        assert_string_equal(c.repo, "/srv/sk-repo");
        assert_string_equal(c.key_file, "/srv/sk/repo.key");
        assert_true(c.repo_auto);
        assert_true(c.automation.enabled);
        assert_true(c.automation.builtin);
        assert_string_equal(c.automation.policies[0].name, "default");
        sk_config_clear(&c);

        assert_int_equal(parse(&c, &action, &error, "--config=", "--root=/srv/sk", "--key-file=/k", NULL), 0);
        assert_false(c.repo_auto);
        assert_string_equal(c.repo, SK_DEFAULT_REPO); /* a secret alone keeps the default repository */
        sk_config_clear(&c);
        assert_int_equal(parse(&c, &action, &error, "--config=", "--repo=/r", NULL), 0);
        assert_false(c.repo_auto);
        assert_null(c.key_file);
        sk_config_clear(&c);

        char *path = write_conf(f, "auto.conf",
                                "[snapkeepd]\nrepo = /r\n[automation]\nmax_runs = 2\nbusy_cpu_share = 40%\n"
                                "[policy web]\nlabel = tier=web\ninterval = 10m\nkeep_last = 2\n"
                                "[policy nightly]\ntimes = 01:00\n");
        assert_int_equal(parse(&c, &action, &error, "-c", path, NULL), 0);
        assert_false(c.automation.builtin);
        assert_int_equal(c.automation.n_policies, 2);
        assert_int_equal(c.automation.max_runs, 2);
        assert_int_equal(c.automation.busy_cpu_share, 40);
        assert_int_equal(c.automation.policies[1].line, 10);
        sk_config_clear(&c);
        free(path);

        expect_file_error(f, "[snapkeepd]\n[policy web]\ninterval = 5y\n", 3, "interval = 5y");
        expect_file_error(f, "[policy web]\ninterval = 1h\ncron = 0 25 * * *\n", 3, "hour");
        expect_file_error(f, "[snapkeepd]\n\n[policy quiet]\nkeep_last = 1\n", 3, "no schedule");
        expect_file_error(f, "[automation]\nnice = 40\n", 2, "nice = 40");
        expect_file_error(f, "[automation]\nbusy_cpu_share = 0\n", 2, "busy_cpu_share = 0");
        expect_file_error(f, "[automation]\nbusy_cpu_share = 101%\n", 2, "percentage");
        expect_file_error(f, "[policy none]\ninterval = 1h\n", 2, "policy name");
        expect_file_error(f, "[policy a]\ninterval = 1h\n[policy b]\ninterval = 1d\n[policy a]\nkeep_last = 1\n", 5,
                          "second [policy] section");
        /* libinih would cut this name to 42 characters: refused, not merged */
        expect_file_error(f, "[policy abcdefghij-abcdefghij-abcdefghij-abcdefghij-hourly]\ninterval = 1h\n", 2,
                          "policy name");
}

SK_TEST_MAIN(cmocka_unit_test(test_defaults), cmocka_unit_test(test_admin_socket_default),
             SK_FIXTURE_TEST(test_file_then_flags), SK_FIXTURE_TEST(test_file_errors),
             SK_FIXTURE_TEST(test_long_lines_and_nul), SK_FIXTURE_TEST(test_bad_file_leaves_config),
             SK_FIXTURE_TEST(test_missing_file), cmocka_unit_test(test_flag_errors),
             SK_FIXTURE_TEST(test_config_keys), SK_FIXTURE_TEST(test_store_settings),
             SK_FIXTURE_TEST(test_restore_keys), SK_FIXTURE_TEST(test_metrics_address), SK_FIXTURE_TEST(test_automation),
             cmocka_unit_test(test_help_version), cmocka_unit_test(test_shipped_config))
