/* Hardlink map of a backup run (hardlinks.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/hardlinks.h"

const sk_node *sk_hl_find(const sk_hl_map *m, uint64_t dev, uint64_t ino) {
        return sk_inomap_find(m->m, dev, ino);
}

int sk_hl_put(sk_hl_map *m, const sk_node *n) {
        if (!m->m) {
                int r = sk_inomap_new(sizeof(sk_node), 0, &m->m);
                if (r < 0)
                        return r;
        }
        if (sk_inomap_find(m->m, n->dev, n->ino))
                return 0;
        sk_node c = { .type = SK_NODE_FILE };
        int r = sk_node_copy_content(&c, n);
        if (r < 0) {
                sk_node_clear(&c);
                return r;
        }
        sk_node *slot;
        r = sk_inomap_get(m->m, n->dev, n->ino, (void **) &slot);
        if (r < 0) {
                sk_node_clear(&c);
                return r;
        }
        *slot = c;
        return 0;
}

void sk_hl_free(sk_hl_map *m) {
        size_t it = 0;
        for (sk_node *c; (c = sk_inomap_next(m->m, &it));)
                sk_node_clear(c);
        m->m = sk_inomap_free(m->m);
}

int sk_node_copy_content(sk_node *dst, const sk_node *src) {
        dst->size = src->size;
        memcpy(dst->content_hash, src->content_hash, sizeof(dst->content_hash));
        dst->hash_rule = src->hash_rule;
        if (!src->n_extents)
                return 0;
        dst->extents = malloc(src->n_extents * sizeof(sk_extent));
        dst->chunks = malloc(src->n_chunks * sizeof(sk_chunk_ref));
        if (!dst->extents || !dst->chunks)
                return -ENOMEM;
        memcpy(dst->extents, src->extents, src->n_extents * sizeof(sk_extent));
        memcpy(dst->chunks, src->chunks, src->n_chunks * sizeof(sk_chunk_ref));
        dst->n_extents = src->n_extents;
        dst->n_chunks = src->n_chunks;
        return 0;
}
