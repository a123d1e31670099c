/* A map from blob ids to two counters (idmap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/idmap.h"

static size_t idmap_slot(const sk_idmap *m, const uint8_t id[32]) {
        uint64_t h;
        memcpy(&h, id, sizeof(h));
        size_t i = (size_t) h & (m->cap - 1);
        while (m->e[i].used && memcmp(m->e[i].id, id, 32) != 0)
                i = (i + 1) & (m->cap - 1);
        return i;
}

sk_idmap_entry *sk_idmap_find(const sk_idmap *m, const uint8_t id[32]) {
        if (!m->cap)
                return NULL;
        size_t i = idmap_slot(m, id);
        return m->e[i].used ? &m->e[i] : NULL;
}

int sk_idmap_get(sk_idmap *m, const uint8_t id[32], sk_idmap_entry **ret) {
        sk_idmap_entry *f = sk_idmap_find(m, id);
        if (f) {
                *ret = f;
                return 0;
        }
        if ((m->n + 1) * 4 > m->cap * 3) {
                size_t cap = m->cap ? m->cap * 2 : 1024;
                sk_idmap nm = { .e = calloc(cap, sizeof(sk_idmap_entry)), .cap = cap, .n = m->n };
                if (!nm.e)
                        return -ENOMEM;
                for (size_t i = 0; i < m->cap; i++)
                        if (m->e[i].used)
                                nm.e[idmap_slot(&nm, m->e[i].id)] = m->e[i];
                free(m->e);
                *m = nm;
        }
        size_t i = idmap_slot(m, id);
        memset(&m->e[i], 0, sizeof(m->e[i]));
        memcpy(m->e[i].id, id, 32);
        m->e[i].used = true;
        m->n++;
        *ret = &m->e[i];
        return 1;
}

void sk_idmap_done(sk_idmap *m) {
        free(m->e);
        memset(m, 0, sizeof(*m));
}
