/* Crypto wrappers: known-answer vectors typed from the specs (FIPS 180-2
 * "abc", RFC 4231, the GCM specification's test cases 13-16, RFC 5869,
 * RFC 7914) and tamper detection; OpenSSL's allocations in huge pages
 * (sk_crypto_use_huge_pages, installed first thing in main as the programs
 * do). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "repo/crypto.h"
#include "tests/lib/testutil.h"

static size_t unhex(const char *hex, uint8_t *out) {
        size_t n = strlen(hex) / 2;
        assert_int_equal(sk_hex_decode(hex, out, n), 0);
        return n;
}

static void assert_hex(const uint8_t *b, size_t n, const char *want) {
        char got[1024];
        assert_true(2 * n < sizeof(got));
        sk_hex_encode(b, n, got);
        assert_string_equal(got, want);
}

static void test_sha256_abc(void **state) {
        (void) state;
        uint8_t d[32];
        assert_int_equal(sk_sha256("abc", 3, d), 0);
        assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

        sk_sha256_ctx *c = NULL;
        assert_int_equal(sk_sha256_new(&c), 0);
        assert_int_equal(sk_sha256_update(c, "a", 1), 0);
        assert_int_equal(sk_sha256_update(c, "bc", 2), 0);
        memset(d, 0, sizeof(d));
        assert_int_equal(sk_sha256_final(c, d), 0);
        assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_int_equal(sk_sha256_reset(c), 0);
        assert_int_equal(sk_sha256_update(c, "", 0), 0);
        assert_int_equal(sk_sha256_final(c, d), 0);
        assert_hex(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        sk_sha256_free(c);
}

static void test_hmac_rfc4231(void **state) {
        (void) state;
        uint8_t key[20], d[32];
        memset(key, 0x0b, sizeof(key));
        assert_int_equal(sk_hmac_sha256(key, 20, "Hi There", 8, d), 0);
        assert_hex(d, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

        /* the reusable keyed context gives the same answers, repeatedly */
        sk_hmac *h = NULL;
        assert_int_equal(sk_hmac_new("Jefe", 4, &h), 0);
        for (int i = 0; i < 3; i++) {
                memset(d, 0, sizeof(d));
                assert_int_equal(sk_hmac_compute(h, "what do ya want for nothing?", 28, d), 0);
                assert_hex(d, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        }
        sk_hmac_free(h);
}

typedef struct gcm_vec {
        const char *key, *iv, *pt, *aad, *ct, *tag;
} gcm_vec;

static const gcm_vec gcm_vectors[] = {
        /* GCM spec test case 13 */
        { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
          "530f8afbc74536b9a963b4f1c4cb738b" },
        /* 14 */
        { "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
          "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
          "d0d1c8a799996bf0265b98b5d48ab919" },
        /* 15 */
        { "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
          "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de6"
          "57ba637b391aafd255",
          "",
          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
          "bcc9f662898015ad",
          "b094dac5d93471bdec1a502270e3cc6c" },
        /* 16 */
        { "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
          "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de6"
          "57ba637b39",
          "feedfacedeadbeeffeedfacedeadbeefabaddad2",
          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
          "bcc9f662",
          "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void test_gcm_vectors(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(gcm_vectors) / sizeof(gcm_vectors[0]); i++) {
                const gcm_vec *v = &gcm_vectors[i];
                uint8_t key[32], iv[12], pt[128], aad[64], ct[128], out[128], tag[16];
                unhex(v->key, key);
                unhex(v->iv, iv);
                size_t n = unhex(v->pt, pt);
                size_t an = unhex(v->aad, aad);
                assert_int_equal(unhex(v->ct, ct), n);
                assert_int_equal(sk_aead_seal(key, iv, aad, an, pt, n, out, tag), 0);
                assert_memory_equal(out, ct, n);
                assert_hex(tag, 16, v->tag);
                memset(out, 0xaa, sizeof(out));
                assert_int_equal(sk_aead_open(key, iv, aad, an, ct, n, out, tag), 0);
                assert_memory_equal(out, pt, n);
        }
}

