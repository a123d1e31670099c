/* Blob index: in-memory table and index file codec; see index.h and
 * docs/FORMAT.md sections 1 and 6. */
#include "repo/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/macro.h"
#include "common/array.h"

struct sk_index {
        sk_index_entry *slots;  /* pack == SK_INDEX_NO_PACK marks an empty slot */
        size_t cap;             /* power of two */
        size_t count;
        uint8_t (*packs)[32];
        uint32_t npacks;
        size_t packs_cap;
        uint32_t *pack_slots;   /* open addressing over pack numbers, UINT32_MAX empty */
        size_t pack_slots_cap;
};

static uint64_t key8(const uint8_t *b) {
        uint64_t k;
        memcpy(&k, b, 8);
        return k;
}

static int alloc_slots(sk_index_entry **ret, size_t cap) {
        sk_index_entry *s = malloc(cap * sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < cap; i++)
                s[i].pack = SK_INDEX_NO_PACK;
        *ret = s;
        return 0;
}

int sk_index_new(sk_index **ret) {
        sk_index *idx = calloc(1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        idx->cap = 1024;
        if (alloc_slots(&idx->slots, idx->cap) < 0) {
                free(idx);
                return -ENOMEM;
        }
        *ret = idx;
        return 0;
}

void sk_index_free(sk_index *idx) {
        if (!idx)
                return;
        free(idx->slots);
        free(idx->packs);
        free(idx->pack_slots);
        free(idx);
}

/* Keyed by (id, type): a data blob and a tree blob may share an id (a file
 * whose bytes equal a tree's encoding) and are different blobs. Both hash to
 * the same home slot; linear probing keeps them apart. */
static sk_index_entry *find_slot(sk_index_entry *slots, size_t cap, const sk_blob_id *id, uint8_t type) {
        size_t mask = cap - 1, i = (size_t) key8(id->b) & mask;
        for (;;) {
                sk_index_entry *e = &slots[i];
                if (e->pack == SK_INDEX_NO_PACK || (e->type == type && memcmp(e->id.b, id->b, SK_BLOB_ID_SIZE) == 0))
                        return e;
                i = (i + 1) & mask;
        }
}

static int grow(sk_index *idx) {
        size_t ncap = idx->cap * 2;
        sk_index_entry *ns;
        if (alloc_slots(&ns, ncap) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < idx->cap; i++)
                if (idx->slots[i].pack != SK_INDEX_NO_PACK)
                        *find_slot(ns, ncap, &idx->slots[i].id, idx->slots[i].type) = idx->slots[i];
        free(idx->slots);
        idx->slots = ns;
        idx->cap = ncap;
        return 0;
}

int sk_index_insert(sk_index *idx, const sk_index_entry *e, bool replace) {
        if (e->pack == SK_INDEX_NO_PACK)
                return -EINVAL;
        /* keep load <= 0.7 */
        if ((idx->count + 1) * 10 > idx->cap * 7 && grow(idx) < 0)
                return -ENOMEM;
        sk_index_entry *s = find_slot(idx->slots, idx->cap, &e->id, e->type);
        if (s->pack != SK_INDEX_NO_PACK) {
                if (replace)
                        *s = *e;
                return 0;
        }
        *s = *e;
        idx->count++;
        return 1;
}

int sk_index_lookup(const sk_index *idx, const sk_blob_id *id, sk_blob_type type, sk_index_entry *ret) {
        const sk_index_entry *s = find_slot(idx->slots, idx->cap, id, (uint8_t) type);
        if (s->pack == SK_INDEX_NO_PACK)
                return 0;
        if (ret)
                *ret = *s;
        return 1;
}

size_t sk_index_count(const sk_index *idx) {
        return idx->count;
}

int sk_index_remove_pack(sk_index *idx, uint32_t n) {
        sk_index_entry *ns;
        if (alloc_slots(&ns, idx->cap) < 0)
                return -ENOMEM;
        size_t count = 0;
        for (size_t i = 0; i < idx->cap; i++) {
                const sk_index_entry *e = &idx->slots[i];
                if (e->pack == SK_INDEX_NO_PACK || e->pack == n)
                        continue;
                *find_slot(ns, idx->cap, &e->id, e->type) = *e;
                count++;
        }
        free(idx->slots);
        idx->slots = ns;
        idx->count = count;
        return 0;
}

int sk_index_foreach(const sk_index *idx, sk_index_fn cb, void *userdata) {
        for (size_t i = 0; i < idx->cap; i++) {
                if (idx->slots[i].pack == SK_INDEX_NO_PACK)
                        continue;
                int r = cb(&idx->slots[i], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static uint32_t *find_pack_slot(const sk_index *idx, const uint8_t name[32]) {
        size_t mask = idx->pack_slots_cap - 1, i = (size_t) key8(name) & mask;
        for (;;) {
                uint32_t *s = &idx->pack_slots[i];
                if (*s == UINT32_MAX || memcmp(idx->packs[*s], name, 32) == 0)
                        return s;
                i = (i + 1) & mask;
        }
}

static int grow_packs(sk_index *idx) {
        if (SK_GROW(idx->packs, idx->packs_cap, (size_t) idx->npacks + 1) < 0)
                return -ENOMEM;
        if ((idx->npacks + 1) * 2 > idx->pack_slots_cap) {
                size_t ncap = idx->pack_slots_cap ? idx->pack_slots_cap * 2 : 128;
                uint32_t *ns = malloc(ncap * sizeof(uint32_t));
                if (!ns)
                        return -ENOMEM;
                memset(ns, 0xff, ncap * sizeof(uint32_t));
                free(idx->pack_slots);
                idx->pack_slots = ns;
                idx->pack_slots_cap = ncap;
                for (uint32_t k = 0; k < idx->npacks; k++)
                        *find_pack_slot(idx, idx->packs[k]) = k;
        }
        return 0;
}

int sk_index_pack_add(sk_index *idx, const uint8_t name[32], uint32_t *ret) {
        if (idx->pack_slots_cap) {
                uint32_t *s = find_pack_slot(idx, name);
                if (*s != UINT32_MAX) {
                        *ret = *s;
                        return 0;
                }
        }
        if (idx->npacks >= UINT32_MAX - 1)
                return -E2BIG;
        if (grow_packs(idx) < 0)
                return -ENOMEM;
        uint32_t n = idx->npacks++;
        memcpy(idx->packs[n], name, 32);
        *find_pack_slot(idx, name) = n;
        *ret = n;
        return 1;
}

const uint8_t *sk_index_pack_name(const sk_index *idx, uint32_t n) {
        return n < idx->npacks ? idx->packs[n] : NULL;
}

int sk_index_pack_find(const sk_index *idx, const uint8_t name[32], uint32_t *ret) {
        if (!idx->pack_slots_cap)
                return 0;
        uint32_t *s = find_pack_slot(idx, name);
        if (*s == UINT32_MAX)
                return 0;
        *ret = *s;
        return 1;
}

/* --- common header and envelope --- */

void sk_file_header_encode(const char magic[8], uint8_t out[SK_FILE_HEADER_SIZE]) {
        memset(out, 0, SK_FILE_HEADER_SIZE);
        memcpy(out, magic, 8);
        sk_put_le16(out + 8, 1);
}

int sk_file_header_parse(const void *buf, size_t len, const char magic[8]) {
        const uint8_t *p = buf;
        if (len < SK_FILE_HEADER_SIZE || memcmp(p, magic, 8) != 0)
                return -EBADMSG;
        if (sk_get_le16(p + 8) != 1 || sk_get_le32(p + 12) != 0)
                return -EPROTO;
        return 0;
}

int sk_seal_envelope(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                     const uint8_t nonce[SK_NONCE_SIZE], const void *aad, size_t aadlen, const void *in,
                     size_t len, uint8_t *out) {
        memcpy(out, salt, SK_SALT_SIZE);
        memcpy(out + SK_SALT_SIZE, nonce, SK_NONCE_SIZE);
        uint8_t *ct = out + SK_SALT_SIZE + SK_NONCE_SIZE;
        return sk_aead_seal(key, nonce, aad, aadlen, in, len, ct, ct + len);
}

int sk_open_envelope(const sk_pack_keys *keys, const void *aad, size_t aadlen, const void *env, size_t len,
                     void **ret, size_t *ret_len) {
        const uint8_t *p = env;
        uint8_t key[SK_KEY_SIZE];
        if (len < SK_SEAL_OVERHEAD)
                return -EBADMSG;
        size_t n = len - SK_SEAL_OVERHEAD;
        _cleanup_free_ uint8_t *out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        int q = keys->resolve(keys->userdata, p, key);
        if (q < 0)
                return q;
        const uint8_t *ct = p + SK_SALT_SIZE + SK_NONCE_SIZE;
        q = sk_aead_open(key, p + SK_SALT_SIZE, aad, aadlen, ct, n, out, ct + n);
        sk_wipe(key, sizeof(key));
        if (q < 0)
                return q;
        out[n] = 0;
        *ret_len = n;
        *ret = TAKE_PTR(out);
        return 0;
}

/* --- index files --- */

static const char index_magic[8] = { 'S', 'K', 'I', 'N', 'D', 'E', 'X', 0 };

int sk_index_file_encode(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                         const uint8_t nonce[SK_NONCE_SIZE], const sk_index_section *s, size_t n,
                         void **ret, size_t *ret_len) {
        if (n > UINT32_MAX)
                return -E2BIG;
        size_t plen = 8, entries = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i].n > SK_PACK_MAX_BLOBS)
                        return -E2BIG;
                entries += s[i].n;
                plen += 40 + SK_PACK_ENTRY_SIZE * s[i].n;
        }
        /* never write what a reader would refuse */
        if (entries > SK_INDEX_FILE_MAX_ENTRIES || n > SK_INDEX_FILE_MAX_ENTRIES)
                return -E2BIG;
        _cleanup_free_ uint8_t *plain = calloc(1, plen);
        if (!plain)
                return -ENOMEM;
        uint8_t *w = plain;
        sk_put_le32(w, (uint32_t) n);
        w += 8;
        for (size_t i = 0; i < n; i++) {
                memcpy(w, s[i].pack, 32);
                sk_put_le32(w + 32, (uint32_t) s[i].n);
                w += 40;
                for (size_t k = 0; k < s[i].n; k++) {
                        const sk_pack_record *r = &s[i].entries[k];
                        memcpy(w, r->id.b, SK_BLOB_ID_SIZE);
                        sk_put_le32(w + 32, r->offset);
                        sk_put_le32(w + 36, r->stored_len);
                        sk_put_le32(w + 40, r->raw_len);
                        w[44] = r->type;
                        w[45] = r->flags;
                        w += SK_PACK_ENTRY_SIZE;
                }
        }
        size_t total = SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + plen;
        _cleanup_free_ uint8_t *out = malloc(total);
        if (!out)
                return -ENOMEM;
        sk_file_header_encode(index_magic, out);
        int q = sk_seal_envelope(key, salt, nonce, out, SK_FILE_HEADER_SIZE, plain, plen, out + SK_FILE_HEADER_SIZE);
        if (q < 0)
                return q;
        *ret_len = total;
        *ret = TAKE_PTR(out);
        return 0;
}

int sk_index_file_decode(const sk_pack_keys *keys, const void *buf, size_t len, sk_index_file_fn cb,
                         void *userdata) {
        const uint8_t *p = buf;
        int q = sk_file_header_parse(p, len, index_magic);
        if (q < 0)
                return q;
        _cleanup_free_ uint8_t *plain = NULL;
        size_t plen;
        q = sk_open_envelope(keys, p, SK_FILE_HEADER_SIZE, p + SK_FILE_HEADER_SIZE, len - SK_FILE_HEADER_SIZE,
                             (void **) &plain, &plen);
        if (q < 0)
                return q;
        if (plen < 8)
                return -EBADMSG;
        uint32_t npacks = sk_get_le32(plain);
        size_t off = 8;
        for (uint32_t i = 0; i < npacks; i++) {
                if (plen - off < 40)
                        return -EBADMSG;
                const uint8_t *pack = plain + off;
                uint32_t n = sk_get_le32(plain + off + 32);
                off += 40;
                if (n > SK_PACK_MAX_BLOBS || (uint64_t) (plen - off) < (uint64_t) n * SK_PACK_ENTRY_SIZE)
                        return -EBADMSG;
                uint64_t end = SK_PACK_HEADER_SIZE;
                for (uint32_t k = 0; k < n; k++) {
                        const uint8_t *e = plain + off;
                        sk_pack_record r = {
                                .offset = sk_get_le32(e + 32),
                                .stored_len = sk_get_le32(e + 36),
                                .raw_len = sk_get_le32(e + 40),
                                .type = e[44],
                                .flags = e[45],
                        };
                        memcpy(r.id.b, e, SK_BLOB_ID_SIZE);
                        off += SK_PACK_ENTRY_SIZE;
                        if ((r.type != SK_BLOB_DATA && r.type != SK_BLOB_TREE) || (r.flags & ~SK_BLOB_FLAG_ZSTD) ||
                            r.raw_len > SK_BLOB_MAX_SIZE || r.stored_len > SK_BLOB_MAX_SIZE || r.offset < end)
                                return -EBADMSG;
                        end = (uint64_t) r.offset + sk_record_length(&r);
                        if (end > SK_PACK_MAX_SIZE)
                                return -EBADMSG;
                        q = cb(pack, &r, userdata);
                        if (q < 0)
                                return q;
                }
        }
        if (off != plen)
                return -EBADMSG;
        return 0;
}
