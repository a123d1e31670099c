/* The walk's growable path (pathbuf.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/pathbuf.h"
#include "common/macro.h"

int sk_pathbuf_push(sk_pathbuf *b, const char *name, size_t *ret_old) {
        size_t nl = strlen(name), need = b->len + nl + 2;
        if (need > b->cap) {
                size_t cap = MAX(need, b->cap * 2);
                cap = MAX(cap, (size_t) 256);
                char *p = realloc(b->p, cap);
                if (!p)
                        return -ENOMEM;
                b->p = p;
                b->cap = cap;
        }
        *ret_old = b->len;
        if (b->len)
                b->p[b->len++] = '/';
        memcpy(b->p + b->len, name, nl);
        b->len += nl;
        b->p[b->len] = 0;
        return 0;
}

void sk_pathbuf_pop(sk_pathbuf *b, size_t old) {
        b->len = old;
        if (b->p)
                b->p[old] = 0;
}
