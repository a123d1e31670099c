/* fsmeta: capture every kind of entry and apply it to a fresh copy. */
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
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/fsmeta.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "tests/lib/testutil.h"

typedef struct env {
        char *tmp;
        int a, b;       /* source and target dirs */
        bool root;
} env;

static int setup(void **state) {
        env *e = sk_test_fixture_new(state, sizeof(*e), "sk-test-fsmeta");
        int t = open(e->tmp, O_RDONLY | O_DIRECTORY);
        assert_int_equal(mkdirat(t, "a", 0755), 0);
        assert_int_equal(mkdirat(t, "b", 0755), 0);
        e->a = openat(t, "a", O_RDONLY | O_DIRECTORY);
        e->b = openat(t, "b", O_RDONLY | O_DIRECTORY);
        close(t);
        e->root = geteuid() == 0;
        return 0;
}

static int teardown(void **state) {
        env *e = *state;
        close(e->a);
        close(e->b);
        return sk_test_fixture_free(e);
}

static void capture(int dirfd, const char *name, sk_node *n) {
        struct stat st;
        assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(sk_fsmeta_capture(dirfd, name, -1, &st, n), 0);
}

static const sk_xattr *find_x(const sk_node *n, const char *name) {
        for (size_t i = 0; i < n->n_xattrs; i++)
                if (!strcmp(n->xattrs[i].name, name))
                        return &n->xattrs[i];
        return NULL;
}

static void assert_same(const sk_node *x, const sk_node *y) {
        assert_int_equal(x->type, y->type);
        if (x->type != SK_NODE_SYMLINK)
                assert_int_equal(x->mode, y->mode);
        assert_int_equal(x->uid, y->uid);
        assert_int_equal(x->gid, y->gid);
        assert_int_equal(x->mtime.tv_sec, y->mtime.tv_sec);
        assert_int_equal(x->mtime.tv_nsec, y->mtime.tv_nsec);
        assert_int_equal(x->atime.tv_sec, y->atime.tv_sec);
        assert_int_equal(x->atime.tv_nsec, y->atime.tv_nsec);
        assert_int_equal(x->rdev_major, y->rdev_major);
        assert_int_equal(x->rdev_minor, y->rdev_minor);
        assert_int_equal(x->n_xattrs, y->n_xattrs);
        for (size_t i = 0; i < x->n_xattrs; i++) {
                assert_string_equal(x->xattrs[i].name, y->xattrs[i].name);
                assert_int_equal(x->xattrs[i].value_len, y->xattrs[i].value_len);
                assert_memory_equal(x->xattrs[i].value, y->xattrs[i].value, x->xattrs[i].value_len);
        }
        if (x->type == SK_NODE_SYMLINK)
                assert_string_equal(x->target, y->target);
}

