/* The read path of the repository object: get_blob (from a pack being
 * written, the read-ahead cache or storage; verified either way) and the
 * read-ahead cache of pack spans (packcache.c). */
#include "repo/repo-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"

/* Cached spans are keyed by the index's pack numbers: a new index renumbers
 * packs, so they go with it. Called with repo->lock held. */
void sk_repo_drop_read_ahead(sk_repo *repo) {
        for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead); i++)
                if (repo->read_ahead[i])
                        sk_packcache_drop(repo->read_ahead[i]);
}

/* --- reading --- */

static bool reads_ahead(sk_repo *repo);

static const char *type_name(sk_blob_type type) {
        return type == SK_BLOB_TREE ? "tree" : "data";
}

/* The index entry of (id, type), or with legacy, of (id, other type) when
 * only that exists (see sk_repo_get_blob). Called with repo->lock held. */
static int lookup_for_read(sk_repo *repo, const sk_blob_id *id, sk_blob_type type, bool legacy, sk_index_entry *ret) {
        if (sk_index_lookup(repo->idx, id, type, ret) == 1)
                return 1;
        sk_blob_type other = type == SK_BLOB_TREE ? SK_BLOB_DATA : SK_BLOB_TREE;
        return legacy && sk_index_lookup(repo->idx, id, other, ret) == 1;
}

int sk_repo_get_blob_internal(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, bool legacy, void **ret_buf,
                             size_t *ret_len) {
        sk_index_entry e;
        _cleanup_free_ void *rec = NULL;
        size_t rlen = 0;
        char path[80] = "", hex[65];
        int r;

        if (type != SK_BLOB_DATA && type != SK_BLOB_TREE)
                return sk_repo_fail(-EINVAL, "unknown blob type %d", (int) type);
        pthread_mutex_lock(&repo->lock);
        if (lookup_for_read(repo, id, type, legacy, &e) != 1) {
                pthread_mutex_unlock(&repo->lock);
                return sk_repo_fail(-ENOENT, "%s blob %s is not in the index", type_name(type), sk_blob_id_to_hex(id, hex));
        }
        rlen = (size_t) SK_RECORD_OVERHEAD + e.stored_len;
        if (e.pack & PENDING_BIT) {
                pending_pack *p = sk_repo_pending_find(repo, e.pack);
                if (p && (size_t) e.offset + rlen <= p->len) {
                        rec = malloc(rlen);
                        if (rec)
                                memcpy(rec, p->buf + e.offset, rlen);
                }
                pthread_mutex_unlock(&repo->lock);
                if (!rec)
                        return p ? -ENOMEM : sk_repo_fail(-EIO, "blob %s: pending pack vanished", hex);
                snprintf(path, sizeof(path), "(pack being written)");
        } else {
                const uint8_t *pn = sk_index_pack_name(repo->idx, e.pack);
                if (pn)
                        sk_repo_pack_path(pn, path);
                /* The cache knows packs by number: the generation says
                 * which numbering e.pack is from (an index replaced later
                 * drops the caches, and renumbers). */
                sk_packcache *pc = reads_ahead(repo) ? repo->read_ahead[cur_slot(e.type)] : NULL;
                uint64_t generation = pc ? sk_packcache_generation(pc) : 0;
                pthread_mutex_unlock(&repo->lock);
                if (!pn)
                        return sk_repo_fail(-EIO, "index entry without pack");
                size_t got = 0;
                r = 0;
                if (pc) {
                        r = sk_packcache_read_as_of(pc, generation, e.pack, e.offset, rlen, &rec);
                        if (r > 0)
                                got = rlen;
                }
                if (r == 0)
                        r = sk_backend_get(repo->b, path, e.offset, rlen, &rec, &got);
                if (r == -ENOENT)
                        return sk_repo_fail(r, "pack %s is missing (blob %s)", path + 8, sk_blob_id_to_hex(id, hex));
                if (r < 0)
                        return sk_repo_fail(r, "pack %s: %s", path + 8, strerror(-r));
                if (got < rlen)
                        return sk_repo_fail(-EBADMSG, "pack %s offset %u: truncated (blob %s)", path + 8, e.offset,
                                    sk_blob_id_to_hex(id, hex));
        }
        char detail[160] = "";
        sk_pack_record rc;
        _cleanup_free_ void *plain = NULL;
        size_t plen;
        r = sk_record_open(&repo->keys, rec, rlen, id, &rc, &plain, &plen, detail, sizeof(detail));
        /* The record's type is authenticated (AAD): it must be the one the
         * index promised, so no index entry can pass one kind off as another. */
        if (r >= 0 && rc.type != e.type) {
                r = -EBADMSG;
                snprintf(detail, sizeof(detail), "record holds a %s blob, the index says %s",
                         type_name((sk_blob_type) rc.type), type_name((sk_blob_type) e.type));
        }
        if (r < 0)
                return sk_repo_fail(r, "pack %s offset %u: blob %s: %s", (e.pack & PENDING_BIT) ? path : path + 8, e.offset,
                            sk_blob_id_to_hex(id, hex), detail[0] ? detail : strerror(-r));
        *ret_len = plen;
        *ret_buf = TAKE_PTR(plain);
        return 0;
}

