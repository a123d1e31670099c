/* Cryptographic primitives, thin wrappers over OpenSSL libcrypto.
 *
 * DESIGN: everything the repository needs (AES-256-GCM, HMAC-SHA256, SHA-256,
 * HKDF, scrypt, randomness) goes through here so that OpenSSL's error
 * convention is turned into -errno in one place: a failure inside OpenSSL is
 * -EIO (its error queue is cleared), an authentication failure is -EBADMSG,
 * allocation failure -ENOMEM. Nothing here prints or keeps global state, except
 * sk_crypto_use_huge_pages, which a program's main asks for. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_KEY_SIZE 32
#define SK_NONCE_SIZE 12
#define SK_TAG_SIZE 16
#define SK_SHA256_SIZE 32

/* Route OpenSSL's allocations through allocators that put blocks of 4 MiB
 * and more (scrypt's working memory) in transparent huge pages, which halves
 * a passphrase's key derivation. Process-wide: a program calls it first
 * thing in main, before anything uses OpenSSL, and nothing may install other
 * functions later (OpenSSL would let it, and would then hand our mappings to
 * another free). false (nothing changed) if OpenSSL has already allocated or
 * the pages are not 4 KiB. */
bool sk_crypto_use_huge_pages(void);

/* RAND_bytes. */
int sk_random_bytes(void *buf, size_t len);

/* Wipe (OPENSSL_cleanse) and constant-time compare (CRYPTO_memcmp; true if
 * equal). */
void sk_wipe(void *p, size_t len);
bool sk_mem_equal(const void *a, const void *b, size_t len);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void sk_hex_encode(const void *bytes, size_t n, char *out);
/* Parse exactly 2n hex digits (either case) followed by NUL or not (only 2n
 * characters are read; hex must hold at least 2n). -EINVAL on a bad digit. */
int sk_hex_decode(const char *hex, void *out, size_t n);

/* One-shot SHA-256. */
int sk_sha256(const void *data, size_t len, uint8_t out[SK_SHA256_SIZE]);

/* Streaming SHA-256 (opaque; for file content hashes and pack names). */
typedef struct sk_sha256_ctx sk_sha256_ctx;
int sk_sha256_new(sk_sha256_ctx **ret);
int sk_sha256_update(sk_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest; the context can be reused after sk_sha256_reset. */
int sk_sha256_final(sk_sha256_ctx *c, uint8_t out[SK_SHA256_SIZE]);
int sk_sha256_reset(sk_sha256_ctx *c);
void sk_sha256_free(sk_sha256_ctx *c);

/* A keyed HMAC-SHA256. The keyed state is prepared once; sk_hmac_compute
 * duplicates it per call (no re-keying), so one sk_hmac may be used from
 * several threads at once. */
typedef struct sk_hmac sk_hmac;
int sk_hmac_new(const void *key, size_t keylen, sk_hmac **ret);
int sk_hmac_compute(const sk_hmac *h, const void *data, size_t len, uint8_t out[SK_SHA256_SIZE]);
void sk_hmac_free(sk_hmac *h);

/* One-shot HMAC-SHA256 with a key given each time (tests, rare use). */
int sk_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[SK_SHA256_SIZE]);

/* AES-256-GCM. out may equal in (in-place). seal writes len bytes to out and
 * the tag to tag. open verifies the tag: mismatch -> -EBADMSG, and out's
 * contents are then unspecified (callers must not use them). */
int sk_aead_seal(const uint8_t key[SK_KEY_SIZE], const uint8_t nonce[SK_NONCE_SIZE], const void *aad,
                 size_t aadlen, const void *in, size_t len, void *out, uint8_t tag[SK_TAG_SIZE]);
int sk_aead_open(const uint8_t key[SK_KEY_SIZE], const uint8_t nonce[SK_NONCE_SIZE], const void *aad,
                 size_t aadlen, const void *in, size_t len, void *out, const uint8_t tag[SK_TAG_SIZE]);

/* HKDF-SHA256 (extract + expand) into outlen bytes (<= 255*32). */
int sk_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const char *info, void *out,
            size_t outlen);

/* scrypt (EVP_PBE_scrypt) into outlen bytes; memory limit sized for the
 * parameters. Parameters outside log2n 1..22, r 1..32, p 1..16 -> -EINVAL. */
int sk_scrypt(const void *pass, size_t passlen, const void *salt, size_t saltlen, unsigned log2n, unsigned r,
              unsigned p, void *out, size_t outlen);

/* AES-256-CTR keystream (IV 0) of len bytes into out. */
int sk_aes_ctr_keystream(const uint8_t key[SK_KEY_SIZE], void *out, size_t len);
