/* Maintenance primitives of the repository object, used by prune, check
 * and rebuild-index: repacking a blob, rewriting the index without some
 * entries, rebuilding it from the packs, deleting packs and leftovers. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "common/array.h"

/* --- prune primitives --- */

int sk_repo_repack_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        _cleanup_free_ void *buf = NULL;
        size_t len;
        int r = sk_repo_get_blob_internal(repo, type, id, false, &buf, &len);
        if (r < 0)
                return r;
        return sk_repo_put_blob_internal(repo, type, buf, len, true, id, NULL, NULL);
}

typedef struct group_entry {
        uint8_t pack[32];
        sk_pack_record rec;
} group_entry;

static int group_cmp(const void *a, const void *b) {
        const group_entry *x = a, *y = b;
        int c = memcmp(x->pack, y->pack, 32);
        if (c)
                return c;
        return x->rec.offset < y->rec.offset ? -1 : x->rec.offset > y->rec.offset;
}

/* Write index files covering entries v (sorted by pack, offset), at most
 * ~64k entries per file. Appends written names to written. */
static int write_index_groups(sk_repo *repo, group_entry *v, size_t n, strv *written) {
        size_t i = 0;
        while (i < n) {
                size_t start = i, nsec = 0, cnt = 0;
                /* count sections until the cap */
                _cleanup_free_ sk_index_section *s = NULL;
                _cleanup_free_ sk_pack_record *recs = malloc(MAX(MIN(n - i, (size_t) 65536 + SK_PACK_MAX_BLOBS), 1u) *
                                                        sizeof(sk_pack_record));
                size_t scap = 0;
                if (!recs)
                        return -ENOMEM;
                while (i < n && (cnt < 65536 || (i > start && memcmp(v[i].pack, v[i - 1].pack, 32) == 0))) {
                        if (i == start || memcmp(v[i].pack, v[i - 1].pack, 32) != 0) {
                                if (SK_GROW(s, scap, nsec + 1) < 0)
                                        return -ENOMEM;
                                s[nsec] = (sk_index_section) { .entries = recs + cnt, .n = 0 };
                                memcpy(s[nsec].pack, v[i].pack, 32);
                                nsec++;
                        }
                        recs[cnt++] = v[i].rec;
                        s[nsec - 1].n++;
                        i++;
                }
                char hex[65];
                int r = sk_repo_write_index_file(repo, s, nsec, hex);
                if (r < 0)
                        return r;
                r = sk_repo_strv_add(written, hex);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Replace all index files by the entries in v; swap in a fresh in-memory index. */
static int replace_index(sk_repo *repo, group_entry *v, size_t n) {
        strv old, written = { 0 };
        sk_index *nidx = NULL;
        int r = sk_repo_list_index_names(repo, &old);
        if (r < 0)
                goto out;
        if (n > 1)
                qsort(v, n, sizeof(*v), group_cmp);
        r = write_index_groups(repo, v, n, &written);
        if (r < 0)
                goto out;
        r = sk_repo_index_new(repo, &nidx);
        for (size_t i = 0; i < n && r >= 0; i++) {
                sk_index_entry e = {
                        .id = v[i].rec.id, .offset = v[i].rec.offset, .stored_len = v[i].rec.stored_len,
                        .raw_len = v[i].rec.raw_len, .type = v[i].rec.type, .flags = v[i].rec.flags,
                };
                r = sk_index_pack_add(nidx, v[i].pack, &e.pack);
                if (r >= 0)
                        r = sk_index_stage(nidx, &e);
        }
        if (r >= 0)
                r = sk_index_stage_commit(nidx);
        if (r < 0)
                goto out;
        r = 0;
        /* the new files are durable: now the old ones may go */
        sk_repo_strv_sort(&written);
        for (size_t i = 0; i < old.n; i++) {
                if (!sk_repo_is_hex64(old.v[i]) || sk_repo_strv_has(&written, old.v[i]))
                        continue;
                char path[96];
                snprintf(path, sizeof(path), "index/%s", old.v[i]);
                int q = sk_backend_del(repo->b, path);
                if (q < 0 && q != -ENOENT) {
                        r = sk_repo_fail(q, "deleting old index file %s: %s", old.v[i], strerror(-q));
                        goto out;
                }
        }
        pthread_mutex_lock(&repo->lock);
        sk_index_free(repo->idx);
        repo->idx = TAKE_PTR(nidx);
        sk_repo_drop_read_ahead(repo);
        repo->index_files = written.n;
        sk_repo_strv_done(&repo->loaded);
        repo->loaded = written;
        written = (strv) { 0 };
        pthread_mutex_unlock(&repo->lock);
        sk_repo_strv_done(&repo->bad_index);
out:
        sk_index_free(nidx);
        sk_repo_strv_done(&old);
        sk_repo_strv_done(&written);
        return r;
}

typedef struct rebuild_ctx {
        sk_repo *repo;
        group_entry *v;
        size_t n, cap;
        uint64_t packs, bad;
} rebuild_ctx;

static int rebuild_pack(const char *hex, uint64_t size, void *userdata);

int sk_repo_rewrite_index(sk_repo *repo, sk_repo_drop_fn drop, void *userdata) {
        return sk_repo_rewrite_index_add(repo, drop, userdata, NULL, 0);
}

int sk_repo_rewrite_index_add(sk_repo *repo, sk_repo_drop_fn drop, void *userdata, char *const *add, size_t n_add) {
        /* Entries of unreadable index files are not in memory: rewriting now
         * would drop them and make their packs look unreferenced. */
        if (repo->bad_index.n > 0)
                return sk_repo_fail(-EBADMSG, "%zu index file(s) failed verification (first: %s); run rebuild-index first",
                            repo->bad_index.n, repo->bad_index.v[0]);
        int r = sk_repo_flush(repo);
        if (r < 0)
                return r;
        snap_ctx c;
        r = sk_repo_index_snapshot(repo, &c);
        if (r < 0)
                return r;
        group_entry *v = malloc(MAX(c.n, 1u) * sizeof(*v));
        size_t n = 0;
        if (!v) {
                free(c.v);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c.n; i++) {
                char hex[65];
                sk_blob_info bi;
                sk_repo_pack_hex(repo, c.v[i].pack, hex);
                sk_repo_entry_to_info(&c.v[i], &bi);
                if (drop && drop(hex, &bi, userdata))
                        continue;
                group_entry *g = &v[n++];
                sk_hex_decode(hex, g->pack, 32);
                g->rec = (sk_pack_record) {
                        .id = c.v[i].id, .type = c.v[i].type, .flags = c.v[i].flags, .raw_len = c.v[i].raw_len,
                        .stored_len = c.v[i].stored_len, .offset = c.v[i].offset,
                };
        }
        free(c.v);
        /* Packs the index does not name (prune's undelete): their records as
         * rebuild-index would read them, after the kept entries. */
        rebuild_ctx rc = { .repo = repo, .v = v, .n = n, .cap = MAX(c.n, 1u) };
        for (size_t i = 0; i < n_add && r >= 0; i++)
                r = rebuild_pack(add[i], 0, &rc);
        if (r >= 0)
                r = replace_index(repo, rc.v, rc.n);
        free(rc.v);
        return r;
}

int sk_repo_delete_pack(sk_repo *repo, const char *pack) {
        uint8_t name[32];
        char path[80];
        uint32_t num;
        if (!sk_repo_is_hex64(pack) || sk_hex_decode(pack, name, 32) < 0)
                return sk_repo_fail(-EINVAL, "invalid pack name %s", pack);
        sk_repo_pack_path(name, path);
        int r = sk_backend_del(repo->b, path);
        if (r < 0)
                return sk_repo_fail(r, "deleting pack %s: %s", pack, strerror(-r));
        pthread_mutex_lock(&repo->lock);
        if (sk_index_pack_find(repo->idx, name, &num) == 1)
                r = sk_index_remove_pack(repo->idx, num);
        pthread_mutex_unlock(&repo->lock);
        return r;
}

int sk_repo_remove_leftovers(sk_repo *repo, uint64_t min_age, uint64_t *ret_removed) {
        int r = sk_backend_cleanup(repo->b, min_age, ret_removed);
        if (r < 0)
                return sk_repo_fail(r, "removing leftovers: %s", strerror(-r));
        return 0;
}

static int rebuild_pack(const char *hex, uint64_t size, void *userdata) {
        rebuild_ctx *c = userdata;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        found_set f;
        bool name_ok, table_ok;
        (void) size;
        int r = sk_repo_read_pack_records(c->repo, hex, &buf, &len, &f, &name_ok, &table_ok);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                c->bad++;
                return 0;
        }
        c->packs++;
        if (!name_ok || !table_ok)
                c->bad++;
        for (size_t i = 0; i < f.n; i++) {
                if (!name_ok || !table_ok) {
                        char detail[200];
                        int q = sk_repo_verify_record(c->repo, buf, len, &f.v[i], detail, sizeof(detail));
                        if (q == -ENOMEM) {
                                free(f.v);
                                return q;
                        }
                        if (q < 0) {
                                c->bad++;
                                continue;
                        }
                }
                if (SK_GROW(c->v, c->cap, c->n + 1) < 0) {
                        free(f.v);
                        return -ENOMEM;
                }
                group_entry *g = &c->v[c->n++];
                sk_hex_decode(hex, g->pack, 32);
                g->rec = f.v[i];
                memset(g->rec.salt, 0, SK_SALT_SIZE);
                memset(g->rec.nonce, 0, SK_NONCE_SIZE);
        }
        free(f.v);
        return 0;
}

int sk_repo_rebuild_index(sk_repo *repo, uint64_t *ret_packs, uint64_t *ret_blobs, uint64_t *ret_bad) {
        int r = sk_repo_flush(repo);
        if (r < 0)
                return r;
        rebuild_ctx c = { .repo = repo };
        r = sk_repo_list_packs(repo, rebuild_pack, &c);
        if (r >= 0) {
                /* a blob stored twice: keep one copy (first in pack order) */
                r = replace_index(repo, c.v, c.n);
        }
        if (r >= 0) {
                pthread_mutex_lock(&repo->lock);
                uint64_t blobs = sk_index_count(repo->idx);
                pthread_mutex_unlock(&repo->lock);
                if (ret_packs)
                        *ret_packs = c.packs;
                if (ret_blobs)
                        *ret_blobs = blobs;
                if (ret_bad)
                        *ret_bad = c.bad;
        }
        free(c.v);
        return r;
}
