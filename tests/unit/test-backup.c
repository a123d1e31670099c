/* Engine round trip through a real repository: every kind of entry and
 * metadata, hardlinks, a 1 GiB sparse file, xattrs, whiteouts, long paths and
 * non-UTF-8 names are backed up and restored, and a comparison (which is
 * shown to catch each kind of difference) finds them identical. Then
 * incremental change detection, ls/diff, corruption reporting, forget + prune
 * and check. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
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

#include "backup/backup.h"
#include "backup/check.h"
#include "backup/forget.h"
#include "backup/browse.h"
#include "backup/manifest.h"
#include "backup/prune.h"
#include "repo/repo.h"
#include "backup/restore.h"
#include "common/fsutil.h"
#include "tests/lib/testbackup.h"
#include "tests/lib/testrepo.h"

typedef struct env {
        sk_test_repo r;         /* first: the fixture is an sk_test_repo too */
        char *src;
        bool have_whiteout, have_trusted, have_cap, have_acl, root;
} env;

#define LONG_DEPTH 24

/* ---- comparison ------------------------------------------------------------------ */

typedef struct cmp {
        char why[512];
        /* hardlink groups: src ino -> dst ino */
        struct { ino_t s, d; } map[256];
        size_t n_map;
        bool check_atime;
} cmp;

static bool fail_at(cmp *c, const char *path, const char *what) {
        snprintf(c->why, sizeof(c->why), "%s: %s", path, what);
        return false;
}

static bool same_xattrs(cmp *c, const char *path, int sd, const char *sn, int dd, const char *dn) {
        char sp[64], dp[64], sl[4096], dl[4096];
        snprintf(sp, sizeof(sp), "/proc/self/fd/%d/", sd);
        snprintf(dp, sizeof(dp), "/proc/self/fd/%d/", dd);
        char *sfull, *dfull;
        assert_true(asprintf(&sfull, "%s%s", sp, sn) > 0);
        assert_true(asprintf(&dfull, "%s%s", dp, dn) > 0);
        ssize_t a = llistxattr(sfull, sl, sizeof(sl)), b = llistxattr(dfull, dl, sizeof(dl));
        bool ok = a == b && a >= 0;
        /* Same set of names (kernel order may differ): every name of a in b with equal value. */
        for (ssize_t i = 0; ok && i < a; i += strlen(sl + i) + 1) {
                char va[65536], vb[65536];
                ssize_t x = lgetxattr(sfull, sl + i, va, sizeof(va)), y = lgetxattr(dfull, sl + i, vb, sizeof(vb));
                if (x != y || x < 0 || memcmp(va, vb, x) != 0) {
                        ok = false;
                        snprintf(c->why, sizeof(c->why), "%s: xattr %s differs", path, sl + i);
                }
        }
        if (!ok && !c->why[0])
                snprintf(c->why, sizeof(c->why), "%s: xattr lists differ", path);
        free(sfull);
        free(dfull);
        return ok;
}

static bool same_content(cmp *c, const char *path, int sfd, int dfd, off_t size) {
        /* Hole layout first: data extents must match. */
        off_t so = 0, dof = 0;
        for (;;) {
                off_t a = lseek(sfd, so, SEEK_DATA), b = lseek(dfd, dof, SEEK_DATA);
                if (a != b)
                        return fail_at(c, path, "hole layout differs (SEEK_DATA)");
                if (a < 0)
                        break;
                off_t ah = lseek(sfd, a, SEEK_HOLE), bh = lseek(dfd, b, SEEK_HOLE);
                if (ah != bh)
                        return fail_at(c, path, "hole layout differs (SEEK_HOLE)");
                so = dof = ah;
                if (ah >= size)
                        break;
        }
        static char a[1 << 16], b[1 << 16];
        off_t off = 0;
        while (off < size) {
                off_t d = lseek(sfd, off, SEEK_DATA);
                if (d < 0)
                        break;
                off_t h = lseek(sfd, d, SEEK_HOLE);
                for (off_t p = d; p < h;) {
                        size_t want = (size_t) (h - p < (off_t) sizeof(a) ? h - p : (off_t) sizeof(a));
                        ssize_t x = pread(sfd, a, want, p), y = pread(dfd, b, want, p);
                        if (x != y || x <= 0 || memcmp(a, b, x) != 0)
                                return fail_at(c, path, "content differs");
                        p += x;
                }
                off = h;
        }
        return true;
}

static bool compare_dirs(cmp *c, int sd, int dd, const char *path);

