/* Capture and apply file metadata relative to directory fds (see fsmeta.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backup/fsmeta.h"
#include "common/macro.h"

int sk_fsmeta_type(mode_t m) {
        switch (m & S_IFMT) {
        case S_IFREG: return SK_NODE_FILE;
        case S_IFDIR: return SK_NODE_DIR;
        case S_IFLNK: return SK_NODE_SYMLINK;
        case S_IFCHR: return SK_NODE_CHR;
        case S_IFBLK: return SK_NODE_BLK;
        case S_IFIFO: return SK_NODE_FIFO;
        case S_IFSOCK: return SK_NODE_SOCKET;
        }
        return -EINVAL;
}

/* A path naming (dirfd, name) for the l*xattr calls without opening the entry.
 * The /proc magic link is followed (not the last component), name is not. */
static int proc_path(int dirfd, const char *name, char **ret) {
        if (asprintf(ret, "/proc/self/fd/%d/%s", dirfd, name) < 0)
                return -ENOMEM;
        return 0;
}

static ssize_t x_list(int fd, const char *path, char *buf, size_t size) {
        return fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path, buf, size);
}
static ssize_t x_get(int fd, const char *path, const char *name, void *buf, size_t size) {
        return fd >= 0 ? fgetxattr(fd, name, buf, size) : lgetxattr(path, name, buf, size);
}

static int xattr_cmp(const void *a, const void *b) {
        return strcmp(((const sk_xattr *) a)->name, ((const sk_xattr *) b)->name);
}

static int capture_xattrs(int fd, const char *path, sk_node *n) {
        _cleanup_free_ char *list = NULL;
        ssize_t ll;
        /* The list can grow between the size query and the read: retry on ERANGE. */
        for (int attempt = 0;; attempt++) {
                ll = x_list(fd, path, NULL, 0);
                if (ll < 0) {
                        if (errno == ENOTSUP || errno == ENOSYS)
                                return 0;
                        return negative_errno();
                }
                if (ll == 0)
                        return 0;
                free(list);
                list = malloc(ll);
                if (!list)
                        return -ENOMEM;
                ll = x_list(fd, path, list, ll);
                if (ll >= 0)
                        break;
                if (errno != ERANGE || attempt > 5)
                        return negative_errno();
        }
        size_t count = 0;
        for (ssize_t i = 0; i < ll; i += strlen(list + i) + 1)
                count++;
        n->xattrs = calloc(count, sizeof(sk_xattr));
        if (!n->xattrs)
                return -ENOMEM;
        for (ssize_t i = 0; i < ll; i += strlen(list + i) + 1) {
                const char *name = list + i;
                if (!*name)
                        continue;
                uint8_t *val = NULL;
                ssize_t vl;
                for (int attempt = 0;; attempt++) {
                        vl = x_get(fd, path, name, NULL, 0);
                        if (vl < 0)
                                break;
                        free(val);
                        val = malloc(vl + 1);
                        if (!val)
                                return -ENOMEM;
                        vl = x_get(fd, path, name, val, vl);
                        if (vl >= 0 || errno != ERANGE || attempt > 5)
                                break;
                }
                if (vl < 0) {
                        free(val);
                        if (errno == ENODATA) /* removed meanwhile */
                                continue;
                        return negative_errno();
                }
                sk_xattr *x = &n->xattrs[n->n_xattrs];
                x->name = strdup(name);
                if (!x->name) {
                        free(val);
                        return -ENOMEM;
                }
                x->value = val;
                x->value_len = (uint32_t) vl;
                n->n_xattrs++;
        }
        if (n->n_xattrs > 1)
                qsort(n->xattrs, n->n_xattrs, sizeof(sk_xattr), xattr_cmp);
        return 0;
}

