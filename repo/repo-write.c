/* The write pipeline of the repository object: put_blob (hash, compress,
 * seal outside the lock; append under it), the pending packs, the pack
 * writer threads, index files for stored packs, and flush. The DESIGN notes
 * in repo-internal.h say how they share repo->lock. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "common/array.h"

/* An index file per 32 packs (512 MiB at the default size), and one at
 * every flush: few requests on an object store, and what a crash can lose
 * before the next flush (packs no index names yet) stays bounded. */
#define INDEX_EVERY_PACKS 32
#define MAX_PACK_WRITERS 2

/* --- writing packs --- */

ZSTD_CCtx *sk_repo_cctx_get(sk_repo *repo) {
        ZSTD_CCtx *c = NULL;
        pthread_mutex_lock(&repo->cctx_lock);
        if (repo->ncctx > 0)
                c = repo->cctx[--repo->ncctx];
        pthread_mutex_unlock(&repo->cctx_lock);
        return c ? c : ZSTD_createCCtx();
}

void sk_repo_cctx_put(sk_repo *repo, ZSTD_CCtx *c) {
        pthread_mutex_lock(&repo->cctx_lock);
        if (repo->ncctx < CCTX_POOL) {
                repo->cctx[repo->ncctx++] = c;
                c = NULL;
        }
        pthread_mutex_unlock(&repo->cctx_lock);
        ZSTD_freeCCtx(c);
}

/* Compress and seal data into a new record buffer. */
static int build_record(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, const void *data, size_t len,
                        uint8_t **ret, sk_pack_record *ret_rec) {
        size_t bound = ZSTD_compressBound(len);
        _cleanup_free_ uint8_t *rec = malloc(SK_RECORD_OVERHEAD + MAX(bound, len));
        if (!rec)
                return -ENOMEM;
        uint8_t *stored = rec + SK_RECORD_HEADER_SIZE;
        sk_pack_record r = { .id = *id, .type = (uint8_t) type, .raw_len = (uint32_t) len, .stored_len = (uint32_t) len };
        if (len >= 64) {
                ZSTD_CCtx *c = sk_repo_cctx_get(repo);
                if (!c)
                        return -ENOMEM;
                size_t n = ZSTD_compressCCtx(c, stored, bound, data, len, repo->zstd_level);
                sk_repo_cctx_put(repo, c);
                if (ZSTD_isError(n))
                        return sk_repo_fail(-EIO, "zstd: %s", ZSTD_getErrorName(n));
                if (n < len) {
                        r.flags = SK_BLOB_FLAG_ZSTD;
                        r.stored_len = (uint32_t) n;
                }
        }
        if (!(r.flags & SK_BLOB_FLAG_ZSTD))
                memcpy(stored, data, len);
        memcpy(r.salt, repo->salt, SK_SALT_SIZE);
        sk_repo_next_nonce(repo, r.nonce);
        int q = sk_record_seal(repo->session_key, &r, stored, rec);
        if (q < 0)
                return q;
        *ret_rec = r;
        *ret = TAKE_PTR(rec);
        return 0;
}

pending_pack *sk_repo_pending_find(sk_repo *repo, uint32_t tag) {
        for (pending_pack *p = repo->pending; p; p = p->next)
                if (p->tag == tag)
                        return p;
        return NULL;
}

static void pending_unlink(sk_repo *repo, pending_pack *pp) {
        for (pending_pack **p = &repo->pending; *p; p = &(*p)->next)
                if (*p == pp) {
                        *p = pp->next;
                        return;
                }
}

static int pending_new(sk_repo *repo, pending_pack **ret) {
        pending_pack *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->cap = (size_t) repo->cfg.pack_size + (1u << 20);
        p->buf = malloc(p->cap);
        if (!p->buf) {
                free(p);
                return -ENOMEM;
        }
        sk_pack_header_encode(repo->salt, p->buf);
        p->len = SK_PACK_HEADER_SIZE;
        p->tag = PENDING_BIT | (++repo->pending_serial & ~PENDING_BIT);
        p->next = repo->pending;
        repo->pending = p;
        *ret = p;
        return 0;
}

/* Called with the lock held. Appends rec to the current pack; if that pack is
 * full afterwards, detaches it into *ret_full for the caller to write. */

