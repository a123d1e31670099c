/* Reading the repository whole, for check, stats and the maintenance
 * commands: listing packs, enumerating the index (from a snapshot, so that
 * callbacks run without the lock), statistics, reading a whole pack's
 * records, and checking a pack against the index. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "common/array.h"

/* --- enumeration --- */

typedef struct pack_list_ctx {
        sk_repo_pack_fn cb;
        void *userdata;
} pack_list_ctx;

/* "data/xx/<64 hex>" with xx matching. */
static const char *pack_name_from_path(const char *path) {
        if (strncmp(path, "data/", 5) != 0 || strlen(path) != 5 + 3 + 64 || path[7] != '/')
                return NULL;
        const char *hex = path + 8;
        if (!sk_repo_is_hex64(hex) || memcmp(path + 5, hex, 2) != 0)
                return NULL;
        return hex;
}

static int pack_list_one(const char *name, uint64_t size, void *userdata) {
        pack_list_ctx *c = userdata;
        const char *hex = pack_name_from_path(name);
        if (!hex)
                return 0;
        return c->cb(hex, size, c->userdata);
}

int sk_repo_list_packs(sk_repo *repo, sk_repo_pack_fn cb, void *userdata) {
        pack_list_ctx c = { .cb = cb, .userdata = userdata };
        int r = sk_backend_list(repo->b, "data/", pack_list_one, &c);
        if (r < 0)
                return sk_repo_fail(r, "listing packs: %s", strerror(-r));
        return r;
}

int sk_repo_snap_one(const sk_index_entry *e, void *userdata) {
        snap_ctx *c = userdata;
        if (e->pack & PENDING_BIT)
                return 0;
        if (c->only_pack != SK_INDEX_NO_PACK && e->pack != c->only_pack)
                return 0;
        if (SK_GROW(c->v, c->cap, c->n + 1) < 0)
                return -ENOMEM;
        c->v[c->n++] = *e;
        return 0;
}

/* Copy of the durable index entries, so callbacks run without the lock. */
int sk_repo_index_snapshot(sk_repo *repo, snap_ctx *c) {
        *c = (snap_ctx) { .only_pack = SK_INDEX_NO_PACK };
        pthread_mutex_lock(&repo->lock);
        int r = sk_index_foreach(repo->idx, sk_repo_snap_one, c);
        pthread_mutex_unlock(&repo->lock);
        if (r < 0)
                free(c->v);
        return r;
}

void sk_repo_entry_to_info(const sk_index_entry *e, sk_blob_info *bi) {
        *bi = (sk_blob_info) {
                .id = e->id, .type = (sk_blob_type) e->type, .compressed = e->flags & SK_BLOB_FLAG_ZSTD,
                .offset = e->offset, .length = SK_RECORD_OVERHEAD + e->stored_len, .raw_length = e->raw_len,
        };
}

void sk_repo_pack_hex(sk_repo *repo, uint32_t n, char hex[65]) {
        pthread_mutex_lock(&repo->lock);
        const uint8_t *pn = sk_index_pack_name(repo->idx, n);
        if (pn)
                sk_hex_encode(pn, 32, hex);
        else
                hex[0] = 0;
        pthread_mutex_unlock(&repo->lock);
}

int sk_repo_foreach_blob(sk_repo *repo, sk_repo_blob_fn cb, void *userdata) {
        snap_ctx c;
        int r = sk_repo_index_snapshot(repo, &c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c.n && r >= 0; i++) {
                char hex[65];
                sk_blob_info bi;
                sk_repo_pack_hex(repo, c.v[i].pack, hex);
                sk_repo_entry_to_info(&c.v[i], &bi);
                r = cb(hex, &bi, userdata);
        }
        free(c.v);
        return r < 0 ? r : 0;
}