int sk_repo_get_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, void **ret_buf, size_t *ret_len) {
        return sk_repo_get_blob_internal(repo, type, id, true, ret_buf, ret_len);
}

/* The read-ahead cache's fetch: pack numbers are the index's. */
static int read_ahead_fetch(void *userdata, uint32_t pack, uint64_t offset, size_t len, void **io_buf,
                            size_t *io_cap, size_t *ret_len) {
        sk_repo *repo = userdata;
        char path[80];
        pthread_mutex_lock(&repo->lock);
        const uint8_t *pn = sk_index_pack_name(repo->idx, pack);
        if (pn)
                sk_repo_pack_path(pn, path);
        pthread_mutex_unlock(&repo->lock);
        if (!pn)
                return -EIO;
        if (*io_buf && *io_cap >= len) {
                int r = sk_backend_get_into(repo->b, path, offset, len, *io_buf, ret_len);
                if (r != -EOPNOTSUPP)
                        return r;
        }
        free(*io_buf);
        *io_buf = NULL;
        *io_cap = 0;
        int r = sk_backend_get(repo->b, path, offset, len, io_buf, ret_len);
        if (r >= 0)
                *io_cap = *ret_len; /* at least: the backend's own allocation */
        return r;
}

/* A local store: a read is a pread, not a round trip. */
static bool store_is_local(const sk_repo *repo) {
        return repo->b->scheme && strcmp(repo->b->scheme, "file") == 0;
}

/* How far a read without a plan reads ahead on a store that asks for it:
 * a pack closes after the blob that fills it, so a quarter more than the
 * store says, for a window of the pack size to hold a whole pack. */
static size_t unplanned_read_ahead(const sk_repo *repo) {
        return repo->b->read_ahead + repo->b->read_ahead / 4;
}

/* Make the read-ahead caches if they are not there yet. Called with
 * repo->lock held. */
static int make_read_ahead(sk_repo *repo) {
        if (repo->read_ahead[0] && repo->read_ahead[1])
                return 0;
        /* A request per pack from a remote store (a pack closes after the
         * blob that fills it, so up to a quarter more); from a local one,
         * half a pack: a pread costs the same either way, and the spans are
         * most of a restore's memory. */
        size_t span = store_is_local(repo) ? (size_t) repo->cfg.pack_size / 2 + repo->cfg.pack_size / 8
                            : (size_t) repo->cfg.pack_size + repo->cfg.pack_size / 4;
        span = MAX(span, (size_t) 1 << 20);
        span = MIN(span, (size_t) 32 << 20);
        /* data: the packs the workers are in plus the next; trees: one
         * walker, and tree packs are few */
        const unsigned spans[2] = { SK_REPO_READ_AHEAD_SPANS, 2 };
        for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead); i++) {
                if (repo->read_ahead[i])
                        continue;
                int r = sk_packcache_new(spans[i], span, read_ahead_fetch, repo, &repo->read_ahead[i]);
                if (r < 0)
                        return r;
                /* A store where every read is a round trip also reads ahead
                 * outside a restore (its reads without a plan), as far as it
                 * says, but not for the first read of a pack away from its
                 * start (one file's blobs from the middle of a pack). */
                if (repo->b->read_ahead > 0)
                        sk_packcache_tune(repo->read_ahead[i], unplanned_read_ahead(repo), true);
        }
        return 0;
}

