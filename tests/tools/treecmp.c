/* treecmp: compare two directory trees and report every difference.
 *
 * DESIGN: both trees are walked together, directory by directory, through
 * dirfds (openat/fstatat), so paths of any length work: a full path string is
 * kept only for messages. The walk keeps its stack on the heap and a bounded
 * number of open directories per tree (common/dirstack.h), so trees of any
 * depth (100,000 levels in the tests) compare without recursion or EMFILE. Entries are matched by their raw name bytes, sorted
 * with memcmp so the output order is deterministic. Per entry we compare type,
 * mode bits (incl. setuid/setgid/sticky), uid/gid, mtime in ns (atime with
 * --atime), every xattr of every namespace (read through
 * /proc/self/fd/DIRFD/NAME with the l*xattr calls, so devices, FIFOs and
 * symlinks need not be opened), symlink targets, device numbers, size, the
 * SEEK_DATA/SEEK_HOLE extent list and the bytes. Reading never moves an atime
 * (O_NOATIME; a symlink's atime is put back after readlink, which changes
 * its ctime only). Hardlink groups are compared
 * at the end as partitions: every common non-directory path is mapped to the
 * first path (in walk order) that shares its inode, in each tree, and the two
 * maps must agree.
 *
 * Exit: 0 identical, 1 different (each difference printed on stdout), 2 error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/dirstack.h"
#include "common/macro.h"

static bool opt_atime;
static bool opt_skip_root;
static bool opt_quiet;
static char **opt_exclude;
static size_t n_exclude;
static unsigned long n_diff;
static int hard_error;

/* A common non-directory path and its inode in each tree. */
struct link_ent {
        char *path;
        dev_t dev[2];
        ino_t ino[2];
        size_t rep[2];
        size_t idx;
};
static struct link_ent *links;
static size_t n_links, cap_links;

/* Print path with every byte outside printable ASCII (and the backslash)
 * escaped as \xNN, so non-UTF-8 names are visible and unambiguous. */
static void put_path(const char *p) {
        if (!*p) {
                fputs(".", stdout);
                return;
        }
        size_t len = strlen(p);
        if (len > 400) {
                /* Keep long paths readable: head, byte count, tail. */
                for (const unsigned char *c = (const unsigned char *) p; c < (const unsigned char *) p + 120; c++)
                        printf((*c < 0x20 || *c >= 0x7f || *c == '\\') ? "\\x%02x" : "%c", *c);
                printf("...[%zu bytes]...", len);
                p += len - 200;
        }
        for (const unsigned char *c = (const unsigned char *) p; *c; c++) {
                if (*c < 0x20 || *c >= 0x7f || *c == '\\')
                        printf("\\x%02x", *c);
                else
                        putchar(*c);
        }
}

