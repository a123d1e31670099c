/* The (dev, ino) map (inomap.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/inomap.h"

/* A slot: its key, then value_size bytes of value (8-byte aligned). */
typedef struct slot {
        uint64_t dev, ino;
        uint64_t used;
} slot;

struct sk_inomap {
        unsigned char *slots;
        size_t cap;             /* a power of two, or 0 before the first insert */
        size_t n, max;
        size_t value_size, stride;
};

#define INOMAP_MIN_CAP 64

int sk_inomap_new(size_t value_size, size_t max_entries, sk_inomap **ret) {
        if (value_size > 4096)
                return -EINVAL;
        sk_inomap *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->value_size = value_size;
        m->stride = sizeof(slot) + ((value_size + 7) & ~(size_t) 7);
        m->max = max_entries ? max_entries : SK_INOMAP_MAX;
        *ret = m;
        return 0;
}

sk_inomap *sk_inomap_free(sk_inomap *m) {
        if (m) {
                free(m->slots);
                free(m);
        }
        return NULL;
}

static slot *slot_at(const sk_inomap *m, size_t i) {
        return (slot *) (void *) (m->slots + i * m->stride);
}

static size_t hash(uint64_t dev, uint64_t ino) {
        uint64_t h = (dev * 0x9e3779b97f4a7c15ULL) ^ (ino * 0xc2b2ae3d27d4eb4fULL);
        return (size_t) (h ^ (h >> 29));
}

/* The slot holding (dev, ino), or the free slot where it would go. The
 * table is at most half full, so the probe ends. */
static size_t probe(const sk_inomap *m, uint64_t dev, uint64_t ino) {
        size_t i = hash(dev, ino) & (m->cap - 1);
        for (;;) {
                const slot *s = slot_at(m, i);
                if (!s->used || (s->dev == dev && s->ino == ino))
                        return i;
                i = (i + 1) & (m->cap - 1);
        }
}

void *sk_inomap_find(const sk_inomap *m, uint64_t dev, uint64_t ino) {
        if (!m || !m->cap)
                return NULL;
        slot *s = slot_at(m, probe(m, dev, ino));
        return s->used ? s + 1 : NULL;
}

static int grow(sk_inomap *m) {
        size_t cap = m->cap ? m->cap * 2 : INOMAP_MIN_CAP;
        if (cap < m->cap || cap > SIZE_MAX / m->stride)
                return -ENOMEM;
        sk_inomap nm = *m;
        nm.cap = cap;
        nm.slots = calloc(cap, m->stride);
        if (!nm.slots)
                return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
                const slot *s = slot_at(m, i);
                if (s->used)
                        memcpy(slot_at(&nm, probe(&nm, s->dev, s->ino)), s, m->stride);
        }
        free(m->slots);
        *m = nm;
        return 0;
}

int sk_inomap_get(sk_inomap *m, uint64_t dev, uint64_t ino, void **ret_value) {
        void *v = sk_inomap_find(m, dev, ino);
        if (v) {
                if (ret_value)
                        *ret_value = v;
                return 0;
        }
        if (m->n >= m->max)
                return -ENOMEM;
        if ((m->n + 1) * 2 > m->cap) {
                int r = grow(m);
                if (r < 0)
                        return r;
        }
        slot *s = slot_at(m, probe(m, dev, ino));
        memset(s, 0, m->stride);
        *s = (slot) { .dev = dev, .ino = ino, .used = 1 };
        m->n++;
        if (ret_value)
                *ret_value = s + 1;
        return 1;
}

size_t sk_inomap_size(const sk_inomap *m) {
        return m ? m->n : 0;
}

void *sk_inomap_next(const sk_inomap *m, size_t *iter) {
        if (!m)
                return NULL;
        for (; *iter < m->cap; (*iter)++) {
                slot *s = slot_at(m, *iter);
                if (s->used) {
                        (*iter)++;
                        return s + 1;
                }
        }
        return NULL;
}
