/* Filesystem helpers shared by snapshot/ and backup/. All return >= 0 or -errno
 * and never print. */
#pragma once

#include <stdbool.h>

#include <stddef.h>
#include <sys/types.h>

/* The durable-write recipe (STYLE.md): create "<name>.tmp-XXXXXX" beside the
 * target with O_EXCL, write all of buf, fsync it, renameat() it to name, fsync
 * dirfd. On failure the temp file is unlinked and the target is untouched.
 * mode is applied to the new file. */
int sk_write_file_atomic(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);

/* Read a whole file (up to max bytes; -EFBIG beyond). *ret_buf is owned by the
 * caller (free()); it is NUL-terminated one past *ret_len for convenience. */
int sk_read_file(int dirfd, const char *name, size_t max, void **ret_buf, size_t *ret_len);

/* fsync a directory by path or fd. */
int sk_fsync_dir(int dirfd);
int sk_fsync_path_dir(const char *path);

/* mkdir -p with the given mode for created components. Existing is fine. */
int sk_mkdir_p(const char *path, mode_t mode);

/* Remove path and everything below it, without following symlinks or
 * crossing into mounted filesystems. A missing path is success. */
int sk_rm_rf_at(int dirfd, const char *name);

/* The names of directory dirfd's entries except "." and "..", owned (free
 * with sk_strv_free), in strcmp order if sorted, in readdir order otherwise.
 * The array is never NULL and has a NULL after the last name. Reads through a
 * new open of "." so that dirfd's own offset is untouched, and reads the
 * whole directory before returning (renames during a readdir may or may not
 * show up again: list first, then change). */
int sk_dir_names(int dirfd, bool sorted, char ***ret, size_t *ret_n);
/* The same, read through fd itself, which the caller has just opened and
 * uses for nothing but *at() calls (its position is consumed; a backup's
 * walker saves the second open and its close per directory). */
int sk_dir_names_fresh(int fd, bool sorted, char ***ret, size_t *ret_n);
/* Free n owned strings and their array (a listing; NULL is fine). */
void sk_strv_free(char **v, size_t n);
int sk_rm_rf(const char *path);

/* write()/pwrite() that retry on EINTR and short writes. */
int sk_write_all(int fd, const void *buf, size_t len);
int sk_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* read() until len bytes or EOF; returns bytes read. */
ssize_t sk_read_all(int fd, void *buf, size_t len);
ssize_t sk_pread_all(int fd, void *buf, size_t len, off_t off);