int sk_repo_foreach_bad_index(sk_repo *repo, sk_repo_name_fn cb, void *userdata) {
        for (size_t i = 0; i < repo->bad_index.n; i++) {
                int r = cb(repo->bad_index.v[i], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int stats_pack(const char *pack, uint64_t size, void *userdata) {
        sk_repo_stats *s = userdata;
        (void) pack;
        s->pack_count++;
        s->pack_bytes += size;
        return 0;
}

static int stats_blob(const sk_index_entry *e, void *userdata) {
        sk_repo_stats *s = userdata;
        s->blob_count++;
        s->blob_raw_bytes += e->raw_len;
        s->blob_stored_bytes += SK_RECORD_OVERHEAD + e->stored_len;
        if (e->type == SK_BLOB_DATA)
                s->data_blobs++;
        else
                s->tree_blobs++;
        return 0;
}

int sk_repo_get_stats(sk_repo *repo, sk_repo_stats *ret) {
        sk_repo_stats s = { 0 };
        int r = sk_repo_list_packs(repo, stats_pack, &s);
        if (r < 0)
                return r;
        pthread_mutex_lock(&repo->lock);
        sk_index_foreach(repo->idx, stats_blob, &s);
        s.index_files = repo->index_files;
        s.index_files_bad = repo->bad_index.n;
        pthread_mutex_unlock(&repo->lock);
        *ret = s;
        return 0;
}

/* --- check --- */

static int found_add(const sk_pack_record *r, void *userdata) {
        found_set *f = userdata;
        if (SK_GROW(f->v, f->cap, f->n + 1) < 0)
                return -ENOMEM;
        f->v[f->n++] = *r;
        return 0;
}

static void record_to_info(const sk_pack_record *r, sk_blob_info *bi) {
        *bi = (sk_blob_info) {
                .id = r->id, .type = (sk_blob_type) r->type, .compressed = r->flags & SK_BLOB_FLAG_ZSTD,
                .offset = r->offset, .length = (uint32_t) sk_record_length(r), .raw_length = r->raw_len,
        };
}

/* Read a whole pack and find its records: from the table, or by scanning. */
int sk_repo_read_pack_records(sk_repo *repo, const char *hex, uint8_t **ret_buf, size_t *ret_len, found_set *f,
                             bool *ret_name_ok, bool *ret_table_ok) {
        char path[80];
        uint8_t name[32], digest[32];
        size_t len;
        _cleanup_free_ uint8_t *buf = NULL;
        if (!sk_repo_is_hex64(hex) || sk_hex_decode(hex, name, 32) < 0)
                return sk_repo_fail(-EINVAL, "invalid pack name %s", hex);
        sk_repo_pack_path(name, path);
        int r = sk_backend_get_whole(repo->b, path, SK_PACK_MAX_SIZE, (void **) &buf, &len);
        if (r == -EFBIG)
                return sk_repo_fail(r, "pack %s: larger than the bound for packs (%u MiB)", hex, SK_PACK_MAX_SIZE >> 20);
        if (r < 0)
                return sk_repo_fail(r, "pack %s: %s", hex, r == -ENOENT ? "missing" : strerror(-r));
        r = sk_sha256(buf, len, digest);
        if (r < 0)
                return r;
        *ret_name_ok = memcmp(digest, name, 32) == 0;
        r = sk_pack_header_parse(buf, len, NULL);
        if (r == -EPROTO)
                return sk_repo_fail(r, "pack %s: unknown pack version or required feature", hex);
        sk_pack_record *recs = NULL;
        size_t n = 0;
        r = sk_pack_table_read(&repo->keys, buf, len, &recs, &n);
        *ret_table_ok = r >= 0;
        *f = (found_set) { 0 };
        if (r >= 0) {
                f->v = recs;
                f->n = f->cap = n;
        } else {
                r = sk_pack_scan(buf, len, found_add, f);
                if (r < 0) {
                        free(f->v);
                        *f = (found_set) { 0 };
                        return sk_repo_fail(r, "pack %s: scan failed: %s", hex, strerror(-r));
                }
        }
        *ret_len = len;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

int sk_repo_verify_record(sk_repo *repo, const uint8_t *buf, size_t len, const sk_pack_record *r, char *detail,
                         size_t dsize) {
        void *plain = NULL;
        size_t plen;
        if ((uint64_t) r->offset + sk_record_length(r) > len) {
                snprintf(detail, dsize, "record at offset %u runs past the end of the pack", r->offset);
                return -EBADMSG;
        }
        int q = sk_record_open(&repo->keys, buf + r->offset, len - r->offset, &r->id, NULL, &plain, &plen, detail,
                               dsize);
        free(plain);
        return q;
}

int sk_repo_check_pack(sk_repo *repo, const char *pack, bool verify_data, sk_repo_scan_fn cb, void *userdata) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        found_set f = { 0 };
        bool name_ok = false, table_ok = false, bad = false;
        char first[512] = "";
        uint8_t name[32];
        uint32_t pnum;
        bool indexed = false;

        if (!sk_repo_is_hex64(pack) || sk_hex_decode(pack, name, 32) < 0)
                return sk_repo_fail(-EINVAL, "invalid pack name %s", pack);
        pthread_mutex_lock(&repo->lock);
        indexed = sk_index_pack_find(repo->idx, name, &pnum) == 1;
        pthread_mutex_unlock(&repo->lock);

        snap_ctx idx = { .only_pack = indexed ? pnum : SK_INDEX_NO_PACK };
        int r = 0;
        if (indexed) {
                pthread_mutex_lock(&repo->lock);
                r = sk_index_foreach(repo->idx, sk_repo_snap_one, &idx);
                pthread_mutex_unlock(&repo->lock);
                if (r < 0) {
                        free(idx.v);
                        return r;
                }
        }

        int rr = sk_repo_read_pack_records(repo, pack, &buf, &len, &f, &name_ok, &table_ok);
        if (rr < 0) {
                char saved[SK_REPO_ERROR_MAX];
                snprintf(saved, sizeof(saved), "%s", sk_repo_last_error(repo));
                for (size_t i = 0; i < idx.n; i++) {
                        sk_blob_info bi;
                        sk_repo_entry_to_info(&idx.v[i], &bi);
                        int q = cb(pack, &bi, rr, rr == -ENOENT ? "pack missing" : saved, userdata);
                        if (q < 0) {
                                free(idx.v);
                                return q;
                        }
                }
                free(idx.v);
                sk_repo_fail(rr, "%s", saved);
                return rr;
        }
        if (!name_ok) {
                bad = true;
                snprintf(first, sizeof(first), "pack %s: content does not match its name (SHA-256)", pack);
        }
        if (!table_ok) {
                bad = true;
                if (!first[0])
                        snprintf(first, sizeof(first), "pack %s: blob table damaged, records found by scanning", pack);
        }
        /* With a damaged pack, verify everything to name the bad blobs. */
        bool verify = verify_data || !name_ok || !table_ok;
        bool *matched = calloc(MAX(idx.n, 1u), sizeof(bool));
        if (!matched) {
                free(idx.v);
                free(f.v);
                return -ENOMEM;
        }
        r = 0;
        for (size_t i = 0; i < f.n && r >= 0; i++) {
                char detail[256] = "";
                int st = 0;
                if (verify)
                        st = sk_repo_verify_record(repo, buf, len, &f.v[i], detail, sizeof(detail));
                for (size_t j = 0; j < idx.n; j++)
                        if (!matched[j] && idx.v[j].type == f.v[i].type &&
                            memcmp(idx.v[j].id.b, f.v[i].id.b, SK_BLOB_ID_SIZE) == 0) {
                                matched[j] = true;
                                if (st == 0 && idx.v[j].offset != f.v[i].offset) {
                                        st = -EBADMSG;
                                        snprintf(detail, sizeof(detail), "index says offset %u, pack has it at %u",
                                                 idx.v[j].offset, f.v[i].offset);
                                }
                                break;
                        }
                if (st < 0) {
                        bad = true;
                        char full[400];
                        snprintf(full, sizeof(full), "pack %s offset %u: %s", pack, f.v[i].offset, detail);
                        if (!first[0])
                                snprintf(first, sizeof(first), "%s", full);
                        sk_blob_info bi;
                        record_to_info(&f.v[i], &bi);
                        r = cb(pack, &bi, st, full, userdata);
                } else {
                        sk_blob_info bi;
                        record_to_info(&f.v[i], &bi);
                        r = cb(pack, &bi, 0, "", userdata);
                }
        }
        for (size_t j = 0; j < idx.n && r >= 0; j++) {
                if (matched[j])
                        continue;
                bad = true;
                char full[300];
                snprintf(full, sizeof(full), "pack %s offset %u: indexed blob not found in the pack", pack,
                         idx.v[j].offset);
                if (!first[0])
                        snprintf(first, sizeof(first), "%s", full);
                sk_blob_info bi;
                sk_repo_entry_to_info(&idx.v[j], &bi);
                r = cb(pack, &bi, -ENOENT, full, userdata);
        }
        free(matched);
        free(idx.v);
        free(f.v);
        if (r < 0)
                return r;
        if (bad)
                return sk_repo_fail(-EBADMSG, "%s", first);
        return 0;
}
