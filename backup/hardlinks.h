/* Hardlinks within one backup run: (dev, ino) -> the content (size, hash,
 * extents, chunks) already captured for that inode, so later members of a
 * group are not read again (on common/inomap.h). Internal to backup.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/inomap.h"
#include "repo/tree.h"

/* Zero-initialised; the table is made on the first put. */
typedef struct sk_hl_map {
        sk_inomap *m;           /* (dev, ino) -> sk_node (content fields only) */
} sk_hl_map;

/* The content captured for (dev, ino), borrowed, or NULL. */
const sk_node *sk_hl_find(const sk_hl_map *m, uint64_t dev, uint64_t ino);
/* Remember n's content under (n->dev, n->ino) (a copy; the first one stays). */
int sk_hl_put(sk_hl_map *m, const sk_node *n);
void sk_hl_free(sk_hl_map *m);

/* Copy the content fields (size, hash, extents, chunks) of src into dst. */
int sk_node_copy_content(sk_node *dst, const sk_node *src);