static bool compare_entry(cmp *c, int sd, int dd, const char *name, const char *path) {
        struct stat s, d;
        if (fstatat(sd, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
                return fail_at(c, path, "source missing");
        if (fstatat(dd, name, &d, AT_SYMLINK_NOFOLLOW) < 0)
                return fail_at(c, path, "missing in restore");
        if ((s.st_mode & S_IFMT) != (d.st_mode & S_IFMT))
                return fail_at(c, path, "type differs");
        if (!S_ISLNK(s.st_mode) && (s.st_mode & 07777) != (d.st_mode & 07777))
                return fail_at(c, path, "mode differs");
        if (s.st_uid != d.st_uid || s.st_gid != d.st_gid)
                return fail_at(c, path, "owner differs");
        if (s.st_mtim.tv_sec != d.st_mtim.tv_sec || s.st_mtim.tv_nsec != d.st_mtim.tv_nsec)
                return fail_at(c, path, "mtime differs");
        if (c->check_atime && S_ISREG(s.st_mode) &&
            (s.st_atim.tv_sec != d.st_atim.tv_sec || s.st_atim.tv_nsec != d.st_atim.tv_nsec))
                return fail_at(c, path, "atime differs");
        if ((S_ISCHR(s.st_mode) || S_ISBLK(s.st_mode)) && s.st_rdev != d.st_rdev)
                return fail_at(c, path, "device numbers differ");
        if (S_ISREG(s.st_mode) && s.st_size != d.st_size)
                return fail_at(c, path, "size differs");
        if (!same_xattrs(c, path, sd, name, dd, name))
                return false;
        if (S_ISREG(s.st_mode) && s.st_nlink > 1) {
                size_t i;
                for (i = 0; i < c->n_map; i++)
                        if (c->map[i].s == s.st_ino)
                                break;
                if (i < c->n_map && c->map[i].d != d.st_ino)
                        return fail_at(c, path, "hardlink group broken");
                if (i == c->n_map) {
                        for (size_t k = 0; k < c->n_map; k++)
                                if (c->map[k].d == d.st_ino)
                                        return fail_at(c, path, "hardlink groups merged");
                        c->map[c->n_map].s = s.st_ino;
                        c->map[c->n_map].d = d.st_ino;
                        c->n_map++;
                }
        }
        if (s.st_nlink != d.st_nlink && !S_ISDIR(s.st_mode))
                return fail_at(c, path, "link count differs");
        if (S_ISLNK(s.st_mode)) {
                char a[PATH_MAX], b[PATH_MAX];
                ssize_t x = readlinkat(sd, name, a, sizeof(a)), y = readlinkat(dd, name, b, sizeof(b));
                if (x != y || memcmp(a, b, x) != 0)
                        return fail_at(c, path, "symlink target differs");
        }
        if (S_ISREG(s.st_mode)) {
                int sf = openat(sd, name, O_RDONLY | O_NOATIME), df = openat(dd, name, O_RDONLY | O_NOATIME);
                bool ok = sf >= 0 && df >= 0 && same_content(c, path, sf, df, s.st_size);
                close(sf);
                close(df);
                if (!ok)
                        return c->why[0] ? false : fail_at(c, path, "cannot open");
        }
        if (S_ISDIR(s.st_mode)) {
                int sf = openat(sd, name, O_RDONLY | O_DIRECTORY), df = openat(dd, name, O_RDONLY | O_DIRECTORY);
                bool ok = sf >= 0 && df >= 0 && compare_dirs(c, sf, df, path);
                close(sf);
                close(df);
                return ok;
        }
        return true;
}

static int names(int fd, char ***ret) {
        int dfd = dup(fd);
        DIR *d = fdopendir(dfd);
        rewinddir(d);
        char **v = NULL;
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                v = realloc(v, (n + 1) * sizeof(char *));
                v[n++] = strdup(de->d_name);
        }
        closedir(d);
        for (int i = 0; i < n; i++)
                for (int k = i + 1; k < n; k++)
                        if (strcmp(v[i], v[k]) > 0) {
                                char *t = v[i];
                                v[i] = v[k];
                                v[k] = t;
                        }
        *ret = v;
        return n;
}

static bool compare_dirs(cmp *c, int sd, int dd, const char *path) {
        char **a, **b;
        int na = names(sd, &a), nb = names(dd, &b);
        bool ok = na == nb;
        if (!ok)
                fail_at(c, path, "directory entries differ");
        for (int i = 0; ok && i < na; i++) {
                if (strcmp(a[i], b[i]) != 0) {
                        ok = fail_at(c, path, "directory entry names differ");
                        break;
                }
                char *p;
                assert_true(asprintf(&p, "%s/%s", path, a[i]) > 0);
                ok = compare_entry(c, sd, dd, a[i], p);
                free(p);
        }
        for (int i = 0; i < na; i++)
                free(a[i]);
        for (int i = 0; i < nb; i++)
                free(b[i]);
        free(a);
        free(b);
        return ok;
}

/* Compare directory src with dst (both paths); on failure c->why says where. */
static bool trees_identical(cmp *c, const char *src, const char *dst) {
        memset(c, 0, sizeof(*c));
        c->check_atime = true;
        int sd = open(src, O_RDONLY | O_DIRECTORY), dd = open(dst, O_RDONLY | O_DIRECTORY);
        assert_true(sd >= 0 && dd >= 0);
        bool ok = compare_dirs(c, sd, dd, ".");
        close(sd);
        close(dd);
        return ok;
}

/* ---- the generated tree --------------------------------------------------------------- */

static void write_file(int dirfd, const char *name, const void *data, size_t len, mode_t mode) {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, mode);
        assert_true(fd >= 0);
        assert_int_equal(sk_write_all(fd, data, len), 0);
        fchmod(fd, mode);
        close(fd);
}

static void fill_random(void *buf, size_t len, uint32_t seed) {
        uint8_t *p = buf;
        uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
        for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = (uint8_t) x;
        }
}

