/* Prune (see prune.h for the design). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/engine-internal.h"
#include "backup/inspect.h"
#include "backup/prune.h"
#include "common/macro.h"

typedef struct ppack {
        char name[SK_PACK_NAME_HEX + 1];
        uint64_t size;
        uint64_t total, live;           /* record bytes per the index */
        uint64_t n_blobs, n_live;
        bool in_storage, in_index;
        bool drop;                      /* delete (after repacking its live blobs if repack) */
        bool repack;
} ppack;

typedef struct pctx {
        sk_repo *repo;
        const sk_prune_options *o;
        sk_prune_result res;
        /* Live blob ids, one set per type: a tree and a file chunk may share
         * an id (equal bytes) yet are different blobs, and a tree whose id was
         * seen as a chunk must still be walked, or its contents would be
         * deleted. Indexed by sk_blob_type. */
        sk_idmap live[3];
        ppack *packs;
        size_t n_packs, cap_packs;
        sk_idmap pack_ids;              /* a = index + 1 */
        sk_progress prog;
        sk_idmap to_repack;             /* live blobs of packs to repack */
        /* for the unindexed-pack safety scan */
        bool scan_hit_live;
} pctx;

/* A blob an older snapkeep deduplicated across types is stored again under
 * the type its reference needs (see sk_engine_store_as); it is read either
 * way, so a dry run only counts it. */
static int retype(pctx *c, sk_blob_type type, const uint8_t id[32]) {
        int r = c->o->dry_run ? sk_engine_is_legacy(c->repo, type, id) : sk_engine_store_as(c->repo, type, id);
        if (r > 0)
                c->res.blobs_retyped++;
        if (r < 0) {
                char hex[65];
                sk_hex(id, 32, hex);
                char *d = sk_engine_detail(c->repo, "storing blob %s as a %s blob failed; prune aborted", hex,
                                           type == SK_BLOB_TREE ? "tree" : "data");
                sk_engine_problem(c->o->problem, c->o->userdata, SK_PROBLEM_ERROR, r, NULL, NULL, NULL, hex, d);
                free(d);
        }
        return r < 0 ? r : 0;
}

