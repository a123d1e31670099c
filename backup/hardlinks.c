/* Hardlink map of a backup run (hardlinks.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/hardlinks.h"

static size_t hl_slot(const sk_hl_map *m, uint64_t dev, uint64_t ino) {
        uint64_t h = (dev * 0x9e3779b97f4a7c15ULL) ^ (ino * 0xc2b2ae3d27d4eb4fULL);
        size_t i = (size_t) (h ^ (h >> 29)) & (m->cap - 1);
        while (m->e[i].used && (m->e[i].dev != dev || m->e[i].ino != ino))
                i = (i + 1) & (m->cap - 1);
        return i;
}

const sk_node *sk_hl_find(const sk_hl_map *m, uint64_t dev, uint64_t ino) {
        if (!m->cap)
                return NULL;
        size_t i = hl_slot(m, dev, ino);
        return m->e[i].used ? &m->e[i].content : NULL;
}

int sk_hl_put(sk_hl_map *m, const sk_node *n) {
        if ((m->n + 1) * 2 > m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                sk_hl_map nm = { .e = calloc(cap, sizeof(sk_hl_entry)), .cap = cap };
                if (!nm.e)
                        return -ENOMEM;
                for (size_t i = 0; i < m->cap; i++)
                        if (m->e[i].used) {
                                size_t s = hl_slot(&nm, m->e[i].dev, m->e[i].ino);
                                nm.e[s] = m->e[i];
                                nm.n++;
                        }
                free(m->e);
                *m = nm;
        }
        size_t i = hl_slot(m, n->dev, n->ino);
        if (m->e[i].used)
                return 0;
        sk_node c = { .type = SK_NODE_FILE, .size = n->size };
        memcpy(c.content_hash, n->content_hash, sizeof(c.content_hash));
        if (n->n_extents) {
                c.extents = malloc(n->n_extents * sizeof(sk_extent));
                c.chunks = malloc(n->n_chunks * sizeof(sk_chunk_ref));
                if (!c.extents || !c.chunks) {
                        sk_node_clear(&c);
                        return -ENOMEM;
                }
                memcpy(c.extents, n->extents, n->n_extents * sizeof(sk_extent));
                memcpy(c.chunks, n->chunks, n->n_chunks * sizeof(sk_chunk_ref));
                c.n_extents = n->n_extents;
                c.n_chunks = n->n_chunks;
        }
        m->e[i] = (sk_hl_entry) { .dev = n->dev, .ino = n->ino, .content = c, .used = true };
        m->n++;
        return 0;
}

void sk_hl_free(sk_hl_map *m) {
        for (size_t i = 0; i < m->cap; i++)
                if (m->e[i].used)
                        sk_node_clear(&m->e[i].content);
        free(m->e);
}

int sk_node_copy_content(sk_node *dst, const sk_node *src) {
        dst->size = src->size;
        memcpy(dst->content_hash, src->content_hash, sizeof(dst->content_hash));
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