static void set_times(int dirfd, const char *name, long sec, long nsec) {
        struct timespec ts[2] = { { sec - 1000, nsec / 2 }, { sec, nsec } };
        assert_int_equal(utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void make_tree(env *e) {
        int root = open(e->src, O_RDONLY | O_DIRECTORY);
        assert_true(root >= 0);
        write_file(root, "small", "hello\n", 6, 0644);
        write_file(root, "empty", "", 0, 0600);
        size_t mid_len = 3 << 20;
        char *mid = malloc(mid_len);
        fill_random(mid, mid_len, 1);
        write_file(root, "mid", mid, mid_len, 0640);
        free(mid);
        assert_int_equal(mkdirat(root, "empty-dir", 0750), 0);
        assert_int_equal(mkdirat(root, "a", 0755), 0);
        assert_int_equal(mkdirat(root, "b", 0755), 0);
        write_file(root, "a/h1", "hardlinked content", 18, 0644);
        assert_int_equal(linkat(root, "a/h1", root, "b/h2", 0), 0);
        assert_int_equal(linkat(root, "a/h1", root, "b/h3", 0), 0);
        write_file(root, "b/other", "other", 5, 0644);
        assert_int_equal(symlinkat("../\xff target", root, "link"), 0);
        assert_int_equal(mkfifoat(root, "fifo", 0640), 0);
        write_file(root, "\xff\xfe-not-utf8", "bytes", 5, 0644);
        write_file(root, "setuid", "#!/bin/sh\n", 10, 04755);
        assert_int_equal(fchmodat(root, "setuid", 04755, 0), 0);
        assert_int_equal(fchmodat(root, "a", 03775, 0), 0); /* setgid + sticky dir */

        /* 1 GiB sparse file with data only at its ends. */
        int fd = openat(root, "sparse", O_WRONLY | O_CREAT, 0644);
        char blk[4096];
        fill_random(blk, sizeof(blk), 2);
        assert_int_equal(sk_pwrite_all(fd, blk, sizeof(blk), 0), 0);
        assert_int_equal(sk_pwrite_all(fd, blk, sizeof(blk), (1LL << 30) - 4096), 0);
        close(fd);

        /* xattrs */
        int xf = openat(root, "small", O_RDONLY);
        assert_int_equal(fsetxattr(xf, "user.comment", "\x00\x01binary", 8, 0), 0);
        assert_int_equal(fsetxattr(xf, "user.empty", "", 0, 0), 0);
        close(xf);
        if (e->root) {
                e->have_trusted = true;
                assert_int_equal(mkdirat(root, "opaque", 0755), 0);
                write_file(root, "opaque/inside", "x", 1, 0644);
                int od = openat(root, "opaque", O_RDONLY | O_DIRECTORY);
                if (fsetxattr(od, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        e->have_trusted = false;
                close(od);
                e->have_whiteout = mknodat(root, "whiteout", S_IFCHR | 0, makedev(0, 0)) == 0;
                mknodat(root, "blockdev", S_IFBLK | 0660, makedev(7, 200));
                assert_int_equal(fchownat(root, "small", 1234, 5678, 0), 0);
                assert_int_equal(fchownat(root, "link", 4321, 8765, AT_SYMLINK_NOFOLLOW), 0);
                /* chown cleared setuid; set it again after chown, as a user would. */
                assert_int_equal(fchownat(root, "setuid", 0, 100, 0), 0);
                assert_int_equal(fchmodat(root, "setuid", 04755, 0), 0);
                /* File capability cap_net_bind_service+ep (VFS_CAP_REVISION_2). */
                write_file(root, "capped", "binary", 6, 0755);
                static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00 };
                int cf = openat(root, "capped", O_RDONLY);
                e->have_cap = fsetxattr(cf, "security.capability", cap, sizeof(cap), 0) == 0;
                close(cf);
        }
        /* POSIX ACL: user::rw- user:1234:r-- group::r-- mask::r-- other::--- */
        static const uint8_t acl[] = {
                2, 0, 0, 0,
                1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
                2, 0, 4, 0, 0xd2, 0x04, 0, 0,
                4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
                0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
                0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        };
        write_file(root, "acl-file", "acl", 3, 0640);
        int af = openat(root, "acl-file", O_RDONLY);
        e->have_acl = fsetxattr(af, "system.posix_acl_access", acl, sizeof(acl), 0) == 0;
        close(af);

        /* Many small files. */
        assert_int_equal(mkdirat(root, "many", 0755), 0);
        for (int i = 0; i < 2000; i++) {
                char nm[64], body[64];
                snprintf(nm, sizeof(nm), "many/f%05d", i);
                int bl = snprintf(body, sizeof(body), "small file %d\n", i);
                write_file(root, nm, body, (size_t) bl, 0644);
        }

        /* A path far longer than PATH_MAX. */
        char comp[201];
        memset(comp, 'd', 200);
        comp[200] = 0;
        int cur = dup(root);
        for (int i = 0; i < LONG_DEPTH; i++) {
                assert_int_equal(mkdirat(cur, comp, 0755), 0);
                int n = openat(cur, comp, O_RDONLY | O_DIRECTORY);
                close(cur);
                cur = n;
        }
        write_file(cur, "deep-file", "deep", 4, 0644);
        set_times(cur, "deep-file", 1600000000, 1);
        close(cur);

        /* Distinct nanosecond times everywhere (dirs last, they change with their children). */
        const char *files[] = { "small", "empty", "mid", "a/h1", "b/other", "link", "fifo", "\xff\xfe-not-utf8",
                                "setuid", "sparse", "acl-file" };
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
                set_times(root, files[i], 1600000000 + (long) i * 1000, 123456789 + (long) i);
        if (e->root) {
                set_times(root, "opaque/inside", 1500000000, 5);
                set_times(root, "capped", 1500000001, 6);
                if (e->have_whiteout)
                        set_times(root, "whiteout", 1500000002, 7);
                set_times(root, "opaque", 1500000003, 8);
        }
        set_times(root, "empty-dir", 1400000000, 999999999);
        set_times(root, "a", 1400000001, 1);
        set_times(root, "b", 1400000002, 2);
        close(root);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static int setup(void **state) {
        env *e = sk_test_repo_new(state, sizeof(*e), "sk-test-backup");
        e->src = sk_test_path(e->r.dir, "src");
        assert_int_equal(mkdir(e->src, 0755), 0);
        e->root = geteuid() == 0;
        sk_test_repo_init(&e->r, e->r.repo_path, "correct horse",
                          &(sk_repo_init_opts){ .scrypt_log2n = 10, .chunk_min = 16 << 10, .chunk_avg = 64 << 10,
                                                .chunk_max = 256 << 10, .pack_size = 1 << 20 });
        make_tree(e);
        return 0;
}

static int teardown(void **state) {
        env *e = *state;
        free(e->src);
        return sk_test_repo_free(e);
}

typedef sk_test_problems problems;

static void do_backup(env *e, sk_backup_result *res, bool no_parent) {
        problems pr = {};
        const char *srcs[] = { e->src };
        sk_backup_options o = { .sources = srcs, .n_sources = 1, .hostname = "testhost", .no_parent = no_parent,
                                .problem = sk_test_on_problem, .userdata = &pr };
        assert_int_equal(sk_backup_run(e->r.repo, &o, res), 0);
        assert_int_equal(pr.n_err, 0);
        assert_int_equal(res->summary.errors, 0);
}

static char *restore_to(env *e, const char *id, const char *name, int expect, problems *pr) {
        char *dst;
        assert_true(asprintf(&dst, "%s/%s", e->r.dir, name) > 0);
        sk_restore_options ro = { .target = dst, .problem = sk_test_on_problem, .userdata = pr };
        sk_restore_result rr;
        assert_int_equal(sk_restore_run(e->r.repo, id, &ro, &rr), expect);
        return dst;
}

/* Backup id restores to e->r.dir/name, identical to e->src. */
static void assert_restores_src(env *e, const char *id, const char *name) {
        problems pr = {};
        char *dst = restore_to(e, id, name, 0, &pr);
        char *restored;
        assert_true(asprintf(&restored, "%s/src", dst) > 0);
        cmp c;
        bool same = trees_identical(&c, e->src, restored);
        if (!same)
                print_message("difference: %s\n", c.why);
        assert_true(same);
        free(restored);
        free(dst);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_roundtrip(void **state) {
        env *e = *state;
        sk_backup_result res;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do_backup(e, &res, false);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double bsec = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        /* Only the sparse file's two data blocks were read, not its 1 GiB. */
        assert_true(res.bytes_read < (16u << 20));
        assert_true(res.summary.bytes > (1u << 30));
        assert_true(bsec < 20);
        if (!e->root)
                print_message("SKIP parts: not root (whiteouts, trusted.*, owners, capabilities)\n");
        if (e->root && !e->have_whiteout)
                print_message("SKIP part: mknod of a whiteout not permitted\n");
        if (e->root && !e->have_cap)
                print_message("SKIP part: security.capability not settable here\n");
        if (e->root && !e->have_trusted)
                print_message("SKIP part: trusted.* xattrs not settable here\n");
        if (!e->have_acl)
                print_message("SKIP part: filesystem has no POSIX ACLs\n");

        problems pr = {};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char *dst = restore_to(e, res.id, "dst", 0, &pr);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_equal(pr.n_err, 0);
        double rsec = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(rsec < 20);

        char *restored;
        assert_true(asprintf(&restored, "%s/src", dst) > 0);
        cmp c;
        bool same = trees_identical(&c, e->src, restored);
        if (!same)
                print_message("difference: %s\n", c.why);
        assert_true(same);

        /* The restored sparse file is still sparse. */
        struct stat st;
        char *sp;
        assert_true(asprintf(&sp, "%s/sparse", restored) > 0);
        assert_int_equal(stat(sp, &st), 0);
        assert_int_equal(st.st_size, 1LL << 30);
        assert_true(st.st_blocks * 512 < (1 << 20));
        free(sp);

        /* The comparison can fail: each kind of difference is caught. */
        int rd = open(restored, O_RDONLY | O_DIRECTORY);
        assert_true(rd >= 0);
        assert_int_equal(fchmodat(rd, "mid", 0600, 0), 0);
        assert_false(trees_identical(&c, e->src, restored));
        assert_non_null(strstr(c.why, "mode"));
        assert_int_equal(fchmodat(rd, "mid", 0640, 0), 0);
        assert_true(trees_identical(&c, e->src, restored));

        struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1600000002, 5 } };
        assert_int_equal(utimensat(rd, "mid", ts, 0), 0);
        assert_false(trees_identical(&c, e->src, restored));
        assert_non_null(strstr(c.why, "mtime"));
        struct stat orig;
        char *midp;
        assert_true(asprintf(&midp, "%s/mid", e->src) > 0);
        assert_int_equal(stat(midp, &orig), 0);
        free(midp);
        struct timespec back[2] = { { 0, UTIME_OMIT }, orig.st_mtim };
        assert_int_equal(utimensat(rd, "mid", back, 0), 0);
        assert_true(trees_identical(&c, e->src, restored));

        if (e->root) {
                assert_int_equal(fchownat(rd, "empty", 1, 1, 0), 0);
                assert_false(trees_identical(&c, e->src, restored));
                assert_non_null(strstr(c.why, "owner"));
                assert_int_equal(fchownat(rd, "empty", 0, 0, 0), 0);
                assert_true(trees_identical(&c, e->src, restored));
        }

        int xf = openat(rd, "small", O_RDONLY);
        assert_int_equal(fsetxattr(xf, "user.comment", "changed", 7, 0), 0);
        assert_false(trees_identical(&c, e->src, restored));
        assert_non_null(strstr(c.why, "xattr"));
        assert_int_equal(fsetxattr(xf, "user.comment", "\x00\x01binary", 8, 0), 0);
        close(xf);
        assert_true(trees_identical(&c, e->src, restored));

        char tgt[64];
        ssize_t tl = readlinkat(rd, "link", tgt, sizeof(tgt));
        assert_true(tl > 0);
        assert_int_equal(unlinkat(rd, "link", 0), 0);
        assert_int_equal(symlinkat("elsewhere", rd, "link"), 0);
        assert_false(trees_identical(&c, e->src, restored));
        assert_int_equal(unlinkat(rd, "link", 0), 0);
        tgt[tl] = 0;
        assert_int_equal(symlinkat(tgt, rd, "link"), 0);
        if (e->root)
                assert_int_equal(fchownat(rd, "link", 4321, 8765, AT_SYMLINK_NOFOLLOW), 0);
        struct timespec lts[2] = { { 0, UTIME_OMIT }, { 1600000000 + 5 * 1000, 123456789 + 5 } };
        assert_int_equal(utimensat(rd, "link", lts, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(trees_identical(&c, e->src, restored));

        /* Content change of same size, same times. */
        int mf = openat(rd, "b/other", O_WRONLY);
        assert_int_equal(sk_pwrite_all(mf, "X", 1, 0), 0);
        close(mf);
        struct timespec ots[2] = { { 1600000000 + 4 * 1000 - 1000, (123456789 + 4) / 2 }, { 1600000000 + 4 * 1000, 123456789 + 4 } };
        assert_int_equal(utimensat(rd, "b/other", ots, 0), 0);
        assert_false(trees_identical(&c, e->src, restored));
        assert_non_null(strstr(c.why, "content"));

        assert_int_equal(unlinkat(rd, "b/h3", 0), 0);
        write_file(rd, "b/h3", "hardlinked content", 18, 0644);
        assert_false(trees_identical(&c, e->src, restored));

        int sf = openat(rd, "sparse", O_WRONLY);
        assert_int_equal(sk_pwrite_all(sf, "x", 1, 1 << 29), 0);
        close(sf);
        assert_false(trees_identical(&c, e->src, restored));

        close(rd);
        print_message("figure: backup of test tree %.3fs, restore %.3fs\n", bsec, rsec);
        free(restored);
        free(dst);
}

static void test_incremental(void **state) {
        env *e = *state;
        sk_backup_result r1, r2, r3, r4;
        do_backup(e, &r1, false);
        do_backup(e, &r2, false);
        /* Second run: parent auto-selected, no unchanged file read. */
        assert_string_equal(r2.parent_id, r1.id);
        assert_int_equal(r2.bytes_read, 0);
        assert_int_equal(r2.summary.files_new + r2.summary.files_changed, 0);
        assert_true(r2.summary.files_unmodified >= 10);
        assert_true(r2.summary.added_bytes < r1.summary.bytes / 100);
        /* An unchanged file keeps its xattrs (taken from the parent, not listed). */
        sk_node xn = {};
        assert_int_equal(sk_backup_lookup(e->r.repo, r2.id, "/src/small", &xn), 0);
        assert_int_equal(xn.n_xattrs, 2);
        assert_string_equal(xn.xattrs[0].name, "user.comment");
        assert_int_equal(xn.xattrs[0].value_len, 8);
        assert_memory_equal(xn.xattrs[0].value, "\x00\x01binary", 8);
        assert_string_equal(xn.xattrs[1].name, "user.empty");
        sk_node_clear(&xn);

        /* Change one file: only it is read. */
        int root = open(e->src, O_RDONLY | O_DIRECTORY);
        char buf[100000];
        fill_random(buf, sizeof(buf), 3);
        write_file(root, "b/other", buf, sizeof(buf), 0644);
        write_file(root, "new-file", "new", 3, 0644);
        assert_int_equal(unlinkat(root, "empty", 0), 0);
        close(root);
        do_backup(e, &r3, false);
        assert_int_equal(r3.bytes_read, sizeof(buf) + 3);
        assert_int_equal(r3.summary.files_changed, 1);
        assert_int_equal(r3.summary.files_new, 1);

        /* Without a parent everything is read, yet nothing new is stored. */
        do_backup(e, &r4, true);
        assert_true(r4.bytes_read >= (3u << 20));
        assert_int_equal(r4.parent_id[0], 0);
        assert_true(r4.summary.added_bytes < 64 << 10);

        /* diff r2 -> r3 */
        sk_diff_result dr;
        assert_int_equal(sk_diff(e->r.repo, r2.id, r3.id, NULL, NULL, &dr), 0);
        assert_int_equal(dr.added, 1);
        assert_int_equal(dr.removed, 1);
        assert_int_equal(dr.modified, 1);
        assert_int_equal(sk_diff(e->r.repo, r3.id, r4.id, NULL, NULL, &dr), 0);
        assert_int_equal(dr.added + dr.removed + dr.modified, 0);

        /* ls and lookup */
        sk_node n = {};
        assert_int_equal(sk_backup_lookup(e->r.repo, r3.id, "/src/b/other", &n), 0);
        assert_int_equal(n.size, sizeof(buf));
        sk_node_clear(&n);
        assert_int_equal(sk_backup_lookup(e->r.repo, r3.id, "src/empty", &n), -ENOENT);
        char prefix[9];
        memcpy(prefix, r3.id, 8);
        prefix[8] = 0;
        char full[SK_BACKUP_ID_HEX + 1];
        assert_int_equal(sk_backup_resolve(e->r.repo, prefix, full), 0);
        assert_string_equal(full, r3.id);
        assert_int_equal(sk_backup_resolve(e->r.repo, "latest", full), 0);
        assert_string_equal(full, r4.id);

        /* Restore of a subtree only. */
        problems pr = {};
        char *dst;
        assert_true(asprintf(&dst, "%s/partial", e->r.dir) > 0);
        const char *inc[] = { "src/b" };
        sk_restore_options ro = { .target = dst, .includes = inc, .n_includes = 1, .problem = sk_test_on_problem, .userdata = &pr };
        sk_restore_result rr;
        assert_int_equal(sk_restore_run(e->r.repo, r3.id, &ro, &rr), 0);
        char *p;
        struct stat st;
        assert_true(asprintf(&p, "%s/src/b/h2", dst) > 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_nlink, 2); /* h2 and h3; a/h1 was not included */
        free(p);
        assert_true(asprintf(&p, "%s/src/mid", dst) > 0);
        assert_int_equal(stat(p, &st), -1);
        free(p);
        free(dst);
        const char *bad_inc[] = { "src/nope" };
        ro.includes = bad_inc;
        assert_int_equal(sk_restore_run(e->r.repo, r3.id, &ro, &rr), -ENOENT);

        /* An xattr changed on an otherwise untouched file is seen (its ctime moved). */
        sk_backup_result r5;
        root = open(e->src, O_RDONLY | O_DIRECTORY);
        int xf = openat(root, "small", O_RDONLY);
        assert_int_equal(fsetxattr(xf, "user.comment", "changed", 7, 0), 0);
        assert_int_equal(fremovexattr(xf, "user.empty"), 0);
        close(xf);
        close(root);
        do_backup(e, &r5, false);
        assert_string_equal(r5.parent_id, r4.id);
        assert_int_equal(r5.summary.files_changed, 1);
        assert_int_equal(sk_backup_lookup(e->r.repo, r5.id, "/src/small", &xn), 0);
        assert_int_equal(xn.n_xattrs, 1);
        assert_int_equal(xn.xattrs[0].value_len, 7);
        assert_memory_equal(xn.xattrs[0].value, "changed", 7);
        sk_node_clear(&xn);
}

static int find_pack_cb(const char *pack, const sk_blob_info *bi, void *ud) {
        struct { uint8_t id[32]; char pack[80]; uint32_t off, len; } *f = ud;
        if (memcmp(bi->id.b, f->id, 32) == 0) {
                snprintf(f->pack, sizeof(f->pack), "%s", pack);
                f->off = bi->offset;
                f->len = bi->length;
        }
        return 0;
}

static void test_corruption(void **state) {
        env *e = *state;
        sk_backup_result r1;
        do_backup(e, &r1, false);
        sk_node n = {};
        assert_int_equal(sk_backup_lookup(e->r.repo, r1.id, "src/mid", &n), 0);
        assert_true(n.n_chunks > 1);
        struct { uint8_t id[32]; char pack[80]; uint32_t off, len; } f = {};
        memcpy(f.id, n.chunks[1].id, 32);
        sk_node_clear(&n);
        assert_int_equal(sk_repo_foreach_blob(e->r.repo, find_pack_cb, &f), 0);
        assert_true(f.pack[0]);
        char *pp;
        assert_true(asprintf(&pp, "%s/data/%.2s/%s", e->r.repo_path, f.pack, f.pack) > 0);
        int fd = open(pp, O_RDWR);
        assert_true(fd >= 0);
        uint8_t byte;
        off_t at = (off_t) f.off + f.len / 2;
        assert_int_equal(pread(fd, &byte, 1, at), 1);
        byte ^= 0x40;
        assert_int_equal(pwrite(fd, &byte, 1, at), 1);
        close(fd);
        free(pp);

        /* Reopen so nothing is cached. */
        sk_repo_free(e->r.repo);
        assert_int_equal(sk_repo_open(e->r.repo_path, e->r.secret, &e->r.repo), 0);

        problems pr = { .want = { "src/mid" } };
        char *dst = restore_to(e, r1.id, "dst-corrupt", -EIO, &pr);
        assert_true(pr.saw_path_with[0]);
        assert_true(pr.n_err >= 1);
        assert_true(pr.last_blob[0]);
        print_message("restore error: %s: %s\n", pr.last_path, pr.last_detail);
        char *p;
        struct stat st;
        assert_true(asprintf(&p, "%s/src/mid", dst) > 0);
        assert_int_equal(stat(p, &st), -1); /* no partial file left behind */
        free(p);
        assert_true(asprintf(&p, "%s/src/small", dst) > 0);
        assert_int_equal(stat(p, &st), 0); /* the others restored */
        assert_int_equal(st.st_size, 6);
        free(p);
        free(dst);

        problems cp = { .want = { "src/mid" } };
        sk_check_options co = { .read_data = true, .problem = sk_test_on_problem, .userdata = &cp };
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), -EBADMSG);
        assert_true(cp.saw_path_with[0]);
        assert_true(cr.errors >= 2);
        assert_true(cr.packs_read >= 1);
        assert_string_equal(cp.last_pack, f.pack);
        assert_string_equal(cp.last_backup, r1.id);
        print_message("check error: %s %s pack %s: %s\n", cp.last_backup, cp.last_path, cp.last_pack, cp.last_detail);

        /* Without --read-data the structure is fine. */
        co.read_data = false;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), 0);
}

static void test_forget_prune(void **state) {
        env *e = *state;
        sk_backup_result r[3];
        for (int i = 0; i < 3; i++) {
                int root = open(e->src, O_RDONLY | O_DIRECTORY);
                char *buf = malloc(1 << 20);
                fill_random(buf, 1 << 20, 100 + i);
                write_file(root, "changing", buf, 1 << 20, 0644);
                free(buf);
                close(root);
                do_backup(e, &r[i], false);
        }
        sk_repo_stats before, after;
        assert_int_equal(sk_repo_get_stats(e->r.repo, &before), 0);
        sk_forget_policy pol = { .keep_last = 1 };
        sk_forget_result fr;
        assert_int_equal(sk_forget_run(e->r.repo, &pol, false, 0, NULL, NULL, &fr), 0);
        assert_int_equal(fr.removed, 2);
        assert_int_equal(fr.kept, 1);
        /* Delayed deletion: the first prune only marks (and repacks), so a
         * backup whose lock was wrongly judged stale loses nothing; one after
         * the grace period deletes. */
        sk_prune_options po = { .grace_seconds = 4 };   /* room for a loaded machine */
        sk_prune_result pres;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pres), 0);
        assert_true(pres.packs_trashed >= 1);
        assert_int_equal(pres.packs_deleted, 0);
        assert_int_equal(sk_repo_get_stats(e->r.repo, &after), 0);
        assert_true(after.pack_bytes >= before.pack_bytes);
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pres), 0);
        assert_int_equal(pres.packs_deleted, 0);        /* not yet */
        assert_true(pres.packs_waiting >= 1);
        sleep(5);
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pres), 0);
        assert_true(pres.packs_deleted >= 1);
        assert_int_equal(pres.packs_trashed, 0);
        assert_int_equal(sk_repo_get_stats(e->r.repo, &after), 0);
        assert_true(after.pack_bytes < before.pack_bytes);
        print_message("figure: prune freed %llu bytes (%llu packs deleted, %llu repacked)\n",
                      (unsigned long long) (before.pack_bytes - after.pack_bytes),
                      (unsigned long long) pres.packs_deleted, (unsigned long long) pres.packs_repacked);

        /* Everything left checks clean, data included, and restores. */
        sk_repo_free(e->r.repo);
        assert_int_equal(sk_repo_open(e->r.repo_path, e->r.secret, &e->r.repo), 0);
        problems cp = {};
        sk_check_options co = { .read_data = true, .problem = sk_test_on_problem, .userdata = &cp };
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), 0);
        assert_int_equal(cr.backups, 1);
        assert_restores_src(e, r[2].id, "dst-after-prune");

        sk_stats st;
        assert_int_equal(sk_stats_compute(e->r.repo, NULL, NULL, NULL, &st), 0);
        assert_int_equal(st.backups, 1);
        assert_true(st.unique_size > 0 && st.stored_size > 0);
}

