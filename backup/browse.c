/* Browsing the backups in a repository: look up one entry, ls, diff and
 * stats. Read-only, and takes no lock (see browse.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/browse.h"
#include "backup/dir.h"
#include "backup/held.h"
#include "backup/pathbuf.h"
#include "backup/idmap.h"
#include "backup/manifest.h"
#include "backup/treewalk.h"
#include "common/macro.h"

int sk_backup_lookup(sk_repo *repo, const char *id, const char *path, sk_node *ret) {
        sk_manifest *m = NULL;
        _cleanup_free_ char *norm = NULL;
        int r = sk_path_normalize(path ? path : "", &norm);
        if (r < 0)
                return r;
        r = sk_backup_load(repo, id, &m);
        if (r < 0)
                return r;
        r = sk_tree_lookup(repo, m->root, norm, ret);
        sk_manifest_free(m);
        return r;
}

/* Report the entries below tree (all of them if recursive). Iterative
 * (treewalk.h): the depth of a tree is up to whoever wrote the repository. */
static int ls_dir(sk_repo *repo, const uint8_t tree[SK_TREE_ID_BYTES], const char *prefix, bool recursive,
                  sk_ls_fn fn, void *ud) {
        sk_treewalk *w = NULL;
        int r = sk_treewalk_new(repo, tree, prefix, &w);
        sk_walk_item it;
        while (r >= 0 && (r = sk_treewalk_step(w, &it)) >= 0 && it.event != SK_WALK_END) {
                if (it.event == SK_WALK_UNREADABLE)
                        r = it.error;
                else if (it.event == SK_WALK_ENTRY && it.depth > 0) {
                        r = fn(it.path, it.node, ud);
                        if (!recursive)
                                sk_treewalk_skip(w);
                }
        }
        sk_treewalk_free(w);
        return r < 0 ? r : 0;
}

int sk_ls(sk_repo *repo, const char *id, const char *path, bool recursive, sk_ls_fn fn, void *userdata) {
        sk_manifest *m = NULL;
        _cleanup_free_ char *norm = NULL;
        sk_node node = {};
        int r = sk_path_normalize(path ? path : "", &norm);
        if (r < 0)
                return r;
        r = sk_backup_load(repo, id, &m);
        if (r < 0)
                return r;
        r = sk_tree_lookup(repo, m->root, norm, &node);
        if (r < 0)
                goto out;
        if (*norm) {
                r = fn(norm, &node, userdata);
                if (r < 0)
                        goto out;
        }
        if (node.type == SK_NODE_DIR)
                r = ls_dir(repo, node.subtree, norm, recursive, fn, userdata);
out:
        sk_node_clear(&node);
        sk_manifest_free(m);
        return r < 0 ? r : 0;
}

/* ---- diff ---------------------------------------------------------------------- */

typedef struct dctx {
        sk_repo *repo;
        sk_diff_fn fn;
        void *ud;
        sk_diff_result res;
        sk_pathbuf pb;
} dctx;

static int d_emit(dctx *c, sk_diff_kind k, const char *path, const sk_node *o, const sk_node *n) {
        switch (k) {
        case SK_DIFF_ADDED: c->res.added++; break;
        case SK_DIFF_REMOVED: c->res.removed++; break;
        case SK_DIFF_MODIFIED: c->res.modified++; break;
        case SK_DIFF_METADATA: c->res.metadata++; break;
        }
        return c->fn ? c->fn(k, path, o, n, c->ud) : 0;
}

/* Report everything below a directory that exists on one side only. */
static int d_oneside(dctx *c, const uint8_t tree[SK_TREE_ID_BYTES], sk_diff_kind k) {
        sk_treewalk *w = NULL;
        int r = sk_treewalk_new(c->repo, tree, c->pb.p, &w);
        sk_walk_item it;
        while (r >= 0 && (r = sk_treewalk_step(w, &it)) >= 0 && it.event != SK_WALK_END) {
                const sk_node *e = it.node;
                if (it.event == SK_WALK_UNREADABLE)
                        r = it.error;
                else if (it.event == SK_WALK_ENTRY && it.depth > 0)
                        r = d_emit(c, k, it.path, k == SK_DIFF_REMOVED ? e : NULL, k == SK_DIFF_ADDED ? e : NULL);
        }
        sk_treewalk_free(w);
        return r < 0 ? r : 0;
}

static bool dir_meta_equal(const sk_node *a, const sk_node *b) {
        sk_node x = *a, y = *b;
        memset(x.subtree, 0, sizeof(x.subtree));
        memset(y.subtree, 0, sizeof(y.subtree));
        return sk_node_meta_equal(&x, &y);
}

