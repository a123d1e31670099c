/* The file content hash (repo/filehash.h) against digests computed
 * independently of this code, with Python's hashlib over the bytes
 * docs/FORMAT-tree.md defines (data || le64 offset || le64 length per extent,
 * then le64 size):
 *   python3 -c "import hashlib,struct; q=lambda v: struct.pack('<Q',v);
 *               print(hashlib.sha256(b'hello world\n'+q(0)+q(12)+q(12)).hexdigest())"
 * and rule 2 the same way over b'SKFHASH2', then per extent each chunk's id
 * and le32 length followed by le64 offset and length, then le64 size. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "repo/crypto.h"
#include "repo/filehash.h"

static void assert_hex(const uint8_t *b, const char *want) {
        char got[2 * SK_FILEHASH_SIZE + 1];
        sk_hex_encode(b, SK_FILEHASH_SIZE, got);
        assert_string_equal(got, want);
}

/* An empty file: no extents, only the size. */
static void test_empty(void **state) {
        (void) state;
        _cleanup_(sk_filehash_freep) sk_filehash *h = NULL;
        uint8_t d[SK_FILEHASH_SIZE];
        assert_int_equal(sk_filehash_new(SK_FILEHASH_RULE_DATA, &h), 0);
        assert_int_equal(sk_filehash_final(h, 0, d), 0);
        assert_hex(d, "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc");
}

/* A dense file: one extent [0, size), its data fed in pieces. */
static void test_dense(void **state) {
        (void) state;
        _cleanup_(sk_filehash_freep) sk_filehash *h = NULL;
        uint8_t d[SK_FILEHASH_SIZE];
        assert_int_equal(sk_filehash_new(SK_FILEHASH_RULE_DATA, &h), 0);
        assert_int_equal(sk_filehash_update(h, "hello ", 6), 0);
        assert_int_equal(sk_filehash_update(h, "world\n", 6), 0);
        assert_int_equal(sk_filehash_extent(h, 0, 12), 0);
        assert_int_equal(sk_filehash_final(h, 12, d), 0);
        assert_hex(d, "4a7cca367abd56769c63d00b40f8de78ae76f547cfb4fe9e2e571958e81cae99");

        /* reset starts a new file: the same bytes give the same digest */
        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_DATA), 0);
        assert_int_equal(sk_filehash_update(h, "hello world\n", 12), 0);
        assert_int_equal(sk_filehash_extent(h, 0, 12), 0);
        assert_int_equal(sk_filehash_verify(h, 12, d), 0);
}

/* A sparse file of 1 MiB with two extents; the holes are not hashed. */
static void test_sparse(void **state) {
        (void) state;
        _cleanup_(sk_filehash_freep) sk_filehash *h = NULL;
        uint8_t d[SK_FILEHASH_SIZE];
        assert_int_equal(sk_filehash_new(SK_FILEHASH_RULE_DATA, &h), 0);
        assert_int_equal(sk_filehash_update(h, "abcde", 5), 0);
        assert_int_equal(sk_filehash_extent(h, 4096, 5), 0);
        assert_int_equal(sk_filehash_update(h, "xyz", 3), 0);
        assert_int_equal(sk_filehash_extent(h, 65536, 3), 0);
        assert_int_equal(sk_filehash_final(h, 1048576, d), 0);
        assert_hex(d, "7a419dbeb2787ff2157a310a04eec2377ca0b728bde65b1449d4ddead4fdd1c5");
}

/* verify: any difference in data, position or size is -EBADMSG. */
static void test_verify_mismatch(void **state) {
        (void) state;
        static const char *want = "4a7cca367abd56769c63d00b40f8de78ae76f547cfb4fe9e2e571958e81cae99";
        uint8_t expected[SK_FILEHASH_SIZE];
        assert_int_equal(sk_hex_decode(want, expected, sizeof(expected)), 0);
        _cleanup_(sk_filehash_freep) sk_filehash *h = NULL;
        assert_int_equal(sk_filehash_new(SK_FILEHASH_RULE_DATA, &h), 0);

        assert_int_equal(sk_filehash_update(h, "hello world\n", 12), 0);
        assert_int_equal(sk_filehash_extent(h, 0, 12), 0);
        assert_int_equal(sk_filehash_verify(h, 12, expected), 0);

        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_DATA), 0);
        assert_int_equal(sk_filehash_update(h, "hello World\n", 12), 0);
        assert_int_equal(sk_filehash_extent(h, 0, 12), 0);
        assert_int_equal(sk_filehash_verify(h, 12, expected), -EBADMSG);

        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_DATA), 0);
        assert_int_equal(sk_filehash_update(h, "hello world\n", 12), 0);
        assert_int_equal(sk_filehash_extent(h, 1, 12), 0);
        assert_int_equal(sk_filehash_verify(h, 13, expected), -EBADMSG);

        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_DATA), 0);
        assert_int_equal(sk_filehash_update(h, "hello world\n", 12), 0);
        assert_int_equal(sk_filehash_extent(h, 0, 12), 0);
        assert_int_equal(sk_filehash_verify(h, 4096, expected), -EBADMSG);
}