static void put_bytes(const char *b, size_t n) {
        putchar('"');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) b[i];
                if (c < 0x20 || c >= 0x7f || c == '\\' || c == '"')
                        printf("\\x%02x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

_printf_(2, 3) static void diff(const char *path, const char *fmt, ...) {
        va_list ap;
        n_diff++;
        if (opt_quiet)
                return;
        put_path(path);
        fputs(": ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

_printf_(2, 3) static void err(const char *path, const char *fmt, ...) {
        va_list ap;
        hard_error = 1;
        fputs("treecmp: error: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" at ", stderr);
        for (const unsigned char *c = (const unsigned char *) path; *c; c++)
                fprintf(stderr, (*c < 0x20 || *c >= 0x7f) ? "\\x%02x" : "%c", *c);
        fputc('\n', stderr);
}

static bool excluded(const char *path) {
        for (size_t i = 0; i < n_exclude; i++) {
                size_t l = strlen(opt_exclude[i]);
                if (strncmp(path, opt_exclude[i], l) == 0 && (path[l] == 0 || path[l] == '/'))
                        return true;
        }
        return false;
}

static const char *type_name(mode_t m) {
        switch (m & S_IFMT) {
        case S_IFREG: return "regular file";
        case S_IFDIR: return "directory";
        case S_IFLNK: return "symlink";
        case S_IFCHR: return "char device";
        case S_IFBLK: return "block device";
        case S_IFIFO: return "fifo";
        case S_IFSOCK: return "socket";
        default: return "unknown";
        }
}

/* --- xattrs ------------------------------------------------------------- */

struct xa {
        char *name;
        char *val;
        ssize_t len;
};

static int xa_cmp(const void *a, const void *b) {
        return strcmp(((const struct xa *) a)->name, ((const struct xa *) b)->name);
}

/* All xattrs of DIRFD/NAME (not following a final symlink), sorted by name. */
static int read_xattrs(int dirfd, const char *name, const char *path, struct xa **ret, size_t *ret_n) {
        char proc[64 + 256];
        char *list = NULL;
        ssize_t ll;
        struct xa *v = NULL;
        size_t n = 0;

        if (strlen(name) > 255)
                return -ENAMETOOLONG;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
        for (;;) {
                ll = llistxattr(proc, NULL, 0);
                if (ll < 0) {
                        if (errno == ENOTSUP)
                                ll = 0;
                        else {
                                err(path, "llistxattr: %m");
                                return -errno;
                        }
                }
                free(list);
                list = malloc(ll + 1);
                if (!list)
                        exit(2);
                if (ll == 0)
                        break;
                ssize_t r = llistxattr(proc, list, ll);
                if (r >= 0) {
                        ll = r;
                        break;
                }
                if (errno != ERANGE) {
                        err(path, "llistxattr: %m");
                        free(list);
                        return -errno;
                }
        }
        for (ssize_t off = 0; off < ll; off += strlen(list + off) + 1) {
                const char *xn = list + off;
                ssize_t vl;
                char *val = NULL;
                for (;;) {
                        vl = lgetxattr(proc, xn, NULL, 0);
                        if (vl < 0)
                                break;
                        free(val);
                        val = malloc(vl + 1);
                        if (!val)
                                exit(2);
                        ssize_t r = lgetxattr(proc, xn, val, vl);
                        if (r >= 0) {
                                vl = r;
                                break;
                        }
                        if (errno != ERANGE) {
                                vl = -1;
                                break;
                        }
                }
                if (vl < 0) {
                        err(path, "lgetxattr %s: %m", xn);
                        free(val);
                        continue;
                }
                struct xa *nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv)
                        exit(2);
                v = nv;
                v[n].name = strdup(xn);
                v[n].val = val;
                v[n].len = vl;
                n++;
        }
        free(list);
        if (n)
                qsort(v, n, sizeof(*v), xa_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

static void free_xattrs(struct xa *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].val);
        }
        free(v);
}

static void cmp_xattrs(int da, int db, const char *name, const char *path) {
        struct xa *a = NULL, *b = NULL;
        size_t na = 0, nb = 0, i = 0, j = 0;
        if (read_xattrs(da, name, path, &a, &na) < 0 || read_xattrs(db, name, path, &b, &nb) < 0)
                goto out;
        while (i < na || j < nb) {
                int c = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i].name, b[j].name);
                if (c < 0) {
                        diff(path, "xattr %s only in A", a[i].name);
                        i++;
                } else if (c > 0) {
                        diff(path, "xattr %s only in B", b[j].name);
                        j++;
                } else {
                        if (a[i].len != b[j].len || memcmp(a[i].val, b[j].val, a[i].len) != 0) {
                                if (!opt_quiet) {
                                        diff(path, "xattr %s value differs: A=%zd bytes B=%zd bytes", a[i].name,
                                             a[i].len, b[j].len);
                                        fputs("    A=", stdout);
                                        put_bytes(a[i].val, MIN(a[i].len, 64));
                                        fputs("\n    B=", stdout);
                                        put_bytes(b[j].val, MIN(b[j].len, 64));
                                        putchar('\n');
                                } else
                                        n_diff++;
                        }
                        i++;
                        j++;
                }
        }
out:
        free_xattrs(a, na);
        free_xattrs(b, nb);
}

