/* Iterative tree walk (see treewalk.h for the design). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/dir.h"
#include "backup/held.h"
#include "backup/pathbuf.h"
#include "backup/treewalk.h"
#include "common/macro.h"

typedef struct wframe {
        sk_tree *split;         /* a split directory's part list, or NULL */
        size_t part;            /* next part to load */
        sk_tree *leaf;          /* entries being reported */
        size_t i;               /* next entry of leaf */
        char *last;             /* last name of the previous part: order must continue */
        const sk_node *node;    /* the directory's entry (in the parent's leaf, or w->top) */
        size_t path_len;        /* length of its path in w->pb */
        uint64_t acc[2];
} wframe;

struct sk_treewalk {
        sk_repo *repo;
        sk_node top;            /* synthetic entry of the top directory */
        wframe *f;
        size_t n, cap;
        bool started, enter;    /* enter: the last ENTRY was a directory not skipped */
        uint64_t outer[2];      /* acc of the top directory's entry */
        uint64_t left[2];       /* sub of the last LEAVE */
        sk_pathbuf pb;
        char *detail;
        size_t held;            /* sk_tree_footprint of every frame's trees */
};

int sk_treewalk_new(sk_repo *repo, const uint8_t root[SK_TREE_ID_BYTES], const char *prefix, sk_treewalk **ret) {
        sk_treewalk *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->repo = repo;
        w->top = (sk_node) { .type = SK_NODE_DIR, .mode = 0755 };
        memcpy(w->top.subtree, root, SK_TREE_ID_BYTES);
        w->pb.p = strdup(prefix ?: "");
        w->top.name = strdup("");
        if (!w->pb.p || !w->top.name) {
                sk_treewalk_free(w);
                return -ENOMEM;
        }
        w->pb.len = strlen(w->pb.p);
        w->pb.cap = w->pb.len + 1;
        *ret = w;
        return 0;
}

static size_t tree_held(const sk_tree *t) {
        return t ? sk_tree_footprint(t) : 0;
}

static void frame_clear(sk_treewalk *w, wframe *f) {
        w->held -= tree_held(f->split) + tree_held(f->leaf);
        sk_tree_free(f->split);
        sk_tree_free(f->leaf);
        free(f->last);
}

sk_treewalk *sk_treewalk_free(sk_treewalk *w) {
        if (!w)
                return NULL;
        while (w->n > 0)
                frame_clear(w, &w->f[--w->n]);
        free(w->f);
        free(w->pb.p);
        free(w->detail);
        sk_node_clear(&w->top);
        free(w);
        return NULL;
}

void sk_treewalk_skip(sk_treewalk *w) {
        w->enter = false;
}

static void set_detail(sk_treewalk *w, char *d) {
        free(w->detail);
        w->detail = d;
}

/* Count t against SK_WALK_HELD_MAX: -E2BIG (detail set) if it would exceed it. */
static int hold(sk_treewalk *w, const sk_tree *t) {
        int r = sk_held_add(&w->held, sk_tree_footprint(t));
        if (r < 0)
                set_detail(w, sk_held_detail());
        return r;
}

/* Load the first leaf of a directory into f (zeroed but for node/path_len). */
static int frame_load(sk_treewalk *w, wframe *f, const uint8_t id[SK_TREE_ID_BYTES]) {
        char *d = NULL;
        sk_tree *t = NULL;
        int r = sk_tree_blob_load(w->repo, id, &t, &d);
        set_detail(w, d);
        if (r < 0)
                return r;
        r = hold(w, t);
        if (r < 0) {
                sk_tree_free(t);
                return r;
        }
        if (sk_tree_is_split(t))
                f->split = t;
        else
                f->leaf = t;
        return 0;
}

/* f's leaf is used up: load its next part. 1: loaded; 0: no more parts. */
static int frame_next_part(sk_treewalk *w, wframe *f) {
        if (!f->split || f->part >= sk_tree_n_parts(f->split))
                return 0;
        const uint8_t *id = sk_tree_part(f->split, f->part);
        if (f->leaf && sk_tree_n_entries(f->leaf) > 0) {
                free(f->last);
                f->last = strdup(sk_tree_entry(f->leaf, sk_tree_n_entries(f->leaf) - 1)->name);
                if (!f->last)
                        return -ENOMEM;
        }
        w->held -= tree_held(f->leaf);
        f->leaf = sk_tree_free(f->leaf);
        f->i = 0;
        char *d = NULL;
        int r = sk_tree_blob_load(w->repo, id, &f->leaf, &d);
        set_detail(w, d);
        if (r >= 0)
                r = hold(w, f->leaf);
        if (r < 0) {
                f->leaf = sk_tree_free(f->leaf);
                return r;
        }
        f->part++;
        char hex[SK_TREE_ID_BYTES * 2 + 1];
        const char *why = NULL;
        if (sk_tree_is_split(f->leaf))
                why = "tree part is itself split";
        else if (sk_tree_n_entries(f->leaf) == 0)
                why = "tree part is empty";
        else if (f->last && strcmp(f->last, sk_tree_entry(f->leaf, 0)->name) >= 0)
                why = "tree part out of order";
        if (!why)
                return 1;
        sk_hex(id, SK_TREE_ID_BYTES, hex);
        if (asprintf(&d, "tree blob %s: %s", hex, why) < 0)
                d = NULL;
        set_detail(w, d);
        return -EBADMSG;
}

