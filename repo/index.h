/* Blob index: the in-memory table ((blob id, type) -> pack, offset, lengths)
 * and the index file codec (docs/FORMAT.md section 6).
 *
 * DESIGN: an open-addressing hash table with linear probing, keyed by (blob
 * id, type) and placed by the first 8 bytes of the id (ids are HMAC outputs,
 * so those bytes are already uniformly distributed; no further hashing). Entries are 48 bytes and
 * refer to packs by a 32-bit number into a pack-name table, so a million blobs
 * cost ~64 MiB at most. Not thread-safe: the repository serialises access. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/pack.h"

typedef struct sk_index sk_index;

#define SK_INDEX_NO_PACK UINT32_MAX

typedef struct sk_index_entry {
        sk_blob_id id;
        uint32_t pack;          /* pack number (sk_index_pack_name) */
        uint32_t offset;        /* record offset */
        uint32_t stored_len;    /* ciphertext length (record = +112) */
        uint32_t raw_len;
        uint8_t type;
        uint8_t flags;
} sk_index_entry;

int sk_index_new(sk_index **ret);
void sk_index_free(sk_index *idx);

/* Number for a pack name (32 binary bytes), added if new. */
int sk_index_pack_add(sk_index *idx, const uint8_t name[32], uint32_t *ret);
/* Borrowed name of pack number n (valid until the index is freed), or NULL. */
const uint8_t *sk_index_pack_name(const sk_index *idx, uint32_t n);
/* Lookup by name: 1 found (*ret set), 0 not. */
int sk_index_pack_find(const sk_index *idx, const uint8_t name[32], uint32_t *ret);

/* Entries are keyed by (id, type): the same id may be present once as a data
 * blob and once as a tree blob (FORMAT.md section 6).
 * Insert e. Returns 1 if inserted, 0 if (id, type) was present (kept as is),
 * or -ENOMEM. With replace, an existing entry is overwritten (returns 0). */
int sk_index_insert(sk_index *idx, const sk_index_entry *e, bool replace);

/* 1 and *ret (may be NULL) if (id, type) is found, else 0. */
int sk_index_lookup(const sk_index *idx, const sk_blob_id *id, sk_blob_type type, sk_index_entry *ret);

size_t sk_index_count(const sk_index *idx);

/* Remove every entry of pack n (rebuilds the table). */
int sk_index_remove_pack(sk_index *idx, uint32_t n);

/* Call cb for every entry (order: table order). Negative cb return stops. */
typedef int (*sk_index_fn)(const sk_index_entry *e, void *userdata);
int sk_index_foreach(const sk_index *idx, sk_index_fn cb, void *userdata);

/* --- index file codec --- */

/* Bounds (FORMAT.md section 6). Writers put at most SK_INDEX_FILE_MAX_ENTRIES
 * entries in one file (splitting the packs of a flush over several files),
 * which with a section per entry at worst is 176 MiB; readers refuse files
 * larger than SK_INDEX_FILE_MAX without reading them (skipped and reported
 * like a corrupt one; rebuild-index rewrites them). */
#define SK_INDEX_FILE_MAX_ENTRIES (1u << 21)
#define SK_INDEX_FILE_MAX (256u << 20)

/* One pack section of an index file. */
typedef struct sk_index_section {
        uint8_t pack[32];
        const sk_pack_record *entries;       /* offset, stored_len, raw_len, type, flags, id */
        size_t n;
} sk_index_section;

/* Encode a sealed index file (header + SEAL) into *ret (owned). */
int sk_index_file_encode(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                         const uint8_t nonce[SK_NONCE_SIZE], const sk_index_section *s, size_t n,
                         void **ret, size_t *ret_len);

/* Decode an index file: -EPROTO for unknown version/features, -EBADMSG for
 * anything corrupt. cb(pack name, record) for every entry; the record's salt
 * and nonce are zero. Entries are checked for plausibility (lengths, type,
 * flags) before cb sees them. */
typedef int (*sk_index_file_fn)(const uint8_t pack[32], const sk_pack_record *r, void *userdata);
int sk_index_file_decode(const sk_pack_keys *keys, const void *buf, size_t len, sk_index_file_fn cb,
                         void *userdata);

/* The sealed envelope shared by index files, config and objects (FORMAT.md
 * section 1): salt | nonce | ciphertext | tag. */
#define SK_SEAL_OVERHEAD (SK_SALT_SIZE + SK_NONCE_SIZE + SK_TAG_SIZE)
#define SK_FILE_HEADER_SIZE 24
/* Write the common 24-byte file header. */
void sk_file_header_encode(const char magic[8], uint8_t out[SK_FILE_HEADER_SIZE]);
/* Check magic (-EBADMSG), version and required features (-EPROTO). */
int sk_file_header_parse(const void *buf, size_t len, const char magic[8]);
/* Seal len bytes of plaintext into out (len + SK_SEAL_OVERHEAD bytes). */
int sk_seal_envelope(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                     const uint8_t nonce[SK_NONCE_SIZE], const void *aad, size_t aadlen, const void *in,
                     size_t len, uint8_t *out);
/* Open an envelope of len bytes (>= SK_SEAL_OVERHEAD, else -EBADMSG) into a
 * new buffer *ret (owned, NUL after *ret_len). */
int sk_open_envelope(const sk_pack_keys *keys, const void *aad, size_t aadlen, const void *env, size_t len,
                     void **ret, size_t *ret_len);