static void test_gcm_tamper(void **state) {
        (void) state;
        uint8_t key[32], nonce[12], aad[20], pt[100], ct[100], out[100], tag[16];
        assert_int_equal(sk_random_bytes(key, sizeof(key)), 0);
        assert_int_equal(sk_random_bytes(nonce, sizeof(nonce)), 0);
        assert_int_equal(sk_random_bytes(aad, sizeof(aad)), 0);
        assert_int_equal(sk_random_bytes(pt, sizeof(pt)), 0);
        assert_int_equal(sk_aead_seal(key, nonce, aad, sizeof(aad), pt, sizeof(pt), ct, tag), 0);
        assert_int_equal(sk_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), 0);
        assert_memory_equal(out, pt, sizeof(pt));

        for (size_t bit = 0; bit < 8 * sizeof(ct); bit += 37) {
                ct[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                assert_int_equal(sk_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), -EBADMSG);
                ct[bit / 8] ^= (uint8_t) (1u << (bit % 8));
        }
        for (size_t bit = 0; bit < 128; bit += 13) {
                tag[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                assert_int_equal(sk_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), -EBADMSG);
                tag[bit / 8] ^= (uint8_t) (1u << (bit % 8));
        }
        for (size_t bit = 0; bit < 8 * sizeof(aad); bit += 11) {
                aad[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                assert_int_equal(sk_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), -EBADMSG);
                aad[bit / 8] ^= (uint8_t) (1u << (bit % 8));
        }
        nonce[0] ^= 1;
        assert_int_equal(sk_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), -EBADMSG);
        nonce[0] ^= 1;
        key[31] ^= 0x80;
        assert_int_equal(sk_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), -EBADMSG);
        key[31] ^= 0x80;
        /* dropping the AAD also fails */
        assert_int_equal(sk_aead_open(key, nonce, NULL, 0, ct, sizeof(ct), out, tag), -EBADMSG);
        /* and the intact message still opens */
        assert_int_equal(sk_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), 0);
}

static void test_gcm_inplace(void **state) {
        (void) state;
        uint8_t key[32] = { 1 }, nonce[12] = { 2 }, buf[1000], orig[1000], tag[16];
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = orig[i] = (uint8_t) (i * 7);
        assert_int_equal(sk_aead_seal(key, nonce, "x", 1, buf, sizeof(buf), buf, tag), 0);
        assert_memory_not_equal(buf, orig, sizeof(buf));
        assert_int_equal(sk_aead_open(key, nonce, "x", 1, buf, sizeof(buf), buf, tag), 0);
        assert_memory_equal(buf, orig, sizeof(buf));
}

static void test_hkdf_rfc5869(void **state) {
        (void) state;
        uint8_t ikm[22], salt[13], out[42];
        char info[11];
        memset(ikm, 0x0b, sizeof(ikm));
        for (int i = 0; i < 13; i++)
                salt[i] = (uint8_t) i;
        /* RFC 5869 A.1 info is f0..f9; our API takes a C string */
        for (int i = 0; i < 10; i++)
                info[i] = (char) (0xf0 + i);
        info[10] = 0;
        assert_int_equal(sk_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info, out, sizeof(out)), 0);
        assert_hex(out, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

static void test_scrypt_rfc7914(void **state) {
        (void) state;
        uint8_t out[64];
        assert_int_equal(sk_scrypt("password", 8, "NaCl", 4, 10, 8, 16, out, sizeof(out)), 0);
        assert_hex(out, 64,
                   "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb9"
                   "4a83ee6d8360cbdfa2cc0640");
        assert_int_equal(sk_scrypt("p", 1, "s", 1, 0, 8, 1, out, 32), -EINVAL);
        assert_int_equal(sk_scrypt("p", 1, "s", 1, 10, 0, 1, out, 32), -EINVAL);
}

static bool huge_pages_installed;

static void fill(uint8_t *p, size_t n, uint8_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (i * 31 + seed);
}

static bool filled(const uint8_t *p, size_t n, uint8_t seed) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != (uint8_t) (i * 31 + seed))
                        return false;
        return true;
}

