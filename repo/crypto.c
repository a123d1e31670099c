/* OpenSSL wrappers; see crypto.h. DESIGN: each function clears OpenSSL's
 * error queue on failure and reports -EIO (or -ENOMEM / -EBADMSG), so OpenSSL
 * state never leaks into the next caller's error. */
#include "repo/crypto.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/hugemap.h"
#include "common/macro.h"

static int ssl_error(void) {
        unsigned long e = ERR_peek_last_error();
        int r = -EIO;
        if (e != 0 && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
                r = -ENOMEM;
        ERR_clear_error();
        return r;
}

/* --- OpenSSL's allocations ---------------------------------------------------
 *
 * scrypt's working memory (128 * r * N bytes: 32 MiB at a passphrase's cost)
 * is one OPENSSL_malloc per key derivation, which every command pays once.
 * Mapped in 4 KiB pages it took 8,192 page faults, about half of a 165 ms
 * derivation here; in transparent huge pages (2 MiB, advised: most systems
 * give them only where asked), 16, and the derivation took 72-80 ms.
 *
 * Blocks under ALLOC_BIG are plain malloc blocks, unchanged, so that a
 * library that frees OpenSSL's memory with free() (wrongly, but harmlessly
 * with OpenSSL's own allocator) still works; a large block freed that way
 * would not, and none of the libraries in our processes does it. The few
 * large ones are mappings, found by address in a small table; when it is
 * full, a large block is a malloc block too. */
#define ALLOC_BIG ((size_t) 4 << 20)
#define BIG_MAX 8

static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static struct big_block { void *p; size_t len; } big[BIG_MAX];
static _Atomic unsigned n_big;  /* 0: no lookup needed on free */

/* The table's slot holding p (p NULL: a free slot), or NULL. Called with
 * big_mu held. */
static struct big_block *big_find(const void *p) {
        for (unsigned i = 0; i < BIG_MAX; i++)
                if (big[i].p == p)
                        return &big[i];
        return NULL;
}

static void *ossl_malloc(size_t n, const char *file, int line) {
        (void) file;
        (void) line;
        if (n == 0)
                return NULL;    /* as OpenSSL's own allocator */
        if (n < ALLOC_BIG)
                return malloc(n);
        pthread_mutex_lock(&big_mu);
        struct big_block *slot = big_find(NULL);
        void *p = NULL;
        size_t len = 0;
        if (slot && (p = sk_huge_map(n, &len))) {
                *slot = (struct big_block) { p, len };
                n_big++;
        }
        pthread_mutex_unlock(&big_mu);
        return p ? p : malloc(n);
}

/* The length of p's mapping, 0 if p is a malloc block; with take, p leaves
 * the table. */
static size_t big_len(void *p, bool take) {
        if (!p || n_big == 0)
                return 0;
        pthread_mutex_lock(&big_mu);
        struct big_block *slot = big_find(p);
        size_t len = slot ? slot->len : 0;
        if (slot && take) {
                *slot = (struct big_block) { 0 };
                n_big--;
        }
        pthread_mutex_unlock(&big_mu);
        return len;
}

static void ossl_free(void *p, const char *file, int line) {
        (void) file;
        (void) line;
        size_t len = big_len(p, true);
        if (len)
                sk_huge_unmap(p, len);
        else
                free(p);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line) {
        if (n == 0) {
                ossl_free(p, file, line);
                return NULL;
        }
        size_t len = big_len(p, false);
        if (!len && n < ALLOC_BIG)
                return realloc(p, n);
        size_t old = len ? len : (p ? malloc_usable_size(p) : 0);
        void *np = ossl_malloc(n, file, line);
        if (!np)
                return NULL;    /* p is still the caller's */
        if (p)
                memcpy(np, p, MIN(old, n));
        ossl_free(p, file, line);
        return np;
}

bool sk_crypto_use_huge_pages(void) {
        /* the mapping arithmetic assumes 4 KiB pages and 2 MiB huge ones (x86-64) */
        if (sysconf(_SC_PAGESIZE) != 4096)
                return false;
        return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1;
}

int sk_random_bytes(void *buf, size_t len) {
        while (len > 0) {
                int n = len > (1u << 30) ? (1 << 30) : (int) len;
                if (RAND_bytes(buf, n) != 1)
                        return ssl_error();
                buf = (uint8_t *) buf + n;
                len -= (size_t) n;
        }
        return 0;
}

void sk_wipe(void *p, size_t len) {
        if (p && len)
                OPENSSL_cleanse(p, len);
}

bool sk_mem_equal(const void *a, const void *b, size_t len) {
        return CRYPTO_memcmp(a, b, len) == 0;
}

void sk_hex_encode(const void *bytes, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = bytes;
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 15];
        }
        out[2 * n] = 0;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int sk_hex_decode(const char *hex, void *out, size_t n) {
        uint8_t *o = out;
        for (size_t i = 0; i < n; i++) {
                int hi = hexval(hex[2 * i]);
                if (hi < 0)
                        return -EINVAL;
                int lo = hexval(hex[2 * i + 1]);
                if (lo < 0)
                        return -EINVAL;
                o[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

int sk_sha256(const void *data, size_t len, uint8_t out[SK_SHA256_SIZE]) {
        unsigned int olen = 0;
        if (EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL) != 1)
                return ssl_error();
        return 0;
}

struct sk_sha256_ctx {
        EVP_MD_CTX *md;
};

int sk_sha256_new(sk_sha256_ctx **ret) {
        sk_sha256_ctx *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->md = EVP_MD_CTX_new();
        if (!c->md) {
                free(c);
                return -ENOMEM;
        }
        if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
                int r = ssl_error();
                sk_sha256_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int sk_sha256_update(sk_sha256_ctx *c, const void *data, size_t len) {
        if (EVP_DigestUpdate(c->md, data, len) != 1)
                return ssl_error();
        return 0;
}

int sk_sha256_final(sk_sha256_ctx *c, uint8_t out[SK_SHA256_SIZE]) {
        unsigned int olen = 0;
        if (EVP_DigestFinal_ex(c->md, out, &olen) != 1)
                return ssl_error();
        return 0;
}

int sk_sha256_reset(sk_sha256_ctx *c) {
        if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
                return ssl_error();
        return 0;
}

void sk_sha256_free(sk_sha256_ctx *c) {
        if (!c)
                return;
        EVP_MD_CTX_free(c->md);
        free(c);
}

struct sk_hmac {
        EVP_MAC *mac;
        EVP_MAC_CTX *tmpl;      /* keyed, never updated; duplicated per use */
};

int sk_hmac_new(const void *key, size_t keylen, sk_hmac **ret) {
        sk_hmac *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                OSSL_PARAM_construct_end(),
        };
        h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (!h->mac)
                goto fail;
        h->tmpl = EVP_MAC_CTX_new(h->mac);
        if (!h->tmpl)
                goto fail;
        if (EVP_MAC_init(h->tmpl, key, keylen, params) != 1)
                goto fail;
        *ret = h;
        return 0;
fail:;
        int r = ssl_error();
        sk_hmac_free(h);
        return r;
}

int sk_hmac_compute(const sk_hmac *h, const void *data, size_t len, uint8_t out[SK_SHA256_SIZE]) {
        EVP_MAC_CTX *c = EVP_MAC_CTX_dup(h->tmpl);
        size_t olen = 0;
        int r = 0;
        if (!c)
                return ssl_error();
        if (EVP_MAC_update(c, data, len) != 1 || EVP_MAC_final(c, out, &olen, SK_SHA256_SIZE) != 1 ||
            olen != SK_SHA256_SIZE)
                r = ssl_error();
        EVP_MAC_CTX_free(c);
        return r;
}

void sk_hmac_free(sk_hmac *h) {
        if (!h)
                return;
        EVP_MAC_CTX_free(h->tmpl);
        EVP_MAC_free(h->mac);
        free(h);
}

int sk_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[SK_SHA256_SIZE]) {
        sk_hmac *h = NULL;
        int r = sk_hmac_new(key, keylen, &h);
        if (r < 0)
                return r;
        r = sk_hmac_compute(h, data, len, out);
        sk_hmac_free(h);
        return r;
}

/* GCM takes int lengths; feed long inputs in pieces. */
#define CHUNK_MAX (1 << 30)

/* Feed the AAD, then in[0..len) into out, through an initialised GCM
 * context of either direction (EVP_CipherUpdate follows the context's), in
 * pieces OpenSSL's int lengths can hold. */
static int gcm_update(EVP_CIPHER_CTX *c, const void *aad, size_t aadlen, const void *in, size_t len, void *out) {
        int n;
        for (size_t off = 0; off < aadlen;) {
                int k = (int) MIN(aadlen - off, (size_t) CHUNK_MAX);
                if (EVP_CipherUpdate(c, NULL, &n, (const uint8_t *) aad + off, k) != 1)
                        return -EIO;
                off += (size_t) k;
        }
        for (size_t off = 0; off < len;) {
                int k = (int) MIN(len - off, (size_t) CHUNK_MAX);
                if (EVP_CipherUpdate(c, (uint8_t *) out + off, &n, (const uint8_t *) in + off, k) != 1)
                        return -EIO;
                off += (size_t) k;
        }
        return 0;
}

int sk_aead_seal(const uint8_t key[SK_KEY_SIZE], const uint8_t nonce[SK_NONCE_SIZE], const void *aad,
                 size_t aadlen, const void *in, size_t len, void *out, uint8_t tag[SK_TAG_SIZE]) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int r = 0, n;
        if (!c)
                return -ENOMEM;
        if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1)
                goto fail;
        if (gcm_update(c, aad, aadlen, in, len, out) < 0)
                goto fail;
        if (EVP_EncryptFinal_ex(c, (uint8_t *) out + len, &n) != 1)
                goto fail;
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SK_TAG_SIZE, tag) != 1)
                goto fail;
        EVP_CIPHER_CTX_free(c);
        return 0;
