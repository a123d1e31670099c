/* Pack codec; see pack.h and docs/FORMAT.md section 5.
 *
 * DESIGN: parsers treat every byte as hostile: each length is checked against
 * the buffer before it is used, 64-bit arithmetic avoids overflow, and the
 * payload is only trusted after the AEAD tag and the HMAC id both verified. */
#include "repo/pack.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/le.h"
#include "common/macro.h"

static const char pack_magic[8] = { 'S', 'K', 'P', 'A', 'C', 'K', 'H', 'D' };
static const char trailer_magic[8] = { 'S', 'K', 'P', 'A', 'C', 'K', 'T', 'R' };
static const char record_magic[4] = { 'S', 'K', 'B', 'R' };

void sk_pack_header_encode(const uint8_t salt[SK_SALT_SIZE], uint8_t out[SK_PACK_HEADER_SIZE]) {
        memset(out, 0, SK_PACK_HEADER_SIZE);
        memcpy(out, pack_magic, 8);
        sk_put_le16(out + 8, SK_PACK_VERSION);
        sk_put_le16(out + 10, SK_PACK_HEADER_SIZE);
        memcpy(out + 24, salt, SK_SALT_SIZE);
}

int sk_pack_header_parse(const void *buf, size_t len, uint8_t ret_salt[SK_SALT_SIZE]) {
        const uint8_t *p = buf;
        if (len < SK_PACK_HEADER_SIZE || memcmp(p, pack_magic, 8) != 0)
                return -EBADMSG;
        if (sk_get_le16(p + 8) != SK_PACK_VERSION)
                return -EPROTO;
        if (sk_get_le32(p + 12) != 0)   /* required features: none known */
                return -EPROTO;
        if (sk_get_le16(p + 10) != SK_PACK_HEADER_SIZE)
                return -EBADMSG;
        if (ret_salt)
                memcpy(ret_salt, p + 24, SK_SALT_SIZE);
        return 0;
}

static void record_header_encode(const sk_pack_record *r, uint8_t out[SK_RECORD_HEADER_SIZE]) {
        memset(out, 0, SK_RECORD_HEADER_SIZE);
        memcpy(out, record_magic, 4);
        out[4] = 1;
        out[5] = r->type;
        out[6] = r->flags;
        sk_put_le32(out + 8, r->raw_len);
        sk_put_le32(out + 12, r->stored_len);
        memcpy(out + 16, r->salt, SK_SALT_SIZE);
        memcpy(out + 48, r->nonce, SK_NONCE_SIZE);
        memcpy(out + 64, r->id.b, SK_BLOB_ID_SIZE);
}

/* Lengths/type/flags consistent with what a writer produces. */
static bool record_plausible(uint8_t type, uint8_t flags, uint32_t raw_len, uint32_t stored_len) {
        if (type != SK_BLOB_DATA && type != SK_BLOB_TREE)
                return false;
        if (flags & ~SK_BLOB_FLAG_ZSTD)
                return false;
        if (raw_len > SK_BLOB_MAX_SIZE)
                return false;
        if (flags & SK_BLOB_FLAG_ZSTD)
                return stored_len < raw_len;
        return stored_len == raw_len;
}

int sk_record_header_parse(const void *buf, size_t len, sk_pack_record *ret) {
        const uint8_t *p = buf;
        if (len < SK_RECORD_HEADER_SIZE || memcmp(p, record_magic, 4) != 0 || p[4] != 1)
                return -EBADMSG;
        sk_pack_record r = {
                .type = p[5],
                .flags = p[6],
                .raw_len = sk_get_le32(p + 8),
                .stored_len = sk_get_le32(p + 12),
        };
        if (!record_plausible(r.type, r.flags, r.raw_len, r.stored_len))
                return -EBADMSG;
        memcpy(r.salt, p + 16, SK_SALT_SIZE);
        memcpy(r.nonce, p + 48, SK_NONCE_SIZE);
        memcpy(r.id.b, p + 64, SK_BLOB_ID_SIZE);
        *ret = r;
        return 0;
}

