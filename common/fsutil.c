#include "common/fsutil.h"
#include "common/foreground.h"
#include "common/pace.h"
#include "common/dirstack.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <sys/random.h>

#include "common/macro.h"

int sk_write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int sk_pwrite_all(int fd, const void *buf, size_t len, off_t off) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;
                p += n;
                off += n;
                len -= (size_t) n;
        }
        return 0;
}

/* read() (off < 0) or pread() at off until len bytes or end of file. */
static ssize_t read_loop(int fd, void *buf, size_t len, off_t off) {
        char *p = buf;
        size_t done = 0;
        while (done < len) {
                ssize_t n = off < 0 ? read(fd, p + done, len - done) : pread(fd, p + done, len - done, off + (off_t) done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

ssize_t sk_read_all(int fd, void *buf, size_t len) {
        return read_loop(fd, buf, len, -1);
}

ssize_t sk_pread_all(int fd, void *buf, size_t len, off_t off) {
        return off < 0 ? -EINVAL : read_loop(fd, buf, len, off);
}

int sk_fsync_dir(int dirfd) {
        if (fsync(dirfd) < 0)
                return negative_errno();
        return 0;
}

int sk_fsync_path_dir(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return sk_fsync_dir(fd);
}

/* Write buf in slices, starting each slice's writeback as soon as it is
 * written and waiting for the one before it: what the final fsync then has
 * to write is at most two slices. A 16 MiB pack written whole and fsynced
 * queued 16 MiB in front of every other fsync on the disk (containerd's
 * metadata, our snapshot database), which a scheduled backup turned into
 * 100+ ms stalls of snapshot operations; in slices, another writer's flush
 * waits behind two. Writeback started here is also submitted by this thread,
 * so it carries a backup's idle I/O class, where the flusher's would not. */
#define WRITE_SLICE (1u << 20)
/* A scheduled backup (idle I/O class) also holds each slice, and the final
 * fsync, while snapshot operations run (common/foreground.h), at most this
 * long each time: under a constant stream of them it still writes 2 MiB/s. */
#define GIVE_WAY_MS 500
static int write_all_paced(int fd, const void *buf, size_t len) {
        const char *p = buf;
        for (size_t off = 0; off < len; off += WRITE_SLICE) {
                size_t n = len - off < WRITE_SLICE ? len - off : WRITE_SLICE;
                (void) sk_pace_background();
                (void) sk_foreground_give_way(GIVE_WAY_MS);
                int r = sk_write_all(fd, p + off, n);
                if (r < 0)
                        return r;
                /* Errors here are left to the fsync that follows, which reports
                 * any failed writeback; a filesystem without it just pays later. */
                (void) sync_file_range(fd, (off_t) off, (off_t) n, SYNC_FILE_RANGE_WRITE);
                if (off >= WRITE_SLICE)
                        (void) sync_file_range(fd, (off_t) (off - WRITE_SLICE), WRITE_SLICE,
                                               SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                       SYNC_FILE_RANGE_WAIT_AFTER);
        }
        return 0;
}

int sk_write_file_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode) {
        char tmp[PATH_MAX];
        int fd = -1, r;

        for (int attempt = 0;; attempt++) {
                uint32_t rnd;
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        rnd = (uint32_t) getpid() ^ (uint32_t) attempt;
                if ((size_t) snprintf(tmp, sizeof(tmp), "%s.tmp-%08x", name, rnd) >= sizeof(tmp))
                        return -ENAMETOOLONG;
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || attempt > 16)
                        return negative_errno();
        }
        r = write_all_paced(fd, buf, len);
        if (r < 0)
                goto fail;
        (void) sk_foreground_give_way(GIVE_WAY_MS);
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (close(fd) < 0) {
                fd = -1;
                r = negative_errno();
                goto fail;
        }
        fd = -1;
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
                r = negative_errno();
                goto fail;
        }
        return sk_fsync_dir(dirfd);
fail:
        if (fd >= 0)
                close(fd);
        unlinkat(dirfd, tmp, 0);
        return r;
}

