/* S3 backend configuration without a server: environment parsing, the AWS
 * credentials file (profiles, "profile " prefix, comments, precedence of the
 * environment), refusal of bad values, and URL validation (which fails before
 * any request is made). Then a hostile server (a tiny HTTP server on
 * 127.0.0.1 in a thread): a Content-Length the client must not allocate,
 * bodies larger than asked for (with and without Content-Length), and
 * listings with too many or too long keys. Requests against a real radosgw
 * are covered by tests/integration/test-s3-*.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "store/backend-s3.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "tests/lib/testutil.h"
#include "tests/lib/toolenv.h"

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
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), 0);
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
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), 0);
        assert_false(c.virtual_host);           /* explicit endpoint: path style */
        assert_string_equal(c.region, "eu-west-1");
        assert_int_equal(c.connections, 3);
        assert_int_equal(c.part_size, 8u << 20);
        assert_string_equal(c.session_token, "TOK");
        sk_s3_config_done(&c);

        setenv("SNAPKEEP_S3_STYLE", "virtual", 1);
        setenv("SNAPKEEP_S3_REGION", "default", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), 0);
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
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), -EINVAL);
        assert_non_null(strstr(sk_store_last_detail(), "SNAPKEEP_S3_STYLE"));
        unsetenv("SNAPKEEP_S3_STYLE");
        setenv("SNAPKEEP_S3_CONNECTIONS", "0", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), -EINVAL);
        setenv("SNAPKEEP_S3_CONNECTIONS", "4x", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), -EINVAL);
        unsetenv("SNAPKEEP_S3_CONNECTIONS");
        setenv("SNAPKEEP_S3_PART_SIZE", "1M", 1);     /* parts must be >= 5 MiB */
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), -EINVAL);
}

static void test_credentials_file(void **state) {
        (void) state;
        sk_s3_config c;
        write_creds("# comment\n[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key=defaultsecret\n"
                    "\n[profile ci]\n  aws_access_key_id =  CIKEY  \n; other comment\naws_secret_access_key = ci/secret+x\n"
                    "[other]\naws_access_key_id = OTHER\n");
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), 0);
        assert_string_equal(c.access_key, "DEFAULTKEY");
        assert_string_equal(c.secret_key, "defaultsecret");
        sk_s3_config_done(&c);
        setenv("AWS_PROFILE", "ci", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), 0);
        assert_string_equal(c.access_key, "CIKEY");
        assert_string_equal(c.secret_key, "ci/secret+x");
        sk_s3_config_done(&c);
        /* a profile without a secret is no credentials */
        setenv("AWS_PROFILE", "other", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), -EACCES);
        assert_non_null(strstr(sk_store_last_detail(), "no S3 credentials"));
        /* the environment wins over the file */
        setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), 0);
        assert_string_equal(c.access_key, "ENVKEY");
        sk_s3_config_done(&c);
        /* nothing anywhere */
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), -EACCES);
}

static void test_bad_urls(void **state) {
        (void) state;
        sk_s3_config c;
        sk_backend *b = NULL;
        setenv("AWS_ACCESS_KEY_ID", "AK", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
        setenv("SNAPKEEP_S3_ENDPOINT", "http://127.0.0.1:9", 1);
        assert_int_equal(sk_s3_config_load(&sk_tool_store, &c), 0);
        assert_int_equal(sk_backend_s3_open_config("s3://ab/x", &c, 0, &b), -EINVAL);   /* bucket too short */
        assert_non_null(strstr(sk_store_last_detail(), "not a valid bucket name"));
        assert_int_equal(sk_backend_s3_open_config("s3://bucket/a/../b", &c, 0, &b), -EINVAL);
        assert_int_equal(sk_backend_s3_open_config("file:///x", &c, 0, &b), -EINVAL);
        free(c.endpoint);
        c.endpoint = strdup("ftp://host");
        assert_int_equal(sk_backend_s3_open_config("s3://bucket/x", &c, 0, &b), -EINVAL);
        assert_non_null(strstr(sk_store_last_detail(), "endpoint"));
        free(c.endpoint);
        c.endpoint = strdup("http://host:1/path");
        assert_int_equal(sk_backend_s3_open_config("s3://bucket/x", &c, 0, &b), -EINVAL);
        assert_null(b);
        sk_s3_config_done(&c);
}

/* ---- a hostile server ---------------------------------------------------------- */

typedef struct server {
        int fd, port;
        pthread_t thread;
        const char *mode;       /* what a GET of an object gets */
        char *list_body;        /* what a listing gets */
} server;

static void send_all(int fd, const void *buf, size_t len) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n <= 0)
                        return;
                p += n;
                len -= (size_t) n;
        }
}