int sk_record_seal(const uint8_t key[SK_KEY_SIZE], const sk_pack_record *r, const void *stored, uint8_t *out) {
        if (!record_plausible(r->type, r->flags, r->raw_len, r->stored_len))
                return -EINVAL;
        record_header_encode(r, out);
        return sk_aead_seal(key, r->nonce, out, SK_RECORD_HEADER_SIZE, stored, r->stored_len,
                            out + SK_RECORD_HEADER_SIZE, out + SK_RECORD_HEADER_SIZE + r->stored_len);
}

#define DETAIL(...) do { if (detail && detail_size) snprintf(detail, detail_size, __VA_ARGS__); } while (0)

/* One decompression context per thread, kept for the thread's life: the
 * one-shot ZSTD_decompress() allocates and sets up a fresh context for every
 * record, which costs more than decompressing a small tree blob. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static bool dctx_key_ok;

static void dctx_free(void *p) {
        ZSTD_freeDCtx(p);
}

static void dctx_key_init(void) {
        dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

static size_t decompress(void *dst, size_t dst_len, const void *src, size_t src_len) {
        pthread_once(&dctx_once, dctx_key_init);
        ZSTD_DCtx *d = dctx_key_ok ? pthread_getspecific(dctx_key) : NULL;
        if (!d && dctx_key_ok && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d) != 0) {
                ZSTD_freeDCtx(d);
                d = NULL;
        }
        return d ? ZSTD_decompressDCtx(d, dst, dst_len, src, src_len) : ZSTD_decompress(dst, dst_len, src, src_len);
}

int sk_record_open(const sk_pack_keys *keys, const void *buf, size_t len, const sk_blob_id *expect,
                   sk_pack_record *ret_rec, void **ret_buf, size_t *ret_len, char *detail, size_t detail_size) {
        const uint8_t *p = buf;
        sk_pack_record r;
        uint8_t key[SK_KEY_SIZE];
        int q;

        q = sk_record_header_parse(buf, len, &r);
        if (q < 0) {
                DETAIL("damaged record header");
                return q;
        }
        if (len < sk_record_length(&r)) {
                DETAIL("record truncated (%zu of %zu bytes)", len, sk_record_length(&r));
                return -EBADMSG;
        }
        if (expect && !sk_mem_equal(expect->b, r.id.b, SK_BLOB_ID_SIZE)) {
                DETAIL("record holds another blob id");
                return -EBADMSG;
        }
        q = keys->resolve(keys->userdata, r.salt, key);
        if (q < 0) {
                DETAIL("cannot derive session key");
                return q;
        }
        _cleanup_free_ uint8_t *stored = malloc(MAX(r.stored_len, 1u));
        if (!stored) {
                sk_wipe(key, sizeof(key));
                return -ENOMEM;
        }
        q = sk_aead_open(key, r.nonce, p, SK_RECORD_HEADER_SIZE, p + SK_RECORD_HEADER_SIZE, r.stored_len, stored,
                         p + SK_RECORD_HEADER_SIZE + r.stored_len);
        sk_wipe(key, sizeof(key));
        if (q < 0) {
                DETAIL(q == -EBADMSG ? "AEAD tag mismatch" : "decryption failed");
                return q;
        }

        _cleanup_free_ uint8_t *plain = NULL;
        if (r.flags & SK_BLOB_FLAG_ZSTD) {
                plain = malloc((size_t) r.raw_len + 1);
                if (!plain)
                        return -ENOMEM;
                size_t n = decompress(plain, r.raw_len, stored, r.stored_len);
                if (ZSTD_isError(n) || n != r.raw_len) {
                        DETAIL("zstd: %s", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "length mismatch");
                        return -EBADMSG;
                }
        } else {
                /* stored_len == raw_len: reuse the buffer */
                uint8_t *t = realloc(stored, (size_t) r.raw_len + 1);
                if (!t)
                        return -ENOMEM;
                stored = NULL;
                plain = t;
        }
        plain[r.raw_len] = 0;

        if (keys->id_hmac) {
                uint8_t mac[SK_SHA256_SIZE];
                q = sk_hmac_compute(keys->id_hmac, plain, r.raw_len, mac);
                if (q < 0)
                        return q;
                if (!sk_mem_equal(mac, r.id.b, SK_BLOB_ID_SIZE)) {
                        DETAIL("plaintext does not match its blob id");
                        return -EBADMSG;
                }
        }
        if (ret_rec)
                *ret_rec = r;
        *ret_len = r.raw_len;
        *ret_buf = TAKE_PTR(plain);
        return 0;
}

