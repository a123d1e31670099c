/* Mount shapes of containerd's overlayfs snapshotter. Internal to snapshot/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshotter.h"

/* Build the mounts for snapshot id of the given kind (SK_KIND_ACTIVE or
 * SK_KIND_VIEW) whose ancestors are parents[0..n_parents), nearest first. root
 * is the absolute snapshotter root; data directories are
 * <root>/snapshots/<id>/{fs,work}. index_off adds "index=off" to overlay mounts.
 *   no parent:              bind <own fs>, ["rw"|"ro", "rbind"]
 *   view with one parent:   bind <parent fs>, ["ro", "rbind"]
 *   active with parents:    overlay, [index=off,] workdir=, upperdir=, lowerdir=p0:p1:...
 *   view with 2+ parents:   overlay, [index=off,] lowerdir=p0:p1:...
 * *ret is owned by the caller (sk_mounts_free). */
int sk_mounts_build(const char *root, sk_kind kind, uint64_t id, const uint64_t *parents, size_t n_parents,
                    bool index_off, sk_mounts *ret);

/* Whether the running kernel has overlay's "index" parameter (then containerd
 * mounts with index=off). */
bool sk_overlay_has_index_param(void);