/* Capture a/name, recreate it as b/name, apply, capture again, compare. */
static void roundtrip(env *e, const char *name) {
        sk_node x = {}, y = {};
        capture(e->a, name, &x);
        if (x.type == SK_NODE_FILE) {
                int fd = openat(e->b, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
                assert_true(fd >= 0);
                const char *what = NULL;
                assert_int_equal(sk_fsmeta_apply(e->b, name, fd, &x, e->root ? 0 : SK_APPLY_NO_OWNER, &what), 0);
                close(fd);
        } else if (x.type == SK_NODE_DIR) {
                assert_int_equal(mkdirat(e->b, name, 0700), 0);
                assert_int_equal(sk_fsmeta_apply(e->b, name, -1, &x, e->root ? 0 : SK_APPLY_NO_OWNER, NULL), 0);
        } else {
                assert_int_equal(sk_fsmeta_create_special(e->b, name, &x), 0);
                assert_int_equal(sk_fsmeta_apply(e->b, name, -1, &x, e->root ? 0 : SK_APPLY_NO_OWNER, NULL), 0);
        }
        capture(e->b, name, &y);
        assert_same(&x, &y);
        sk_node_clear(&x);
        sk_node_clear(&y);
}

static void stamp(int dirfd, const char *name, long s, long ns) {
        struct timespec ts[2] = { { s - 7, ns + 1 }, { s, ns } };
        assert_int_equal(utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_file(void **state) {
        env *e = *state;
        int fd = openat(e->a, "f", O_WRONLY | O_CREAT, 0644);
        assert_int_equal(fsetxattr(fd, "user.b", "2", 1, 0), 0);
        assert_int_equal(fsetxattr(fd, "user.a", "\0\1\2", 3, 0), 0);
        close(fd);
        assert_int_equal(fchmodat(e->a, "f", 06751, 0), 0);
        if (e->root)
                assert_int_equal(fchownat(e->a, "f", 1000, 1001, 0), 0), assert_int_equal(fchmodat(e->a, "f", 06751, 0), 0);
        stamp(e->a, "f", 1234567890, 987654321);
        sk_node n = {};
        capture(e->a, "f", &n);
        assert_int_equal(n.type, SK_NODE_FILE);
        assert_int_equal(n.mode, 06751);
        assert_int_equal(n.n_xattrs, 2);
        assert_string_equal(n.xattrs[0].name, "user.a"); /* sorted */
        sk_node_clear(&n);
        roundtrip(e, "f");
}

static void test_dir_symlink_fifo(void **state) {
        env *e = *state;
        assert_int_equal(mkdirat(e->a, "d", 01777), 0);
        assert_int_equal(fchmodat(e->a, "d", 01777, 0), 0);
        stamp(e->a, "d", 1000000000, 1);
        roundtrip(e, "d");
        assert_int_equal(symlinkat("target/\xfe\xff", e->a, "l"), 0);
        stamp(e->a, "l", 1000000001, 2);
        roundtrip(e, "l");
        assert_int_equal(mkfifoat(e->a, "p", 0604), 0);
        stamp(e->a, "p", 1000000002, 3);
        roundtrip(e, "p");
}

static void test_devices_and_overlay(void **state) {
        env *e = *state;
        if (!e->root || mknodat(e->a, "wh", S_IFCHR | 0, makedev(0, 0)) < 0) {
                print_message("SKIP: mknod not permitted\n");
                skip();
        }
        stamp(e->a, "wh", 1100000000, 4);
        roundtrip(e, "wh");
        assert_int_equal(mknodat(e->a, "blk", S_IFBLK | 0640, makedev(8, 17)), 0);
        roundtrip(e, "blk");
        sk_node n = {};
        capture(e->a, "blk", &n);
        assert_int_equal(n.rdev_major, 8);
        assert_int_equal(n.rdev_minor, 17);
        sk_node_clear(&n);

        assert_int_equal(mkdirat(e->a, "opq", 0755), 0);
        char *p;
        assert_true(asprintf(&p, "%s/a/opq", e->tmp) > 0);
        if (lsetxattr(p, "trusted.overlay.opaque", "y", 1, 0) < 0) {
                free(p);
                print_message("SKIP: trusted.* not permitted\n");
                skip();
        }
        free(p);
        stamp(e->a, "opq", 1100000001, 5);
        roundtrip(e, "opq");
        /* trusted.* on a whiteout char device, via the /proc path. */
        assert_true(asprintf(&p, "%s/a/wh", e->tmp) > 0);
        assert_int_equal(lsetxattr(p, "trusted.overlay.origin", "\x00\xfb", 2, 0), 0);
        free(p);
        assert_int_equal(unlinkat(e->b, "wh", 0), 0);
        roundtrip(e, "wh");
}

static void test_capability_after_chown(void **state) {
        env *e = *state;
        static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x04 };
        int fd = openat(e->a, "c", O_WRONLY | O_CREAT, 0755);
        if (!e->root || fsetxattr(fd, "security.capability", cap, sizeof(cap), 0) < 0) {
                close(fd);
                print_message("SKIP: security.capability not settable\n");
                skip();
        }
        close(fd);
        assert_int_equal(fchownat(e->a, "c", 0, 0, 0), 0); /* clears it... */
        fd = openat(e->a, "c", O_RDONLY);
        assert_int_equal(fsetxattr(fd, "security.capability", cap, sizeof(cap), 0), 0);
        close(fd);
        sk_node x = {};
        capture(e->a, "c", &x);
        assert_non_null(find_x(&x, "security.capability"));
        /* Target owned by someone else first: apply must chown, then set the capability. */
        x.uid = 1234;
        x.gid = 1234;
        fd = openat(e->b, "c", O_WRONLY | O_CREAT, 0755);
        assert_int_equal(sk_fsmeta_apply(e->b, "c", fd, &x, 0, NULL), 0);
        close(fd);
        sk_node y = {};
        capture(e->b, "c", &y);
        assert_int_equal(y.uid, 1234);
        const sk_xattr *c = find_x(&y, "security.capability");
        assert_non_null(c);
        assert_int_equal(c->value_len, sizeof(cap));
        sk_node_clear(&x);
        sk_node_clear(&y);
}

static void test_long_names(void **state) {
        env *e = *state;
        /* Deep path beyond PATH_MAX: capture works relative to the deepest fd. */
        char comp[256];
        memset(comp, 'x', 250);
        comp[250] = 0;
        int cur = dup(e->a);
        for (int i = 0; i < 20; i++) {
                assert_int_equal(mkdirat(cur, comp, 0755), 0);
                int n = openat(cur, comp, O_RDONLY | O_DIRECTORY);
                close(cur);
                cur = n;
        }
        int fd = openat(cur, "leaf", O_WRONLY | O_CREAT, 0600);
        assert_int_equal(fsetxattr(fd, "user.deep", "1", 1, 0), 0);
        close(fd);
        sk_node n = {};
        capture(cur, "leaf", &n);
        assert_non_null(find_x(&n, "user.deep"));
        assert_int_equal(sk_fsmeta_apply(cur, "leaf", -1, &n, SK_APPLY_NO_OWNER, NULL), 0);
        sk_node_clear(&n);
        close(cur);
}

/* sk_dir_names and sk_dir_names_fresh (common/fsutil.h), read with
 * getdents64: a listing longer than one 32 KiB read, sorted, without "." and
 * "..", the same when one directory descriptor is listed twice (each listing
 * reopens "."), the fresh variant consuming its descriptor, and an empty
 * directory. */
static void test_dir_names(void **state) {
        env *e = *state;
        enum { N = 1500 };
        char name[256];
        for (int i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "%04d-%0200d", (i * 7919) % N, i);
                int fd = openat(e->a, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
                assert_true(fd >= 0);
                close(fd);
        }
        for (int pass = 0; pass < 2; pass++) {
                char **v;
                size_t n;
                assert_int_equal(sk_dir_names(e->a, true, &v, &n), 0);
                assert_int_equal(n, N);
                assert_null(v[n]);
                for (size_t i = 0; i < n; i++) {
                        assert_int_equal(strlen(v[i]), 205);
                        assert_int_equal(atoi(v[i]), (int) i);  /* each prefix once, in order */
                }
                sk_strv_free(v, n);
        }
        /* through a fresh descriptor itself: the same names, and its position consumed */
        int fd = openat(e->a, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        char **v;
        size_t n;
        assert_int_equal(sk_dir_names_fresh(fd, false, &v, &n), 0);
        assert_int_equal(n, N);
        sk_strv_free(v, n);
        assert_int_equal(sk_dir_names_fresh(fd, false, &v, &n), 0);
        assert_int_equal(n, 0);
        sk_strv_free(v, n);
        close(fd);
        assert_int_equal(sk_dir_names(e->b, false, &v, &n), 0);
        assert_int_equal(n, 0);
        assert_null(v[0]);
        sk_strv_free(v, n);
        assert_int_equal(sk_dir_names(-1, false, &v, &n), -EBADF);
}

/* Size of b/name's security.capability, or -1. */
static ssize_t getxattr_at(env *e, const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/b/%s", e->tmp, name) > 0);
        ssize_t l = lgetxattr(p, "security.capability", NULL, 0);
        free(p);
        return l;
}
/* A FIFO (or device) swapped for a symlink between its creation and the
 * metadata step: apply must not change the symlink's target. */
static void test_special_swapped_for_symlink(void **state) {
        env *e = *state;
        int fd = openat(e->a, "victim", O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
        sk_node x = { .name = (char *) "p", .type = SK_NODE_FIFO, .mode = 0666, .uid = 4321, .gid = 4321 };
        assert_int_equal(sk_fsmeta_create_special(e->b, "p", &x), 0);
        assert_int_equal(unlinkat(e->b, "p", 0), 0);
        char *target = NULL;
        assert_true(asprintf(&target, "%s/a/victim", e->tmp) > 0);
        assert_int_equal(symlinkat(target, e->b, "p"), 0);
        free(target);
        const char *what = NULL;
        assert_int_equal(sk_fsmeta_apply(e->b, "p", -1, &x, e->root ? 0 : SK_APPLY_NO_OWNER, &what), -ESTALE);
        struct stat st;
        assert_int_equal(fstatat(e->a, "victim", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_uid, geteuid());
}

/* Without the owner (or with NO_PRIVS) setuid/setgid and file capabilities
 * are not restored; setgid on a directory is. */
static void test_no_owner_drops_setid(void **state) {
        env *e = *state;
        static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x04 };
        sk_xattr xa = { .name = (char *) "security.capability", .value = (uint8_t *) cap, .value_len = sizeof(cap) };
        sk_node f = { .name = (char *) "s", .type = SK_NODE_FILE, .mode = 06755, .uid = 0, .gid = 0,
                      .xattrs = &xa, .n_xattrs = e->root ? 1 : 0 };
        sk_node d = { .name = (char *) "d", .type = SK_NODE_DIR, .mode = 02775 };
        const unsigned cases[] = { SK_APPLY_NO_OWNER, SK_APPLY_NO_PRIVS };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int fd = openat(e->b, "s", O_WRONLY | O_CREAT | O_EXCL, 0600);
                assert_true(fd >= 0);
                assert_int_equal(sk_fsmeta_apply(e->b, "s", fd, &f, cases[i], NULL), 0);
                close(fd);
                struct stat st;
                assert_int_equal(fstatat(e->b, "s", &st, 0), 0);
                assert_int_equal(st.st_mode & 07777, 0755);
                assert_true(getxattr_at(e, "s") < 0);
                assert_int_equal(unlinkat(e->b, "s", 0), 0);
                assert_int_equal(mkdirat(e->b, "d", 0700), 0);
                assert_int_equal(sk_fsmeta_apply(e->b, "d", -1, &d, cases[i], NULL), 0);
                assert_int_equal(fstatat(e->b, "d", &st, 0), 0);
                assert_int_equal(st.st_mode & 07777, 02775);
                assert_int_equal(unlinkat(e->b, "d", AT_REMOVEDIR), 0);
        }
        if (!e->root)
                return;
        /* Owners restored by root: kept. */
        int fd = openat(e->b, "s", O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_int_equal(sk_fsmeta_apply(e->b, "s", fd, &f, 0, NULL), 0);
        close(fd);
        struct stat st;
        assert_int_equal(fstatat(e->b, "s", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 06755);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_file), SK_FIXTURE_TEST(test_dir_symlink_fifo),
             SK_FIXTURE_TEST(test_devices_and_overlay), SK_FIXTURE_TEST(test_capability_after_chown),
             SK_FIXTURE_TEST(test_long_names), SK_FIXTURE_TEST(test_special_swapped_for_symlink),
             SK_FIXTURE_TEST(test_no_owner_drops_setid), SK_FIXTURE_TEST(test_dir_names))
