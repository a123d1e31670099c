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

#include "container/overlay-merge.h"
#include "common/fsutil.h"
#include "common/macro.h"

#define OVL_PREFIX "trusted.overlay."
/* As deep as a restore may create (SK_RESTORE_MAX_DEPTH): each level costs
 * its name list, not a stack frame or fds. */
#define MAX_DEPTH 131072u

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

/* A directory pair being merged. The walk keeps these on an explicit stack
 * rather than recursing: the layer (from a backup) sets the depth. */
typedef struct mframe {
        char **names;           /* owned: the layer directory's entries */
        size_t n, next;
        int tfd, lfd;           /* owned (frame 0: borrowed); -1 while closed (FD_WINDOW) */
        struct stat tst, lst;   /* identities (reopen checks); lst also the metadata to copy */
        char *name;             /* owned: its name in the parent (NULL for frame 0) */
} mframe;

/* Frames deeper than this below the top have their fds closed, so fd use
 * does not grow with depth; they are reopened as ".." of their child's. */
#define FD_WINDOW 16

typedef struct mstack {
        mframe *f;
        size_t n, cap;
} mstack;

static void frame_close(mframe *f) {
        if (f->tfd >= 0)
                close(f->tfd);
        if (f->lfd >= 0)
                close(f->lfd);
        f->tfd = f->lfd = -1;
}

static void frame_done(mframe *f) {
        free_names(f->names, f->n);
        free(f->name);
        f->names = NULL;
        f->name = NULL;
}

/* fd of the directory ".." of child_fd, which must be the one st describes. */
static int reopen_up(int child_fd, const struct stat *st) {
        int fd = openat(child_fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        struct stat now;
        if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
                close(fd);
                return -ESTALE; /* moved meanwhile: not followed */
        }
        return fd;
}

/* Enter layer directory name (lfd) as target directory name (tfd): open
 * both, replacing what the target holds there if it must go, and push. */