static int mark_tree(pctx *c, const uint8_t id[32]) {
        sk_idmap_entry *e;
        int r = sk_idmap_get(&c->live[SK_BLOB_TREE], id, &e);
        if (r <= 0)
                return r;
        r = retype(c, SK_BLOB_TREE, id);
        if (r < 0)
                return r;
        sk_dir *d = NULL;
        char *detail = NULL;
        r = sk_dir_load(c->repo, id, &d, &detail);
        if (r < 0) {
                /* A tree we cannot read may reference blobs we must not delete. */
                sk_engine_problem(c->o->problem, c->o->userdata, SK_PROBLEM_ERROR, r, NULL, NULL, NULL, NULL,
                                  detail ? detail : "tree unreadable; prune aborted");
                free(detail);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        for (size_t i = 0; i < d->n && r >= 0; i++) {
                const sk_node *n = &d->entries[i];
                if (n->type == SK_NODE_DIR)
                        r = mark_tree(c, n->subtree);
                for (size_t k = 0; k < n->n_chunks && r >= 0; k++) {
                        r = sk_idmap_get(&c->live[SK_BLOB_DATA], n->chunks[k].id, &e);
                        if (r > 0)
                                r = retype(c, SK_BLOB_DATA, n->chunks[k].id);
                }
        }
        sk_dir_free(d);
        c->prog.files_done++;
        if (r >= 0 && c->o->progress && (c->prog.files_done & 63) == 0)
                r = c->o->progress(&c->prog, c->o->userdata);
        return r;
}

static ppack *pack_get(pctx *c, const char *name) {
        return sk_pack_table_get((void **) &c->packs, &c->n_packs, &c->cap_packs, sizeof(*c->packs), &c->pack_ids,
                                 name);
}

static int on_storage(const char *pack, uint64_t size, void *ud) {
        pctx *c = ud;
        ppack *p = pack_get(c, pack);
        if (p) {
                p->in_storage = true;
                p->size = size;
        }
        return 0;
}

static bool is_live(const pctx *c, const sk_blob_info *bi) {
        return (bi->type == SK_BLOB_DATA || bi->type == SK_BLOB_TREE) && sk_idmap_find(&c->live[bi->type], bi->id.b);
}

static int on_blob(const char *pack, const sk_blob_info *bi, void *ud) {
        pctx *c = ud;
        ppack *p = pack_get(c, pack);
        if (!p)
                return -ENOMEM;
        p->in_index = true;
        p->n_blobs++;
        p->total += bi->length;
        if (is_live(c, bi)) {
                p->n_live++;
                p->live += bi->length;
        }
        return 0;
}

static int on_repack_blob(const char *pack, const sk_blob_info *bi, void *ud) {
        pctx *c = ud;
        uint8_t key[32];
        if (sk_unhex(pack, key, 32) < 0)
                return 0;
        sk_idmap_entry *e = sk_idmap_find(&c->pack_ids, key);
        if (!e || !c->packs[e->a - 1].repack || !is_live(c, bi))
                return 0;
        /* Collect first: repacking changes the index being walked. a holds
         * a bit per blob type (a data and a tree blob may share an id). */
        sk_idmap_entry *t;
        if (sk_idmap_get(&c->to_repack, bi->id.b, &t) < 0)
                return -ENOMEM;
        t->a |= 1u << bi->type;
        return 0;
}

static bool drop_cb(const char *pack, const sk_blob_info *bi, void *ud) {
        pctx *c = ud;
        (void) bi;
        uint8_t key[32];
        if (sk_unhex(pack, key, 32) < 0)
                return false;
        sk_idmap_entry *e = sk_idmap_find(&c->pack_ids, key);
        return e && c->packs[e->a - 1].drop;
}

static int on_unindexed_scan(const char *pack, const sk_blob_info *bi, int status, const char *detail, void *ud) {
        pctx *c = ud;
        (void) pack;
        (void) status;
        (void) detail;
        /* A live blob the index does not know lives only here: keep the pack. */
        if (is_live(c, bi) && sk_repo_has_blob(c->repo, bi->type, &bi->id) != 1)
                c->scan_hit_live = true;
        return 0;
}

int sk_prune_run(sk_repo *repo, const sk_prune_options *o, sk_prune_result *ret_result) {
        pctx c = { .repo = repo, .o = o, .prog.phase = SK_PHASE_PRUNE };
        sk_lock *lock = NULL;
        char **ids = NULL;
        size_t n_ids = 0;
        unsigned threshold = o->repack_below_pct ? o->repack_below_pct : 50;
        int r;

        r = sk_repo_lock(repo, true, o->lock_wait_seconds, &lock);
        if (r < 0)
                return r;

        /* 1. Mark. Any unreadable manifest aborts: its blobs would be lost. */
        r = sk_backup_ids(repo, &ids, &n_ids);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n_ids; i++) {
                sk_manifest *m = NULL;
                r = sk_backup_load(repo, ids[i], &m);
                if (r < 0) {
                        char *d = sk_engine_detail(repo, "backup manifest %s unreadable; prune aborted", ids[i]);
                        sk_engine_problem(o->problem, o->userdata, SK_PROBLEM_ERROR, r, ids[i], NULL, NULL, NULL, d);
                        free(d);
                        goto out;
                }
                r = mark_tree(&c, m->root);
                sk_manifest_free(m);
                if (r < 0)
                        goto out;
                c.res.backups++;
        }
        c.res.blobs_live = c.live[SK_BLOB_DATA].n + c.live[SK_BLOB_TREE].n;

        /* 2. Sweep: classify packs. */
        r = sk_repo_list_packs(repo, on_storage, &c);
        if (r < 0)
                goto out;
        r = sk_repo_foreach_blob(repo, on_blob, &c);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < c.n_packs; i++) {
                ppack *p = &c.packs[i];
                if (!p->in_storage)
                        continue;
                if (!p->in_index) {
                        c.scan_hit_live = false;
                        r = sk_repo_check_pack(repo, p->name, false, on_unindexed_scan, &c);
                        if (r == -ENOMEM)
                                goto out;
                        if (c.scan_hit_live) {
                                sk_engine_problem(o->problem, o->userdata, SK_PROBLEM_WARNING, 0, NULL, NULL, p->name,
                                                  NULL, "unindexed pack holds live blobs: kept (run rebuild-index)");
                                continue;
                        }
                        p->drop = true;
                        c.res.packs_unindexed_deleted++;
                        c.res.bytes_freed += p->size;
                        continue;
                }
                if (p->n_live == 0) {
                        p->drop = true;
                        c.res.packs_deleted++;
                        c.res.blobs_removed += p->n_blobs;
                        c.res.bytes_freed += p->size;
                } else if (p->live * 100 < p->total * threshold) {
                        p->drop = p->repack = true;
                        c.res.packs_repacked++;
                        c.res.blobs_removed += p->n_blobs - p->n_live;
                        c.res.bytes_freed += p->size > p->live ? p->size - p->live : 0;
                }
        }
        if (o->dry_run) {
                r = 0;
                goto done;
        }

        /* 3. Repack live blobs of mostly-garbage packs into new packs. */
        if (c.res.packs_repacked) {
                r = sk_repo_foreach_blob(repo, on_repack_blob, &c);
                if (r < 0)
                        goto out;
                for (size_t i = 0; i < c.to_repack.cap; i++) {
                        if (!c.to_repack.e[i].used)
                                continue;
                        sk_blob_id id;
                        memcpy(id.b, c.to_repack.e[i].id, 32);
                        for (sk_blob_type t = SK_BLOB_DATA; t <= SK_BLOB_TREE && r >= 0; t++)
                                if (c.to_repack.e[i].a & (1u << t))
                                        r = sk_repo_repack_blob(repo, t, &id);
                        if (r < 0) {
                                char hex[65], *d;
                                sk_hex(id.b, 32, hex);
                                d = sk_engine_detail(repo, "repacking blob %s failed; prune aborted", hex);
                                sk_engine_problem(o->problem, o->userdata, SK_PROBLEM_ERROR, r, NULL, NULL, NULL, hex, d);
                                free(d);
                                goto out;
                        }
                }
                r = sk_repo_flush(repo);
                if (r < 0)
                        goto out;
        }

        /* 4. New index without the dropped packs, then delete them. */
        r = sk_repo_rewrite_index(repo, drop_cb, &c);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < c.n_packs; i++) {
                if (!c.packs[i].drop || !c.packs[i].in_storage)
                        continue;
                r = sk_repo_delete_pack(repo, c.packs[i].name);
                if (r < 0 && r != -ENOENT)
                        goto out;
                c.prog.current = c.packs[i].name;
                if (o->progress)
                        (void) o->progress(&c.prog, o->userdata);
        }
        /* Temp files of killed writers: every writer holds a shared lock, we hold
         * the exclusive one; the margin covers lock and key writes, which take none. */
        r = sk_repo_remove_leftovers(repo, 60, &c.res.temp_files_removed);
        if (r < 0)
                goto out;
        r = 0;
done:
        if (ret_result)
                *ret_result = c.res;
out:
        sk_strv_free(ids, n_ids);
        for (size_t i = 0; i < ARRAY_SIZE(c.live); i++)
                sk_idmap_done(&c.live[i]);
        sk_idmap_done(&c.pack_ids);
        sk_idmap_done(&c.to_repack);
        free(c.packs);
        sk_lock_release(lock);
        return r;
}