static uint64_t *holder_acc(sk_treewalk *w) {
        return w->n ? w->f[w->n - 1].acc : w->outer;
}

static void unreadable(sk_treewalk *w, sk_walk_item *it, const sk_node *node, int error) {
        *it = (sk_walk_item) { .event = SK_WALK_UNREADABLE, .node = node, .path = w->pb.p, .depth = w->n,
                               .acc = holder_acc(w), .error = error,
                               .detail = w->detail ? w->detail : "tree unreadable" };
}

/* Enter the directory of the last ENTRY. 0: pushed; 1: *it is UNREADABLE. */
static int enter(sk_treewalk *w, const sk_node *node, sk_walk_item *it) {
        if (w->n > SK_TREE_MAX_DEPTH) {
                char *d = NULL;
                if (asprintf(&d, "tree nested deeper than %u levels", (unsigned) SK_TREE_MAX_DEPTH) < 0)
                        d = NULL;
                set_detail(w, d);
                unreadable(w, it, node, -EBADMSG);
                return 1;
        }
        if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 32;
                wframe *nf = realloc(w->f, cap * sizeof(*nf));
                if (!nf)
                        return -ENOMEM;
                w->f = nf;
                w->cap = cap;
        }
        wframe f = { .node = node, .path_len = w->pb.len };
        int r = frame_load(w, &f, node->subtree);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                unreadable(w, it, node, r);
                return 1;
        }
        w->f[w->n++] = f;
        return 0;
}

int sk_treewalk_step(sk_treewalk *w, sk_walk_item *it) {
        int r;
        if (!w->started) {
                w->started = true;
                w->enter = true;
                *it = (sk_walk_item) { .event = SK_WALK_ENTRY, .node = &w->top, .path = w->pb.p, .acc = w->outer };
                return 0;
        }
        if (w->enter) {
                w->enter = false;
                /* The entry just reported: the top one, or the last of the top frame. */
                const sk_node *node = w->n ? sk_tree_entry(w->f[w->n - 1].leaf, w->f[w->n - 1].i - 1) : &w->top;
                r = enter(w, node, it);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        while (w->n > 0) {
                wframe *f = &w->f[w->n - 1];
                if (!f->leaf || f->i >= sk_tree_n_entries(f->leaf)) {
                        r = frame_next_part(w, f);
                        if (r == -ENOMEM)
                                return r;
                        if (r > 0)
                                continue;
                        sk_pathbuf_pop(&w->pb, f->path_len);
                        const sk_node *node = f->node;
                        if (r < 0) {
                                /* A part failed: the directory is unreadable from here on. */
                                frame_clear(w, f);
                                w->n--;
                                unreadable(w, it, node, r);
                                return 0;
                        }
                        uint64_t sub[2] = { f->acc[0], f->acc[1] };
                        frame_clear(w, f);
                        w->n--;
                        memcpy(w->left, sub, sizeof(sub));
                        *it = (sk_walk_item) { .event = SK_WALK_LEAVE, .node = node, .path = w->pb.p,
                                               .depth = w->n, .acc = holder_acc(w), .sub = w->left };
                        return 0;
                }
                const sk_node *e = sk_tree_entry(f->leaf, f->i++);
                size_t old;
                sk_pathbuf_pop(&w->pb, f->path_len);
                r = sk_pathbuf_push(&w->pb, e->name, &old);
                if (r < 0)
                        return r;
                w->enter = e->type == SK_NODE_DIR;
                *it = (sk_walk_item) { .event = SK_WALK_ENTRY, .node = e, .path = w->pb.p, .depth = w->n,
                                       .acc = f->acc };
                return 0;
        }
        *it = (sk_walk_item) { .event = SK_WALK_END };
        return 0;
}
