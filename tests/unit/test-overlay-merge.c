/* overlay-merge: layers applied bottom-up give what overlayfs would show. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "container/overlay-merge.h"
#include "common/fsutil.h"
#include "tests/lib/testutil.h"

static void put(int dirfd, const char *name, const char *content) {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(sk_write_all(fd, content, strlen(content)), 0);
        close(fd);
}

static char *get(int dirfd, const char *name) {
        void *buf = NULL;
        size_t len = 0;
        if (sk_read_file(dirfd, name, 4096, &buf, &len) < 0)
                return NULL;
        return buf;
}

static bool exists(int dirfd, const char *name) {
        struct stat st;
        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int opendirat(int dirfd, const char *name) {
        return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void test_merge(void **state) {
        (void) state;
        if (geteuid() != 0) {
                skip(); /* whiteouts are char devices 0:0 and need CAP_MKNOD; opaque dirs need trusted.* xattrs */
        }
        char *tmp = sk_test_mkdtemp("sk-test-ovl");
        int root = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root >= 0);
        for (const char *const *d = (const char *const[]) { "t", "l0", "l0/a", "l0/a/sub", "l0/b", "l0/c", "l1", "l1/a",
                                                            "l1/b", "l1/n", NULL };
             *d; d++)
                assert_int_equal(mkdirat(root, *d, 0755), 0);
        /* lower layer */
        put(root, "l0/a/keep", "keep");
        put(root, "l0/a/gone", "gone");
        put(root, "l0/a/sub/deep", "deep");
        put(root, "l0/b/old", "old");
        put(root, "l0/c/x", "x");
        put(root, "l0/mod", "v1");
        /* upper layer: whiteout a/gone, remove dir c, opaque b, modify mod,
         * new dir n with a hardlink pair, a symlink */
        assert_int_equal(mknodat(root, "l1/a/gone", S_IFCHR | 0, makedev(0, 0)), 0);
        assert_int_equal(mknodat(root, "l1/c", S_IFCHR | 0, makedev(0, 0)), 0);
        int b = opendirat(root, "l1/b");
        assert_int_equal(fsetxattr(b, "trusted.overlay.opaque", "y", 1, 0), 0);
        assert_int_equal(fsetxattr(b, "user.kept", "1", 1, 0), 0);
        close(b);
        put(root, "l1/b/new", "new");
        put(root, "l1/mod", "v2");
        put(root, "l1/n/h1", "hl");
        assert_int_equal(linkat(root, "l1/n/h1", root, "l1/n/h2", 0), 0);
        assert_int_equal(symlinkat("../mod", root, "l1/n/link"), 0);
        struct timespec ts[2] = { { 1600000000, 123 }, { 1650000000, 456789 } };
        int a1 = opendirat(root, "l1/a");
        assert_int_equal(futimens(a1, ts), 0);
        close(a1);

        int t = opendirat(root, "t");
        for (const char *const *l = (const char *const[]) { "l0", "l1", NULL }; *l; l++) {
                int lfd = opendirat(root, *l);
                char *detail = NULL;
                int r = sk_overlay_apply(t, lfd, &detail);
                if (r < 0)
                        fail_msg("apply %s: %s", *l, detail ? detail : strerror(-r));
                free(detail);
                close(lfd);
        }
        char *s;
        assert_string_equal(s = get(t, "a/keep"), "keep"), free(s);
        assert_string_equal(s = get(t, "a/sub/deep"), "deep"), free(s);
        assert_false(exists(t, "a/gone"));
        assert_false(exists(t, "c"));
        assert_false(exists(t, "b/old"));
        assert_string_equal(s = get(t, "b/new"), "new"), free(s);
        assert_string_equal(s = get(t, "mod"), "v2"), free(s);
        struct stat s1, s2;
        assert_int_equal(fstatat(t, "n/h1", &s1, 0), 0);
        assert_int_equal(fstatat(t, "n/h2", &s2, 0), 0);
        assert_int_equal(s1.st_ino, s2.st_ino);
        char lt[64] = { 0 };
        assert_int_equal(readlinkat(t, "n/link", lt, sizeof(lt) - 1), 6);
        assert_string_equal(lt, "../mod");
        /* the upper dir's metadata wins, set after its content is final */
        assert_int_equal(fstatat(t, "a", &s1, 0), 0);
        assert_int_equal(s1.st_mtim.tv_sec, 1650000000);
        assert_int_equal(s1.st_mtim.tv_nsec, 456789);
        /* overlay-private xattrs are dropped, others kept */
        char v[8];
        int bt = opendirat(t, "b");
        assert_true(fgetxattr(bt, "trusted.overlay.opaque", v, sizeof(v)) < 0);
        assert_int_equal(fgetxattr(bt, "user.kept", v, sizeof(v)), 1);
        close(bt);
        close(t);
        close(root);
        assert_int_equal(sk_rm_rf(tmp), 0);
        free(tmp);
}

/* A layer deeper than the fds the merge may use (RLIMIT_NOFILE 64 while it
 * runs): fd use must not grow with depth. Files before and after each
 * subdirectory are moved into directories whose fds were closed and
 * reopened; every directory's mtime comes from the layer. */
#define DEEP 300
static void test_deep(void **state) {
        (void) state;
        char *tmp = sk_test_mkdtemp("sk-test-ovl-deep");
        int root = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(mkdirat(root, "t", 0755), 0);
        assert_int_equal(mkdirat(root, "l", 0755), 0);
        int fds[DEEP + 1];
        fds[0] = opendirat(root, "l");
        for (int i = 0; i < DEEP; i++) {
                put(fds[i], "a", "a");
                put(fds[i], "z", "z");
                assert_int_equal(mkdirat(fds[i], "d", 0755), 0);
                fds[i + 1] = opendirat(fds[i], "d");
                assert_true(fds[i + 1] >= 0);
        }
        for (int i = DEEP; i >= 0; i--) {
                struct timespec ts[2] = { { 1600000000 + i, 0 }, { 1600000000 + i, 0 } };
                assert_int_equal(futimens(fds[i], ts), 0);
                close(fds[i]);
        }
        int t = opendirat(root, "t"), l = opendirat(root, "l");
        struct rlimit saved, low;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        low = saved;
        low.rlim_cur = 64;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        char *detail = NULL;
        int r = sk_overlay_apply(t, l, &detail);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
        if (r < 0)
                fail_msg("apply: %s", detail ? detail : strerror(-r));
        free(detail);
        int cur = dup(t);
        for (int i = 0; i <= DEEP; i++) {
                struct stat st;
                assert_int_equal(fstat(cur, &st), 0);
                assert_int_equal(st.st_mtim.tv_sec, 1600000000 + i);
                if (i == DEEP)
                        break;
                assert_true(exists(cur, "a") && exists(cur, "z"));
                int next = opendirat(cur, "d");
                close(cur);
                cur = next;
                assert_true(cur >= 0);
        }
        close(cur);
        close(t);
        close(l);
        close(root);
        assert_int_equal(sk_rm_rf(tmp), 0);
        free(tmp);
}

SK_TEST_MAIN(cmocka_unit_test(test_merge), cmocka_unit_test(test_deep))
