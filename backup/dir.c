/* A backup's directories as the engine reads them (dir.h): tree blobs loaded
 * and decoded, split trees joined into one sorted listing, names found by
 * binary search, and paths looked up below a root tree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/dir.h"
#include "backup/report.h"
#include "common/array.h"
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

int sk_tree_blob_store(const void *buf, size_t len, uint8_t ret_id[SK_TREE_ID_BYTES], void *userdata) {
        sk_blob_id id;
        int r = sk_repo_put_blob(userdata, SK_BLOB_TREE, buf, len, &id, NULL);
        if (r < 0)
                return r;
        memcpy(ret_id, id.b, SK_TREE_ID_BYTES);
        return 0;
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

static int name_cmp(const void *name, const void *element) {
        return strcmp(name, ((const sk_node *) element)->name);
}

const sk_node *sk_dir_find(const sk_dir *d, const char *name) {
        bool found;
        size_t at = sk_lower_bound(d->entries, d->n, sizeof(*d->entries), name, name_cmp, &found);
        return found ? &d->entries[at] : NULL;
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
