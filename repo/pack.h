/* Pack codec (docs/FORMAT.md section 5): blob records, pack header, sealed
 * blob table and footer, and the forward scan used when a trailer is damaged.
 *
 * DESIGN: pure functions over byte buffers, so they can be fuzzed. Nothing
 * here does I/O. Keys are supplied by the caller through sk_pack_keys: a
 * resolver that turns a session salt into the session key (the repository
 * caches derived keys) and the id HMAC used to re-verify plaintext. Every
 * parser bounds-checks every length against the buffer before use. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/crypto.h"

#define SK_BLOB_ID_SIZE 32
#define SK_BLOB_ID_HEX (SK_BLOB_ID_SIZE * 2)
typedef struct sk_blob_id {
        uint8_t b[SK_BLOB_ID_SIZE];
} sk_blob_id;

typedef enum sk_blob_type {
        SK_BLOB_DATA = 1,       /* file content chunk */
        SK_BLOB_TREE = 2,       /* engine metadata (trees); opaque to the repo */
} sk_blob_type;

/* Largest plaintext accepted by writers and readers. */
#define SK_BLOB_MAX_SIZE (64u * 1024 * 1024)

#define SK_SALT_SIZE 32
#define SK_PACK_HEADER_SIZE 64
#define SK_RECORD_HEADER_SIZE 96
#define SK_RECORD_OVERHEAD (SK_RECORD_HEADER_SIZE + SK_TAG_SIZE)
#define SK_PACK_FOOTER_SIZE 32
#define SK_PACK_ENTRY_SIZE 48
#define SK_PACK_MAX_SIZE (1024u * 1024 * 1024)
#define SK_PACK_MAX_BLOBS (1u << 20)
#define SK_PACK_VERSION 1

#define SK_BLOB_FLAG_ZSTD 0x01u

/* Turn a session salt into its 32-byte session key. Returns 0 or -errno. */
typedef int (*sk_key_resolve_fn)(void *userdata, const uint8_t salt[SK_SALT_SIZE], uint8_t ret_key[SK_KEY_SIZE]);

typedef struct sk_pack_keys {
        sk_key_resolve_fn resolve;
        void *userdata;
        const sk_hmac *id_hmac;         /* id key; NULL skips the id check (fuzzing) */
} sk_pack_keys;

/* A blob record header / blob table entry, decoded. */
typedef struct sk_pack_record {
        sk_blob_id id;
        uint8_t type;
        uint8_t flags;
        uint32_t raw_len;
        uint32_t stored_len;    /* ciphertext bytes, tag excluded */
        uint32_t offset;        /* record offset in the pack (table/scan) */
        uint8_t salt[SK_SALT_SIZE];
        uint8_t nonce[SK_NONCE_SIZE];
} sk_pack_record;

static inline size_t sk_record_length(const sk_pack_record *r) {
        return (size_t) SK_RECORD_OVERHEAD + r->stored_len;
}

/* Encode the 64-byte pack header. */
void sk_pack_header_encode(const uint8_t salt[SK_SALT_SIZE], uint8_t out[SK_PACK_HEADER_SIZE]);

/* Check a pack header: bad magic or length -> -EBADMSG; unknown version or
 * required features -> -EPROTO. ret_salt may be NULL. */
int sk_pack_header_parse(const void *buf, size_t len, uint8_t ret_salt[SK_SALT_SIZE]);

/* Build a sealed record into out (sk_record_length() bytes): r gives id, type,
 * flags, raw_len, stored_len, salt and nonce; stored holds r->stored_len bytes
 * (zstd frame or raw plaintext). out may alias out + SK_RECORD_HEADER_SIZE ==
 * stored (in-place sealing). */
int sk_record_seal(const uint8_t key[SK_KEY_SIZE], const sk_pack_record *r, const void *stored, uint8_t *out);

/* Decode a record header (no crypto): bad magic, version, flags, type or
 * lengths -> -EBADMSG. r->offset is left 0. */
int sk_record_header_parse(const void *buf, size_t len, sk_pack_record *ret);

/* Open a whole record (len must be >= its length): parse, check the id equals
 * *expect (if non-NULL), AEAD-open, decompress, verify the HMAC id (if
 * keys->id_hmac). *ret_buf is owned (free()), NUL after *ret_len. On failure,
 * detail (if non-NULL, detail_size bytes) says what failed ("AEAD tag
 * mismatch", "id mismatch", ...). */
int sk_record_open(const sk_pack_keys *keys, const void *buf, size_t len, const sk_blob_id *expect,
                   sk_pack_record *ret_rec, void **ret_buf, size_t *ret_len, char *detail, size_t detail_size);

/* Encode the sealed blob table + footer for n records (offsets in r[]) into
 * a new buffer *ret (owned) of *ret_len bytes, to append after the last
 * record. header is the pack's 64-byte header. nonce is a fresh nonce of the
 * session whose key is given. */
int sk_pack_trailer_encode(const uint8_t key[SK_KEY_SIZE], const uint8_t nonce[SK_NONCE_SIZE],
                           const uint8_t header[SK_PACK_HEADER_SIZE], const sk_pack_record *r, size_t n,
                           void **ret, size_t *ret_len);

/* Read the blob table of a whole pack (header checked first). *ret (owned
 * array, salt/nonce fields zero) and *ret_n. Entries are checked for
 * plausibility (inside the pack, no overlap with header/trailer). Damaged
 * footer/table -> -EBADMSG; unknown version -> -EPROTO. */
int sk_pack_table_read(const sk_pack_keys *keys, const void *pack, size_t len, sk_pack_record **ret, size_t *ret_n);

/* Forward scan: walk the records from offset 64 to the end (or to the trailer
 * if the footer looks intact), calling cb for every record header that
 * parses, with its offset set. After a damaged header, resynchronise on the
 * next "SKBR" magic with a plausible header. Does not verify payloads (the
 * caller opens each record). Returns the number of damaged regions skipped
 * (>= 0) or a negative error from cb / -EPROTO for the pack header. */
typedef int (*sk_pack_scan_fn)(const sk_pack_record *r, void *userdata);
int sk_pack_scan(const void *pack, size_t len, sk_pack_scan_fn cb, void *userdata);