fail:
        r = ssl_error();
        EVP_CIPHER_CTX_free(c);
        return r;
}

int sk_aead_open(const uint8_t key[SK_KEY_SIZE], const uint8_t nonce[SK_NONCE_SIZE], const void *aad,
                 size_t aadlen, const void *in, size_t len, void *out, const uint8_t tag[SK_TAG_SIZE]) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        uint8_t t[SK_TAG_SIZE];
        int r = 0, n;
        if (!c)
                return -ENOMEM;
        memcpy(t, tag, sizeof(t));
        if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1)
                goto fail;
        if (gcm_update(c, aad, aadlen, in, len, out) < 0)
                goto fail;
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SK_TAG_SIZE, t) != 1)
                goto fail;
        if (EVP_DecryptFinal_ex(c, (uint8_t *) out + len, &n) != 1) {
                /* Tag mismatch: OpenSSL queues no error for it, but clear anyway. */
                ERR_clear_error();
                EVP_CIPHER_CTX_free(c);
                return -EBADMSG;
        }
        EVP_CIPHER_CTX_free(c);
        return 0;
fail:
        r = ssl_error();
        EVP_CIPHER_CTX_free(c);
        return r;
}

int sk_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const char *info, void *out,
            size_t outlen) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
        int r = 0;
        if (!c)
                return ssl_error();
        if (EVP_PKEY_derive_init(c) <= 0 || EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) <= 0 ||
            EVP_PKEY_CTX_set1_hkdf_salt(c, salt, (int) saltlen) <= 0 ||
            EVP_PKEY_CTX_set1_hkdf_key(c, ikm, (int) ikmlen) <= 0 ||
            EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *) info, (int) strlen(info)) <= 0 ||
            EVP_PKEY_derive(c, out, &outlen) <= 0)
                r = ssl_error();
        EVP_PKEY_CTX_free(c);
        return r;
}

int sk_scrypt(const void *pass, size_t passlen, const void *salt, size_t saltlen, unsigned log2n, unsigned r,
              unsigned p, void *out, size_t outlen) {
        if (log2n < 1 || log2n > 22 || r < 1 || r > 32 || p < 1 || p > 16)
                return -EINVAL;
        uint64_t N = UINT64_C(1) << log2n;
        /* scrypt needs 128*r*N bytes (+ 128*r*p); give it room. */
        uint64_t maxmem = 128 * (uint64_t) r * (N + p + 2) + (1u << 20);
        if (EVP_PBE_scrypt(pass, passlen, salt, saltlen, N, r, p, maxmem, out, outlen) != 1)
                return ssl_error();
        return 0;
}

int sk_aes_ctr_keystream(const uint8_t key[SK_KEY_SIZE], void *out, size_t len) {
        static const uint8_t iv[16];
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int n, r = 0;
        if (!c)
                return -ENOMEM;
        memset(out, 0, len);
        if (len > CHUNK_MAX || EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, iv) != 1 ||
            EVP_EncryptUpdate(c, out, &n, out, (int) len) != 1)
                r = len > CHUNK_MAX ? -EINVAL : ssl_error();
        EVP_CIPHER_CTX_free(c);
        return r;
}