static int d_pair(dctx *c, const sk_node *o, const sk_node *n) {
        int r;
        if (o->type != n->type) {
                r = d_emit(c, SK_DIFF_MODIFIED, c->pb.p, o, n);
                if (r >= 0 && o->type == SK_NODE_DIR)
                        r = d_oneside(c, o->subtree, SK_DIFF_REMOVED);
                if (r >= 0 && n->type == SK_NODE_DIR)
                        r = d_oneside(c, n->subtree, SK_DIFF_ADDED);
                return r;
        }
        if (o->type == SK_NODE_DIR) {
                if (!dir_meta_equal(o, n)) {
                        r = d_emit(c, SK_DIFF_METADATA, c->pb.p, o, n);
                        if (r < 0)
                                return r;
                }
                return memcmp(o->subtree, n->subtree, SK_TREE_ID_BYTES) == 0 ? 0 : 0x100;
        }
        if (sk_node_meta_equal(o, n))
                return 0;
        /* content_equal is the type/size/hash/target/rdev part of meta_equal. */
        sk_node x = *o;
        x.mode = n->mode;
        x.uid = n->uid;
        x.gid = n->gid;
        x.mtime = n->mtime;
        x.xattrs = n->xattrs;
        x.n_xattrs = n->n_xattrs;
        return d_emit(c, sk_node_meta_equal(&x, n) ? SK_DIFF_METADATA : SK_DIFF_MODIFIED, c->pb.p, o, n);
}

/* A pair of directories being compared: entries i of da and j of db next. */
typedef struct dframe {
        sk_dir *da, *db;
        size_t i, j;
        size_t path_len;
} dframe;

typedef struct dstack {
        dframe *f;
        size_t n, cap;
        size_t held;            /* footprint of the frames' listings (SK_WALK_HELD_MAX) */
} dstack;

/* Push the pair (a, b) unless the ids are equal (nothing changed below). */
static int d_push(dctx *c, dstack *s, const uint8_t a[SK_TREE_ID_BYTES], const uint8_t b[SK_TREE_ID_BYTES]) {
        if (memcmp(a, b, SK_TREE_ID_BYTES) == 0)
                return 0;
        if (s->n > SK_TREE_MAX_DEPTH)
                return -EBADMSG; /* deeper than any valid tree */
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 32;
                dframe *nf = realloc(s->f, cap * sizeof(*nf));
                if (!nf)
                        return -ENOMEM;
                s->f = nf;
                s->cap = cap;
        }
        dframe f = { .path_len = c->pb.len };
        int r = sk_dir_load(c->repo, a, &f.da, NULL);
        if (r >= 0)
                r = sk_dir_load(c->repo, b, &f.db, NULL);
        if (r >= 0)
                r = sk_held_add(&s->held, f.da->footprint + f.db->footprint);
        if (r < 0) {
                sk_dir_free(f.da);
                sk_dir_free(f.db);
                return r;
        }
        s->f[s->n++] = f;
        return 0;
}

/* Both trees side by side in name order, with an explicit stack (the depth
 * of a tree is up to whoever wrote the repository). */
static int d_tree(dctx *c, const uint8_t a[SK_TREE_ID_BYTES], const uint8_t b[SK_TREE_ID_BYTES]) {
        dstack s = {};
        int r = d_push(c, &s, a, b);
        while (r >= 0 && s.n > 0) {
                dframe *f = &s.f[s.n - 1];
                sk_dir *da = f->da, *db = f->db;
                sk_pathbuf_pop(&c->pb, f->path_len);
                if (f->i >= da->n && f->j >= db->n) {
                        s.held -= da->footprint + db->footprint;
                        sk_dir_free(da);
                        sk_dir_free(db);
                        s.n--;
                        continue;
                }
                int cmp = f->i >= da->n   ? 1
                          : f->j >= db->n ? -1
                                          : strcmp(da->entries[f->i].name, db->entries[f->j].name);
                const sk_node *o = cmp <= 0 ? &da->entries[f->i] : NULL, *n = cmp >= 0 ? &db->entries[f->j] : NULL;
                /* Advance first: a push may move the frames. */
                if (cmp <= 0)
                        f->i++;
                if (cmp >= 0)
                        f->j++;
                size_t old;
                r = sk_pathbuf_push(&c->pb, (o ? o : n)->name, &old);
                if (r < 0)
                        break;
                if (!n) {
                        r = d_emit(c, SK_DIFF_REMOVED, c->pb.p, o, NULL);
                        if (r >= 0 && o->type == SK_NODE_DIR)
                                r = d_oneside(c, o->subtree, SK_DIFF_REMOVED);
                } else if (!o) {
                        r = d_emit(c, SK_DIFF_ADDED, c->pb.p, NULL, n);
                        if (r >= 0 && n->type == SK_NODE_DIR)
                                r = d_oneside(c, n->subtree, SK_DIFF_ADDED);
                } else {
                        r = d_pair(c, o, n);
                        if (r == 0x100)
                                r = d_push(c, &s, o->subtree, n->subtree);
                }
        }
        while (s.n > 0) {
                s.n--;
                sk_dir_free(s.f[s.n].da);
                sk_dir_free(s.f[s.n].db);
        }
        free(s.f);
        return r < 0 ? r : 0;
}

