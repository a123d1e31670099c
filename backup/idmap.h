/* A hash map from 32-byte ids to two u64s: check, prune and stats count per
 * blob or per pack over every backup. The ids are uniformly random (HMACs),
 * so their first bytes are the hash; open addressing, grown at 3/4. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sk_idmap_entry {
        uint8_t id[32];
        uint64_t a, b;
        bool used;
} sk_idmap_entry;

typedef struct sk_idmap {
        sk_idmap_entry *e;
        size_t cap, n;
} sk_idmap;

/* Find or insert id. *ret points at the entry (valid until the next insert);
 * returns 1 if inserted (a = b = 0), 0 if it was there. */
int sk_idmap_get(sk_idmap *m, const uint8_t id[32], sk_idmap_entry **ret);
sk_idmap_entry *sk_idmap_find(const sk_idmap *m, const uint8_t id[32]);
void sk_idmap_done(sk_idmap *m);