/* Whether get_blob reads through the caches: during a restore, and always
 * from a store that asks for read-ahead (sk_backend.read_ahead), whose
 * caches are then made by the first read. Called with repo->lock held. */
static bool reads_ahead(sk_repo *repo) {
        if (atomic_load(&repo->read_ahead_users) > 0)
                return true;
        /* without caches (no memory), reads are direct: slower, not wrong */
        return repo->b->read_ahead > 0 && make_read_ahead(repo) >= 0;
}

int sk_repo_read_ahead_begin(sk_repo *repo) {
        pthread_mutex_lock(&repo->lock);
        int r = make_read_ahead(repo);
        /* From a remote store, the data spans a restore hints are fetched by
         * loader threads, several at once, while the workers write: one
         * fetch at a time left the workers waiting for each pack's round
         * trip. A local read is a pread from the page cache or the disk's
         * own queue, where the walker's synchronous prefetch does as well. */
        if (r >= 0 && !store_is_local(repo))
                r = sk_packcache_start_loaders(repo->read_ahead[0], SK_REPO_READ_AHEAD_LOADERS);
        /* A restore reads every tree, and every blob of what it restores
         * (a partial restore has no plan): no exact first reads (one more
         * request per pack), and spans up to span_max, as a local store's. */
        if (r >= 0 && repo->b->read_ahead > 0 && atomic_load(&repo->read_ahead_users) == 0)
                for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead); i++)
                        sk_packcache_tune(repo->read_ahead[i], SIZE_MAX, false);
        if (r >= 0)
                atomic_fetch_add(&repo->read_ahead_users, 1);
        pthread_mutex_unlock(&repo->lock);
        return r < 0 ? sk_repo_fail(r, "cannot set up read-ahead: %s", strerror(-r)) : 0;
}

/* The index entry of a stored (not pending) blob, when read-ahead is on. */
static bool read_ahead_entry(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, sk_index_entry *e) {
        if (atomic_load(&repo->read_ahead_users) == 0)
                return false;
        pthread_mutex_lock(&repo->lock);
        bool found = lookup_for_read(repo, id, type, true, e) == 1 && !(e->pack & PENDING_BIT);
        pthread_mutex_unlock(&repo->lock);
        return found;
}

int sk_repo_read_ahead_plan(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        sk_index_entry e;
        if (!read_ahead_entry(repo, type, id, &e))
                return 0;
        return sk_packcache_plan(repo->read_ahead[cur_slot(e.type)], e.pack, e.offset,
                                 (size_t) SK_RECORD_OVERHEAD + e.stored_len);
}

void sk_repo_read_ahead_hint(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        sk_index_entry e;
        if (read_ahead_entry(repo, type, id, &e))
                (void) sk_packcache_prefetch(repo->read_ahead[cur_slot(e.type)], e.pack, e.offset,
                                             (size_t) SK_RECORD_OVERHEAD + e.stored_len);
}

void sk_repo_read_ahead_end(sk_repo *repo) {
        pthread_mutex_lock(&repo->lock);
        if (atomic_fetch_sub(&repo->read_ahead_users, 1) == 1) {
                sk_repo_drop_read_ahead(repo);
                if (repo->b->read_ahead > 0)
                        for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead); i++)
                                sk_packcache_tune(repo->read_ahead[i], unplanned_read_ahead(repo), true);
        }
        pthread_mutex_unlock(&repo->lock);
}

void sk_repo_trim(sk_repo *repo) {
        pthread_mutex_lock(&repo->lock);
        if (atomic_load(&repo->read_ahead_users) == 0)
                sk_repo_drop_read_ahead(repo);
        /* a finished index merge holds its inputs and result until installed */
        (void) sk_index_merge_poll(repo->idx);
        pthread_mutex_unlock(&repo->lock);
}