static int from_stat(const char *name, const struct stat *st, sk_node *ret) {
        sk_node n = {};
        int t = sk_fsmeta_type(st->st_mode);
        if (t < 0)
                return t;
        n.type = t;
        n.mode = st->st_mode & 07777;
        n.uid = st->st_uid;
        n.gid = st->st_gid;
        n.mtime = st->st_mtim;
        n.atime = st->st_atim;
        n.ctime = st->st_ctim;
        n.dev = st->st_dev;
        n.ino = st->st_ino;
        n.nlink = (uint32_t) st->st_nlink;
        if (t == SK_NODE_CHR || t == SK_NODE_BLK) {
                n.rdev_major = major(st->st_rdev);
                n.rdev_minor = minor(st->st_rdev);
        }
        if (t == SK_NODE_FILE)
                n.size = st->st_size;
        n.name = strdup(name);
        if (!n.name)
                return -ENOMEM;
        *ret = n;
        return 0;
}

int sk_fsmeta_capture_unchanged(const char *name, const struct stat *st, const sk_node *prev, sk_node *ret) {
        /* Setting or removing an xattr updates the inode's ctime, so the same
         * inode with the same ctime still has prev's xattrs: no need to list them. */
        if (prev->type != SK_NODE_FILE || !S_ISREG(st->st_mode) || prev->dev != (uint64_t) st->st_dev ||
            prev->ino != (uint64_t) st->st_ino || prev->ctime.tv_sec != st->st_ctim.tv_sec ||
            prev->ctime.tv_nsec != st->st_ctim.tv_nsec)
                return -EINVAL;
        sk_node n;
        int r = from_stat(name, st, &n);
        if (r < 0)
                return r;
        r = sk_node_copy_xattrs(prev, &n);
        if (r < 0) {
                sk_node_clear(&n);
                return r;
        }
        *ret = n;
        return 0;
}

int sk_fsmeta_capture(int dirfd, const char *name, int fd, const struct stat *st, sk_node *ret) {
        sk_node n;
        int r = from_stat(name, st, &n);
        if (r < 0)
                return r;
        int t = n.type;

        _cleanup_free_ char *path = NULL;
        if (fd < 0) {
                r = proc_path(dirfd, name, &path);
                if (r < 0)
                        goto fail;
        }
        if (t == SK_NODE_SYMLINK) {
                size_t cap = st->st_size > 0 ? (size_t) st->st_size + 1 : 256;
                for (;;) {
                        char *buf = malloc(cap);
                        if (!buf) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        ssize_t l = readlinkat(dirfd, name, buf, cap);
                        if (l < 0) {
                                r = negative_errno();
                                free(buf);
                                goto fail;
                        }
                        if ((size_t) l < cap) {
                                buf[l] = 0;
                                n.target = buf;
                                n.size = (uint64_t) l;
                                break;
                        }
                        free(buf);
                        cap *= 2;
                        if (cap > 1 << 20) {
                                r = -ENAMETOOLONG;
                                goto fail;
                        }
                }
                if (n.size == 0) {
                        r = -EINVAL;
                        goto fail;
                }
        }
        r = capture_xattrs(fd, path, &n);
        if (r < 0)
                goto fail;
        *ret = n;
        return 0;
fail:
        sk_node_clear(&n);
        return r;
}

int sk_fsmeta_create_special(int dirfd, const char *name, const sk_node *n) {
        switch (n->type) {
        case SK_NODE_SYMLINK:
                return symlinkat(n->target, dirfd, name) < 0 ? negative_errno() : 0;
        case SK_NODE_CHR:
        case SK_NODE_BLK:
                /* Owner-only until sk_fsmeta_apply() sets the final mode. */
                return mknodat(dirfd, name, (n->type == SK_NODE_CHR ? S_IFCHR : S_IFBLK) | 0600,
                               makedev(n->rdev_major, n->rdev_minor)) < 0 ? negative_errno() : 0;
        case SK_NODE_FIFO:
                return mkfifoat(dirfd, name, 0600) < 0 ? negative_errno() : 0;
        case SK_NODE_SOCKET:
                return -EOPNOTSUPP;
        default:
                return -EINVAL;
        }
}

static bool is_cap(const char *name) {
        return strcmp(name, "security.capability") == 0;
}

/* chmod through an O_PATH descriptor: fchmod() refuses those, fchmodat2()
 * (Linux 6.6) takes AT_EMPTY_PATH; older kernels go through the /proc magic
 * link, which resolves to the descriptor's inode itself, never through a
 * name. Never used for symlinks (their mode cannot change). */
