/* A map keyed by inode identity, (st_dev, st_ino), to a small fixed-size
 * value: the one table behind every "have I seen this inode?" question —
 * hardlink groups in backup (content already read), restore (path of the
 * first member), OCI export (tar path of the first member) and the disk-usage
 * walk (inodes counted once).
 *
 * DESIGN: open addressing with linear probing over one array of slots (key
 * and value side by side), grown by doubling at half full, so a probe always
 * ends and no operation recurses. A bound on the number of entries (the
 * caller's, or SK_INOMAP_MAX) turns a source with absurdly many hardlinked
 * inodes into -ENOMEM instead of unbounded growth. Values are zeroed on
 * insert and owned by the caller: free what they point to (sk_inomap_next)
 * before sk_inomap_free. Not thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

/* The default bound on entries (sk_inomap_new with max_entries 0). */
#define SK_INOMAP_MAX ((size_t) 1 << 26)

typedef struct sk_inomap sk_inomap;

/* A map whose values are value_size bytes (0: a set of inodes), holding at
 * most max_entries entries (0: SK_INOMAP_MAX). */
int sk_inomap_new(size_t value_size, size_t max_entries, sk_inomap **ret);
/* Frees the table (not what values point to); NULL is fine; returns NULL. */
sk_inomap *sk_inomap_free(sk_inomap *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_inomap *, sk_inomap_free);

/* The value stored for (dev, ino), or NULL. Valid until the next insert. */
void *sk_inomap_find(const sk_inomap *m, uint64_t dev, uint64_t ino);
/* Find or insert (dev, ino): 1 if inserted (value zeroed), 0 if it was
 * there; *ret_value (may be NULL) points at the value, valid until the next
 * insert. -ENOMEM without memory or past the bound (nothing inserted). */
int sk_inomap_get(sk_inomap *m, uint64_t dev, uint64_t ino, void **ret_value);
/* Number of entries. */
size_t sk_inomap_size(const sk_inomap *m);
/* Iterate over the values in no particular order: start with *iter = 0;
 * returns NULL after the last. No insert may happen meanwhile. */
void *sk_inomap_next(const sk_inomap *m, size_t *iter);
