/* Repository check (see check.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "backup/check.h"
#include "backup/report.h"
#include "backup/pathbuf.h"
#include "backup/idmap.h"
#include "backup/pack-table.h"
#include "backup/legacy-blobs.h"
#include "common/fsutil.h"
#include "backup/manifest.h"
#include "repo/trash.h"
#include "backup/treewalk.h"
#include "common/macro.h"

typedef struct bad_blob {
        uint8_t id[32];
        char pack[SK_PACK_NAME_HEX + 1];
        char *detail;
} bad_blob;

typedef struct pack_rec {
        char name[SK_PACK_NAME_HEX + 1];
        uint64_t size;
        bool in_storage, in_index;
        bool trashed;           /* named by a prune's trash record */
} pack_rec;

typedef struct cctx {
        sk_repo *repo;
        const sk_check_options *o;
        sk_check_result *res;
        sk_idmap trees;         /* a: 1 ok, 2 unreadable */
        sk_idmap blobs;         /* referenced data blobs; a: 1 present, 2 missing */
        sk_pathbuf pb;
        const char *backup;
        bad_blob *bad;
        size_t n_bad, cap_bad;
        /* a: index into bad + 1; one map per blob type (by sk_blob_type), as a
         * damaged file chunk says nothing about a tree with the same id */
        sk_idmap bad_ids[3];
        pack_rec *packs;
        size_t n_packs, cap_packs;
        sk_idmap pack_ids;      /* a: index into packs + 1 */
        sk_progress prog;
} cctx;

static void problem(cctx *c, sk_problem_kind k, int err, const char *backup, const char *path, const char *pack,
                    const char *blob, const char *detail) {
        if (k == SK_PROBLEM_ERROR)
                c->res->errors++;
        else
                c->res->warnings++;
        sk_engine_problem(c->o->problem, c->o->userdata, k, err, backup, path, pack, blob, detail);
}

static int add_bad(cctx *c, const sk_blob_info *bi, const char *pack, const char *detail) {
        sk_idmap_entry *e;
        const uint8_t *id = bi->id.b;
        if (bi->type != SK_BLOB_DATA && bi->type != SK_BLOB_TREE)
                return 0;
        int r = sk_idmap_get(&c->bad_ids[bi->type], id, &e);
        if (r <= 0)
                return r;
        if (c->n_bad == c->cap_bad) {
                size_t cap = c->cap_bad ? c->cap_bad * 2 : 16;
                bad_blob *nb = realloc(c->bad, cap * sizeof(bad_blob));
                if (!nb)
                        return -ENOMEM;
                c->bad = nb;
                c->cap_bad = cap;
        }
        bad_blob *b = &c->bad[c->n_bad];
        memcpy(b->id, id, 32);
        snprintf(b->pack, sizeof(b->pack), "%s", pack ?: "");
        b->detail = strdup(detail ?: "");
        if (!b->detail)
                return -ENOMEM;
        e->a = ++c->n_bad;
        return 0;
}

/* ---- structure: manifests and trees ---------------------------------------------- */

/* Iterative (treewalk.h): the depth of a tree is up to whoever wrote the
 * repository. Trees seen before (in this or an earlier backup) are skipped. */
/* A tree an older snapkeep stored only as a data blob (it deduplicated it
 * against a file with the same bytes) still restores; say how it heals. */
static void legacy_tree_warning(cctx *c, const uint8_t id[32], const char *path) {
        if (!sk_legacy_blob_is(c->repo, SK_BLOB_TREE, id))
                return;
        char hex[65];
        sk_hex(id, 32, hex);
        problem(c, SK_PROBLEM_WARNING, 0, c->backup, path, NULL, hex,
                "directory's tree blob exists only as a data blob (an older snapkeep deduplicated it against a "
                "file with the same bytes); it restores, and 'snapkeep prune' or the next backup of this "
                "directory stores it as a tree blob");
}