static void entry_encode(const sk_pack_record *r, uint8_t *e) {
        memset(e, 0, SK_PACK_ENTRY_SIZE);
        memcpy(e, r->id.b, SK_BLOB_ID_SIZE);
        sk_put_le32(e + 32, r->offset);
        sk_put_le32(e + 36, r->stored_len);
        sk_put_le32(e + 40, r->raw_len);
        e[44] = r->type;
        e[45] = r->flags;
}

static int entry_decode(const uint8_t *e, sk_pack_record *r) {
        memset(r, 0, sizeof(*r));
        memcpy(r->id.b, e, SK_BLOB_ID_SIZE);
        r->offset = sk_get_le32(e + 32);
        r->stored_len = sk_get_le32(e + 36);
        r->raw_len = sk_get_le32(e + 40);
        r->type = e[44];
        r->flags = e[45];
        return record_plausible(r->type, r->flags, r->raw_len, r->stored_len) ? 0 : -EBADMSG;
}

int sk_pack_trailer_encode(const uint8_t key[SK_KEY_SIZE], const uint8_t nonce[SK_NONCE_SIZE],
                           const uint8_t header[SK_PACK_HEADER_SIZE], const sk_pack_record *r, size_t n,
                           void **ret, size_t *ret_len) {
        if (n > SK_PACK_MAX_BLOBS)
                return -E2BIG;
        size_t tlen = SK_NONCE_SIZE + SK_PACK_ENTRY_SIZE * n + SK_TAG_SIZE;
        size_t total = tlen + SK_PACK_FOOTER_SIZE;
        uint64_t end = SK_PACK_HEADER_SIZE;
        for (size_t i = 0; i < n; i++) {
                if (r[i].offset < end)
                        return -EINVAL;
                end = (uint64_t) r[i].offset + sk_record_length(&r[i]);
        }
        if (end + total > SK_PACK_MAX_SIZE)
                return -E2BIG;
        _cleanup_free_ uint8_t *out = malloc(total);
        if (!out)
                return -ENOMEM;
        uint8_t *foot = out + tlen;
        memset(foot, 0, SK_PACK_FOOTER_SIZE);
        sk_put_le32(foot, (uint32_t) n);
        sk_put_le32(foot + 4, (uint32_t) tlen);
        sk_put_le64(foot + 8, end);
        memcpy(foot + 24, trailer_magic, 8);

        uint8_t *plain = out + SK_NONCE_SIZE;
        for (size_t i = 0; i < n; i++)
                entry_encode(&r[i], plain + SK_PACK_ENTRY_SIZE * i);
        uint8_t aad[SK_PACK_HEADER_SIZE + SK_PACK_FOOTER_SIZE];
        memcpy(aad, header, SK_PACK_HEADER_SIZE);
        memcpy(aad + SK_PACK_HEADER_SIZE, foot, SK_PACK_FOOTER_SIZE);
        memcpy(out, nonce, SK_NONCE_SIZE);
        int q = sk_aead_seal(key, nonce, aad, sizeof(aad), plain, SK_PACK_ENTRY_SIZE * n, plain,
                             plain + SK_PACK_ENTRY_SIZE * n);
        if (q < 0)
                return q;
        *ret_len = total;
        *ret = TAKE_PTR(out);
        return 0;
}

/* Footer fields if they are self-consistent with a pack of len bytes. */
static int footer_parse(const uint8_t *pack, size_t len, uint32_t *ret_n, uint64_t *ret_table_off,
                        uint32_t *ret_table_len) {
        if (len < SK_PACK_HEADER_SIZE + SK_PACK_FOOTER_SIZE + SK_NONCE_SIZE + SK_TAG_SIZE || len > SK_PACK_MAX_SIZE)
                return -EBADMSG;
        const uint8_t *foot = pack + len - SK_PACK_FOOTER_SIZE;
        if (memcmp(foot + 24, trailer_magic, 8) != 0)
                return -EBADMSG;
        uint32_t n = sk_get_le32(foot);
        uint32_t tlen = sk_get_le32(foot + 4);
        uint64_t toff = sk_get_le64(foot + 8);
        if (n > SK_PACK_MAX_BLOBS || (uint64_t) tlen != (uint64_t) SK_NONCE_SIZE + (uint64_t) SK_PACK_ENTRY_SIZE * n +
                                                           SK_TAG_SIZE)
                return -EBADMSG;
        if (toff < SK_PACK_HEADER_SIZE || toff + tlen + SK_PACK_FOOTER_SIZE != (uint64_t) len)
                return -EBADMSG;
        *ret_n = n;
        *ret_table_off = toff;
        *ret_table_len = tlen;
        return 0;
}