int sk_read_file(int dirfd, const char *name, size_t max, void **ret_buf, size_t *ret_len) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        _cleanup_free_ char *buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n = sk_read_all(fd, buf, (size_t) st.st_size);
        if (n < 0)
                return (int) n;
        buf[n] = 0;
        *ret_len = (size_t) n;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

int sk_mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        size_t len = strlen(path);
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, path, len + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

/* Removal walks the tree with sk_dirwalk: no recursion (the depth of a
 * container's files is the container's choice), bounded descriptors. Files
 * go as they are seen, directories when left; errors are noted and the walk
 * goes on, so as much as possible is removed. */
typedef struct rm_walk {
        dev_t dev;
        int err;
} rm_walk;

static int rm_entry(int dirfd, const char *name, const struct stat *st, void *ud) {
        rm_walk *w = ud;
        if (S_ISDIR(st->st_mode)) {
                if (st->st_dev == w->dev)
                        return 1;
                if (w->err == 0)
                        w->err = -EBUSY; /* a mount point: never cross */
                return 0;
        }
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT && w->err == 0)
                w->err = negative_errno();
        return 0;
}

static int rm_leave(int dirfd, const char *name, void *ud) {
        rm_walk *w = ud;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && w->err == 0)
                w->err = negative_errno();
        return 0;
}

static int rm_children(int fd, dev_t dev) {
        rm_walk w = { .dev = dev };
        int r = sk_dirwalk(fd, rm_entry, rm_leave, &w);
        return w.err < 0 ? w.err : r;
}

int sk_rm_rf_at(int dirfd, const char *name) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? negative_errno() : 0;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        int r = rm_children(fd, st.st_dev);
        if (r < 0)
                return r;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int sk_rm_rf(const char *path) { return sk_rm_rf_at(AT_FDCWD, path); }

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void sk_strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* Append a copy of name to the listing *v of *n names (room kept for a NULL). */
static int names_add(char ***v, size_t *n, size_t *cap, const char *name) {
        if (*n + 1 >= *cap) {
                size_t ncap = *cap ? *cap * 2 : 32;
                char **nv = realloc(*v, ncap * sizeof(char *));
                if (!nv)
                        return -ENOMEM;
                *v = nv;
                *cap = ncap;
        }
        if (!((*v)[*n] = strdup(name)))
                return -ENOMEM;
        (*n)++;
        return 0;
}

#define DENTS_BUF (32u << 10)

/* The listing read from fd's current position (getdents64, not readdir:
 * fdopendir's fstat and two fcntl calls were a third of the system calls per
 * directory of a no-change backup). */
static int list_fd(int fd, bool sorted, char ***ret, size_t *ret_n) {
        _cleanup_free_ char *buf = malloc(DENTS_BUF);
        if (!buf)
                return -ENOMEM;
        char **v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        for (;;) {
                ssize_t k = getdents64(fd, buf, DENTS_BUF);
                if (k < 0 && errno == EINTR)
                        continue;       /* the position has not moved */
                if (k <= 0) {
                        if (k < 0)
                                r = negative_errno();
                        break;
                }
                for (size_t off = 0; off < (size_t) k && r == 0;) {
                        const struct dirent64 *de = (const struct dirent64 *) (buf + off);
                        off += de->d_reclen;
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                r = names_add(&v, &n, &cap, de->d_name);
                }
                if (r < 0)
                        break;
        }
        if (r < 0) {
                sk_strv_free(v, n);
                return r;
        }
        if (!v && !(v = malloc(sizeof(char *))))
                return -ENOMEM;
        v[n] = NULL;
        if (sorted && n > 1)
                qsort(v, n, sizeof(char *), name_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

int sk_dir_names(int dirfd, bool sorted, char ***ret, size_t *ret_n) {
        _cleanup_close_ int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return list_fd(fd, sorted, ret, ret_n);
}

int sk_dir_names_fresh(int fd, bool sorted, char ***ret, size_t *ret_n) {
        return list_fd(fd, sorted, ret, ret_n);
}