typedef struct find_data_pack {
        char pack[80];
} find_data_pack;

static int find_data_pack_cb(const char *pack, const sk_blob_info *bi, void *ud) {
        find_data_pack *f = ud;
        if (bi->type == SK_BLOB_DATA && !f->pack[0])
                snprintf(f->pack, sizeof(f->pack), "%s", pack);
        return 0;
}

/* A pack that vanished from storage (deleted by hand, or by an old prune
 * racing a stalled backup): check reports its index entries, prune drops
 * them, and the next backup stores the data again instead of
 * deduplicating against blobs that no longer exist. */
static void test_missing_pack_entries_dropped(void **state) {
        env *e = *state;
        sk_backup_result r1, r2;
        do_backup(e, &r1, true);
        find_data_pack fp = {};
        assert_int_equal(sk_repo_foreach_blob(e->r.repo, find_data_pack_cb, &fp), 0);
        assert_true(fp.pack[0]);
        char *path;
        assert_true(asprintf(&path, "%s/data/%.2s/%s", e->r.repo_path, fp.pack, fp.pack) > 0);
        assert_int_equal(unlink(path), 0);
        free(path);

        problems cp = {};
        sk_check_options co = { .problem = sk_test_on_problem, .userdata = &cp };
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), -EBADMSG);
        assert_true(cr.errors > 0);

        sk_prune_options po = {};
        sk_prune_result pres;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pres), 0);
        assert_true(pres.index_entries_missing > 0);

        do_backup(e, &r2, true);
        assert_restores_src(e, r2.id, "dst-after-missing");
}

