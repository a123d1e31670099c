/* Pack codec: round trip, truncation, flipped bytes, unknown versions and
 * features, forward scan after trailer damage. With SK_WRITE_CORPUS=DIR it
 * also writes seed inputs for tests/fuzz/fuzz-pack (same fixed keys). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "repo/pack.h"
#include "common/fsutil.h"
#include "tests/lib/testrepo.h"

/* The fuzz harness uses the same constants. */
static const uint8_t id_key[32] = { 7 };

static sk_hmac *hmac;

/* A pack of n records built in memory, and the keys that open it. */
typedef struct built {
        sk_pack_keys keys;
        uint8_t *buf;
        size_t len;
        sk_pack_record r[8];
        size_t n;
        uint8_t *plain[8];
        size_t plen[8];
} built;

static built build(size_t n) {
        uint8_t salt[SK_SALT_SIZE] = { 9 };
        built bb = { .keys = { .resolve = sk_test_resolve, .id_hmac = hmac } }, *b = &bb;
        b->buf = malloc(1 << 20);
        assert_non_null(b->buf);
        sk_pack_header_encode(salt, b->buf);
        b->len = SK_PACK_HEADER_SIZE;
        for (size_t i = 0; i < n; i++) {
                size_t len = 100 + i * 333;
                uint8_t *p = malloc(len);
                assert_non_null(p);
                for (size_t k = 0; k < len; k++)
                        p[k] = (uint8_t) (i & 1 ? (k * 31 + i) : k / 50); /* odd: noisy, even: compressible-ish */
                sk_pack_record *r = &b->r[i];
                memset(r, 0, sizeof(*r));
                assert_int_equal(sk_hmac_compute(hmac, p, len, r->id.b), 0);
                r->type = i == 0 ? SK_BLOB_TREE : SK_BLOB_DATA;
                r->raw_len = r->stored_len = (uint32_t) len; /* stored raw in this test */
                memcpy(r->salt, salt, SK_SALT_SIZE);
                r->nonce[0] = (uint8_t) (i + 1);
                r->offset = (uint32_t) b->len;
                assert_int_equal(sk_record_seal(sk_test_key(r->salt), r, p, b->buf + b->len), 0);
                b->len += sk_record_length(r);
                b->plain[i] = p;
                b->plen[i] = len;
        }
        b->n = n;
        void *t;
        size_t tl;
        uint8_t nonce[12] = { 0xff };
        assert_int_equal(sk_pack_trailer_encode(sk_test_key(salt), nonce, b->buf, b->r, n, &t, &tl), 0);
        memcpy(b->buf + b->len, t, tl);
        b->len += tl;
        free(t);
        return bb;
}

static void unbuild(built *b) {
        for (size_t i = 0; i < b->n; i++)
                free(b->plain[i]);
        free(b->buf);
}

static int count_cb(const sk_pack_record *r, void *ud) {
        size_t *n = ud;
        (void) r;
        (*n)++;
        return 0;
}

static void test_round_trip(void **state) {
        (void) state;
        built b = build(5);
        sk_pack_record *t;
        size_t n;
        assert_int_equal(sk_pack_table_read(&b.keys, b.buf, b.len, &t, &n), 0);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++) {
                assert_memory_equal(t[i].id.b, b.r[i].id.b, 32);
                assert_int_equal(t[i].offset, b.r[i].offset);
                assert_int_equal(t[i].raw_len, b.plen[i]);
                void *p;
                size_t pl;
                sk_pack_record rr;
                char detail[100];
                assert_int_equal(sk_record_open(&b.keys, b.buf + t[i].offset, b.len - t[i].offset, &t[i].id, &rr, &p,
                                                &pl, detail, sizeof(detail)),
                                 0);
                assert_int_equal(pl, b.plen[i]);
                assert_memory_equal(p, b.plain[i], pl);
                assert_int_equal(rr.type, i == 0 ? SK_BLOB_TREE : SK_BLOB_DATA);
                free(p);
        }
        free(t);
        size_t cnt = 0;
        assert_int_equal(sk_pack_scan(b.buf, b.len, count_cb, &cnt), 0);
        assert_int_equal(cnt, 5);

        const char *dir = getenv("SK_WRITE_CORPUS");
        if (dir) {
                sk_test_write_file(dir, "pack-5-blobs", b.buf, b.len);
                sk_test_write_file(dir, "pack-truncated", b.buf, b.len / 2);
                sk_test_write_file(dir, "record-1", b.buf + b.r[1].offset, sk_record_length(&b.r[1]));
        }
        unbuild(&b);
}