static int walk_tree(cctx *c, const uint8_t id[32]) {
        sk_idmap_entry *e;
        int r = sk_idmap_get(&c->trees, id, &e);
        if (r <= 0)
                return r;
        e->a = 1;
        c->res->trees++;
        legacy_tree_warning(c, id, "");
        sk_treewalk *w = NULL;
        r = sk_treewalk_new(c->repo, id, NULL, &w);
        sk_walk_item it;
        while (r >= 0 && (r = sk_treewalk_step(w, &it)) >= 0 && it.event != SK_WALK_END) {
                const sk_node *n = it.node;
                if (it.event == SK_WALK_LEAVE)
                        continue;
                if (it.event == SK_WALK_UNREADABLE) {
                        if (it.error == -ENOMEM) {
                                r = it.error;
                                break;
                        }
                        char hex[65];
                        sk_hex(n->subtree, 32, hex);
                        /* Over the walk's memory bound the tree itself may be
                         * fine (and readable by a shorter path): not damaged. */
                        if (it.error != -E2BIG)
                                sk_idmap_find(&c->trees, n->subtree)->a = 2;
                        problem(c, SK_PROBLEM_ERROR, it.error, c->backup, it.path, NULL, hex, it.detail);
                        continue;
                }
                if (it.depth > 0 && n->type == SK_NODE_DIR) {
                        r = sk_idmap_get(&c->trees, n->subtree, &e);
                        if (r < 0)
                                break;
                        if (r == 0) {
                                sk_treewalk_skip(w);
                        } else {
                                e->a = 1;
                                c->res->trees++;
                                legacy_tree_warning(c, n->subtree, it.path);
                        }
                }
                for (size_t k = 0; k < n->n_chunks && r >= 0; k++) {
                        sk_idmap_entry *be;
                        r = sk_idmap_get(&c->blobs, n->chunks[k].id, &be);
                        if (r <= 0)
                                continue;
                        sk_blob_id bid;
                        memcpy(bid.b, n->chunks[k].id, 32);
                        be->a = sk_repo_has_blob(c->repo, SK_BLOB_DATA, &bid) == 1 ? 1 : 2;
                        r = 0;
                        if (be->a == 2 && sk_legacy_blob_is(c->repo, SK_BLOB_DATA, n->chunks[k].id)) {
                                be->a = 1;
                                char hex[65];
                                sk_hex(n->chunks[k].id, 32, hex);
                                problem(c, SK_PROBLEM_WARNING, 0, c->backup, it.path, NULL, hex,
                                        "file's data blob exists only as a tree blob (an older snapkeep "
                                        "deduplicated it against a directory with the same bytes); it restores, "
                                        "and 'snapkeep prune' or the next backup of this file stores it as a "
                                        "data blob");
                        } else if (be->a == 2) {
                                char hex[65];
                                sk_hex(n->chunks[k].id, 32, hex);
                                problem(c, SK_PROBLEM_ERROR, -ENOENT, c->backup, it.path, NULL, hex,
                                        "data blob referenced but not in the index");
                        }
                }
        }
        sk_treewalk_free(w);
        return r < 0 ? r : 0;
}

/* ---- packs ------------------------------------------------------------------------ */

static pack_rec *pack_get(cctx *c, const char *name) {
        return sk_pack_table_get((void **) &c->packs, &c->n_packs, &c->cap_packs, sizeof(*c->packs), &c->pack_ids,
                                 name);
}

static int on_storage_pack(const char *pack, uint64_t size, void *ud) {
        cctx *c = ud;
        pack_rec *p = pack_get(c, pack);
        if (!p)
                return 0; /* not a pack name: ignore */
        p->in_storage = true;
        p->size = size;
        return 0;
}

static int on_index_blob(const char *pack, const sk_blob_info *bi, void *ud) {
        cctx *c = ud;
        (void) bi;
        pack_rec *p = pack_get(c, pack);
        if (p)
                p->in_index = true;
        return 0;
}