typedef struct tree_packs {
        char *v[64];
        size_t n;
} tree_packs;

static int tree_pack_cb(const char *pack, const sk_blob_info *bi, void *ud) {
        tree_packs *t = ud;
        if (bi->type != SK_BLOB_TREE)
                return 0;
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->v[i], pack) == 0)
                        return 0;
        assert_true(t->n < sizeof(t->v) / sizeof(t->v[0]));
        t->v[t->n++] = strdup(pack);
        return 0;
}

/* Delayed deletion's undelete: packs trashed while unreferenced, then named
 * again by a backup that appeared before their grace period ended (here: its
 * manifest put back, and only its trees indexed again), are not deleted by
 * the prune after the grace period: their blobs are indexed again and the
 * backup restores. */
static void test_prune_undelete(void **state) {
        env *e = *state;
        sk_backup_result r1;
        do_backup(e, &r1, true);
        tree_packs tp = {};
        assert_int_equal(sk_repo_foreach_blob(e->r.repo, tree_pack_cb, &tp), 0);
        assert_true(tp.n > 0);
        char *mpath, *mdir;
        void *mbuf;
        size_t mlen;
        assert_true(asprintf(&mdir, "%s/backups", e->r.repo_path) > 0);
        assert_true(asprintf(&mpath, "%s/%s", mdir, r1.id) > 0);
        assert_int_equal(sk_read_file(AT_FDCWD, mpath, 1 << 20, &mbuf, &mlen), 0);
        assert_int_equal(sk_repo_delete_object(e->r.repo, "backups", r1.id), 0);

        sk_prune_options po = { .grace_seconds = 1 };
        sk_prune_result pres;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pres), 0);
        assert_true(pres.packs_trashed > tp.n);
        assert_int_equal(pres.packs_deleted, 0);

        /* the backup is back, its trees indexed, its data only in trashed packs */
        int dfd = open(mdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(sk_write_file_atomic(dfd, r1.id, mbuf, mlen, 0600), 0);
        close(dfd);
        assert_int_equal(sk_repo_rewrite_index_add(e->r.repo, NULL, NULL, tp.v, tp.n), 0);

        sleep(2);
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pres), 0);
        assert_true(pres.packs_undeleted > tp.n);
        assert_int_equal(pres.packs_deleted, 0);
        assert_int_equal(pres.trash_records_removed, 1);

        problems cp = {};
        sk_check_options co = { .read_data = true, .problem = sk_test_on_problem, .userdata = &cp };
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), 0);
        assert_int_equal(cr.warnings, 0);
        assert_restores_src(e, r1.id, "dst-undeleted");
        free(mbuf);
        free(mpath);
        free(mdir);
        for (size_t i = 0; i < tp.n; i++)
                free(tp.v[i]);
}