/* --- regular file content and holes ------------------------------------- */

struct extent {
        off_t start, end;
};

/* Data extents per SEEK_DATA/SEEK_HOLE. Returns count or -errno. */
static ssize_t extents(int fd, off_t size, struct extent **ret) {
        struct extent *v = NULL;
        size_t n = 0, cap = 0;
        off_t off = 0;
        while (off < size) {
                off_t d = lseek(fd, off, SEEK_DATA);
                if (d < 0) {
                        if (errno == ENXIO)
                                break;
                        free(v);
                        return -errno;
                }
                off_t h = lseek(fd, d, SEEK_HOLE);
                if (h < 0) {
                        free(v);
                        return -errno;
                }
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        v = realloc(v, cap * sizeof(*v));
                        if (!v)
                                exit(2);
                }
                v[n].start = d;
                v[n].end = h;
                n++;
                off = h;
        }
        *ret = v;
        return (ssize_t) n;
}

/* Compare bytes in [start, end); returns first differing offset or -1. */
static off_t cmp_range(int fa, int fb, off_t start, off_t end, const char *path) {
        static char *ba, *bb;
        const size_t bs = 1 << 20;
        if (!ba) {
                ba = malloc(bs);
                bb = malloc(bs);
                if (!ba || !bb)
                        exit(2);
        }
        for (off_t off = start; off < end;) {
                size_t want = (size_t) MIN((off_t) bs, end - off);
                ssize_t ra = pread(fa, ba, want, off), rb = pread(fb, bb, want, off);
                if (ra < 0 || rb < 0) {
                        err(path, "read: %m");
                        return -1;
                }
                size_t m = (size_t) MIN(ra, rb);
                if (memcmp(ba, bb, m) != 0) {
                        for (size_t k = 0; k < m; k++)
                                if (ba[k] != bb[k])
                                        return off + (off_t) k;
                }
                if (ra != rb)
                        return off + (off_t) m;
                if (ra == 0)
                        break;
                off += ra;
        }
        return -1;
}

