/* The walk-memory budget: every walk over a backup's trees (backup's parent
 * listings, restore, browse, the tree walk) holds the listings of the
 * directories along its current path, and a hostile or odd repository can
 * repeat one large listing down a deep path. These count the listings held
 * against SK_WALK_HELD_MAX (repo/tree.h), or a caller's own bound, so that
 * every walk stops at the same limit with the same message. */
#pragma once

#include <stddef.h>

/* Count footprint bytes more in *held, a walk's listings held along one
 * path: -E2BIG (nothing counted) if that would pass SK_WALK_HELD_MAX. */
int sk_held_add(size_t *held, size_t footprint);
/* The same against max instead of SK_WALK_HELD_MAX. */
int sk_held_add_max(size_t *held, size_t footprint, size_t max);
/* The detail of a walk stopped by SK_WALK_HELD_MAX (caller frees; NULL without memory). */
char *sk_held_detail(void);
char *sk_held_detail_max(size_t max);