typedef struct prog {
        int calls;
        uint64_t last_files, last_bytes;
        int cancel_after;
} prog;

static int on_progress(const sk_progress *p, void *ud) {
        prog *g = ud;
        assert_true(p->files_done >= g->last_files);
        assert_true(p->bytes_done >= g->last_bytes);
        assert_non_null(p->current);
        g->last_files = p->files_done;
        g->last_bytes = p->bytes_done;
        g->calls++;
        return g->cancel_after && g->calls >= g->cancel_after ? -ECANCELED : 0;
}

static void test_progress_cancel(void **state) {
        env *e = *state;
        const char *srcs[] = { e->src };
        prog g = { .cancel_after = 50 };
        sk_backup_options o = { .sources = srcs, .n_sources = 1, .progress = on_progress, .userdata = &g };
        sk_backup_result res;
        assert_int_equal(sk_backup_run(e->r.repo, &o, &res), -ECANCELED);
        sk_manifest **list = NULL;
        size_t n = 0;
        assert_int_equal(sk_backup_list(e->r.repo, NULL, NULL, &list, &n), 0);
        assert_int_equal(n, 0); /* a cancelled backup leaves no manifest */
        sk_backup_list_free(list, n);

        g = (prog) {};
        assert_int_equal(sk_backup_run(e->r.repo, &o, &res), 0);
        assert_true(g.calls > 2000);
        assert_int_equal(g.last_files, res.summary.files + res.summary.dirs);

        /* The leftovers of the cancelled run are not referenced; prune is happy and check is clean. */
        sk_prune_options po = {};
        sk_prune_result pr;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pr), 0);
        sk_check_options co = { .read_data = true };
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), 0);
        assert_int_equal(cr.warnings, 0);

        g = (prog) {};
        char *dst;
        assert_true(asprintf(&dst, "%s/dst-progress", e->r.dir) > 0);
        sk_restore_options ro = { .target = dst, .progress = on_progress, .userdata = &g };
        sk_restore_result rr;
        assert_int_equal(sk_restore_run(e->r.repo, res.id, &ro, &rr), 0);
        assert_true(g.calls > 0);
        assert_int_equal(rr.errors, 0);
        free(dst);
}

/* Deeper than restore's window of open directory fds (32) and than the fds
 * it may use (RLIMIT_NOFILE 256 during the restore: fd use must not grow
 * with depth): files before and after each subdirectory, so the walk writes
 * into directories whose fd it closed and reopened; every directory's mtime
 * is checked. A restore cancelled deep down (walk abandoned with jobs in
 * flight) cleans up. */