static void send_str(int fd, const char *s) {
        send_all(fd, s, strlen(s));
}

/* The object the range modes serve: OBJ_SIZE bytes of a pattern. */
#define OBJ_SIZE (1u << 20)
static uint8_t obj_byte(size_t i) {
        return (uint8_t) (i * 7 + i / 251);
}

static void send_obj(int fd, size_t from, size_t n) {
        static uint8_t obj[OBJ_SIZE];
        static bool made;       /* one server thread at a time */
        for (size_t i = 0; !made && i < OBJ_SIZE; i++)
                obj[i] = obj_byte(i);
        made = true;
        send_all(fd, obj + from, n);
}

/* "range": honours Range (206, or 416 past the end); "range-ignored": the
 * whole object with 200; "range-overlong" and "range-flood": a 206 with 100
 * or 100,000 bytes more than asked; "missing": 404. HEAD gets the object's
 * size. */
static void respond_range(server *sv, int c, const char *req) {
        char head[256];
        size_t a = 0, z = OBJ_SIZE - 1;
        const char *rg = strcasestr(req, "\r\nRange: bytes=");
        if (rg)
                (void) sscanf(rg + strlen("\r\nRange: bytes="), "%zu-%zu", &a, &z);
        if (strcmp(sv->mode, "missing") == 0) {
                const char *xml = "<Error><Code>NoSuchKey</Code></Error>";
                snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         strlen(xml));
                send_str(c, head);
                send_str(c, xml);
        } else if (strncmp(req, "HEAD ", 5) == 0) {
                snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nConnection: close\r\n\r\n", OBJ_SIZE);
                send_str(c, head);
        } else if (strcmp(sv->mode, "range-ignored") == 0 || !rg) {
                snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nConnection: close\r\n\r\n", OBJ_SIZE);
                send_str(c, head);
                send_obj(c, 0, OBJ_SIZE);
        } else if (a >= OBJ_SIZE) {
                send_str(c, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        } else {
                size_t n = (z >= OBJ_SIZE ? OBJ_SIZE - 1 : z) - a + 1;
                if (strcmp(sv->mode, "range-overlong") == 0)
                        n = MIN(n + 100, OBJ_SIZE - a);
                else if (strcmp(sv->mode, "range-flood") == 0)
                        n = MIN(n + 100000, OBJ_SIZE - a);
                snprintf(head, sizeof(head), "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
                send_str(c, head);
                send_obj(c, a, n);
        }
}

static void respond(server *sv, int c, const char *req) {
        static char block[65536];
        memset(block, 'x', sizeof(block));
        char head[256];
        if (strncmp(sv->mode, "range", 5) == 0 || strcmp(sv->mode, "missing") == 0) {
                respond_range(sv, c, req);
        } else if (strstr(req, "list-type=2")) {
                snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         strlen(sv->list_body));
                send_str(c, head);
                send_str(c, sv->list_body);
        } else if (strcmp(sv->mode, "huge-length") == 0) {
                /* claims 8 GiB, sends 64 KiB, hangs up */
                send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 8589934592\r\nConnection: close\r\n\r\n");
                send_all(c, block, sizeof(block));
        } else if (strcmp(sv->mode, "big-body") == 0) {
                /* an honest 4 MiB object */
                send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\nConnection: close\r\n\r\n");
                for (int i = 0; i < 64; i++)
                        send_all(c, block, sizeof(block));
        } else if (strcmp(sv->mode, "chunked") == 0) {
                /* 4 MiB without a Content-Length */
                send_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
                for (int i = 0; i < 64; i++) {
                        send_str(c, "10000\r\n");
                        send_all(c, block, sizeof(block));
                        send_str(c, "\r\n");
                }
                send_str(c, "0\r\n\r\n");
        }
}

static void *server_main(void *ud) {
        server *sv = ud;
        for (;;) {
                int c = accept(sv->fd, NULL, NULL);
                if (c < 0)
                        return NULL;
                char req[8192];
                size_t n = 0;
                while (n < sizeof(req) - 1) {
                        ssize_t k = recv(c, req + n, sizeof(req) - 1 - n, 0);
                        if (k <= 0)
                                break;
                        n += (size_t) k;
                        req[n] = 0;
                        if (strstr(req, "\r\n\r\n"))
                                break;
                }
                req[n] = 0;
                if (strncmp(req, "QUIT", 4) == 0) {
                        close(c);
                        return NULL;
                }
                respond(sv, c, req);
                shutdown(c, SHUT_WR);
                /* drain until the client closes, so it sees all we sent */
                while (recv(c, req, sizeof(req), 0) > 0)
                        ;
                close(c);
        }
}