static int chmod_opath(int pfd, const char *proc, mode_t mode) {
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
        if (syscall(SYS_fchmodat2, pfd, "", mode, AT_EMPTY_PATH) == 0)
                return 0;
        if (errno != ENOSYS && errno != EINVAL)
                return negative_errno();
        return chmod(proc, mode) < 0 ? negative_errno() : 0;
}

/* The permission bits n gets under flags (see SK_APPLY_NO_PRIVS). */
static int fsmeta_mode(const sk_node *n, unsigned flags) {
        mode_t m = n->mode & 07777;
        /* setgid on a directory only passes its group on; on anything else
         * setuid/setgid run as the owner, which this restore did not check
         * (GNU tar clears them likewise when it does not restore owners). */
        if ((flags & SK_APPLY_NO_PRIVS) && n->type != SK_NODE_DIR)
                m &= ~(mode_t) (S_ISUID | S_ISGID);
        return (int) m;
}

int sk_fsmeta_apply(int dirfd, const char *name, int fd, const sk_node *n, unsigned flags, const char **ret_what) {
        int first = 0;
        const char *what = NULL;
        char path[64];
        _cleanup_close_ int pfd = -1;
#define FAIL(w) do { if (!first) { first = negative_errno(); what = (w); } } while (0)

        if (fd < 0) {
                /* Everything below acts on this descriptor, never again on
                 * the name: whoever can write to dirfd could swap the entry
                 * for a symlink between its creation and these calls. */
                pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (pfd < 0) {
                        if (ret_what)
                                *ret_what = "open";
                        return negative_errno();
                }
                struct stat st;
                int r = fstat(pfd, &st) < 0 ? negative_errno() : 0;
                if (r == 0 && sk_fsmeta_type(st.st_mode) != (int) n->type)
                        r = -ESTALE; /* not what was created: someone swapped it */
                if (r < 0) {
                        if (ret_what)
                                *ret_what = "type check";
                        return r;
                }
                snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
        }
        if (!(flags & SK_APPLY_ONLY_TIMES)) {
                bool chowned = !(flags & SK_APPLY_NO_OWNER);
                if (chowned) {
                        int r = fd >= 0 ? fchown(fd, n->uid, n->gid)
                                        : fchownat(pfd, "", n->uid, n->gid, AT_EMPTY_PATH);
                        if (r < 0) {
                                FAIL("chown");
                                chowned = false;
                        }
                }
                /* Two passes: security.capability last, after chown (which
                 * clears it). A capability, like setuid, is a privilege of
                 * the file: not granted without the owner or with NO_PRIVS. */
                bool caps = chowned && !(flags & SK_APPLY_NO_PRIVS);
                for (int pass = 0; pass < 2; pass++)
                        for (size_t i = 0; i < n->n_xattrs; i++) {
                                const sk_xattr *x = &n->xattrs[i];
                                if (is_cap(x->name) != (pass == 1) || (pass == 1 && !caps))
                                        continue;
                                /* The magic link is followed to the inode
                                 * itself (a symlink included), not beyond. */
                                int r = fd >= 0 ? fsetxattr(fd, x->name, x->value, x->value_len, 0)
                                                : setxattr(path, x->name, x->value, x->value_len, 0);
                                if (r < 0)
                                        FAIL("setxattr");
                        }
                /* Symlink modes cannot be changed on Linux and are always 0777. */
                if (n->type != SK_NODE_SYMLINK) {
                        unsigned mflags = chowned ? flags : flags | SK_APPLY_NO_PRIVS;
                        mode_t mode = (mode_t) fsmeta_mode(n, mflags);
                        int r = fd >= 0 ? (fchmod(fd, mode) < 0 ? negative_errno() : 0) : chmod_opath(pfd, path, mode);
                        if (r < 0) {
                                errno = -r;
                                FAIL("chmod");
                        }
                }
        }
        if (!(flags & SK_APPLY_NO_TIMES)) {
                struct timespec ts[2] = { n->atime, n->mtime };
                int r = fd >= 0 ? futimens(fd, ts) : utimensat(pfd, "", ts, AT_EMPTY_PATH);
                if (r < 0)
                        FAIL("utimensat");
        }
#undef FAIL
        if (first && ret_what)
                *ret_what = what;
        return first;
}
