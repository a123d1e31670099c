/* Prune (see prune.h for the design). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/report.h"
#include "backup/idmap.h"
#include "backup/pack-table.h"
#include "backup/legacy-blobs.h"
#include "common/fsutil.h"
#include "backup/manifest.h"
#include "backup/prune.h"
#include "repo/trash.h"
#include "backup/treewalk.h"
#include "common/macro.h"

typedef struct ppack {
        char name[SK_PACK_NAME_HEX + 1];
        uint64_t size;
        uint64_t total, live;           /* record bytes per the index */
        uint64_t n_blobs, n_live;
        bool in_storage, in_index;
        bool trashed;                   /* named by a trash record */
        bool expired;                   /* ... older than the grace period */
        bool trash;                     /* to name in this run's new record */
        bool drop;                      /* leaves the index now */
        bool del;                       /* deleted now */
        bool readd;                     /* undeleted: indexed again from its blob table */
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
 * the type its reference needs (see sk_legacy_blob_repair); it is read either
 * way, so a dry run only counts it. */
static int retype(pctx *c, sk_blob_type type, const uint8_t id[32]) {
        int r = c->o->dry_run ? sk_legacy_blob_is(c->repo, type, id) : sk_legacy_blob_repair(c->repo, type, id);
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

/* Mark every blob reachable from tree id live. Iterative (treewalk.h): the
 * depth of a tree is up to whoever wrote the repository. */
static int mark_tree(pctx *c, const uint8_t id[32]) {
        sk_idmap_entry *e;
        int r = sk_idmap_get(&c->live[SK_BLOB_TREE], id, &e);
        if (r <= 0)
                return r;
        r = retype(c, SK_BLOB_TREE, id);
        if (r < 0)
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
                /* Live sets per type: an id seen as a file chunk says nothing
                 * about the tree with the same id (FORMAT.md 6). */
                if (it.depth > 0 && n->type == SK_NODE_DIR) {
                        r = sk_idmap_get(&c->live[SK_BLOB_TREE], n->subtree, &e);
                        if (r == 0)
                                sk_treewalk_skip(w); /* marked already, with all below it */
                        else if (r > 0)
                                r = retype(c, SK_BLOB_TREE, n->subtree);
                }
                for (size_t k = 0; k < n->n_chunks && r >= 0; k++) {
                        r = sk_idmap_get(&c->live[SK_BLOB_DATA], n->chunks[k].id, &e);
                        if (r > 0)
                                r = retype(c, SK_BLOB_DATA, n->chunks[k].id);
                }
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

/* Does pack p (not in the index) hold a live blob the index has nowhere
 * else? Conservative: a pack that cannot be read counts as holding one. */
static int holds_live_only_copy(pctx *c, ppack *p, bool *ret) {
        c->scan_hit_live = false;
        int r = sk_repo_check_pack(c->repo, p->name, false, on_unindexed_scan, c);
        if (r == -ENOMEM)
                return r;
        if (r == -ENOENT) {
                *ret = false;
                return 0;
        }
        *ret = c->scan_hit_live || (r < 0 && r != -EBADMSG);
        return 0;
}

/* Load the trash records; mark their packs. *ret_recs owned. */
static int load_trash(pctx *c, uint64_t now, uint64_t grace, sk_trash_record **ret_recs, size_t *ret_n) {
        size_t bad = 0;
        int r = sk_trash_load(c->repo, ret_recs, ret_n, &bad);
        if (r < 0)
                return r;
        if (bad)
                sk_engine_problem(c->o->problem, c->o->userdata, SK_PROBLEM_WARNING, -EBADMSG, NULL, NULL, NULL,
                                  NULL, "unreadable trash record(s) ignored: their packs are trashed again");
        for (size_t i = 0; i < *ret_n; i++) {
                sk_trash_record *t = &(*ret_recs)[i];
                bool expired = t->time <= now && now - t->time >= grace;
                uint64_t left = expired ? 0 : t->time + grace - now;
                if (!expired && (c->res.next_delete_seconds == 0 || left < c->res.next_delete_seconds))
                        c->res.next_delete_seconds = left;
                for (size_t k = 0; k < t->n_packs; k++) {
                        /* NULL: not a pack name (or no memory): the pack, if
                         * garbage, is simply trashed again (safe) */
                        ppack *p = pack_get(c, t->packs[k]);
                        if (!p)
                                continue;
                        p->trashed = true;
                        p->expired |= expired;
                }
        }
        return 0;
}

/* Classify one pack in storage. */
static int classify(pctx *c, ppack *p, unsigned threshold, bool immediate) {
        bool only_copy = false;
        int r;
        if (p->trashed) {
                if (p->in_index && p->n_live > 0) {
                        /* named by a backup written after it was trashed (a
                         * crash left it indexed): keep it; its record goes */
                        if (p->expired)
                                c->res.packs_undeleted++;
                        return 0;
                }
                p->drop = p->in_index;
                c->res.blobs_removed += p->in_index ? p->n_blobs : 0;
                if (!p->expired) {
                        c->res.packs_waiting++;
                        return 0;
                }
                if (!p->in_index) {
                        r = holds_live_only_copy(c, p, &only_copy);
                        if (r < 0)
                                return r;
                        if (only_copy) {
                                /* a backup that names it was written after the
                                 * trash record: index it again */
                                p->readd = true;
                                c->res.packs_undeleted++;
                                return 0;
                        }
                }
                p->del = true;
                c->res.packs_deleted++;
                c->res.bytes_freed += p->size;
                return 0;
        }
        if (!p->in_index) {
                r = holds_live_only_copy(c, p, &only_copy);
                if (r < 0)
                        return r;
                if (only_copy) {
                        sk_engine_problem(c->o->problem, c->o->userdata, SK_PROBLEM_WARNING, 0, NULL, NULL, p->name,
                                          NULL, "unindexed pack holds live blobs: kept (run rebuild-index)");
                        return 0;
                }
        } else if (p->n_live == 0) {
                c->res.blobs_removed += p->n_blobs;
        } else if (p->live * 100 < p->total * threshold) {
                p->repack = true;
                c->res.packs_repacked++;
                c->res.blobs_removed += p->n_blobs - p->n_live;
        } else
                return 0;
        p->drop = p->in_index;
        if (immediate) {
                p->del = true;
                if (!p->in_index)
                        c->res.packs_unindexed_deleted++;
                else if (!p->repack)
                        c->res.packs_deleted++;
                /* a repacked pack's live bytes are written again */
                c->res.bytes_freed += !p->repack ? p->size : p->size > p->live ? p->size - p->live : 0;
        } else {
                p->trash = true;
                c->res.packs_trashed++;
                c->res.bytes_trashed += p->size;
        }
        return 0;
}

int sk_prune_run(sk_repo *repo, const sk_prune_options *o, sk_prune_result *ret_result) {
        pctx c = { .repo = repo, .o = o, .prog.phase = SK_PHASE_PRUNE };
        sk_lock *lock = NULL;
        char **ids = NULL, **trash = NULL, **readd = NULL;
        size_t n_ids = 0, n_trash = 0, n_readd = 0, n_recs = 0, n_del = 0;
        sk_trash_record *recs = NULL;
        unsigned threshold = o->repack_below_pct ? o->repack_below_pct : 50;
        uint64_t now = (uint64_t) time(NULL);
        uint64_t grace = o->grace_seconds ? o->grace_seconds : sk_prune_default_grace(repo);
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

        /* 2. Sweep: classify packs (FORMAT.md 9b). */
        r = sk_repo_list_packs(repo, on_storage, &c);
        if (r < 0)
                goto out;
        r = sk_repo_foreach_blob(repo, on_blob, &c);
        if (r < 0)
                goto out;
        r = load_trash(&c, now, grace, &recs, &n_recs);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < c.n_packs; i++) {
                ppack *p = &c.packs[i];
                if (!p->in_storage) {
                        if (p->in_index) {
                                /* gone from storage (lost, or deleted by hand or by an old prune): no
                                 * backup may deduplicate against it any more */
                                p->drop = true;
                                c.res.index_entries_missing += p->n_blobs;
                                sk_engine_problem(o->problem, o->userdata, SK_PROBLEM_WARNING, -ENOENT, NULL, NULL,
                                                  p->name, NULL, "indexed pack is missing: its index entries dropped");
                        }
                        continue;
                }
                r = classify(&c, p, threshold, o->no_grace);
                if (r < 0)
                        goto out;
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

        /* 4. The new trash record first, then the index without the dropped
         * packs (and with the undeleted ones): a crash in between leaves a
         * record of packs still indexed, which the next prune re-checks. */
        trash = calloc(MAX(c.n_packs, 1u), sizeof(char *));
        readd = calloc(MAX(c.n_packs, 1u), sizeof(char *));
        if (!trash || !readd) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < c.n_packs; i++) {
                if (c.packs[i].trash)
                        trash[n_trash++] = c.packs[i].name;
                if (c.packs[i].readd)
                        readd[n_readd++] = c.packs[i].name;
        }
        if (n_trash) {
                /* The grace period starts now, when the packs leave the index,
                 * not when prune started (it may have waited for its lock). */
                r = sk_trash_write(repo, (uint64_t) time(NULL), trash, n_trash);
                if (r < 0)
                        goto out;
                if (c.res.next_delete_seconds == 0 || grace < c.res.next_delete_seconds)
                        c.res.next_delete_seconds = grace;
        }
        r = sk_repo_rewrite_index_add(repo, drop_cb, &c, readd, n_readd);
        if (r < 0)
                goto out;

        /* 5. Delete what was trashed long enough ago and is still garbage;
         * only while our lock is provably ours (a prune stalled past the
         * stale time must not delete under a backup that started meanwhile). */
        r = sk_repo_lock_check(repo, lock);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < c.n_packs; i++) {
                if (!c.packs[i].del)
                        continue;
                if ((++n_del & 63) == 0 && (r = sk_lock_check(lock, false)) < 0) {
                        r = sk_repo_lock_check(repo, lock);
                        goto out;
                }
                r = sk_repo_delete_pack(repo, c.packs[i].name);
                if (r < 0 && r != -ENOENT)
                        goto out;
                c.prog.current = c.packs[i].name;
                if (o->progress)
                        (void) o->progress(&c.prog, o->userdata);
        }
        /* every pack of an expired record is deleted or undeleted now */
        for (size_t i = 0; i < n_recs; i++) {
                if (recs[i].time > now || now - recs[i].time < grace)
                        continue;
                r = sk_trash_remove(repo, recs[i].name);
                if (r < 0)
                        goto out;
                c.res.trash_records_removed++;
        }
        /* Temp files of killed writers: every writer holds a shared lock, we hold
         * the exclusive one; the margin covers lock and key writes, which take none. */
        r = sk_repo_remove_leftovers(repo, 60, &c.res.temp_files_removed);
        if (r < 0)
                goto out;
        r = sk_repo_remove_lock_tombstones(repo, &c.res.tombstones_removed);
        if (r < 0)
                goto out;
        r = 0;
done:
        if (ret_result)
                *ret_result = c.res;
out:
        free(trash);
        free(readd);
        sk_trash_free(recs, n_recs);
        sk_strv_free(ids, n_ids);
        for (size_t i = 0; i < ARRAY_SIZE(c.live); i++)
                sk_idmap_done(&c.live[i]);
        sk_idmap_done(&c.pack_ids);
        sk_idmap_done(&c.to_repack);
        free(c.packs);
        sk_lock_release(lock);
        return r;
}

uint64_t sk_prune_default_grace(sk_repo *repo) {
        return MAX((uint64_t) SK_PRUNE_GRACE_SECONDS, 2 * (uint64_t) sk_repo_lock_stale(repo));
}