static void server_start(server *sv, const char *mode, const char *list_body) {
        sv->mode = mode;
        sv->list_body = strdup(list_body ? list_body : "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
        sv->fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(sv->fd >= 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(bind(sv->fd, (struct sockaddr *) &a, sizeof(a)), 0);
        socklen_t al = sizeof(a);
        assert_int_equal(getsockname(sv->fd, (struct sockaddr *) &a, &al), 0);
        sv->port = ntohs(a.sin_port);
        assert_int_equal(listen(sv->fd, 16), 0);
        assert_int_equal(pthread_create(&sv->thread, NULL, server_main, sv), 0);
}

static void server_stop(server *sv) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) sv->port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(connect(c, (struct sockaddr *) &a, sizeof(a)), 0);
        send_str(c, "QUIT");
        close(c);
        pthread_join(sv->thread, NULL);
        close(sv->fd);
        free(sv->list_body);
}

static int open_at(server *sv, sk_backend **ret) {
        sk_s3_config c = {
                .region = strdup("us-east-1"), .connections = 1, .retry_seconds = 0,
                .multipart_threshold = 64 << 20, .part_size = 16 << 20, .readahead = 0,
                .access_key = strdup("AK"), .secret_key = strdup("SK"),
        };
        assert_true(asprintf(&c.endpoint, "http://127.0.0.1:%d", sv->port) > 0);
        int r = sk_backend_s3_open_config("s3://bucket/p", &c, 0, ret);
        sk_s3_config_done(&c);
        return r;
}

/* The client sizes its buffer by the bytes that arrive and what it asked for,
 * never by the server's Content-Length: before, a whole-object read
 * preallocated any Content-Length below 16 GiB. */
static void test_hostile_length(void **state) {
        (void) state;
        server sv;
        server_start(&sv, "huge-length", NULL);
        sk_backend *b = NULL;
        assert_int_equal(open_at(&sv, &b), 0);
        bool tracked = sk_test_track_allocs();
        void *buf = NULL;
        size_t len;
        int r = sk_backend_get(b, "obj", 0, SIZE_MAX, &buf, &len);
        size_t max_alloc = sk_test_max_alloc();
        print_message("get: %d (%s), largest allocation %zu\n", r, sk_store_last_detail(), max_alloc);
        assert_true(r < 0);     /* the body ended early */
        if (tracked)
                assert_true(max_alloc < (8u << 20));
        sk_backend_free(b);
        server_stop(&sv);
}

/* A body larger than asked for is refused once it passes the bound, with or
 * without a Content-Length. */
static void test_body_bound(void **state) {
        (void) state;
        static const char *modes[] = { "big-body", "chunked" };
        for (size_t i = 0; i < 2; i++) {
                server sv;
                server_start(&sv, modes[i], NULL);
                sk_backend *b = NULL;
                assert_int_equal(open_at(&sv, &b), 0);
                bool tracked = sk_test_track_allocs();
                void *buf = NULL;
                size_t len;
                int r = sk_backend_get_whole(b, "obj", 1000, &buf, &len);
                size_t max_alloc = sk_test_max_alloc();
                print_message("%s: get_whole: %d (%s), largest allocation %zu\n", modes[i], r,
                              sk_store_last_detail(), max_alloc);
                assert_int_equal(r, -EFBIG);
                if (tracked)
                        assert_true(max_alloc < (1u << 20));
                /* a read of what is there stays possible */
                r = sk_backend_get(b, "obj", 0, 4 << 20, &buf, &len);
                assert_int_equal(r, 0);
                assert_int_equal(len, 4 << 20);
                free(buf);
                sk_backend_free(b);
                server_stop(&sv);
        }
}

/* Reads into the caller's buffer (the packs' spans): a 206 lands there with
 * no buffer of the client's own (before, every span was a new allocation of
 * its size, faulted in page by page); a server that ignores Range, a short
 * tail, a range past the end, a missing object and a few bytes more than
 * asked read as with get; a flood past get's 64 KiB of slack is refused;
 * nothing is written past the buffer (ASan). */