static void test_empty_pack(void **state) {
        (void) state;
        built b = build(0);
        sk_pack_record *t;
        size_t n = 99;
        assert_int_equal(sk_pack_table_read(&b.keys, b.buf, b.len, &t, &n), 0);
        assert_int_equal(n, 0);
        free(t);
        unbuild(&b);
}

static void test_truncated(void **state) {
        (void) state;
        built b = build(5);
        sk_pack_record *t;
        size_t n;
        /* cut in the middle of record 3: table gone, scan finds records 0..2 */
        size_t cut = b.r[3].offset + 50;
        assert_int_equal(sk_pack_table_read(&b.keys, b.buf, cut, &t, &n), -EBADMSG);
        size_t cnt = 0;
        int r = sk_pack_scan(b.buf, cut, count_cb, &cnt);
        assert_true(r >= 1);
        assert_int_equal(cnt, 3);
        for (size_t len = 0; len < b.len; len += 7) {
                assert_int_not_equal(sk_pack_table_read(&b.keys, b.buf, len, &t, &n), 0);
                cnt = 0;
                assert_true(sk_pack_scan(b.buf, len, count_cb, &cnt) >= 0);
        }
        /* a record cut short does not open */
        void *p;
        size_t pl;
        char detail[100];
        assert_int_equal(sk_record_open(&b.keys, b.buf + b.r[1].offset, sk_record_length(&b.r[1]) - 1, NULL, NULL, &p,
                                        &pl, detail, sizeof(detail)),
                         -EBADMSG);
        assert_non_null(strstr(detail, "truncated"));
        unbuild(&b);
}

/* sk_record_open of all of record r in b, asked for expect (NULL: any id);
 * detail (100 bytes) says why it failed. */
static int open_record(const built *b, const sk_pack_record *r, const sk_blob_id *expect, char *detail) {
        void *p = NULL;
        size_t pl;
        int rc = sk_record_open(&b->keys, b->buf + r->offset, sk_record_length(r), expect, NULL, &p, &pl, detail, 100);
        free(p);
        return rc;
}

static void test_flipped_bytes(void **state) {
        (void) state;
        built b = build(3);
        void *p;
        size_t pl;
        char detail[100];
        const sk_pack_record *r = &b.r[1];
        /* payload */
        b.buf[r->offset + SK_RECORD_HEADER_SIZE + 10] ^= 0x01;
        assert_int_equal(open_record(&b, r, &r->id, detail), -EBADMSG);
        assert_string_equal(detail, "AEAD tag mismatch");
        b.buf[r->offset + SK_RECORD_HEADER_SIZE + 10] ^= 0x01;
        /* tag */
        b.buf[r->offset + sk_record_length(r) - 1] ^= 0x80;
        assert_int_equal(open_record(&b, r, &r->id, detail), -EBADMSG);
        b.buf[r->offset + sk_record_length(r) - 1] ^= 0x80;
        /* id in the header (AAD): asked for the real id -> mismatch; for the forged one -> tag */
        b.buf[r->offset + 64] ^= 0x01;
        assert_int_equal(open_record(&b, r, &r->id, detail), -EBADMSG);
        assert_int_equal(open_record(&b, r, NULL, detail), -EBADMSG);
        b.buf[r->offset + 64] ^= 0x01;
        /* type (AAD) */
        b.buf[r->offset + 5] = b.buf[r->offset + 5] == 1 ? 2 : 1;
        assert_int_equal(open_record(&b, r, &r->id, detail), -EBADMSG);
        b.buf[r->offset + 5] = b.buf[r->offset + 5] == 1 ? 2 : 1;
        /* intact again */
        assert_int_equal(open_record(&b, r, &r->id, detail), 0);

        /* a record sealed over a plaintext that does not match its id: HMAC check */
        {
                uint8_t rec[SK_RECORD_OVERHEAD + 16];
                sk_pack_record bad = b.r[1];
                bad.raw_len = bad.stored_len = 16;
                assert_int_equal(sk_record_seal(sk_test_key(bad.salt), &bad, "0123456789abcdef", rec), 0);
                assert_int_equal(sk_record_open(&b.keys, rec, sizeof(rec), NULL, NULL, &p, &pl, detail, sizeof(detail)),
                                 -EBADMSG);
                assert_string_equal(detail, "plaintext does not match its blob id");
        }

        /* trailer damage: table unreadable, scan still finds everything */
        sk_pack_record *t;
        size_t n;
        b.buf[b.len - SK_PACK_FOOTER_SIZE - 5] ^= 0x10;
        assert_int_equal(sk_pack_table_read(&b.keys, b.buf, b.len, &t, &n), -EBADMSG);
        size_t cnt = 0;
        assert_int_equal(sk_pack_scan(b.buf, b.len, count_cb, &cnt), 0);
        assert_int_equal(cnt, 3);
        b.buf[b.len - SK_PACK_FOOTER_SIZE - 5] ^= 0x10;
        /* footer magic gone: scan runs to the end and skips the table as damage */
        b.buf[b.len - 1] ^= 0xff;
        assert_int_equal(sk_pack_table_read(&b.keys, b.buf, b.len, &t, &n), -EBADMSG);
        cnt = 0;
        assert_true(sk_pack_scan(b.buf, b.len, count_cb, &cnt) >= 1);
        assert_int_equal(cnt, 3);
        b.buf[b.len - 1] ^= 0xff;
        /* a damaged record header in the middle: scan resynchronises */
        b.buf[b.r[1].offset] ^= 0xff;
        cnt = 0;
        assert_int_equal(sk_pack_scan(b.buf, b.len, count_cb, &cnt), 1);
        assert_int_equal(cnt, 2);
        b.buf[b.r[1].offset] ^= 0xff;
        unbuild(&b);
}