static int append_record(sk_repo *repo, const sk_pack_record *r, const uint8_t *rec, bool replace, pending_pack **ret_full) {
        size_t rlen = sk_record_length(r);
        pending_pack **cur = &repo->cur[cur_slot(r->type)];
        pending_pack *p = *cur;
        int q;
        *ret_full = NULL;
        if (!p) {
                q = pending_new(repo, &p);
                if (q < 0)
                        return q;
                *cur = p;
        }
        if (SK_GROW(p->buf, p->cap, p->len + rlen) < 0 || SK_GROW(p->recs, p->rcap, p->n + 1) < 0)
                return -ENOMEM;
        sk_index_entry e = {
                .id = r->id, .pack = p->tag, .offset = (uint32_t) p->len, .stored_len = r->stored_len,
                .raw_len = r->raw_len, .type = r->type, .flags = r->flags,
        };
        q = sk_index_insert(repo->idx, &e, replace);
        if (q < 0)
                return q;
        memcpy(p->buf + p->len, rec, rlen);
        p->recs[p->n] = *r;
        p->recs[p->n].offset = (uint32_t) p->len;
        p->n++;
        p->len += rlen;
        if (p->len >= repo->cfg.pack_size || p->n >= SK_PACK_MAX_BLOBS - 1) {
                *cur = NULL;
                repo->inflight++;
                *ret_full = p;
        }
        return 0;
}

static int write_index_locked_out(sk_repo *repo, stored_pack *sp, size_t n);

/* Write a detached pack (lock NOT held); then re-point its index entries. */
static int write_pack(sk_repo *repo, pending_pack *p) {
        _cleanup_free_ void *trailer = NULL;
        size_t tlen = 0;
        uint8_t nonce[SK_NONCE_SIZE], name[32];
        char path[80];
        int r;

        sk_repo_next_nonce(repo, nonce);
        r = sk_pack_trailer_encode(repo->session_key, nonce, p->buf, p->recs, p->n, &trailer, &tlen);
        if (r >= 0) {
                /* get_blob may be copying out of p->buf: grow it under the lock */
                pthread_mutex_lock(&repo->lock);
                if (p->len + tlen > p->cap) {
                        uint8_t *t = realloc(p->buf, p->len + tlen);
                        if (!t)
                                r = -ENOMEM;
                        else {
                                p->buf = t;
                                p->cap = p->len + tlen;
                        }
                }
                if (r >= 0)
                        memcpy(p->buf + p->len, trailer, tlen);
                pthread_mutex_unlock(&repo->lock);
        }
        if (r >= 0)
                r = sk_sha256(p->buf, p->len + tlen, name);
        if (r >= 0) {
                sk_repo_pack_path(name, path);
                r = sk_backend_put(repo->b, path, p->buf, p->len + tlen);
                if (r < 0)
                        sk_repo_fail(r, "writing pack %s: %s", path, strerror(-r));
        }

        stored_pack *flush_v = NULL;
        size_t flush_n = 0;
        pthread_mutex_lock(&repo->lock);
        if (r >= 0) {
                uint32_t num;
                r = sk_index_pack_add(repo->idx, name, &num);
                for (size_t i = 0; i < p->n && r >= 0; i++) {
                        sk_index_entry e;
                        /* only entries still pointing here (repack may have moved none away, but be exact) */
                        if (sk_index_lookup(repo->idx, &p->recs[i].id, (sk_blob_type) p->recs[i].type, &e) == 1 &&
                            e.pack == p->tag) {
                                e.pack = num;
                                r = sk_index_insert(repo->idx, &e, true);
                        }
                }
                if (r >= 0)
                        r = SK_GROW(repo->stored, repo->stored_cap, repo->nstored + 1);
                if (r >= 0) {
                        stored_pack *sp = &repo->stored[repo->nstored++];
                        memcpy(sp->name, name, 32);
                        sp->recs = TAKE_PTR(p->recs);
                        sp->n = p->n;
                        if (repo->nstored >= INDEX_EVERY_PACKS) {
                                flush_v = repo->stored;
                                flush_n = repo->nstored;
                                repo->stored = NULL;
                                repo->nstored = repo->stored_cap = 0;
                        }
                }
        }
        if (r < 0) {
                sk_index_remove_pack(repo->idx, p->tag);
                if (!repo->write_error) {
                        repo->write_error = r;
                        snprintf(repo->write_error_detail, sizeof(repo->write_error_detail), "%s", sk_repo_last_error(repo));
                }
        }
        pending_unlink(repo, p);
        pthread_mutex_unlock(&repo->lock);
        sk_repo_pending_free(p);
        if (flush_v) {
                int q = write_index_locked_out(repo, flush_v, flush_n);
                if (q < 0 && r >= 0)
                        r = q;
        }
        /* Only now: a flush waiting for writes in flight must also find the
         * index file this write took on written. */
        pthread_mutex_lock(&repo->lock);
        repo->inflight--;
        pthread_cond_broadcast(&repo->cond);
        pthread_mutex_unlock(&repo->lock);
        return r;
}