static int on_missing_pack_blob(const char *pack, const sk_blob_info *bi, void *ud) {
        cctx *c = ud;
        const char *want = c->prog.current;
        if (strcmp(pack, want) != 0)
                return 0;
        return add_bad(c, bi, pack, "pack missing from storage");
}

static int on_scan(const char *pack, const sk_blob_info *bi, int status, const char *detail, void *ud) {
        cctx *c = ud;
        c->res->blobs_read++;
        if (status >= 0)
                return 0;
        char hex[65];
        sk_hex(bi->id.b, 32, hex);
        problem(c, SK_PROBLEM_ERROR, status, NULL, NULL, pack, hex, detail && *detail ? detail : "blob unreadable");
        return add_bad(c, bi, pack, detail);
}

static int on_bad_index(const char *name, void *ud) {
        cctx *c = ud;
        char *d = NULL;
        if (asprintf(&d, "index file %s is corrupt; rebuild-index recreates the index from the packs", name) < 0)
                d = NULL;
        problem(c, SK_PROBLEM_ERROR, -EBADMSG, NULL, NULL, NULL, NULL, d);
        free(d);
        return 0;
}

static int pack_name_cmp(const void *a, const void *b) {
        return strcmp(((const pack_rec *) a)->name, ((const pack_rec *) b)->name);
}

static bool in_subset(const char *name, uint64_t seed, unsigned pct) {
        if (pct >= 100)
                return true;
        uint64_t h = 0xcbf29ce484222325ULL ^ seed;
        for (const char *p = name; *p; p++) {
                h ^= (uint8_t) *p;
                h *= 0x100000001b3ULL;
        }
        h ^= h >> 31;
        return h % 100 < pct;
}

/* ---- mapping bad blobs to backups and files ---------------------------------------- */

/* Returns 1 if tree id (or anything below) is affected. Clean trees are
 * memoised in `clean` so every backup walks only its damaged paths. A
 * directory's verdict is known when the walk leaves it (acc[0]: affected). */
static int map_tree(cctx *c, sk_idmap *clean, const uint8_t id[32]) {
        sk_treewalk *w = NULL;
        uint64_t *top = NULL;
        int r = sk_treewalk_new(c->repo, id, NULL, &w);
        sk_walk_item it;
        while (r >= 0 && (r = sk_treewalk_step(w, &it)) >= 0 && it.event != SK_WALK_END) {
                const sk_node *n = it.node;
                if (it.depth == 0)
                        top = it.acc;
                if (it.event == SK_WALK_UNREADABLE) {
                        if (it.error == -ENOMEM)
                                r = it.error;
                        it.acc[0] = 1;
                        continue;
                }
                if (it.event == SK_WALK_LEAVE) {
                        if (it.sub[0])
                                it.acc[0] = 1;
                        else
                                r = sk_idmap_get(clean, n->subtree, &(sk_idmap_entry *) { NULL });
                        continue;
                }
                if (n->type == SK_NODE_DIR) {
                        if (sk_idmap_find(clean, n->subtree)) {
                                sk_treewalk_skip(w);
                                continue;
                        }
                        sk_idmap_entry *be = sk_idmap_find(&c->bad_ids[SK_BLOB_TREE], n->subtree);
                        const sk_idmap_entry *te = sk_idmap_find(&c->trees, n->subtree);
                        if (be || (te && te->a == 2)) {
                                char hex[65];
                                sk_hex(n->subtree, 32, hex);
                                const bad_blob *b = be ? &c->bad[be->a - 1] : NULL;
                                problem(c, SK_PROBLEM_ERROR, -EBADMSG, c->backup, it.path, b ? b->pack : NULL, hex,
                                        "directory affected: its tree blob is damaged");
                                it.acc[0] = 1;
                                sk_treewalk_skip(w);
                                continue;
                        }
                }
                for (size_t k = 0; k < n->n_chunks; k++) {
                        sk_idmap_entry *e = sk_idmap_find(&c->bad_ids[SK_BLOB_DATA], n->chunks[k].id);
                        if (!e)
                                continue;
                        const bad_blob *b = &c->bad[e->a - 1];
                        char hex[65], *det = NULL;
                        sk_hex(b->id, 32, hex);
                        if (asprintf(&det, "file affected: %s", *b->detail ? b->detail : "blob damaged") < 0)
                                det = NULL;
                        problem(c, SK_PROBLEM_ERROR, -EBADMSG, c->backup, it.path, b->pack[0] ? b->pack : NULL, hex,
                                det);
                        free(det);
                        it.acc[0] = 1;
                }
        }
        int affected = top && top[0] ? 1 : 0;
        sk_treewalk_free(w);
        return r < 0 ? r : affected;
}

