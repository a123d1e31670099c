/* Local directory backend; see backend.h.
 *
 * DESIGN: object names map 1:1 to paths below the root directory, opened once
 * as a directory fd so that every operation is *at()-relative and immune to
 * the root being renamed under us. put follows the durable-write recipe
 * (sk_write_file_atomic); a parent directory created on demand (a fan-out
 * directory of packs, say) is itself made durable by fsyncing its parent.
 * The directories created with the store are the layout's, not ours. */
#include "store/backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"

typedef struct local_backend {
        sk_backend base;
        int rootfd;
} local_backend;

/* Names: relative, '/'-separated, no empty, "." or ".." components. */
static bool name_valid(const char *name) {
        if (!name || !*name || name[0] == '/' || strlen(name) >= PATH_MAX)
                return false;
        for (const char *c = name; *c;) {
                const char *e = strchrnul(c, '/');
                size_t n = (size_t) (e - c);
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!*e)
                        break;
                c = e + 1;
        }
        return true;
}

/* Open the directory holding name; *ret_base points into name. */
static int open_parent(local_backend *lb, const char *name, bool create, const char **ret_base) {
        const char *slash = strrchr(name, '/');
        if (!slash) {
                *ret_base = name;
                int fd = fcntl(lb->rootfd, F_DUPFD_CLOEXEC, 3);
                return fd < 0 ? negative_errno() : fd;
        }
        char dir[PATH_MAX];
        size_t n = (size_t) (slash - name);
        memcpy(dir, name, n);
        dir[n] = 0;
        *ret_base = slash + 1;
        for (int attempt = 0;; attempt++) {
                int fd = openat(lb->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0)
                        return fd;
                if (errno != ENOENT || !create || attempt > 0)
                        return negative_errno();
                /* mkdir each component, fsyncing the parent of each new one */
                for (char *p = dir;; p++) {
                        if (*p != '/' && *p != 0)
                                continue;
                        char saved = *p;
                        *p = 0;
                        if (mkdirat(lb->rootfd, dir, 0700) == 0) {
                                char *ps = strrchr(dir, '/');
                                int r;
                                if (ps) {
                                        *ps = 0;
                                        _cleanup_close_ int pfd = openat(lb->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                        *ps = '/';
                                        r = pfd < 0 ? negative_errno() : sk_fsync_dir(pfd);
                                } else
                                        r = sk_fsync_dir(lb->rootfd);
                                if (r < 0)
                                        return r;
                        } else if (errno != EEXIST)
                                return negative_errno();
                        *p = saved;
                        if (!saved)
                                break;
                }
        }
}

static int local_put(sk_backend *b, const char *name, const void *buf, size_t len) {
        local_backend *lb = (local_backend *) b;
        const char *base;
        if (!name_valid(name) || strstr(name, ".tmp-"))
                return -EINVAL;
        _cleanup_close_ int dfd = open_parent(lb, name, true, &base);
        if (dfd < 0)
                return dfd;
        return sk_write_file_atomic(dfd, base, buf, len, 0600);
}

/* max: refuse (-EFBIG) a file larger than that, by its size, unread. into:
 * the caller's buffer of len bytes (no NUL), else a new one in *ret_buf. */
static int local_read(sk_backend *b, const char *name, uint64_t offset, size_t len, uint64_t max, void *into,
                      void **ret_buf, size_t *ret_len) {
        local_backend *lb = (local_backend *) b;
        struct stat st;
        if (!name_valid(name))
                return -EINVAL;
        _cleanup_close_ int fd = openat(lb->rootfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        uint64_t size = (uint64_t) st.st_size;
        if (size > max)
                return -EFBIG;
        size_t n = 0;
        if (offset < size)
                n = (size_t) MIN((uint64_t) len, size - offset);
        if (into) {
                ssize_t k = sk_pread_all(fd, into, n, (off_t) offset);
                if (k < 0)
                        return (int) k;
                *ret_len = (size_t) k;
                return 0;
        }
        _cleanup_free_ char *buf = malloc(n + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t k = sk_pread_all(fd, buf, n, (off_t) offset);
        if (k < 0)
                return (int) k;
        buf[k] = 0;
        *ret_len = (size_t) k;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

static int local_get(sk_backend *b, const char *name, uint64_t offset, size_t len, void **ret_buf, size_t *ret_len) {
        return local_read(b, name, offset, len, UINT64_MAX, NULL, ret_buf, ret_len);
}

static int local_get_into(sk_backend *b, const char *name, uint64_t offset, size_t len, void *buf, size_t *ret_len) {
        return local_read(b, name, offset, len, UINT64_MAX, buf, NULL, ret_len);
}

static int local_get_whole(sk_backend *b, const char *name, size_t max, void **ret_buf, size_t *ret_len) {
        return local_read(b, name, 0, max, max, NULL, ret_buf, ret_len);
}

static int local_head(sk_backend *b, const char *name, uint64_t *ret_size) {
        local_backend *lb = (local_backend *) b;
        struct stat st;
        if (!name_valid(name))
                return -EINVAL;
        if (fstatat(lb->rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        *ret_size = (uint64_t) st.st_size;
        return 0;
}

static int list_dir(int dfd, char *path, size_t plen, sk_backend_list_fn cb, void *userdata, int depth) {
        int fd = openat(dfd, plen ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : negative_errno();
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        int r = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp-"))
                        continue;
                size_t nl = strlen(de->d_name);
                if (plen + nl + 2 >= PATH_MAX) {
                        r = -ENAMETOOLONG;
                        break;
                }
                memcpy(path + plen, de->d_name, nl + 1);
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue; /* deleted meanwhile */
                        r = negative_errno();
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (depth > 8)
                                continue;
                        path[plen + nl] = '/';
                        path[plen + nl + 1] = 0;
                        r = list_dir(dfd, path, plen + nl + 1, cb, userdata, depth + 1);
                } else if (S_ISREG(st.st_mode))
                        r = cb(path, (uint64_t) st.st_size, userdata);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = negative_errno();
        closedir(d);
        path[plen] = 0;
        return r;
}

static int local_list(sk_backend *b, const char *prefix, sk_backend_list_fn cb, void *userdata) {
        local_backend *lb = (local_backend *) b;
        char path[PATH_MAX];
        size_t n = strlen(prefix);
        if (n == 0 || prefix[n - 1] != '/' || n >= PATH_MAX)
                return -EINVAL;
        memcpy(path, prefix, n);
        path[n - 1] = 0;
        if (!name_valid(path))
                return -EINVAL;
        path[n - 1] = '/';
        path[n] = 0;
        return list_dir(lb->rootfd, path, n, cb, userdata, 0);
}

static int local_del(sk_backend *b, const char *name) {
        local_backend *lb = (local_backend *) b;
        const char *base;
        if (!name_valid(name))
                return -EINVAL;
        _cleanup_close_ int dfd = open_parent(lb, name, false, &base);
        if (dfd < 0)
                return dfd;
        if (unlinkat(dfd, base, 0) < 0)
                return negative_errno();
        return sk_fsync_dir(dfd);
}

static int cleanup_dir(int dfd, const char *dir, uint64_t min_age, uint64_t *removed, int depth) {
        int fd = openat(dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        time_t now = time(NULL);
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (depth < 2) {
                                r = cleanup_dir(dirfd(d), de->d_name, min_age, removed, depth + 1);
                                if (r < 0)
                                        break;
                        }
                        continue;
                }
                if (!S_ISREG(st.st_mode) || !strstr(de->d_name, ".tmp-"))
                        continue;
                if ((uint64_t) (now - st.st_mtime) < min_age)
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                        (*removed)++;
                else if (errno != ENOENT) {
                        r = negative_errno();
                        break;
                }
        }
        closedir(d);
        return r;
}

static int local_cleanup(sk_backend *b, uint64_t min_age, uint64_t *ret_removed) {
        local_backend *lb = (local_backend *) b;
        uint64_t removed = 0;
        int r = cleanup_dir(lb->rootfd, ".", min_age, &removed, 0);
        if (r < 0)
                return r;
        if (ret_removed)
                *ret_removed = removed;
        return 0;
}

static void local_free(sk_backend *b) {
        local_backend *lb = (local_backend *) b;
        if (lb->rootfd >= 0)
                close(lb->rootfd);
        free(lb);
}

static const sk_backend_ops local_ops = {
        .put = local_put,
        .get = local_get,
        .get_into = local_get_into,
        .get_whole = local_get_whole,
        .head = local_head,
        .list = local_list,
        .del = local_del,
        .free = local_free,
        .cleanup = local_cleanup,
};

int sk_backend_local_open(const char *path, int create, const sk_store_layout *layout, sk_backend **ret) {
        if (!path || !*path)
                return -EINVAL;
        if (create) {
                int r = sk_mkdir_p(path, 0700);
                if (r < 0)
                        return r;
        }
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        local_backend *lb = calloc(1, sizeof(*lb));
        if (!lb) {
                close(fd);
                return -ENOMEM;
        }
        lb->base.ops = &local_ops;
        lb->base.scheme = "file";
        lb->rootfd = fd;
        if (create) {
                /* layout directories end in '/': mkdirat ignores a trailing slash */
                for (const char *const *d = layout && layout->dirs ? layout->dirs : NULL; d && *d; d++)
                        if (mkdirat(fd, *d, 0700) < 0 && errno != EEXIST) {
                                int r = negative_errno();
                                local_free(&lb->base);
                                return r;
                        }
                int r = sk_fsync_dir(fd);
                if (r < 0) {
                        local_free(&lb->base);
                        return r;
                }
        }
        *ret = &lb->base;
        return 0;
}