static void test_versions(void **state) {
        (void) state;
        built b = build(2);
        sk_pack_record *t;
        size_t n, cnt = 0;
        assert_int_equal(sk_pack_header_parse(b.buf, b.len, NULL), 0);
        b.buf[8] = 2; /* version 2 */
        assert_int_equal(sk_pack_header_parse(b.buf, b.len, NULL), -EPROTO);
        assert_int_equal(sk_pack_table_read(&b.keys, b.buf, b.len, &t, &n), -EPROTO);
        assert_int_equal(sk_pack_scan(b.buf, b.len, count_cb, &cnt), -EPROTO);
        b.buf[8] = 1;
        b.buf[12] = 0x01; /* unknown required feature */
        assert_int_equal(sk_pack_header_parse(b.buf, b.len, NULL), -EPROTO);
        b.buf[12] = 0;
        b.buf[16] = 0x01; /* unknown compatible feature: fine (but the table's AAD now differs) */
        assert_int_equal(sk_pack_header_parse(b.buf, b.len, NULL), 0);
        b.buf[16] = 0;
        b.buf[0] = 'X';
        assert_int_equal(sk_pack_header_parse(b.buf, b.len, NULL), -EBADMSG);
        unbuild(&b);
}

static void test_compressed_record(void **state) {
        (void) state;
        /* a record whose flags say zstd but whose payload is garbage */
        sk_pack_keys keys = { .resolve = sk_test_resolve, .id_hmac = hmac };
        uint8_t rec[SK_RECORD_OVERHEAD + 10];
        sk_pack_record r = { .type = SK_BLOB_DATA, .flags = SK_BLOB_FLAG_ZSTD, .raw_len = 100, .stored_len = 10 };
        assert_int_equal(sk_record_seal(sk_test_key(r.salt), &r, "garbage!!!", rec), 0);
        void *p;
        size_t pl;
        char detail[100];
        assert_int_equal(sk_record_open(&keys, rec, sizeof(rec), NULL, NULL, &p, &pl, detail, sizeof(detail)), -EBADMSG);
        assert_non_null(strstr(detail, "zstd"));
        /* implausible: zstd flag with stored >= raw */
        r.stored_len = 100;
        uint8_t big[SK_RECORD_OVERHEAD + 100];
        assert_int_equal(sk_record_seal(sk_test_key(r.salt), &r, big, big), -EINVAL);
}

static int setup(void **state) {
        (void) state;
        return sk_hmac_new(id_key, sizeof(id_key), &hmac);
}

static int teardown(void **state) {
        (void) state;
        sk_hmac_free(hmac);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip), cmocka_unit_test(test_empty_pack),
                cmocka_unit_test(test_truncated),  cmocka_unit_test(test_flipped_bytes),
                cmocka_unit_test(test_versions),   cmocka_unit_test(test_compressed_record),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