int sk_check_run(sk_repo *repo, const sk_check_options *o, sk_check_result *result) {
        cctx c = { .repo = repo, .o = o, .res = result, .prog.phase = SK_PHASE_CHECK_TREES };
        sk_lock *lock = NULL;
        char **ids = NULL;
        size_t n_ids = 0;
        sk_manifest **mans = NULL;
        int r;

        memset(result, 0, sizeof(*result));
        r = sk_repo_lock(repo, false, o->lock_wait_seconds, &lock);
        if (r < 0)
                return r;

        r = sk_backup_ids(repo, &ids, &n_ids);
        if (r < 0)
                goto out;
        mans = calloc(n_ids + 1, sizeof(sk_manifest *));
        if (!mans) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n_ids; i++) {
                r = sk_backup_load(repo, ids[i], &mans[i]);
                if (r == -ENOENT) { /* forgotten since the listing (backup/forget.h, shared_lock) */
                        mans[i] = NULL;
                        continue;
                }
                if (r < 0) {
                        if (r == -ENOMEM)
                                goto out;
                        char *d = sk_engine_detail(repo, "backup manifest %s unreadable", ids[i]);
                        problem(&c, SK_PROBLEM_ERROR, r, ids[i], NULL, NULL, NULL, d);
                        free(d);
                        mans[i] = NULL;
                        continue;
                }
                result->backups++;
                c.backup = mans[i]->id;
                r = sk_pathbuf_push(&c.pb, "", &(size_t) { 0 });
                if (r >= 0)
                        r = walk_tree(&c, mans[i]->root);
                if (r < 0)
                        goto out;
                c.prog.files_done = result->trees;
                c.prog.current = ids[i];
                if (o->progress && (r = o->progress(&c.prog, o->userdata)) < 0)
                        goto out;
        }
        result->blobs_referenced = c.blobs.n;
        c.backup = NULL;

        /* Corrupt index files: reported; rebuild-index recreates them from the packs. */
        r = sk_repo_foreach_bad_index(repo, on_bad_index, &c);
        if (r < 0)
                goto out;

        r = sk_repo_list_packs(repo, on_storage_pack, &c);
        if (r < 0)
                goto out;
        r = sk_repo_foreach_blob(repo, on_index_blob, &c);
        if (r < 0)
                goto out;
        /* Packs a prune trashed are out of the index on purpose and wait for
         * their deletion (FORMAT.md 9b): not leftovers. */
        sk_trash_record *recs = NULL;
        size_t n_recs = 0;
        r = sk_trash_load(repo, &recs, &n_recs, NULL);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n_recs; i++)
                for (size_t k = 0; k < recs[i].n_packs; k++) {
                        pack_rec *p = pack_get(&c, recs[i].packs[k]);
                        if (p)
                                p->trashed = true;
                }
        sk_trash_free(recs, n_recs);
        if (c.n_packs > 1)
                qsort(c.packs, c.n_packs, sizeof(pack_rec), pack_name_cmp);
        /* qsort broke pack_ids' indexes; not used after this point. */
        result->packs = 0;
        for (size_t i = 0; i < c.n_packs; i++) {
                pack_rec *p = &c.packs[i];
                if (p->in_storage)
                        result->packs++;
                if (p->in_index && !p->in_storage) {
                        /* an error even if no backup needs it: a new backup
                         * would deduplicate against these entries */
                        problem(&c, SK_PROBLEM_ERROR, -ENOENT, NULL, NULL, p->name, NULL,
                                "pack is in the index but missing from storage (new backups would deduplicate "
                                "against it; 'snapkeep prune' drops its index entries)");
                        c.prog.current = p->name;
                        r = sk_repo_foreach_blob(repo, on_missing_pack_blob, &c);
                        if (r < 0)
                                goto out;
                } else if (p->trashed && p->in_storage)
                        result->packs_trashed++;
                else if (!p->in_index && p->in_storage)
                        problem(&c, SK_PROBLEM_WARNING, 0, NULL, NULL, p->name, NULL,
                                "pack not in the index (left by an interrupted backup; prune removes it)");
        }

        unsigned pct = o->read_data_subset_pct ? MIN(o->read_data_subset_pct, 100u) : (o->read_data ? 100 : 0);
        uint64_t seed = o->subset_seed;
        if (!seed && pct < 100 && RAND_bytes((unsigned char *) &seed, sizeof(seed)) != 1)
                seed = (uint64_t) time(NULL);
        if (pct) {
                size_t selected = 0;
                c.prog = (sk_progress) { .phase = SK_PHASE_CHECK_DATA };
                for (size_t i = 0; i < c.n_packs; i++)
                        if (c.packs[i].in_storage && in_subset(c.packs[i].name, seed, pct))
                                selected++;
                c.prog.files_total = selected;
                for (size_t i = 0; i < c.n_packs; i++) {
                        pack_rec *p = &c.packs[i];
                        if (!p->in_storage || !in_subset(p->name, seed, pct))
                                continue;
                        r = sk_repo_check_pack(repo, p->name, true, on_scan, &c);
                        if (r == -ENOMEM)
                                goto out;
                        if (r < 0) {
                                const char *d = sk_repo_last_error(repo);
                                problem(&c, SK_PROBLEM_ERROR, r, NULL, NULL, p->name, NULL,
                                        d && *d ? d : "pack damaged");
                        }
                        r = 0;
                        result->packs_read++;
                        c.prog.files_done++;
                        c.prog.bytes_done += p->size;
                        c.prog.current = p->name;
                        if (o->progress && (r = o->progress(&c.prog, o->userdata)) < 0)
                                goto out;
                }
        }

        /* Map every damaged blob (and unreadable tree) back to backups and files. */
        bool any_bad_tree = false;
        for (size_t i = 0; i < c.trees.cap; i++)
                if (c.trees.e[i].used && c.trees.e[i].a == 2)
                        any_bad_tree = true;
        if (c.n_bad || any_bad_tree) {
                for (size_t i = 0; i < n_ids; i++) {
                        if (!mans[i])
                                continue;
                        sk_idmap clean = {};
                        c.backup = mans[i]->id;
                        sk_pathbuf_pop(&c.pb, 0);
                        r = map_tree(&c, &clean, mans[i]->root);
                        sk_idmap_done(&clean);
                        if (r < 0)
                                goto out;
                }
        }
        r = result->errors ? -EBADMSG : 0;
out:
        for (size_t i = 0; mans && i < n_ids; i++)
                sk_manifest_free(mans[i]);
        free(mans);
        sk_strv_free(ids, n_ids);
        for (size_t i = 0; i < c.n_bad; i++)
                free(c.bad[i].detail);
        free(c.bad);
        free(c.packs);
        free(c.pb.p);
        sk_idmap_done(&c.trees);
        sk_idmap_done(&c.blobs);
        for (size_t i = 0; i < ARRAY_SIZE(c.bad_ids); i++)
                sk_idmap_done(&c.bad_ids[i]);
        sk_idmap_done(&c.pack_ids);
        sk_lock_release(lock);
        return r;
}