#define DEEP 300
static void test_deep_restore(void **state) {
        env *e = *state;
        int fds[DEEP + 1];
        fds[0] = open(e->src, O_RDONLY | O_DIRECTORY);
        assert_int_equal(mkdirat(fds[0], "deep", 0755), 0);
        int top = openat(fds[0], "deep", O_RDONLY | O_DIRECTORY);
        close(fds[0]);
        fds[0] = top;
        for (int i = 0; i < DEEP; i++) {
                char buf[32];
                for (int k = 0; k < 2; k++) {
                        int fd = openat(fds[i], k ? "z" : "a", O_WRONLY | O_CREAT | O_EXCL, 0644);
                        int l = snprintf(buf, sizeof(buf), "%c%d", k ? 'z' : 'a', i);
                        assert_int_equal(write(fd, buf, (size_t) l), l);
                        close(fd);
                }
                assert_int_equal(mkdirat(fds[i], "d", 0755), 0);
                fds[i + 1] = openat(fds[i], "d", O_RDONLY | O_DIRECTORY);
                assert_true(fds[i + 1] >= 0);
        }
        for (int i = DEEP; i >= 0; i--) {
                struct timespec ts[2] = { { 1500000000 + i, 0 }, { 1500000000 + i, 0 } };
                assert_int_equal(futimens(fds[i], ts), 0);
                close(fds[i]);
        }
        sk_backup_result res;
        do_backup(e, &res, false);
        problems pr = {};
        struct rlimit saved, low;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        low = saved;
        low.rlim_cur = 256;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        char *dst = restore_to(e, res.id, "dst-deep", 0, &pr);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
        assert_int_equal(pr.n_err, 0);
        char *p;
        assert_true(asprintf(&p, "%s/src/deep", dst) > 0);
        int cur = open(p, O_RDONLY | O_DIRECTORY);
        free(p);
        for (int i = 0; i <= DEEP; i++) {
                assert_true(cur >= 0);
                struct stat st;
                assert_int_equal(fstat(cur, &st), 0);
                assert_int_equal(st.st_mtim.tv_sec, 1500000000 + i);
                for (int k = 0; k < 2 && i < DEEP; k++) {
                        char want[32], got[32] = { 0 };
                        snprintf(want, sizeof(want), "%c%d", k ? 'z' : 'a', i);
                        int fd = openat(cur, k ? "z" : "a", O_RDONLY);
                        assert_true(fd >= 0);
                        assert_true(read(fd, got, sizeof(got) - 1) > 0);
                        close(fd);
                        assert_string_equal(got, want);
                }
                int next = i < DEEP ? openat(cur, "d", O_RDONLY | O_DIRECTORY) : -1;
                close(cur);
                cur = next;
        }
        free(dst);

        prog g = { .cancel_after = 3 };
        assert_true(asprintf(&dst, "%s/dst-deep-cancel", e->r.dir) > 0);
        sk_restore_options ro = { .target = dst, .progress = on_progress, .userdata = &g };
        sk_restore_result rr;
        assert_int_equal(sk_restore_run(e->r.repo, res.id, &ro, &rr), -ECANCELED);
        free(dst);
}

/* ---- the walk's memory bound (walk_memory_max) ----------------------------------------- */

/* Fill directory fd with n small files with long names (a listing of ~40 KB decoded). */
static void fill_listing(int fd, int n) {
        for (int i = 0; i < n; i++) {
                char name[160];
                snprintf(name, sizeof(name), "%03d-%0140d", i, 0);
                int f = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
                assert_true(f >= 0);
                assert_int_equal(write(f, name, 3), 3);
                close(f);
        }
}

/* Only the listings along one path count: twelve wide siblings restore
 * whole under a bound that three of them would pass (finished siblings wait
 * for their metadata, and their listings are freed before anything is
 * refused), while twelve such listings nested are cut where the bound is
 * reached, with one named error. */
static void test_walk_memory_bound(void **state) {
        env *e = *state;
        int src = open(e->src, O_RDONLY | O_DIRECTORY);
        assert_true(src >= 0);
        assert_int_equal(mkdirat(src, "wide", 0755), 0);
        int wide = openat(src, "wide", O_RDONLY | O_DIRECTORY);
        for (int i = 0; i < 12; i++) {
                char name[16];
                snprintf(name, sizeof(name), "s%02d", i);
                assert_int_equal(mkdirat(wide, name, 0755), 0);
                int fd = openat(wide, name, O_RDONLY | O_DIRECTORY);
                fill_listing(fd, 60);
                close(fd);
        }
        close(wide);
        assert_int_equal(mkdirat(src, "nest", 0755), 0);
        int cur = openat(src, "nest", O_RDONLY | O_DIRECTORY);
        for (int i = 0; i < 12; i++) {
                fill_listing(cur, 60);
                assert_int_equal(mkdirat(cur, "zz", 0755), 0);
                int next = openat(cur, "zz", O_RDONLY | O_DIRECTORY);
                close(cur);
                cur = next;
        }
        close(cur);
        close(src);
        sk_backup_result res;
        do_backup(e, &res, false);

        problems pr = { .want = { "src/wide", "src/nest/zz/zz" } };
        char *dst;
        assert_true(asprintf(&dst, "%s/dst-bound", e->r.dir) > 0);
        sk_restore_options ro = { .target = dst, .problem = sk_test_on_problem, .userdata = &pr,
                                  .walk_memory_max = 160 << 10 };
        sk_restore_result rr;
        assert_int_equal(sk_restore_run(e->r.repo, res.id, &ro, &rr), -EIO);
        /* The fixture's "many" (a big listing of its own) is refused too. */
        assert_int_equal(pr.n_err, 2);
        assert_false(pr.saw_path_with[0]);
        assert_true(pr.saw_path_with[1]);
        assert_non_null(strstr(pr.last_detail, "would exceed 160 KiB"));
        char *p;
        struct stat st;
        assert_true(asprintf(&p, "%s/src/wide/s11/011-%0140d", dst, 0) > 0);
        assert_int_equal(stat(p, &st), 0); /* the last sibling is whole */
        free(p);
        /* Two listings nested fit, twelve do not. */
        assert_true(asprintf(&p, "%s/src/nest/zz/000-%0140d", dst, 0) > 0);
        assert_int_equal(stat(p, &st), 0);
        free(p);
        assert_true(asprintf(&p, "%s/src/nest/zz/zz/zz/zz/zz/zz/zz/zz/zz/zz/zz/000-%0140d", dst, 0) > 0);
        assert_int_equal(stat(p, &st), -1);
        free(p);
        free(dst);
}

/* ---- a regular file replaced by a FIFO between the stat and the open ----------------- */

typedef struct swap_ctx {
        env *e;
        bool done;
} swap_ctx;

/* The first progress report comes after the first entry, when every entry of
 * the directory was stat'ed already: turn two regular files into FIFOs. */
static swap_ctx *swap_state;

static int swap_to_fifo(const sk_progress *p, void *ud) {
        swap_ctx *sc = swap_state;
        (void) p;
        (void) ud;
        if (sc->done)
                return 0;
        sc->done = true;
        const char *victims[] = { "zz-big", "zz-small" };
        for (size_t i = 0; i < 2; i++) {
                char *path;
                assert_true(asprintf(&path, "%s/swap/%s", sc->e->src, victims[i]) > 0);
                assert_int_equal(unlink(path), 0);
                assert_int_equal(mkfifo(path, 0644), 0);
                free(path);
        }
        return 0;
}

