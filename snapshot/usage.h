/* Disk usage as containerd counts it (continuity fs.DiskUsage). Internal to
 * snapshot/. */
#pragma once

#include "snapshot/snapshotter.h"

/* Walk path (not following symlinks, not crossing into other filesystems) and
 * sum st_blocks * 512 over unique inodes (dev + ino), the root included. */
int sk_disk_usage(const char *path, sk_usage *ret);
