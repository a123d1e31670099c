/* Capture and apply file metadata, relative to directory fds.
 *
 * DESIGN: everything works on (dirfd, name) pairs so that no path longer than
 * a component is ever passed to the kernel. Xattrs of files and directories
 * go through an fd (f*xattr); for symlinks, devices and FIFOs, which must not
 * be opened, through "/proc/self/fd/<dirfd>/<name>" with the l*xattr calls,
 * which do not follow the last component; apply opens such entries O_PATH
 * and acts on the descriptor. Apply order matters: chown first
 * (it clears setuid/setgid and security.capability), then xattrs (ACLs and
 * security.capability), then chmod, then times (utimensat with
 * AT_SYMLINK_NOFOLLOW, after content). */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "repo/tree.h"

/* Fill *ret from st (type, mode, owner, times, dev/ino/nlink, rdev, size) and
 * read the symlink target and all xattrs. fd is an open fd of the entry (file
 * or dir) or -1 (then dirfd+name are used). name is copied into ret->name.
 * Content fields (hash, extents, chunks, subtree) are left zero. -EOPNOTSUPP
 * from a filesystem without xattrs is not an error. */
int sk_fsmeta_capture(int dirfd, const char *name, int fd, const struct stat *st, sk_node *ret);

/* Like sk_fsmeta_capture for a regular file that is the same inode, with the
 * same ctime, as prev (its node in the parent backup): the xattrs are copied
 * from prev instead of listed. -EINVAL if st does not match prev that way. */
int sk_fsmeta_capture_unchanged(const char *name, const struct stat *st, const sk_node *prev, sk_node *ret);

/* Map st_mode's type to sk_node_type; -EINVAL for unknown. */
int sk_fsmeta_type(mode_t m);

enum {
        SK_APPLY_NO_OWNER = 1 << 0,     /* skip chown (unprivileged restore) */
        SK_APPLY_NO_TIMES = 1 << 1,     /* caller sets times later (dirs) */
        SK_APPLY_ONLY_TIMES = 1 << 2,   /* just utimensat */
        /* Grant no privilege the restore did not check: setuid/setgid are
         * cleared (except setgid on directories) and security.capability is
         * not set. Both are also dropped whenever the owner is not restored
         * (SK_APPLY_NO_OWNER or a failed chown), as GNU tar does. */
        SK_APPLY_NO_PRIVS = 1 << 3,
};

/* Create a non-regular, non-directory node (symlink, device, FIFO) named name
 * in dirfd. Sockets: -EOPNOTSUPP (caller warns). */
int sk_fsmeta_create_special(int dirfd, const char *name, const sk_node *n);

/* Apply owner, xattrs, mode and (unless SK_APPLY_NO_TIMES) times of n to the
 * existing entry. fd: an open fd of a file/dir, or -1 to use dirfd+name: the
 * name is then opened once (O_PATH|O_NOFOLLOW), its type checked against n
 * (-ESTALE if it differs: it was swapped), and everything is applied through
 * that descriptor, so a name swapped for a symlink is never followed.
 * Applies everything it can; returns the first error. If set, *ret_what
 * receives a static string naming the step that failed ("chown", "xattr
 * trusted.overlay.opaque", ...; borrowed, static storage). */
int sk_fsmeta_apply(int dirfd, const char *name, int fd, const sk_node *n, unsigned flags,
                    const char **ret_what);
