/* Check and prune both keep one record per pack they meet (its name first,
 * then their own counters), found by name: this is that table, a growable
 * array of caller-sized records indexed through an sk_idmap. */
#pragma once

#include <stddef.h>

#include "backup/idmap.h"

/* Find or add the record of pack name (hex) in a growable array of records of
 * item_size bytes whose first member is char name[SK_PACK_NAME_HEX + 1]; ids
 * maps a pack's id to its index + 1. A new record is zeroed with its name
 * set. The returned pointer is valid until the next insert. NULL on a
 * malformed name or out of memory. */
void *sk_pack_table_get(void **items, size_t *n, size_t *cap, size_t item_size, sk_idmap *ids, const char *name);
