/* Size bounds of whole-object reads (sk_backend_get_whole, backend-local.c)
 * and how the repository applies them to files someone else may have
 * written: an index file, a sealed object, a pack and the config each larger
 * than what any writer produces are refused by size, naming the file and the
 * bound, without being read (the files here are sparse, so a reader that
 * still read them whole would allocate and read hundreds of MiB, and report
 * a hash or tag mismatch instead). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/backend.h"
#include "repo/repo.h"
#include "common/fsutil.h"
#include "tests/lib/testrepo.h"

typedef sk_test_repo fixture;

/* A sparse file of size bytes at repo/rel (directories made). */
static void sparse(fixture *f, const char *rel, off_t size) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", f->repo_path, rel) > 0);
        char *slash = strrchr(p, '/');
        *slash = 0;
        assert_int_equal(sk_mkdir_p(p, 0700), 0);
        *slash = '/';
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        close(fd);
        free(p);
}

static void test_get_whole(void **state) {
        fixture *f = *state;
        sk_backend *b = NULL;
        assert_int_equal(sk_backend_open(f->repo_path, 0, NULL, NULL, &b), 0);
        sparse(f, "t/exact", 100);
        sparse(f, "t/over", 101);
        void *buf;
        size_t len;
        assert_int_equal(sk_backend_get_whole(b, "t/exact", 100, &buf, &len), 0);
        assert_int_equal(len, 100);
        free(buf);
        assert_int_equal(sk_backend_get_whole(b, "t/over", 100, &buf, &len), -EFBIG);
        assert_int_equal(sk_backend_get_whole(b, "t/missing", 100, &buf, &len), -ENOENT);
        assert_int_equal(sk_backend_get_whole(b, "t/exact", SIZE_MAX, &buf, &len), -EINVAL);
        sk_backend_free(b);
}

/* get_into fills the caller's buffer (the read-ahead reuses a retired
 * span's), with the same ranges as get: short at the end, empty past it. */
static void test_get_into(void **state) {
        fixture *f = *state;
        sk_backend *b = NULL;
        assert_int_equal(sk_backend_open(f->repo_path, 0, NULL, NULL, &b), 0);
        uint8_t data[100], buf[64];
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t) (i * 3 + 1);
        assert_int_equal(sk_backend_put(b, "t/obj", data, sizeof(data)), 0);
        size_t len = 0;
        memset(buf, 0xEE, sizeof(buf));
        assert_int_equal(sk_backend_get_into(b, "t/obj", 10, 50, buf, &len), 0);
        assert_int_equal(len, 50);
        assert_memory_equal(buf, data + 10, 50);
        assert_int_equal(buf[50], 0xEE); /* nothing written past len, no NUL */
        assert_int_equal(sk_backend_get_into(b, "t/obj", 90, 50, buf, &len), 0);
        assert_int_equal(len, 10);
        assert_memory_equal(buf, data + 90, 10);
        assert_int_equal(sk_backend_get_into(b, "t/obj", 200, 50, buf, &len), 0);
        assert_int_equal(len, 0);
        assert_int_equal(sk_backend_get_into(b, "t/missing", 0, 50, buf, &len), -ENOENT);
        assert_int_equal(sk_backend_get_into(b, "t/obj", 0, SIZE_MAX, buf, &len), -EINVAL);
        sk_backend_free(b);
}

static void test_index_file_bound(void **state) {
        fixture *f = *state;
        sparse(f, "index/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", (off_t) 300 << 20);
        sk_repo_free(f->repo);
        f->repo = NULL;
        assert_int_equal(sk_repo_open(f->repo_path, f->secret, &f->repo), 0);
        print_message("open: %s\n", sk_repo_last_error(f->repo));
        assert_non_null(strstr(sk_repo_last_error(f->repo), "larger than its bound"));
        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.index_files_bad, 1);
}

static void test_object_bound(void **state) {
        fixture *f = *state;
        assert_int_equal(sk_repo_put_object(f->repo, "backups", "small", "hello", 5), 0);
        void *buf;
        size_t len;
        assert_int_equal(sk_repo_get_object(f->repo, "backups", "small", &buf, &len), 0);
        free(buf);
        sparse(f, "backups/big", ((off_t) 256 << 20) + 101);
        assert_int_equal(sk_repo_get_object(f->repo, "backups", "big", &buf, &len), -EFBIG);
        print_message("get_object: %s\n", sk_repo_last_error(f->repo));
        assert_non_null(strstr(sk_repo_last_error(f->repo), "backups/big"));
}

static int count_cb(const char *pack, const sk_blob_info *bi, int status, const char *detail, void *ud) {
        (void) pack;
        (void) bi;
        (void) status;
        (void) detail;
        (*(int *) ud)++;
        return 0;
}

static void test_pack_bound(void **state) {
        fixture *f = *state;
        static const char hex[] = "abababababababababababababababababababababababababababababababab";
        char rel[128];
        snprintf(rel, sizeof(rel), "data/ab/%s", hex);
        sparse(f, rel, ((off_t) 1 << 30) + 1);
        int n = 0;
        assert_int_equal(sk_repo_check_pack(f->repo, hex, false, count_cb, &n), -EFBIG);
        print_message("check_pack: %s\n", sk_repo_last_error(f->repo));
        assert_non_null(strstr(sk_repo_last_error(f->repo), hex));
}

static void test_config_bound(void **state) {
        fixture *f = *state;
        char *p;
        assert_true(asprintf(&p, "%s/config", f->repo_path) > 0);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(truncate(p, 64 * 1024), 0);     /* longer bodies are allowed... */
        sk_repo_free(f->repo);
        f->repo = NULL;
        /* (the zero padding breaks the seal: damaged, but read) */
        assert_int_equal(sk_repo_open(f->repo_path, f->secret, &f->repo), -EBADMSG);
        print_message("open: %s\n", sk_repo_last_error(NULL));
        assert_null(strstr(sk_repo_last_error(NULL), "larger than its bound"));
        assert_int_equal(truncate(p, 64 * 1024 + 1), 0); /* ...up to 64 KiB */
        assert_int_equal(sk_repo_open(f->repo_path, f->secret, &f->repo), -EBADMSG);
        print_message("open: %s\n", sk_repo_last_error(NULL));
        assert_non_null(strstr(sk_repo_last_error(NULL), "larger than its bound"));
        free(p);
}

SK_TEST_MAIN(SK_REPO_TEST(test_get_whole), SK_REPO_TEST(test_get_into), SK_REPO_TEST(test_index_file_bound),
             SK_REPO_TEST(test_object_bound), SK_REPO_TEST(test_pack_bound),
             SK_REPO_TEST(test_config_bound))
