/* Shared path chains: the strings they make, sharing and release of
 * ancestors, and opening a directory by its chain without following links. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "backup/pathnode.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "tests/lib/testutil.h"

static void test_join(void **state _unused_) {
        sk_pathnode *root, *a, *b;
        assert_int_equal(sk_pathnode_new(NULL, "ignored", &root), 0);
        assert_int_equal(sk_pathnode_new(root, "a", &a), 0);
        assert_int_equal(sk_pathnode_new(a, "bb", &b), 0);
        char *s = sk_pathnode_join(root, NULL);
        assert_string_equal(s, "");
        free(s);
        s = sk_pathnode_join(root, "f");
        assert_string_equal(s, "f");
        free(s);
        s = sk_pathnode_join(a, NULL);
        assert_string_equal(s, "a");
        free(s);
        s = sk_pathnode_join(b, "file");
        assert_string_equal(s, "a/bb/file");
        free(s);
        /* Children keep their ancestors: dropping the walk's references to
         * root and a leaves b whole (ASan reports a use after free if not). */
        sk_pathnode_unref(root);
        sk_pathnode_unref(a);
        s = sk_pathnode_join(b, NULL);
        assert_string_equal(s, "a/bb");
        free(s);
        sk_pathnode_unref(b); /* frees the chain (LeakSanitizer checks) */
}

/* A chain 100,000 deep is built, joined and freed without recursion. */
static void test_deep(void **state _unused_) {
        sk_pathnode *p;
        assert_int_equal(sk_pathnode_new(NULL, "", &p), 0);
        for (int i = 0; i < 100000; i++) {
                sk_pathnode *c;
                assert_int_equal(sk_pathnode_new(p, "d", &c), 0);
                sk_pathnode_unref(p); /* the child holds it */
                p = c;
        }
        char *s = sk_pathnode_join(p, "x");
        assert_non_null(s);
        assert_int_equal(strlen(s), 100000 * 2 + 1);
        assert_memory_equal(s, "d/d/", 4);
        assert_string_equal(s + 199998, "d/x");
        free(s);
        sk_pathnode_unref(p);
}

static void test_open(void **state _unused_) {
        _cleanup_free_ char *dir = sk_test_mkdtemp("pathnode");
        assert_non_null(dir);
        int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root >= 0);
        assert_int_equal(mkdirat(root, "a", 0755), 0);
        assert_int_equal(mkdirat(root, "a/b", 0755), 0);
        int f = openat(root, "a/b/marker", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(f >= 0);
        close(f);
        assert_int_equal(symlinkat("/", root, "link"), 0);

        sk_pathnode *r, *a, *b, *l, *le;
        assert_int_equal(sk_pathnode_new(NULL, "", &r), 0);
        assert_int_equal(sk_pathnode_new(r, "a", &a), 0);
        assert_int_equal(sk_pathnode_new(a, "b", &b), 0);
        assert_int_equal(sk_pathnode_new(r, "link", &l), 0);
        assert_int_equal(sk_pathnode_new(l, "etc", &le), 0);
        int fd = sk_pathnode_open(root, b);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstatat(fd, "marker", &st, AT_SYMLINK_NOFOLLOW), 0);
        close(fd);
        fd = sk_pathnode_open(root, r);
        assert_true(fd >= 0);
        assert_int_equal(fstatat(fd, "a", &st, AT_SYMLINK_NOFOLLOW), 0);
        close(fd);
        /* A symlink on the way is not followed. */
        assert_true(sk_pathnode_open(root, le) < 0);
        assert_true(sk_pathnode_open(root, l) < 0);
        sk_pathnode_unref(le);
        sk_pathnode_unref(l);
        sk_pathnode_unref(b);
        sk_pathnode_unref(a);
        sk_pathnode_unref(r);
        close(root);
        assert_int_equal(sk_rm_rf(dir), 0);
}

SK_TEST_MAIN(cmocka_unit_test(test_join), cmocka_unit_test(test_deep), cmocka_unit_test(test_open))