int sk_pack_table_read(const sk_pack_keys *keys, const void *pack, size_t len, sk_pack_record **ret, size_t *ret_n) {
        const uint8_t *p = pack;
        uint8_t salt[SK_SALT_SIZE], key[SK_KEY_SIZE];
        uint32_t n, tlen;
        uint64_t toff;
        int q;

        q = sk_pack_header_parse(p, len, salt);
        if (q < 0)
                return q;
        q = footer_parse(p, len, &n, &toff, &tlen);
        if (q < 0)
                return q;
        size_t plen = (size_t) SK_PACK_ENTRY_SIZE * n;
        _cleanup_free_ uint8_t *plain = malloc(MAX(plen, 1u));
        if (!plain)
                return -ENOMEM;
        uint8_t aad[SK_PACK_HEADER_SIZE + SK_PACK_FOOTER_SIZE];
        memcpy(aad, p, SK_PACK_HEADER_SIZE);
        memcpy(aad + SK_PACK_HEADER_SIZE, p + len - SK_PACK_FOOTER_SIZE, SK_PACK_FOOTER_SIZE);
        q = keys->resolve(keys->userdata, salt, key);
        if (q < 0)
                return q;
        const uint8_t *t = p + toff;
        q = sk_aead_open(key, t, aad, sizeof(aad), t + SK_NONCE_SIZE, plen, plain, t + SK_NONCE_SIZE + plen);
        sk_wipe(key, sizeof(key));
        if (q < 0)
                return q;

        _cleanup_free_ sk_pack_record *recs = calloc(MAX(n, 1u), sizeof(sk_pack_record));
        if (!recs)
                return -ENOMEM;
        uint64_t end = SK_PACK_HEADER_SIZE;
        for (uint32_t i = 0; i < n; i++) {
                if (entry_decode(plain + (size_t) SK_PACK_ENTRY_SIZE * i, &recs[i]) < 0)
                        return -EBADMSG;
                if (recs[i].offset < end)
                        return -EBADMSG;
                end = (uint64_t) recs[i].offset + sk_record_length(&recs[i]);
                if (end > toff)
                        return -EBADMSG;
        }
        *ret_n = n;
        *ret = TAKE_PTR(recs);
        return 0;
}

int sk_pack_scan(const void *pack, size_t len, sk_pack_scan_fn cb, void *userdata) {
        const uint8_t *p = pack;
        uint32_t n, tlen;
        uint64_t toff;
        int q, damaged = 0;

        q = sk_pack_header_parse(p, len, NULL);
        if (q == -EPROTO)
                return q;
        /* A damaged pack header does not stop the scan: records carry their
         * own salt. */
        size_t end = len;
        if (footer_parse(p, len, &n, &toff, &tlen) == 0)
                end = (size_t) toff;

        size_t off = SK_PACK_HEADER_SIZE;
        while (off < end) {
                sk_pack_record r;
                if (end - off >= SK_RECORD_HEADER_SIZE && sk_record_header_parse(p + off, end - off, &r) == 0 &&
                    sk_record_length(&r) <= end - off) {
                        r.offset = (uint32_t) off;
                        q = cb(&r, userdata);
                        if (q < 0)
                                return q;
                        off += sk_record_length(&r);
                        continue;
                }
                /* Damaged: resynchronise on the next plausible record. */
                damaged++;
                size_t next = end;
                for (size_t s = off + 1; s + SK_RECORD_HEADER_SIZE <= end; s++) {
                        const uint8_t *m = memchr(p + s, 'S', end - s - SK_RECORD_HEADER_SIZE + 1);
                        if (!m)
                                break;
                        s = (size_t) (m - p);
                        if (sk_record_header_parse(p + s, end - s, &r) == 0 && sk_record_length(&r) <= end - s) {
                                next = s;
                                break;
                        }
                }
                off = next;
        }
        return damaged;
}
