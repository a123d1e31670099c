/* Merge overlayfs layer directories into one plain directory tree, the way
 * overlayfs would show them, without mounting anything.
 *
 * DESIGN: a layer is a directory as overlayfs stores an upper dir: a char
 * device 0:0 is a whiteout (the name is deleted from the layers below), a
 * directory with xattr trusted.overlay.opaque=y hides everything below it in
 * lower layers, any other directory merges with the lower one and its own
 * metadata (owner, mode, xattrs, times) wins, and any other entry replaces
 * the lower one. Layers are applied bottom-up onto a target directory. Entries
 * are moved with renameat() rather than copied, so the layer directory and
 * the target must be on the same filesystem and the layer is consumed (only
 * its directories stay behind). Hardlink groups inside a layer survive the
 * move because inodes move, not names. trusted.overlay.* xattrs, which only
 * mean something to overlayfs, are removed from the result. Directory times
 * are set after their contents are final (post-order), so they come out as
 * the top layer recorded them. All work is relative to directory fds and
 * never follows a symlink. The walk keeps an explicit stack (the layer sets
 * the depth) holding a bounded number of fds: deep directories' fds are
 * closed and reopened as ".." of their child, checked to be the same. */
#pragma once

/* Apply layer directory layer_dirfd onto target_dirfd (see DESIGN). On
 * failure returns -errno and, if ret_detail is not NULL, an owned message
 * naming the entry and the step that failed. The target is then partly
 * merged; the caller removes it. */
int sk_overlay_apply(int target_dirfd, int layer_dirfd, char **ret_detail);