static void test_get_into(void **state) {
        (void) state;
        static const char *modes[] = { "range", "range-ignored", "range-overlong", "range-flood", "missing" };
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
                /* a server that ignores Range sends the whole object: a read
                 * is bounded by what it asked for (plus 64 KiB), so ask for
                 * all from the offset on */
                const size_t len = strcmp(modes[m], "range-ignored") == 0 ? OBJ_SIZE - 1000 : 300000;
                server sv;
                server_start(&sv, modes[m], NULL);
                sk_backend *b = NULL;
                assert_int_equal(open_at(&sv, &b), 0);
                uint8_t *buf = malloc(len);     /* exactly len: ASan sees any write past it */
                assert_non_null(buf);
                size_t n = 0;
                bool tracked = sk_test_track_allocs();
                int r = sk_backend_get_into(b, "obj", 1000, len, buf, &n);
                size_t max_alloc = sk_test_max_alloc();
                print_message("%s: get_into: %d (%s), %zu bytes, largest allocation %zu\n", modes[m], r,
                              sk_store_last_detail(), n, max_alloc);
                if (strcmp(modes[m], "range-flood") == 0) {
                        assert_int_equal(r, -EFBIG);
                } else if (strcmp(modes[m], "missing") == 0) {
                        assert_int_equal(r, -ENOENT);
                } else {
                        assert_int_equal(r, 0);
                        assert_int_equal(n, len);
                        for (size_t i = 0; i < len; i++)
                                assert_int_equal(buf[i], obj_byte(1000 + i));
                        if (tracked && strcmp(modes[m], "range") == 0)
                                assert_true(max_alloc < len / 2);
                        /* the tail: fewer bytes than asked */
                        memset(buf, 0, len);
                        assert_int_equal(sk_backend_get_into(b, "obj", OBJ_SIZE - 100, len, buf, &n), 0);
                        assert_int_equal(n, 100);
                        for (size_t i = 0; i < n; i++)
                                assert_int_equal(buf[i], obj_byte(OBJ_SIZE - 100 + i));
                        /* past the end: nothing */
                        n = 1;
                        assert_int_equal(sk_backend_get_into(b, "obj", OBJ_SIZE + 10, len, buf, &n), 0);
                        assert_int_equal(n, 0);
                }
                free(buf);
                sk_backend_free(b);
                server_stop(&sv);
        }
}

static int count_names(const char *name, uint64_t size, void *ud) {
        (void) name;
        (void) size;
        (*(size_t *) ud)++;
        return 0;
}

/* Keys are never truncated (a truncated key names another object), and a
 * page holds at most what S3 sends (1000 keys) with headroom. */
static void test_hostile_listing(void **state) {
        (void) state;
        char key[3100];
        memset(key, 'k', sizeof(key) - 1);
        key[sizeof(key) - 1] = 0;
        char *body;
        assert_true(asprintf(&body, "<ListBucketResult><Contents><Key>p/%s</Key><Size>1</Size></Contents>"
                                    "<IsTruncated>false</IsTruncated></ListBucketResult>", key) > 0);
        server sv;
        server_start(&sv, "none", body);
        free(body);
        sk_backend *b = NULL;
        assert_int_equal(open_at(&sv, &b), 0);
        size_t n = 0;
        assert_int_equal(sk_backend_list(b, "index/", count_names, &n), -EIO);
        assert_int_equal(n, 0);
        sk_backend_free(b);
        server_stop(&sv);

        size_t cap = 20001 * 80 + 200, used = 0;
        body = malloc(cap);
        used += (size_t) snprintf(body + used, cap - used, "<ListBucketResult>");
        for (int i = 0; i < 20000; i++)
                used += (size_t) snprintf(body + used, cap - used,
                                          "<Contents><Key>p/index/%d</Key><Size>1</Size></Contents>", i);
        snprintf(body + used, cap - used, "<IsTruncated>false</IsTruncated></ListBucketResult>");
        server_start(&sv, "none", body);
        free(body);
        assert_int_equal(open_at(&sv, &b), 0);
        n = 0;
        assert_int_equal(sk_backend_list(b, "index/", count_names, &n), -EIO);
        assert_int_equal(n, 0);
        sk_backend_free(b);
        server_stop(&sv);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_env_defaults), SK_FIXTURE_TEST(test_bad_values),
             SK_FIXTURE_TEST(test_credentials_file), SK_FIXTURE_TEST(test_bad_urls),
             SK_FIXTURE_TEST(test_hostile_length), SK_FIXTURE_TEST(test_body_bound),
             SK_FIXTURE_TEST(test_hostile_listing), SK_FIXTURE_TEST(test_get_into))