/* Full packs are written by a thread of their own, so the thread that
 * filled one goes back to compressing while the pack is hashed, written
 * and synced (or uploaded). At most MAX_PACK_WRITERS at once: each holds
 * a pack in memory. A write's error is kept in repo->write_error and
 * reported by the next put_blob and by sk_repo_flush. */
typedef struct pack_writer {
        sk_repo *repo;
        pending_pack *p;
} pack_writer;

static void *pack_writer_main(void *userdata) {
        pack_writer *w = userdata;
        sk_repo *repo = w->repo;
        (void) write_pack(repo, w->p);
        free(w);
        pthread_mutex_lock(&repo->lock);
        repo->writers--;
        pthread_cond_broadcast(&repo->cond);
        pthread_mutex_unlock(&repo->lock);
        return NULL;
}

static int start_pack_write(sk_repo *repo, pending_pack *p) {
        pack_writer *w = malloc(sizeof(*w));
        pthread_attr_t attr;
        pthread_t t;
        bool started = false;
        if (w && pthread_attr_init(&attr) == 0) {
                *w = (pack_writer) { .repo = repo, .p = p };
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                pthread_mutex_lock(&repo->lock);
                while (repo->writers >= MAX_PACK_WRITERS)
                        pthread_cond_wait(&repo->cond, &repo->lock);
                repo->writers++;
                started = pthread_create(&t, &attr, pack_writer_main, w) == 0;
                if (!started)
                        repo->writers--;
                pthread_mutex_unlock(&repo->lock);
                pthread_attr_destroy(&attr);
        }
        if (started)
                return 0;
        free(w);
        return write_pack(repo, p);     /* no thread: write it here */
}

int sk_repo_write_index_file(sk_repo *repo, const sk_index_section *s, size_t n, char hex[65]) {
        _cleanup_free_ void *file = NULL;
        size_t flen = 0;
        uint8_t nonce[SK_NONCE_SIZE], digest[32];
        char path[96];
        sk_repo_next_nonce(repo, nonce);
        int r = sk_index_file_encode(repo->session_key, repo->salt, nonce, s, n, &file, &flen);
        if (r < 0)
                return r;
        r = sk_sha256(file, flen, digest);
        if (r < 0)
                return r;
        sk_hex_encode(digest, 32, hex);
        snprintf(path, sizeof(path), "index/%s", hex);
        return sk_repo_guarded_put(repo, path, file, flen);
}

/* Write index files for n stored packs (lock not held), as few as the
 * entry bound allows (one unless the packs hold more than
 * SK_INDEX_FILE_MAX_ENTRIES blobs); frees sp. On failure the packs stay
 * unindexed (recoverable by rebuild-index) and the error is sticky. */
static int write_index_locked_out(sk_repo *repo, stored_pack *sp, size_t n) {
        _cleanup_free_ sk_index_section *s = calloc(MAX(n, 1u), sizeof(*s));
        int r = s ? 0 : -ENOMEM;

        for (size_t i = 0; i < n && s; i++) {
                s[i] = (sk_index_section) { .entries = sp[i].recs, .n = sp[i].n };
                memcpy(s[i].pack, sp[i].name, 32);
        }
        for (size_t start = 0, end; r >= 0 && start < n; start = end) {
                size_t entries = 0;
                /* a pack holds at most SK_PACK_MAX_BLOBS < the bound: every group has one */
                for (end = start; end < n && (end == start || entries + sp[end].n <= SK_INDEX_FILE_MAX_ENTRIES); end++)
                        entries += sp[end].n;
                char hex[65];
                r = sk_repo_write_index_file(repo, s + start, end - start, hex);
                if (r >= 0) {
                        pthread_mutex_lock(&repo->lock);
                        repo->index_files++;
                        r = sk_repo_strv_add(&repo->loaded, hex);
                        pthread_mutex_unlock(&repo->lock);
                }
        }
        for (size_t i = 0; i < n; i++)
                free(sp[i].recs);
        free(sp);
        pthread_mutex_lock(&repo->lock);
        if (r < 0 && !repo->write_error) {
                repo->write_error = r;
                snprintf(repo->write_error_detail, sizeof(repo->write_error_detail), "%s", sk_repo_last_error(repo));
        }
        pthread_mutex_unlock(&repo->lock);
        return r;
}