static void test_huge_page_allocator(void **state) {
        (void) state;
        assert_true(huge_pages_installed);
        /* RFC 7914's third vector: 16 MiB of working memory, so the
         * derivation's block is a large one */
        uint8_t out[64];
        assert_int_equal(sk_scrypt("pleaseletmein", 13, "SodiumChloride", 14, 14, 8, 1, out, sizeof(out)), 0);
        assert_hex(out, 64,
                   "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e6"
                   "1e85dc0d651e40dfcf017b45575887");

        /* a large block: a huge-page-aligned mapping, advised */
        const size_t big = 8u << 20;
        uint8_t *p = OPENSSL_malloc(big);
        assert_non_null(p);
        assert_int_equal((uintptr_t) p % (2u << 20), 0);
        fill(p, big, 1);
        if (sk_test_thp_never())
                fprintf(stderr, "transparent huge pages are off here: the advice is not checked\n");
        else
                assert_int_equal(sk_test_thp_eligible(p), 1);
        /* realloc keeps the contents, growing and shrinking, across kinds */
        p = OPENSSL_realloc(p, big + 4096);
        assert_non_null(p);
        assert_true(filled(p, big, 1));
        p = OPENSSL_realloc(p, 100);
        assert_non_null(p);
        assert_true(filled(p, 100, 1));
        fill(p, 100, 2);
        p = OPENSSL_realloc(p, 5u << 20);
        assert_non_null(p);
        assert_true(filled(p, 100, 2));
        OPENSSL_free(p);
        OPENSSL_free(NULL);
        assert_null(OPENSSL_malloc(0)); /* as OpenSSL's own allocator */
        p = OPENSSL_realloc(NULL, 10);
        assert_non_null(p);
        OPENSSL_clear_free(p, 10);
        /* small blocks stay plain malloc blocks: a library that frees
         * OpenSSL's memory with free() keeps working */
        p = OPENSSL_malloc(100);
        assert_non_null(p);
        free(p);
        /* more large blocks at once than the table holds: the rest are
         * malloc blocks, and each is freed the right way */
        enum { MANY = 12 };
        uint8_t *v[MANY];
        for (int i = 0; i < MANY; i++) {
                v[i] = OPENSSL_malloc(big);
                assert_non_null(v[i]);
                /* the first 8 are mappings (the table's slots were all given back) */
                if (i < 8)
                        assert_int_equal((uintptr_t) v[i] % (2u << 20), 0);
                fill(v[i], 4096, (uint8_t) i);
        }
        for (int i = 0; i < MANY; i++) {
                assert_true(filled(v[i], 4096, (uint8_t) i));
                OPENSSL_free(v[i]);
        }
}

static void test_misc(void **state) {
        (void) state;
        uint8_t a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 2, 3, 4 }, z[4] = { 0 };
        assert_true(sk_mem_equal(a, b, 4));
        b[3] = 5;
        assert_false(sk_mem_equal(a, b, 4));
        sk_wipe(a, sizeof(a));
        assert_memory_equal(a, z, 4);
        uint8_t x[2];
        assert_int_equal(sk_hex_decode("zz", x, 1), -EINVAL);
        assert_int_equal(sk_hex_decode("aB", x, 1), 0);
        assert_int_equal(x[0], 0xab);
        /* keystream: AES-256-CTR with a zero key/IV, first block = AES_K(0) */
        uint8_t k[32] = { 0 }, ks[16];
        assert_int_equal(sk_aes_ctr_keystream(k, ks, sizeof(ks)), 0);
        assert_hex(ks, 16, "dc95c078a2408989ad48a21492842087");
}

int main(void) {
        huge_pages_installed = sk_crypto_use_huge_pages();      /* first, as the programs do */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256_abc),     cmocka_unit_test(test_hmac_rfc4231),
                cmocka_unit_test(test_gcm_vectors),    cmocka_unit_test(test_gcm_tamper),
                cmocka_unit_test(test_gcm_inplace),    cmocka_unit_test(test_hkdf_rfc5869),
                cmocka_unit_test(test_scrypt_rfc7914), cmocka_unit_test(test_huge_page_allocator),
                cmocka_unit_test(test_misc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