static int push_dir(mctx *c, mstack *st, int tfd, int lfd, const char *name, bool texists,
                    const struct stat *ts) {
        if (st->n >= MAX_DEPTH)
                return fail(c, -ELOOP, name, "directory nesting too deep");
        _cleanup_close_ int ld = openat(lfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ld < 0)
                return fail(c, negative_errno(), name, "opening layer directory");
        int r;
        if (texists && (!S_ISDIR(ts->st_mode) || dir_is_opaque(ld))) {
                r = sk_rm_rf_at(tfd, name);
                if (r < 0)
                        return fail(c, r, name, "replacing lower entry");
                texists = false;
        }
        if (!texists && mkdirat(tfd, name, 0700) < 0)
                return fail(c, negative_errno(), name, "mkdir");
        _cleanup_close_ int td = openat(tfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (td < 0)
                return fail(c, negative_errno(), name, "opening target directory");
        mframe f = { .tfd = -1, .lfd = -1 };
        if (fstat(ld, &f.lst) < 0 || fstat(td, &f.tst) < 0)
                return fail(c, negative_errno(), name, "stat");
        r = sk_dir_names(ld, false, &f.names, &f.n);
        if (r < 0)
                return fail(c, r, name, "reading layer directory");
        if (st->n == st->cap) {
                size_t cap = st->cap ? st->cap * 2 : 64;
                mframe *nf = realloc(st->f, cap * sizeof(mframe));
                if (!nf) {
                        frame_done(&f);
                        return -ENOMEM;
                }
                st->f = nf;
                st->cap = cap;
        }
        if (!(f.name = strdup(name))) {
                frame_done(&f);
                return -ENOMEM;
        }
        f.tfd = TAKE_FD(td);
        f.lfd = TAKE_FD(ld);
        st->f[st->n++] = f;
        if (st->n > FD_WINDOW + 1) /* never frame 0: its fds are borrowed */
                frame_close(&st->f[st->n - 1 - FD_WINDOW]);
        return 0;
}

/* The top frame is merged: its metadata (times last, after its contents),
 * then back to the parent, reopening the parent's fds if they were closed. */
static int pop_dir(mctx *c, mstack *st) {
        mframe *f = &st->f[st->n - 1], *parent = &st->f[st->n - 2];
        int r = copy_dir_meta(c, f->tfd, f->lfd, &f->lst, f->name);
        if (r >= 0 && parent->tfd < 0) {
                parent->tfd = reopen_up(f->tfd, &parent->tst);
                parent->lfd = parent->tfd < 0 ? -1 : reopen_up(f->lfd, &parent->lst);
                if (parent->tfd < 0 || parent->lfd < 0)
                        r = fail(c, parent->tfd < 0 ? parent->tfd : parent->lfd, f->name,
                                 "a directory was moved during the merge");
        }
        frame_close(f);
        frame_done(f);
        st->n--;
        return r;
}

/* Merge layer directory lfd into target tfd (both borrowed), depth-first. */
static int apply_tree(mctx *c, int tfd, int lfd) {
        mstack st = {};
        st.f = calloc(64, sizeof(mframe));
        if (!st.f)
                return -ENOMEM;
        st.cap = 64;
        st.f[0] = (mframe) { .tfd = tfd, .lfd = lfd };
        int r = sk_dir_names(lfd, false, &st.f[0].names, &st.f[0].n);
        if (r < 0) {
                free(st.f);
                return fail(c, r, ".", "reading layer directory");
        }
        st.n = 1;
        while (r >= 0 && st.n > 0) {
                mframe *f = &st.f[st.n - 1];
                if (f->next == f->n) {
                        if (st.n == 1) {
                                frame_done(f);
                                st.n = 0;
                        } else
                                r = pop_dir(c, &st);
                        continue;
                }
                const char *name = f->names[f->next++];
                int ft = f->tfd, fl = f->lfd;
                struct stat ls, ts;
                if (fstatat(fl, name, &ls, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = fail(c, negative_errno(), name, "stat in layer");
                        break;
                }
                bool texists = fstatat(ft, name, &ts, AT_SYMLINK_NOFOLLOW) == 0;
                if (!texists && errno != ENOENT) {
                        r = fail(c, negative_errno(), name, "stat in target");
                        break;
                }
                if (S_ISCHR(ls.st_mode) && major(ls.st_rdev) == 0 && minor(ls.st_rdev) == 0) {
                        if (texists && (r = sk_rm_rf_at(ft, name)) < 0)
                                r = fail(c, r, name, "removing whited-out entry");
                        continue;
                }
                if (S_ISDIR(ls.st_mode)) {
                        r = push_dir(c, &st, ft, fl, name, texists, &ts);
                        continue;
                }
                if (texists && (r = sk_rm_rf_at(ft, name)) < 0) {
                        r = fail(c, r, name, "replacing lower entry");
                        break;
                }
                if (renameat(fl, name, ft, name) < 0) {
                        r = fail(c, negative_errno(), name, "moving entry");
                        break;
                }
                r = strip_ovl(c, ft, name);
        }
        for (size_t i = st.n; i-- > 0;) {
                if (i > 0)
                        frame_close(&st.f[i]);
                frame_done(&st.f[i]);
        }
        free(st.f);
        return r;
}

int sk_overlay_apply(int target_dirfd, int layer_dirfd, char **ret_detail) {
        mctx c = { .detail = ret_detail };
        if (ret_detail)
                *ret_detail = NULL;
        struct stat st;
        if (fstat(layer_dirfd, &st) < 0)
                return fail(&c, negative_errno(), ".", "stat in layer");
        int r = apply_tree(&c, target_dirfd, layer_dirfd);
        if (r >= 0)
                r = copy_dir_meta(&c, target_dirfd, layer_dirfd, &st, ".");
        return r < 0 ? r : 0;
}