static void on_problem_swap(const sk_problem *p, void *ud) {
        problems *pr = ud;
        sk_test_on_problem(p, ud);
        if (p->kind == SK_PROBLEM_WARNING && strstr(p->detail ?: "", "replaced by a non-regular file"))
                pr->saw_path_with[0] = true;
}

/* It used to block in open() forever (no writer), holding the repository
 * lock. Both ways of opening are covered: the walker's own open (a large
 * file) and the read-ahead's (a small file behind 40 others, so that its
 * read-ahead starts only after the swap). */
static void test_fifo_swap(void **state) {
        env *e = *state;
        char *dir;
        assert_true(asprintf(&dir, "%s/swap", e->src) > 0);
        assert_int_equal(mkdir(dir, 0755), 0);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        assert_true(dfd >= 0);
        for (int i = 0; i < 40; i++) {
                char name[16];
                snprintf(name, sizeof(name), "f%02d", i);
                write_file(dfd, name, "x", 1, 0644);
        }
        static uint8_t big[512 << 10];
        write_file(dfd, "zz-big", big, sizeof(big), 0644);
        write_file(dfd, "zz-small", "y", 1, 0644);
        close(dfd);

        const char *srcs[] = { dir };
        problems pr = {};
        swap_ctx sc = { .e = e };
        sk_backup_options o = { .sources = srcs, .n_sources = 1, .hostname = "testhost", .no_parent = true,
                                .progress = swap_to_fifo, .problem = on_problem_swap, .userdata = &pr };
        sk_backup_result res;
        swap_state = &sc;
        alarm(60); /* a hang fails the test instead of the whole run's timeout */
        assert_int_equal(sk_backup_run(e->r.repo, &o, &res), 0);
        alarm(0);
        swap_state = NULL;
        assert_true(sc.done);
        assert_true(pr.saw_path_with[0]);
        assert_int_equal(res.warnings, 2);
        assert_int_equal(res.summary.errors, 0);
        assert_int_equal(res.summary.files, 40);
        free(dir);
}

/* ---- a deep tree: the walk and every reader run without recursion ----------------------- */

static int count_ls(const char *path, const sk_node *node, void *ud) {
        (void) path;
        (void) node;
        (*(size_t *) ud)++;
        return 0;
}

/* Deeper than one descriptor per level allows under the limit set here: the
 * walk used to recurse (a 40,000-deep chain crashed the CLI with SIGSEGV)
 * holding a descriptor per level (EMFILE here). The readers (ls, diff, check,
 * stats, prune) recursed too. */
static void test_deep_tree(void **state) {
        env *e = *state;
        const int depth = 3000; /* the 100,000-deep case is tests/integration/test-deep-trees.sh */
        char *dir;
        assert_true(asprintf(&dir, "%s/deep", e->r.dir) > 0);
        assert_int_equal(mkdir(dir, 0755), 0);
        int fd = sk_test_chain(dir, depth, 1);
        assert_true(fd >= 0);
        write_file(fd, "leaf", "bottom", 6, 0644);
        close(fd);
        /* A small file after "d" in each of the top levels: read ahead when the
         * walk is at "d", dropped when the level's descriptor is closed deeper
         * down, then read through the re-opened ('..') descriptor. */
        const int zlevels = 40;
        uint64_t zbytes = 0;
        for (int i = 0; i < zlevels; i++) {
                char buf[8];
                size_t len = 1 + (size_t) (i % 7);
                memset(buf, 'a' + i % 26, len);
                int z = sk_test_chain(dir, i, 0);
                assert_true(z >= 0);
                write_file(z, "z", buf, len, 0644);
                close(z);
                zbytes += len;
        }

        struct rlimit old, lim;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        lim = old;
        lim.rlim_cur = 256;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
        int fds = sk_test_count_fds();

        problems pr = {};
        const char *srcs[] = { dir };
        sk_backup_options o = { .sources = srcs, .n_sources = 1, .hostname = "testhost", .no_parent = true,
                                .problem = sk_test_on_problem, .userdata = &pr };
        sk_backup_result r1, r2;
        assert_int_equal(sk_backup_run(e->r.repo, &o, &r1), 0);
        assert_int_equal(pr.n_err, 0);
        assert_int_equal(r1.summary.dirs, depth + 1);
        assert_int_equal(r1.summary.files, 1 + zlevels);
        assert_int_equal(r1.summary.bytes, 6 + zbytes);
        for (int i = 0; i < zlevels; i += 13) {
                /* Each z holds its own level's bytes (not another level's). */
                char *path = NULL;
                assert_true(asprintf(&path, "deep") > 0);
                for (int k = 0; k < i; k++) {
                        char *np = NULL;
                        assert_true(asprintf(&np, "%s/d", path) > 0);
                        free(path);
                        path = np;
                }
                char *zp = NULL;
                assert_true(asprintf(&zp, "%s/z", path) > 0);
                sk_node zn = {};
                assert_int_equal(sk_backup_lookup(e->r.repo, r1.id, zp, &zn), 0);
                assert_int_equal(zn.size, 1 + (uint64_t) (i % 7));
                sk_node_clear(&zn);
                free(zp);
                free(path);
        }
        /* An incremental backup (parent trees loaded per level) after a change at the bottom. */
        o.no_parent = false;
        int c = sk_test_chain(dir, depth, 0);
        assert_true(c >= 0);
        write_file(c, "leaf2", "x", 1, 0644);
        close(c);
        assert_int_equal(sk_backup_run(e->r.repo, &o, &r2), 0);
        assert_int_equal(r2.summary.files_unmodified, 1 + zlevels);
        assert_int_equal(r2.summary.files_new, 1);

        size_t n = 0;
        assert_int_equal(sk_ls(e->r.repo, r1.id, "", true, count_ls, &n), 0);
        assert_int_equal(n, (size_t) (depth + 2 + zlevels)); /* deep, depth x d, leaf, the z files */
        sk_diff_result dr;
        assert_int_equal(sk_diff(e->r.repo, r1.id, r2.id, NULL, NULL, &dr), 0);
        assert_int_equal(dr.added, 1);
        sk_check_options co = {};
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), 0);
        assert_int_equal(cr.trees, 2 * (depth + 2)); /* every level changed: root, deep, depth x d, twice */
        sk_stats st;
        assert_int_equal(sk_stats_compute(e->r.repo, r2.id, NULL, NULL, &st), 0);
        assert_int_equal(st.files, 2 + zlevels);
        sk_prune_options po = {};
        sk_prune_result pres;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &pres), 0);
        assert_int_equal(sk_test_count_fds(), fds);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        free(dir);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_roundtrip), SK_FIXTURE_TEST(test_incremental),
             SK_FIXTURE_TEST(test_corruption), SK_FIXTURE_TEST(test_forget_prune),
             SK_FIXTURE_TEST(test_progress_cancel), SK_FIXTURE_TEST(test_missing_pack_entries_dropped),
             SK_FIXTURE_TEST(test_prune_undelete), SK_FIXTURE_TEST(test_deep_restore),
             SK_FIXTURE_TEST(test_fifo_swap), SK_FIXTURE_TEST(test_deep_tree),
             SK_FIXTURE_TEST(test_walk_memory_bound))
