/* A path below a restore's target as a chain of directory names shared by
 * everything below them. Restore remembers paths for a long time (the first
 * member of each hardlink group, queued files, directories waiting for their
 * metadata); as strings those cost depth x count bytes, which a backup's
 * tree (up to SK_TREE_MAX_DEPTH levels of 255-byte names) can make
 * terabytes. As chains they cost one name per directory, whatever the
 * depth. A string is made only when one is reported. Internal to restore. */
#pragma once

#include <stddef.h>

typedef struct sk_pathnode sk_pathnode;

/* The directory name below parent (NULL: the root, whose path is "").
 * Takes a reference on parent; the new node holds one reference. */
int sk_pathnode_new(sk_pathnode *parent, const char *name, sk_pathnode **ret);
sk_pathnode *sk_pathnode_ref(sk_pathnode *p);
/* Drop a reference; ancestors left unreferenced go too (no recursion). */
void sk_pathnode_unref(sk_pathnode *p);
/* "dir/name" relative to the root (name NULL: dir's own path), or NULL
 * without memory. The caller frees it. */
char *sk_pathnode_join(const sk_pathnode *dir, const char *name);
/* An O_PATH descriptor of dir, opened from rootfd one name at a time
 * without following symlinks (the kernel never sees a long path). */
int sk_pathnode_open(int rootfd, const sk_pathnode *dir);
