/* Helpers shared by the engine's operations (engine-internal.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/engine-internal.h"
#include "common/macro.h"

sk_dir *sk_dir_free(sk_dir *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n; i++)
                sk_node_clear(&d->entries[i]);
        free(d->entries);
        free(d);
        return NULL;
}

char *sk_engine_detail(sk_repo *repo, const char *fmt, ...) {
        char *prefix = NULL, *out = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&prefix, fmt, ap);
        va_end(ap);
        if (r < 0)
                return NULL;
        const char *d = sk_repo_last_error(repo);
        if (d && *d)
                r = asprintf(&out, "%s: %s", prefix, d);
        else
                r = asprintf(&out, "%s", prefix);
        free(prefix);
        return r < 0 ? NULL : out;
}

int sk_tree_blob_load(sk_repo *repo, const uint8_t id[SK_TREE_ID_BYTES], sk_tree **ret, char **ret_detail) {
        sk_blob_id bid;
        char hex[SK_TREE_ID_BYTES * 2 + 1];
        _cleanup_free_ void *buf = NULL;
        size_t len;

        memcpy(bid.b, id, SK_TREE_ID_BYTES);
        sk_hex(id, SK_TREE_ID_BYTES, hex);
        int r = sk_repo_get_blob(repo, SK_BLOB_TREE, &bid, &buf, &len);
        if (r < 0) {
                if (ret_detail)
                        *ret_detail = sk_engine_detail(repo, "tree blob %s", hex);
                return r;
        }
        r = sk_tree_decode(buf, len, ret);
        if (r < 0 && ret_detail &&
            asprintf(ret_detail, "tree blob %s: %s", hex,
                     r == -EPROTONOSUPPORT ? "unknown tree format version" : "malformed tree") < 0)
                *ret_detail = NULL;
        return r;
}

int sk_held_add_max(size_t *held, size_t footprint, size_t max) {
        if (*held > max || footprint > max - *held)
                return -E2BIG;
        *held += footprint;
        return 0;
}

int sk_held_add(size_t *held, size_t footprint) {
        return sk_held_add_max(held, footprint, SK_WALK_HELD_MAX);
}

char *sk_engine_held_detail_max(size_t max) {
        char *d = NULL;
        bool mib = max % (1u << 20) == 0;
        if (asprintf(&d, "directory listings held along this path would exceed %zu %s (a listing repeated down a deep path?)",
                     mib ? max >> 20 : max >> 10, mib ? "MiB" : "KiB") < 0)
                d = NULL;
        return d;
}

char *sk_engine_held_detail(void) {
        return sk_engine_held_detail_max(SK_WALK_HELD_MAX);
}

static int dir_take(sk_dir *d, sk_tree *t, size_t *cap) {
        size_t n = sk_tree_n_entries(t);
        d->footprint += sk_tree_footprint(t);
        if (d->n + n > *cap) {
                size_t nc = MAX(*cap * 2, d->n + n);
                sk_node *e = realloc(d->entries, nc * sizeof(sk_node));
                if (!e)
                        return -ENOMEM;
                d->entries = e;
                *cap = nc;
        }
        for (size_t i = 0; i < n; i++) {
                /* Move the node out of the tree: the tree frees only zeroed nodes then. */
                sk_node *src = (sk_node *) sk_tree_entry(t, i);
                d->entries[d->n++] = *src;
                memset(src, 0, sizeof(*src));
        }
        return 0;
}

