/* Overlay layer merging; see overlay-merge.h for the design. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backup/overlay-merge.h"
#include "common/fsutil.h"
#include "common/macro.h"

#define OVL_PREFIX "trusted.overlay."
#define MAX_DEPTH 4096

typedef struct mctx {
        char **detail;
} mctx;

static int fail(mctx *c, int r, const char *name, const char *what) {
        if (c->detail && !*c->detail) {
                if (asprintf(c->detail, "%s '%s': %s", what, name, strerror(-r)) < 0)
                        *c->detail = NULL;
        }
        return r;
}

static bool is_ovl(const char *n) { return strncmp(n, OVL_PREFIX, strlen(OVL_PREFIX)) == 0; }

/* The names of a directory's entries (except . and ..), owned. */
static int list_names(int dirfd, char ***ret, size_t *ret_n) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        char **v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 32;
                        char **nv = realloc(v, cap * sizeof(char *));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                }
                if (!(v[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
                errno = 0;
        }
        if (r == 0 && errno)
                r = negative_errno();
        closedir(d);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(v[i]);
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static void free_names(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* xattr names of an entry: through fd if >= 0, else the /proc path (l* calls,
 * which do not follow a final symlink). Returns the size of the NUL-separated
 * list in *ret (owned), 0 and NULL if none. */
static ssize_t list_xattrs(int fd, const char *path, char **ret) {
        *ret = NULL;
        for (;;) {
                ssize_t n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
                if (n < 0)
                        return errno == ENOTSUP ? 0 : negative_errno();
                if (n == 0)
                        return 0;
                char *buf = malloc((size_t) n);
                if (!buf)
                        return -ENOMEM;
                ssize_t m = fd >= 0 ? flistxattr(fd, buf, (size_t) n) : llistxattr(path, buf, (size_t) n);
                if (m < 0) {
                        int r = negative_errno();
                        free(buf);
                        if (r == -ERANGE)
                                continue; /* grew meanwhile */
                        return r;
                }
                *ret = buf;
                return m;
        }
}

/* Remove trusted.overlay.* from a moved non-directory entry. */
static int strip_ovl(mctx *c, int dirfd, const char *name) {
        char path[64 + 256];
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
        _cleanup_free_ char *list = NULL;
        ssize_t n = list_xattrs(-1, path, &list);
        if (n < 0)
                return fail(c, (int) n, name, "listing xattrs");
        for (ssize_t i = 0; i < n; i += (ssize_t) strlen(list + i) + 1)
                if (is_ovl(list + i) && lremovexattr(path, list + i) < 0 && errno != ENODATA)
                        return fail(c, negative_errno(), name, "removing overlay xattr");
        return 0;
}

/* Make directory tfd carry lfd's owner, xattrs (minus trusted.overlay.*),
 * mode and times. st is lfd's stat taken before its entries were moved out
 * (moving them changes lfd's mtime). */
static int copy_dir_meta(mctx *c, int tfd, int lfd, const struct stat *lst, const char *name) {
        struct stat st = *lst;
        if (fchown(tfd, st.st_uid, st.st_gid) < 0)
                return fail(c, negative_errno(), name, "chown");
        _cleanup_free_ char *tl = NULL, *ll = NULL;
        ssize_t tn = list_xattrs(tfd, NULL, &tl);
        if (tn < 0)
                return fail(c, (int) tn, name, "listing xattrs");
        for (ssize_t i = 0; i < tn; i += (ssize_t) strlen(tl + i) + 1)
                if (fremovexattr(tfd, tl + i) < 0 && errno != ENODATA)
                        return fail(c, negative_errno(), name, "removing xattr");
        ssize_t ln = list_xattrs(lfd, NULL, &ll);
        if (ln < 0)
                return fail(c, (int) ln, name, "listing xattrs");
        for (ssize_t i = 0; i < ln; i += (ssize_t) strlen(ll + i) + 1) {
                const char *x = ll + i;
                if (is_ovl(x))
                        continue;
                ssize_t vn = fgetxattr(lfd, x, NULL, 0);
                if (vn < 0)
                        return fail(c, negative_errno(), name, "reading xattr");
                _cleanup_free_ char *v = malloc((size_t) vn + 1);
                if (!v)
                        return -ENOMEM;
                vn = fgetxattr(lfd, x, v, (size_t) vn);
                if (vn < 0)
                        return fail(c, negative_errno(), name, "reading xattr");
                if (fsetxattr(tfd, x, v, (size_t) vn, 0) < 0)
                        return fail(c, negative_errno(), name, "setting xattr");
        }
        if (fchmod(tfd, st.st_mode & 07777) < 0)
                return fail(c, negative_errno(), name, "chmod");
        struct timespec ts[2] = { st.st_atim, st.st_mtim };
        if (futimens(tfd, ts) < 0)
                return fail(c, negative_errno(), name, "setting times");
        return 0;
}

static bool dir_is_opaque(int fd) {
        char v[4];
        ssize_t n = fgetxattr(fd, OVL_PREFIX "opaque", v, sizeof(v));
        return n >= 1 && v[0] == 'y';
}

static int apply_dir(mctx *c, int tfd, int lfd, unsigned depth) {
        if (depth > MAX_DEPTH)
                return fail(c, -ELOOP, ".", "directory nesting too deep");
        char **names = NULL;
        size_t n = 0;
        int r = list_names(lfd, &names, &n);
        if (r < 0)
                return fail(c, r, ".", "reading layer directory");
        for (size_t i = 0; i < n && r >= 0; i++) {
                const char *name = names[i];
                struct stat ls, ts;
                if (fstatat(lfd, name, &ls, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = fail(c, negative_errno(), name, "stat in layer");
                        break;
                }
                bool texists = fstatat(tfd, name, &ts, AT_SYMLINK_NOFOLLOW) == 0;
                if (!texists && errno != ENOENT) {
                        r = fail(c, negative_errno(), name, "stat in target");
                        break;
                }
                if (S_ISCHR(ls.st_mode) && major(ls.st_rdev) == 0 && minor(ls.st_rdev) == 0) {
                        if (texists && (r = sk_rm_rf_at(tfd, name)) < 0)
                                r = fail(c, r, name, "removing whited-out entry");
                        continue;
                }
                if (S_ISDIR(ls.st_mode)) {
                        _cleanup_close_ int ld = openat(lfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (ld < 0) {
                                r = fail(c, negative_errno(), name, "opening layer directory");
                                break;
                        }
                        if (texists && (!S_ISDIR(ts.st_mode) || dir_is_opaque(ld))) {
                                r = sk_rm_rf_at(tfd, name);
                                if (r < 0) {
                                        r = fail(c, r, name, "replacing lower entry");
                                        break;
                                }
                                texists = false;
                        }
                        if (!texists && mkdirat(tfd, name, 0700) < 0) {
                                r = fail(c, negative_errno(), name, "mkdir");
                                break;
                        }
                        _cleanup_close_ int td = openat(tfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (td < 0) {
                                r = fail(c, negative_errno(), name, "opening target directory");
                                break;
                        }
                        struct stat lds;
                        if (fstat(ld, &lds) < 0) {
                                r = fail(c, negative_errno(), name, "stat in layer");
                                break;
                        }
                        r = apply_dir(c, td, ld, depth + 1);
                        if (r >= 0)
                                r = copy_dir_meta(c, td, ld, &lds, name);
                        continue;
                }
                if (texists && (r = sk_rm_rf_at(tfd, name)) < 0) {
                        r = fail(c, r, name, "replacing lower entry");
                        break;
                }
                if (renameat(lfd, name, tfd, name) < 0) {
                        r = fail(c, negative_errno(), name, "moving entry");
                        break;
                }
                r = strip_ovl(c, tfd, name);
        }
        free_names(names, n);
        return r;
}

int sk_overlay_apply(int target_dirfd, int layer_dirfd, char **ret_detail) {
        mctx c = { .detail = ret_detail };
        if (ret_detail)
                *ret_detail = NULL;
        struct stat st;
        if (fstat(layer_dirfd, &st) < 0)
                return fail(&c, negative_errno(), ".", "stat in layer");
        int r = apply_dir(&c, target_dirfd, layer_dirfd, 0);
        if (r >= 0)
                r = copy_dir_meta(&c, target_dirfd, layer_dirfd, &st, ".");
        return r < 0 ? r : 0;
}