int sk_diff(sk_repo *repo, const char *old_id, const char *new_id, sk_diff_fn fn, void *userdata,
            sk_diff_result *ret_result) {
        sk_manifest *a = NULL, *b = NULL;
        dctx c = { .repo = repo, .fn = fn, .ud = userdata };
        int r = sk_backup_load(repo, old_id, &a);
        if (r < 0)
                return r;
        r = sk_backup_load(repo, new_id, &b);
        if (r >= 0)
                r = d_tree(&c, a->root, b->root);
        if (r >= 0 && ret_result)
                *ret_result = c.res;
        free(c.pb.p);
        sk_manifest_free(a);
        sk_manifest_free(b);
        return r < 0 ? r : 0;
}

/* ---- stats ---------------------------------------------------------------------- */

typedef struct sctx {
        sk_repo *repo;
        sk_idmap trees;         /* tree id -> a = total size below, b = files below */
        sk_idmap blobs;         /* data blob id -> a = len */
        sk_stats st;
        sk_progress_fn progress;
        void *ud;
        sk_progress prog;
} sctx;

/* Size and file count below tree id, memoised per tree id. Iterative
 * (treewalk.h): acc[0] sums sizes, acc[1] files. */
static int s_tree(sctx *c, const uint8_t id[SK_TREE_ID_BYTES], uint64_t *ret_size, uint64_t *ret_files) {
        sk_treewalk *w = NULL;
        uint64_t *top = NULL;
        int r = sk_treewalk_new(c->repo, id, NULL, &w);
        sk_walk_item it;
        while (r >= 0 && (r = sk_treewalk_step(w, &it)) >= 0 && it.event != SK_WALK_END) {
                const sk_node *n = it.node;
                sk_idmap_entry *e;
                if (it.depth == 0)
                        top = it.acc;
                if (it.event == SK_WALK_UNREADABLE) {
                        r = it.error;
                        break;
                }
                if (it.event == SK_WALK_LEAVE) {
                        r = sk_idmap_get(&c->trees, n->subtree, &e);
                        if (r < 0)
                                break;
                        e->a = it.sub[0];
                        e->b = it.sub[1];
                        it.acc[0] += it.sub[0];
                        it.acc[1] += it.sub[1];
                        c->prog.files_done += 1;
                        if (c->progress)
                                r = c->progress(&c->prog, c->ud);
                        continue;
                }
                if (n->type == SK_NODE_DIR) {
                        if ((e = sk_idmap_find(&c->trees, n->subtree))) {
                                it.acc[0] += e->a;
                                it.acc[1] += e->b;
                                sk_treewalk_skip(w);
                        }
                        continue;
                }
                it.acc[1]++;
                if (n->type != SK_NODE_FILE)
                        continue;
                it.acc[0] += n->size;
                for (size_t k = 0; k < n->n_chunks && r >= 0; k++) {
                        sk_idmap_entry *be;
                        r = sk_idmap_get(&c->blobs, n->chunks[k].id, &be);
                        if (r == 1) {
                                be->a = n->chunks[k].len;
                                c->st.unique_size += n->chunks[k].len;
                        }
                }
        }
        if (r >= 0) {
                *ret_size = top ? top[0] : 0;
                *ret_files = top ? top[1] : 0;
        }
        sk_treewalk_free(w);
        return r < 0 ? r : 0;
}

int sk_stats_compute(sk_repo *repo, const char *id, sk_progress_fn progress, void *userdata, sk_stats *ret_stats) {
        sctx c = { .repo = repo, .progress = progress, .ud = userdata, .prog.phase = SK_PHASE_SCAN };
        sk_manifest **list = NULL;
        size_t n = 0;
        int r;
        if (id) {
                list = calloc(1, sizeof(sk_manifest *));
                if (!list)
                        return -ENOMEM;
                r = sk_backup_load(repo, id, &list[0]);
                if (r < 0) {
                        free(list);
                        return r;
                }
                n = 1;
        } else {
                r = sk_backup_list(repo, NULL, NULL, &list, &n);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                uint64_t s = 0, f = 0;
                r = s_tree(&c, list[i]->root, &s, &f);
                c.st.total_size += s;
                c.st.files += f;
        }
        if (r >= 0) {
                sk_repo_stats rs;
                c.st.backups = n;
                c.st.trees = c.trees.n;
                c.st.blobs = c.blobs.n;
                r = sk_repo_get_stats(repo, &rs);
                if (r >= 0) {
                        c.st.stored_size = rs.pack_bytes;
                        c.st.packs = rs.pack_count;
                        c.st.dedup_ratio = c.st.unique_size ? (double) c.st.total_size / (double) c.st.unique_size : 0;
                        c.st.compression_ratio = rs.pack_bytes ? (double) rs.blob_raw_bytes / (double) rs.pack_bytes : 0;
                        *ret_stats = c.st;
                }
        }
        sk_idmap_done(&c.trees);
        sk_idmap_done(&c.blobs);
        sk_backup_list_free(list, n);
        return r < 0 ? r : 0;
}
