/* Prune (see prune.h for the design). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/engine-internal.h"
#include "backup/inspect.h"
#include "backup/prune.h"
#include "backup/treewalk.h"
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
        sk_idmap live;                  /* live blob ids (trees and data) */
        ppack *packs;
        size_t n_packs, cap_packs;
        sk_idmap pack_ids;              /* a = index + 1 */
        sk_progress prog;
        sk_idmap to_repack;             /* live blobs of packs to repack */
        /* for the unindexed-pack safety scan */
        bool scan_hit_live;
} pctx;

/* Mark every blob reachable from tree id live. Iterative (treewalk.h): the
 * depth of a tree is up to whoever wrote the repository. */
static int mark_tree(pctx *c, const uint8_t id[32]) {
        sk_idmap_entry *e;
        int r = sk_idmap_get(&c->live, id, &e);
        if (r <= 0)
                return r;
        sk_treewalk *w = NULL;
        r = sk_treewalk_new(c->repo, id, NULL, &w);
        sk_walk_item it;
        while (r >= 0 && (r = sk_treewalk_step(w, &it)) >= 0 && it.event != SK_WALK_END) {
                const sk_node *n = it.node;
                if (it.event == SK_WALK_UNREADABLE) {
                        /* A tree we cannot read may reference blobs we must not delete. */
                        sk_engine_problem(c->o->problem, c->o->userdata, SK_PROBLEM_ERROR, it.error, NULL, it.path,
                                          NULL, NULL, it.detail);
                        r = it.error == -ENOMEM ? -ENOMEM : -EBADMSG;
                        break;
                }
                if (it.event == SK_WALK_LEAVE) {
                        c->prog.files_done++;
                        if (c->o->progress && (c->prog.files_done & 63) == 0)
                                r = c->o->progress(&c->prog, c->o->userdata);
                        continue;
                }
                if (it.depth > 0 && n->type == SK_NODE_DIR) {
                        r = sk_idmap_get(&c->live, n->subtree, &e);
                        if (r == 0)
                                sk_treewalk_skip(w); /* marked already, with all below it */
                }
                for (size_t k = 0; k < n->n_chunks && r >= 0; k++)
                        r = sk_idmap_get(&c->live, n->chunks[k].id, &e);
        }
        sk_treewalk_free(w);
        return r < 0 ? r : 0;
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

static int on_blob(const char *pack, const sk_blob_info *bi, void *ud) {
        pctx *c = ud;
        ppack *p = pack_get(c, pack);
        if (!p)
                return -ENOMEM;
        p->in_index = true;
        p->n_blobs++;
        p->total += bi->length;
        if (sk_idmap_find(&c->live, bi->id.b)) {
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
        if (!e || !c->packs[e->a - 1].repack || !sk_idmap_find(&c->live, bi->id.b))
                return 0;
        /* Collect first: repacking changes the index being walked. */
        sk_idmap_entry *t;
        return sk_idmap_get(&c->to_repack, bi->id.b, &t) < 0 ? -ENOMEM : 0;
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
        if (sk_idmap_find(&c->live, bi->id.b) && sk_repo_has_blob(c->repo, &bi->id) != 1)
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
        c.res.blobs_live = c.live.n;

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
                        r = sk_repo_repack_blob(repo, &id);
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
        sk_idmap_done(&c.live);
        sk_idmap_done(&c.pack_ids);
        sk_idmap_done(&c.to_repack);
        free(c.packs);
        sk_lock_release(lock);
        return r;
}