static void cmp_regular(int da, int db, const char *name, const char *path, const struct stat *sa,
                        const struct stat *sb) {
        _cleanup_close_ int fa = openat(da, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (fa < 0 && errno == EPERM)
                fa = openat(da, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int fb = openat(db, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (fb < 0 && errno == EPERM)
                fb = openat(db, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fa < 0 || fb < 0) {
                err(path, "open: %m");
                return;
        }
        if (sa->st_size != sb->st_size)
                diff(path, "size differs: A=%lld B=%lld", (long long) sa->st_size, (long long) sb->st_size);

        _cleanup_free_ struct extent *ea = NULL;
        _cleanup_free_ struct extent *eb = NULL;
        ssize_t na = extents(fa, sa->st_size, &ea), nb = extents(fb, sb->st_size, &eb);
        if (na < 0 || nb < 0) {
                err(path, "SEEK_DATA: %s", strerror((int) -(na < 0 ? na : nb)));
                return;
        }
        bool same_layout = na == nb && (na == 0 || memcmp(ea, eb, na * sizeof(*ea)) == 0);
        if (!same_layout) {
                if (opt_quiet)
                        n_diff++;
                else {
                        diff(path, "hole layout differs: A has %zd data extents, B has %zd", na, nb);
                        for (ssize_t k = 0; k < MAX(na, nb) && k < 8; k++) {
                                printf("    extent %zd: ", k);
                                if (k < na)
                                        printf("A=[%lld,%lld) ", (long long) ea[k].start, (long long) ea[k].end);
                                else
                                        printf("A=none ");
                                if (k < nb)
                                        printf("B=[%lld,%lld)\n", (long long) eb[k].start, (long long) eb[k].end);
                                else
                                        printf("B=none\n");
                        }
                }
        }
        off_t bad = -1;
        if (same_layout && sa->st_size == sb->st_size) {
                /* Holes read as zeros in both; only the data extents can differ. */
                for (ssize_t k = 0; k < na && bad < 0; k++)
                        bad = cmp_range(fa, fb, ea[k].start, ea[k].end, path);
        } else
                bad = cmp_range(fa, fb, 0, MAX(sa->st_size, sb->st_size), path);
        if (bad >= 0)
                diff(path, "content differs at offset %lld", (long long) bad);
}

/* --- the walk ------------------------------------------------------------ */

static void note_link(const char *path, const struct stat *sa, const struct stat *sb) {
        if (n_links == cap_links) {
                cap_links = cap_links ? cap_links * 2 : 1024;
                links = realloc(links, cap_links * sizeof(*links));
                if (!links)
                        exit(2);
        }
        links[n_links] = (struct link_ent){
                .path = strdup(path),
                .dev = { sa->st_dev, sb->st_dev },
                .ino = { sa->st_ino, sb->st_ino },
                .idx = n_links,
        };
        n_links++;
}

static int side;
static int link_cmp(const void *x, const void *y) {
        const struct link_ent *a = x, *b = y;
        if (a->dev[side] != b->dev[side])
                return a->dev[side] < b->dev[side] ? -1 : 1;
        if (a->ino[side] != b->ino[side])
                return a->ino[side] < b->ino[side] ? -1 : 1;
        return a->idx < b->idx ? -1 : a->idx > b->idx;
}
static int idx_cmp(const void *x, const void *y) {
        const struct link_ent *a = x, *b = y;
        return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void cmp_links(void) {
        if (n_links == 0)
                return; /* qsort(NULL, 0) is undefined */
        for (side = 0; side < 2; side++) {
                qsort(links, n_links, sizeof(*links), link_cmp);
                for (size_t i = 0; i < n_links; i++) {
                        bool first = i == 0 || links[i].dev[side] != links[i - 1].dev[side] ||
                                     links[i].ino[side] != links[i - 1].ino[side];
                        links[i].rep[side] = first ? links[i].idx : links[i - 1].rep[side];
                }
        }
        qsort(links, n_links, sizeof(*links), idx_cmp);
        for (size_t i = 0; i < n_links; i++) {
                if (links[i].rep[0] == links[i].rep[1])
                        continue;
                const char *ra = links[links[i].rep[0]].path, *rb = links[links[i].rep[1]].path;
                n_diff++;
                if (opt_quiet)
                        continue;
                put_path(links[i].path);
                fputs(": hardlink group differs: A links it to ", stdout);
                if (links[i].rep[0] == i)
                        fputs("(itself first)", stdout);
                else
                        put_path(ra);
                fputs(", B to ", stdout);
                if (links[i].rep[1] == i)
                        fputs("(itself first)", stdout);
                else
                        put_path(rb);
                putchar('\n');
        }
}

static int name_cmp(const void *a, const void *b) {
        const char *x = *(char *const *) a, *y = *(char *const *) b;
        size_t lx = strlen(x), ly = strlen(y);
        int c = memcmp(x, y, MIN(lx, ly) + 1);
        return c;
}

/* Sorted entry names of an open directory (fd is duplicated, not consumed). */
static int list_dir(int dfd, const char *path, char ***ret, size_t *ret_n) {
        int fd = dup(dfd);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        rewinddir(d);
        char **v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        v = realloc(v, cap * sizeof(*v));
                        if (!v)
                                exit(2);
                }
                v[n++] = strdup(de->d_name);
        }
        if (errno) {
                err(path, "readdir: %m");
        }
        closedir(d);
        if (n)
                qsort(v, n, sizeof(*v), name_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}


/* readlink() updates a symlink's atime and has no O_NOATIME; when it moved,
 * put the atime seen before back (UTIME_OMIT keeps mtime), so that another
 * name of the same inode (a hardlinked symlink) is not compared with the
 * atime our own read gave it. On a read-only or noatime mount nothing moves. */
static ssize_t readlink_keep_atime(int dfd, const char *name, const struct stat *before, char *buf, size_t size) {
        ssize_t l = readlinkat(dfd, name, buf, size);
        struct stat after;
        if (l >= 0 && fstatat(dfd, name, &after, AT_SYMLINK_NOFOLLOW) == 0 &&
            (after.st_atim.tv_sec != before->st_atim.tv_sec || after.st_atim.tv_nsec != before->st_atim.tv_nsec)) {
                struct timespec ts[2] = { before->st_atim, { .tv_nsec = UTIME_OMIT } };
                (void) utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
        }
        return l;
}

static void ts_str(char *buf, size_t sz, const struct timespec *t) {
        snprintf(buf, sz, "%lld.%09ld", (long long) t->tv_sec, t->tv_nsec);
}

/* Timestamps are compared last: for directories, after the walk below
 * (which does not modify them; O_NOATIME keeps reads from touching atime). */
static void cmp_times(const char *path, const struct stat *sa, const struct stat *sb) {
        char a[48], b[48];
        if (sa->st_mtim.tv_sec != sb->st_mtim.tv_sec || sa->st_mtim.tv_nsec != sb->st_mtim.tv_nsec) {
                ts_str(a, sizeof(a), &sa->st_mtim);
                ts_str(b, sizeof(b), &sb->st_mtim);
                diff(path, "mtime differs: A=%s B=%s", a, b);
        }
        if (opt_atime && (sa->st_atim.tv_sec != sb->st_atim.tv_sec || sa->st_atim.tv_nsec != sb->st_atim.tv_nsec)) {
                ts_str(a, sizeof(a), &sa->st_atim);
                ts_str(b, sizeof(b), &sb->st_atim);
                diff(path, "atime differs: A=%s B=%s", a, b);
        }
}

/* Compare DA/NAME with DB/NAME (NAME "." for the roots). Returns true for a
 * pair of directories, to be walked (*ret_sa, *ret_sb: their stats, whose
 * times the caller compares after the walk, if *ret_meta). */
static bool cmp_entry(int da, int db, const char *name, const char *path, bool is_root, struct stat *ret_sa,
                      struct stat *ret_sb, bool *ret_meta) {
        struct stat sa, sb;
        if (fstatat(da, name, &sa, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(db, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
                err(path, "stat: %m");
                return false;
        }
        if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
                diff(path, "type differs: A=%s B=%s", type_name(sa.st_mode), type_name(sb.st_mode));
                return false;
        }
        bool meta = !(is_root && opt_skip_root);
        if (meta) {
                if ((sa.st_mode & 07777) != (sb.st_mode & 07777))
                        diff(path, "mode differs: A=%04o B=%04o", sa.st_mode & 07777, sb.st_mode & 07777);
                if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid)
                        diff(path, "owner differs: A=%u:%u B=%u:%u", sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid);
        }
        if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
                if (sa.st_rdev != sb.st_rdev)
                        diff(path, "device number differs: A=%u:%u B=%u:%u", major(sa.st_rdev), minor(sa.st_rdev),
                             major(sb.st_rdev), minor(sb.st_rdev));
        } else if (S_ISLNK(sa.st_mode)) {
                char ta[PATH_MAX + 1], tb[PATH_MAX + 1];
                ssize_t la = readlink_keep_atime(da, name, &sa, ta, sizeof(ta));
                ssize_t lb = readlink_keep_atime(db, name, &sb, tb, sizeof(tb));
                if (la < 0 || lb < 0)
                        err(path, "readlink: %m");
                else if (la != lb || memcmp(ta, tb, la) != 0) {
                        if (opt_quiet)
                                n_diff++;
                        else {
                                diff(path, "symlink target differs:");
                                fputs("    A=", stdout);
                                put_bytes(ta, la);
                                fputs("\n    B=", stdout);
                                put_bytes(tb, lb);
                                putchar('\n');
                        }
                }
        } else if (S_ISREG(sa.st_mode))
                cmp_regular(da, db, name, path, &sa, &sb);

        if (meta)
                cmp_xattrs(da, db, name, path);
        if (!S_ISDIR(sa.st_mode))
                note_link(path, &sa, &sb);

        if (S_ISDIR(sa.st_mode)) {
                *ret_sa = sa;
                *ret_sb = sb;
                *ret_meta = meta;
                return true;
        }
        if (meta)
                cmp_times(path, &sa, &sb);
        return false;
}

/* A pair of directories being compared. */
typedef struct cframe {
        char **a, **b;
        size_t na, nb, i, j;
        struct stat sa, sb;
        bool meta;
        size_t path_len;        /* of this directory's path in path[] */
} cframe;

static char *path;
static size_t path_len, path_cap;

static void path_set(size_t len, const char *name) {
        size_t nl = name ? strlen(name) : 0;
        if (len + nl + 2 > path_cap) {
                path_cap = MAX(path_cap * 2, len + nl + 256);
                path = realloc(path, path_cap);
                if (!path) {
                        fputs("treecmp: out of memory\n", stderr);
                        exit(2);
                }
        }
        path_len = len;
        if (name) {
                if (path_len)
                        path[path_len++] = '/';
                memcpy(path + path_len, name, nl);
                path_len += nl;
        }
        path[path_len] = 0;
}

static void push_frame(sk_dirstack *A, sk_dirstack *B, cframe **st, size_t *n, size_t *cap, const struct stat *sa,
                       const struct stat *sb, bool meta);

/* Open DA/NAME and DB/NAME (directories) and push them. False on error. */
static bool enter(sk_dirstack *A, sk_dirstack *B, const char *name, cframe **st, size_t *n, size_t *cap,
                  const struct stat *sa, const struct stat *sb, bool meta) {
        int ca = openat(sk_dirstack_top(A), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        int cb = openat(sk_dirstack_top(B), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (ca < 0 || cb < 0) {
                err(path, "open directory: %m");
                if (ca >= 0)
                        close(ca);
                if (cb >= 0)
                        close(cb);
                return false;
        }
        if (sk_dirstack_push(A, ca) < 0 || sk_dirstack_push(B, cb) < 0) {
                err(path, "out of memory");
                exit(2);
        }
        push_frame(A, B, st, n, cap, sa, sb, meta);
        return true;
}

/* The frame of the directories now on top of A and B. */
static void push_frame(sk_dirstack *A, sk_dirstack *B, cframe **st, size_t *n, size_t *cap, const struct stat *sa,
                       const struct stat *sb, bool meta) {
        if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                *st = realloc(*st, *cap * sizeof(**st));
                if (!*st)
                        exit(2);
        }
        cframe *f = &(*st)[(*n)++];
        *f = (cframe) { .sa = *sa, .sb = *sb, .meta = meta, .path_len = path_len };
        if (list_dir(sk_dirstack_top(A), path, &f->a, &f->na) < 0 ||
            list_dir(sk_dirstack_top(B), path, &f->b, &f->nb) < 0)
                err(path, "list directory: %m");
}

/* Compare the trees below the open directories ra and rb (taken over). */
static void cmp_tree(int ra, int rb) {
        sk_dirstack A = SK_DIRSTACK_INIT, B = SK_DIRSTACK_INIT;
        cframe *st = NULL;
        size_t n = 0, cap = 0;
        struct stat sa, sb;
        bool meta;
        path_set(0, NULL);
        if (sk_dirstack_push(&A, ra) < 0 || sk_dirstack_push(&B, rb) < 0)
                exit(2);
        /* The roots are compared as "." relative to themselves. */
        if (cmp_entry(ra, rb, ".", "", true, &sa, &sb, &meta))
                push_frame(&A, &B, &st, &n, &cap, &sa, &sb, meta);
        while (n > 0) {
                cframe *f = &st[n - 1];
                path_set(f->path_len, NULL);
                if (f->i >= f->na && f->j >= f->nb) {
                        if (f->meta)
                                cmp_times(path, &f->sa, &f->sb);
                        free(f->a);
                        free(f->b);
                        n--;
                        if (n == 0)
                                break; /* the roots stay on A and B */
                        if (sk_dirstack_pop(&A) < 0 || sk_dirstack_pop(&B) < 0) {
                                err(path, "directory moved during the comparison");
                                break;
                        }
                        continue;
                }
                int c = f->i >= f->na ? 1 : f->j >= f->nb ? -1 : name_cmp(&f->a[f->i], &f->b[f->j]);
                char *nm = c <= 0 ? f->a[f->i] : f->b[f->j];
                char *other = c == 0 ? f->b[f->j] : NULL;
                if (c <= 0)
                        f->i++;
                if (c >= 0)
                        f->j++;
                path_set(f->path_len, nm);
                if (!excluded(path)) {
                        if (c < 0)
                                diff(path, "only in A");
                        else if (c > 0)
                                diff(path, "only in B");
                        else if (cmp_entry(sk_dirstack_top(&A), sk_dirstack_top(&B), nm, path, false, &sa, &sb, &meta))
                                enter(&A, &B, nm, &st, &n, &cap, &sa, &sb, meta);
                }
                free(nm);
                free(other);
        }
        while (n > 0) {
                n--;
                for (size_t k = st[n].i; k < st[n].na; k++)
                        free(st[n].a[k]);
                for (size_t k = st[n].j; k < st[n].nb; k++)
                        free(st[n].b[k]);
                free(st[n].a);
                free(st[n].b);
        }
        free(st);
        sk_dirstack_free(&A);
        sk_dirstack_free(&B);
}

static void usage(FILE *f) {
        fputs("Usage: treecmp [OPTIONS] A B\n"
              "Compare two directory trees; print every difference.\n\n"
              "Compared: type, content, size, hole layout (SEEK_DATA/SEEK_HOLE), mode incl.\n"
              "setuid/setgid/sticky, uid/gid, mtime (ns), every xattr, symlink targets, device\n"
              "numbers, hardlink groups, names as raw bytes (non-printable shown as \\xNN).\n\n"
              "  -a, --atime          also compare atime (ns)\n"
              "  -r, --skip-root      ignore the metadata of the two top directories\n"
              "  -x, --exclude=PATH   skip PATH (relative to the roots) and what is below it\n"
              "  -q, --quiet          print nothing, only set the exit status\n"
              "  -h, --help           this text\n\n"
              "Exit status: 0 identical, 1 different, 2 error.\n",
              f);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "atime", no_argument, NULL, 'a' },      { "skip-root", no_argument, NULL, 'r' },
                { "exclude", required_argument, NULL, 'x' }, { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },       {}
        };
        int c;
        while ((c = getopt_long(argc, argv, "arx:qh", opts, NULL)) >= 0) {
                switch (c) {
                case 'a': opt_atime = true; break;
                case 'r': opt_skip_root = true; break;
                case 'x': {
                        char *x = optarg;
                        while (x[0] == '.' && x[1] == '/')
                                x += 2;
                        size_t l = strlen(x);
                        while (l > 1 && x[l - 1] == '/')
                                x[--l] = 0;
                        opt_exclude = realloc(opt_exclude, (n_exclude + 1) * sizeof(char *));
                        if (!opt_exclude)
                                return 2;
                        opt_exclude[n_exclude++] = x;
                        break;
                }
                case 'q': opt_quiet = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (argc - optind != 2) {
                usage(stderr);
                return 2;
        }
        int ra = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rb = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ra < 0 || rb < 0) {
                fprintf(stderr, "treecmp: cannot open %s: %m\n", ra < 0 ? argv[optind] : argv[optind + 1]);
                return 2;
        }
        cmp_tree(ra, rb);
        free(path);
        cmp_links();
        if (hard_error)
                return 2;
        if (n_diff) {
                if (!opt_quiet)
                        printf("treecmp: %lu difference(s)\n", n_diff);
                return 1;
        }
        return 0;
}