/* Rule 2 (version-2 repositories): the chunk ids and lengths stand for the
 * data, which the hasher ignores, so one byte changed in a chunk (that is, a
 * new chunk id) or a length changes the digest and the data alone does not. */
static const uint8_t id1[32] = { [0 ... 31] = 0x11 }, id2[32] = { [0 ... 31] = 0x22 },
                     id3[32] = { [0 ... 31] = 0x33 };
static void feed_rule2(sk_filehash *h, const char *data, uint32_t len2) {
        assert_int_equal(sk_filehash_update(h, data, 5), 0);
        assert_int_equal(sk_filehash_chunk(h, id1, 2), 0);
        assert_int_equal(sk_filehash_chunk(h, id2, len2), 0);
        assert_int_equal(sk_filehash_extent(h, 4096, 2 + len2), 0);
        assert_int_equal(sk_filehash_chunk(h, id3, 3), 0);
        assert_int_equal(sk_filehash_extent(h, 65536, 3), 0);
}

static void test_rule2(void **state) {
        (void) state;
        static const char *want = "07df038e30aa7c15e8cfcbdbb57d1bd022635a948ab7b5a31119876e676e9793";
        _cleanup_(sk_filehash_freep) sk_filehash *h = NULL;
        uint8_t d[SK_FILEHASH_SIZE], expected[SK_FILEHASH_SIZE];
        assert_int_equal(sk_hex_decode(want, expected, sizeof(expected)), 0);
        assert_int_equal(sk_filehash_new(SK_FILEHASH_RULE_CHUNKS, &h), 0);
        feed_rule2(h, "abcde", 3);
        assert_int_equal(sk_filehash_final(h, 1048576, d), 0);
        assert_hex(d, want);

        /* other data, same ids: the same digest (the ids are checked on read) */
        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_CHUNKS), 0);
        feed_rule2(h, "ABCDE", 3);
        assert_int_equal(sk_filehash_verify(h, 1048576, expected), 0);
        /* a chunk length, the size, or the order of chunks differs */
        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_CHUNKS), 0);
        feed_rule2(h, "abcde", 4);
        assert_int_equal(sk_filehash_verify(h, 1048576, expected), -EBADMSG);
        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_CHUNKS), 0);
        feed_rule2(h, "abcde", 3);
        assert_int_equal(sk_filehash_verify(h, 1048577, expected), -EBADMSG);
        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_CHUNKS), 0);
        assert_int_equal(sk_filehash_chunk(h, id2, 3), 0);
        assert_int_equal(sk_filehash_chunk(h, id1, 2), 0);
        assert_int_equal(sk_filehash_extent(h, 4096, 5), 0);
        assert_int_equal(sk_filehash_chunk(h, id3, 3), 0);
        assert_int_equal(sk_filehash_extent(h, 65536, 3), 0);
        assert_int_equal(sk_filehash_verify(h, 1048576, expected), -EBADMSG);

        /* an empty file under rule 2: the tag and the size */
        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_CHUNKS), 0);
        assert_int_equal(sk_filehash_final(h, 0, d), 0);
        assert_hex(d, "704d65fce873afc30a07ae331de6915506ad5c20a418bf4a498a96effd9467ad");

        /* rule 1 ignores chunk ids: the dense digest of test_dense */
        assert_int_equal(sk_filehash_reset(h, SK_FILEHASH_RULE_DATA), 0);
        assert_int_equal(sk_filehash_update(h, "hello world\n", 12), 0);
        assert_int_equal(sk_filehash_chunk(h, id1, 12), 0);
        assert_int_equal(sk_filehash_extent(h, 0, 12), 0);
        assert_int_equal(sk_filehash_final(h, 12, d), 0);
        assert_hex(d, "4a7cca367abd56769c63d00b40f8de78ae76f547cfb4fe9e2e571958e81cae99");

        /* no third rule */
        assert_int_equal(sk_filehash_reset(h, 3), -EINVAL);
        sk_filehash *h0 = NULL;
        assert_int_equal(sk_filehash_new(0, &h0), -EINVAL);
        assert_null(h0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_dense),
                cmocka_unit_test(test_sparse),
                cmocka_unit_test(test_verify_mismatch),
                cmocka_unit_test(test_rule2),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
