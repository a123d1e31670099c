/* The per-pack record table of check and prune (pack-table.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/pack-table.h"
#include "repo/repo.h"
#include "repo/tree.h"

void *sk_pack_table_get(void **items, size_t *n, size_t *cap, size_t item_size, sk_idmap *ids, const char *name) {
        uint8_t key[32];
        if (sk_unhex(name, key, 32) < 0)
                return NULL;
        sk_idmap_entry *e;
        int r = sk_idmap_get(ids, key, &e);
        if (r < 0)
                return NULL;
        if (r == 0)
                return (char *) *items + (e->a - 1) * item_size;
        if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 64;
                void *np = realloc(*items, ncap * item_size);
                if (!np)
                        return NULL;
                *items = np;
                *cap = ncap;
        }
        char *p = (char *) *items + *n * item_size;
        memset(p, 0, item_size);
        snprintf(p, SK_PACK_NAME_HEX + 1, "%s", name);
        e->a = ++*n;
        return p;
}
