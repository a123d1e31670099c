#include "auto/k8s-cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/array.h"
#include "snapshot/key.h"

typedef struct entry {
        char *key;
        bool pod;             /* id holds a pod container's identity */
        bool seen;
        int64_t recheck;      /* no container yet: ask again from then on (0: never) */
        sk_k8s_identity id;
} entry;

struct sk_k8s_cache {
        sk_identify_fn fn;
        void *userdata;
        entry *v;             /* sorted by key */
        size_t n, n_alloc;
};

int sk_k8s_cache_new(sk_identify_fn fn, void *userdata, sk_k8s_cache **ret) {
        sk_k8s_cache *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fn = fn;
        c->userdata = userdata;
        *ret = c;
        return 0;
}

static void entry_clear(entry *e) {
        free(e->key);
        sk_k8s_identity_clear(&e->id);
}

void sk_k8s_cache_free(sk_k8s_cache *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                entry_clear(&c->v[i]);
        free(c->v);
        free(c);
}

void sk_k8s_cache_begin(sk_k8s_cache *c) {
        for (size_t i = 0; i < c->n; i++)
                c->v[i].seen = false;
}

void sk_k8s_cache_sweep(sk_k8s_cache *c) {
        size_t w = 0;
        for (size_t i = 0; i < c->n; i++) {
                if (c->v[i].seen)
                        c->v[w++] = c->v[i];
                else
                        entry_clear(&c->v[i]);
        }
        c->n = w;
}

static int key_cmp(const void *key, const void *element) {
        return strcmp(key, ((const entry *) element)->key);
}

/* The entry for key, or NULL with *at where it would go. */
static entry *find(sk_k8s_cache *c, const char *key, size_t *at) {
        bool found;
        *at = sk_lower_bound(c->v, c->n, sizeof(*c->v), key, key_cmp, &found);
        return found ? &c->v[*at] : NULL;
}

const sk_k8s_identity *sk_k8s_cache_get(sk_k8s_cache *c, const char *key, bool ask, bool *ret_missing,
                                        char **ret_error) {
        size_t at = 0, nl = 0;
        int64_t now = (int64_t) time(NULL);
        entry *e = find(c, key, &at);
        if (e && !(e->recheck && now >= e->recheck)) {
                e->seen = true;
                return e->pod ? &e->id : NULL;
        }
        const char *ns = sk_key_namespace(key, &nl);
        if (!c->fn || !ns || nl >= 256)
                return NULL;
        if (!ask) {
                if (e)
                        e->seen = true;
                if (ret_missing)
                        *ret_missing = true;
                return NULL;
        }
        char nsb[256];
        memcpy(nsb, ns, nl);
        nsb[nl] = 0;
        sk_k8s_identity id = {};
        int r = c->fn(nsb, sk_key_name(key), &id, ret_error, c->userdata);
        if (r < 0 && r != -ENOENT)
                return NULL; /* not kept: asked again at the next scan */
        entry n = { .pod = r > 0, .seen = true, .recheck = r == -ENOENT ? now + SK_K8S_CACHE_RECHECK : 0, .id = id };
        if (e) { /* a recheck */
                sk_k8s_identity_clear(&e->id);
                n.key = e->key;
                *e = n;
                return e->pod ? &e->id : NULL;
        }
        n.key = strdup(key);
        if (!n.key || SK_INSERT_AT(c->v, c->n, c->n_alloc, at, n) < 0) {
                entry_clear(&n);
                return NULL;
        }
        return c->v[at].pod ? &c->v[at].id : NULL;
}