int sk_dir_load(sk_repo *repo, const uint8_t id[SK_TREE_ID_BYTES], sk_dir **ret, char **ret_detail) {
        sk_tree *t = NULL;
        int r = sk_tree_blob_load(repo, id, &t, ret_detail);
        if (r < 0)
                return r;
        sk_dir *d = calloc(1, sizeof(*d));
        size_t cap = 0;
        if (!d) {
                sk_tree_free(t);
                return -ENOMEM;
        }
        if (!sk_tree_is_split(t)) {
                r = dir_take(d, t, &cap);
        } else {
                for (size_t i = 0; i < sk_tree_n_parts(t) && r >= 0; i++) {
                        sk_tree *p = NULL;
                        r = sk_tree_blob_load(repo, sk_tree_part(t, i), &p, ret_detail);
                        if (r >= 0 && sk_tree_is_split(p)) {
                                r = -EBADMSG;
                                if (ret_detail && asprintf(ret_detail, "tree part is itself split") < 0)
                                        *ret_detail = NULL;
                        }
                        if (r >= 0 && sk_tree_n_entries(p) == 0)
                                r = -EBADMSG;
                        size_t before = d->n;
                        if (r >= 0)
                                r = dir_take(d, p, &cap);
                        /* Order must continue across parts. */
                        if (r >= 0 && before > 0 && strcmp(d->entries[before - 1].name, d->entries[before].name) >= 0)
                                r = -EBADMSG;
                        sk_tree_free(p);
                }
        }
        sk_tree_free(t);
        if (r < 0) {
                sk_dir_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

const sk_node *sk_dir_find(const sk_dir *d, const char *name) {
        size_t lo = 0, hi = d->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(d->entries[mid].name, name);
                if (c == 0)
                        return &d->entries[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int sk_engine_is_legacy(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]) {
        sk_blob_id bid;
        memcpy(bid.b, id, SK_TREE_ID_BYTES);
        return sk_repo_has_blob(repo, type, &bid) != 1 &&
               sk_repo_has_blob(repo, type == SK_BLOB_TREE ? SK_BLOB_DATA : SK_BLOB_TREE, &bid) == 1;
}

int sk_engine_store_as(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]) {
        sk_blob_id bid, got;
        _cleanup_free_ void *buf = NULL;
        size_t len;
        if (!sk_engine_is_legacy(repo, type, id))
                return 0;
        memcpy(bid.b, id, SK_TREE_ID_BYTES);
        /* get_blob's legacy fallback reads the other type's blob, verified */
        int r = sk_repo_get_blob(repo, type, &bid, &buf, &len);
        if (r < 0)
                return r;
        if (type == SK_BLOB_TREE) {
                sk_tree *t = NULL;
                r = sk_tree_decode(buf, len, &t);
                sk_tree_free(t);
                if (r < 0)
                        return r;
        }
        r = sk_repo_put_blob(repo, type, buf, len, &got, NULL);
        if (r < 0)
                return r;
        return memcmp(got.b, bid.b, SK_TREE_ID_BYTES) == 0 ? 1 : -EBADMSG;
}

int sk_engine_store_tree(const void *buf, size_t len, uint8_t ret_id[SK_TREE_ID_BYTES], void *userdata) {
        sk_blob_id id;
        int r = sk_repo_put_blob(userdata, SK_BLOB_TREE, buf, len, &id, NULL);
        if (r < 0)
                return r;
        memcpy(ret_id, id.b, SK_TREE_ID_BYTES);
        return 0;
}

int sk_path_normalize(const char *path, char **ret) {
        size_t l = strlen(path);
        char *out = malloc(l + 1);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t cl = (size_t) (e - p);
                if (cl == 1 && p[0] == '.') {
                        p = e;
                        continue;
                }
                if (cl == 2 && p[0] == '.' && p[1] == '.') {
                        free(out);
                        return -EINVAL;
                }
                if (o)
                        out[o++] = '/';
                memcpy(out + o, p, cl);
                o += cl;
                p = e;
        }
        out[o] = 0;
        *ret = out;
        return 0;
}

int sk_tree_lookup(sk_repo *repo, const uint8_t root[SK_TREE_ID_BYTES], const char *path, sk_node *ret) {
        uint8_t cur[SK_TREE_ID_BYTES];
        memcpy(cur, root, sizeof(cur));
        if (!*path) {
                sk_node n = { .type = SK_NODE_DIR, .mode = 0755 };
                n.name = strdup("");
                if (!n.name)
                        return -ENOMEM;
                memcpy(n.subtree, root, SK_TREE_ID_BYTES);
                *ret = n;
                return 0;
        }
        const char *p = path;
        for (;;) {
                const char *e = strchrnul(p, '/');
                _cleanup_free_ char *comp = strndup(p, (size_t) (e - p));
                if (!comp)
                        return -ENOMEM;
                sk_dir *d = NULL;
                int r = sk_dir_load(repo, cur, &d, NULL);
                if (r < 0)
                        return r;
                const sk_node *n = sk_dir_find(d, comp);
                if (!n)
                        r = -ENOENT;
                else if (!*e)
                        r = sk_node_copy(n, ret);
                else if (n->type != SK_NODE_DIR)
                        r = -ENOTDIR;
                else
                        memcpy(cur, n->subtree, sizeof(cur));
                sk_dir_free(d);
                if (r < 0 || !*e)
                        return r;
                p = e + 1;
        }
}

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

void sk_engine_problem(sk_problem_fn fn, void *ud, sk_problem_kind kind, int error, const char *backup_id,
                       const char *path, const char *pack, const char *blob, const char *detail) {
        if (!fn)
                return;
        sk_problem p = {
                .kind = kind, .error = error, .backup_id = backup_id, .path = path,
                .pack = pack, .blob = blob, .detail = detail,
        };
        fn(&p, ud);
}

void sk_strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

typedef struct idlist {
        char **v;
        size_t n, cap;
} idlist;

static int collect_id(const char *name, void *userdata) {
        idlist *l = userdata;
        uint8_t tmp[SK_BACKUP_ID_BYTES];
        if (sk_unhex(name, tmp, sizeof(tmp)) < 0)
                return 0; /* not a manifest name (e.g. a temp file) */
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                char **v = realloc(l->v, cap * sizeof(char *));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n] = strdup(name);
        if (!l->v[l->n])
                return -ENOMEM;
        l->n++;
        return 0;
}

int sk_backup_ids(sk_repo *repo, char ***ret, size_t *ret_n) {
        idlist l = {};
        int r = sk_repo_list_objects(repo, SK_BACKUPS_DIR, collect_id, &l);
        if (r == -ENOENT)
                r = 0;
        if (r < 0) {
                sk_strv_free(l.v, l.n);
                return r;
        }
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

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