int sk_repo_put_blob_internal(sk_repo *repo, sk_blob_type type, const void *data, size_t len, bool force,
                             const sk_blob_id *known_id, sk_blob_id *ret_id, bool *ret_was_new) {
        sk_blob_id id;
        int r;
        if (type != SK_BLOB_DATA && type != SK_BLOB_TREE)
                return sk_repo_fail(-EINVAL, "unknown blob type %d", (int) type);
        if (len > SK_BLOB_MAX_SIZE)
                return sk_repo_fail(-EFBIG, "blob of %zu bytes exceeds the maximum", len);
        if (known_id)
                id = *known_id;
        else if ((r = sk_repo_blob_id(repo, data, len, &id)) < 0)
                return sk_repo_fail(r, "hashing blob failed");

        char detail[sizeof(repo->write_error_detail)] = "";
        pthread_mutex_lock(&repo->lock);
        r = repo->write_error;
        if (r < 0)
                snprintf(detail, sizeof(detail), "%s", repo->write_error_detail);
        bool have = !force && sk_index_lookup(repo->idx, &id, type, NULL) == 1;
        pthread_mutex_unlock(&repo->lock);
        if (r < 0)
                return sk_repo_fail(r, "an earlier write failed: %s", detail[0] ? detail : strerror(-r));
        if (have) {
                if (ret_id)
                        *ret_id = id;
                if (ret_was_new)
                        *ret_was_new = false;
                return 0;
        }

        _cleanup_free_ uint8_t *rec = NULL;
        sk_pack_record rc;
        r = build_record(repo, type, &id, data, len, &rec, &rc);
        if (r < 0)
                return sk_repo_fail(r, "sealing blob failed");

        pending_pack *full = NULL;
        bool was_new = true;
        pthread_mutex_lock(&repo->lock);
        if (!force && sk_index_lookup(repo->idx, &id, type, NULL) == 1)
                was_new = false;        /* another thread won the race */
        else
                r = append_record(repo, &rc, rec, force, &full);
        pthread_mutex_unlock(&repo->lock);
        if (r < 0)
                return sk_repo_fail(r, "adding blob to pack: %s", strerror(-r));
        if (full) {
                r = start_pack_write(repo, full);
                if (r < 0)
                        return r;
        }
        if (ret_id)
                *ret_id = id;
        if (ret_was_new)
                *ret_was_new = was_new;
        return 0;
}

int sk_repo_put_blob(sk_repo *repo, sk_blob_type type, const void *data, size_t len, sk_blob_id *ret_id,
                     bool *ret_was_new) {
        return sk_repo_put_blob_internal(repo, type, data, len, false, NULL, ret_id, ret_was_new);
}

int sk_repo_put_blob_with_id(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, const void *data, size_t len,
                             bool *ret_was_new) {
        return sk_repo_put_blob_internal(repo, type, data, len, false, id, NULL, ret_was_new);
}

int sk_repo_has_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        pthread_mutex_lock(&repo->lock);
        int r = sk_index_lookup(repo->idx, id, type, NULL);
        pthread_mutex_unlock(&repo->lock);
        return r;
}

int sk_repo_flush(sk_repo *repo) {
        pending_pack *full[2] = { NULL, NULL };
        int r = 0;
        pthread_mutex_lock(&repo->lock);
        for (unsigned i = 0; i < ARRAY_SIZE(full); i++)
                if (repo->cur[i] && repo->cur[i]->n > 0) {
                        full[i] = repo->cur[i];
                        repo->cur[i] = NULL;
                        repo->inflight++;
                }
        pthread_mutex_unlock(&repo->lock);
        for (unsigned i = 0; i < ARRAY_SIZE(full); i++)
                if (full[i]) {
                        int q = write_pack(repo, full[i]);
                        if (q < 0 && r >= 0)
                                r = q;
                }

        pthread_mutex_lock(&repo->lock);
        while (repo->inflight > 0)
                pthread_cond_wait(&repo->cond, &repo->lock);
        stored_pack *v = repo->stored;
        size_t n = repo->nstored;
        repo->stored = NULL;
        repo->nstored = repo->stored_cap = 0;
        int we = repo->write_error;
        char detail[sizeof(repo->write_error_detail)];
        snprintf(detail, sizeof(detail), "%s", repo->write_error_detail);
        pthread_mutex_unlock(&repo->lock);
        if (n > 0) {
                int q = write_index_locked_out(repo, v, n);
                if (q < 0 && r >= 0)
                        r = q;
        } else
                free(v);
        if (r >= 0 && we < 0)
                r = sk_repo_fail(we, "an earlier write failed: %s", detail[0] ? detail : strerror(-we));
        return r;
}
