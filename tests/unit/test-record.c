/* container/record.c: the containers/<id> and layers/<name> codec. Every rule
 * of docs/FORMAT.md 7a has a case that breaks it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/macro.h"
#include "container/record.h"
#include "tests/lib/testutil.h"

#define CHAIN1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define CHAIN2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define ID1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEAD "snapkeep-container 1\nkind active\nsnapshot ns/1/c1\nchain-id -\n"

static int decode(const char *text, sk_container_record *rec, char *why, size_t why_size) {
        return sk_container_record_decode(text, strlen(text), rec, why, why_size);
}

/* text must be refused with r, and the reason must mention needle. */
static void refused(const char *text, int r, const char *needle) {
        sk_container_record rec = {};
        char why[256] = "";
        int got = decode(text, &rec, why, sizeof(why));
        if (got != r || !strstr(why, needle))
                fail_msg("decode of \"%s\": %d (%s), expected %d with \"%s\"", text, got, why, r, needle);
        assert_null(rec.snapshot); /* nothing written on failure */
}

static void test_ids(void **state _unused_) {
        assert_true(sk_chain_id_valid(CHAIN1));
        assert_true(sk_chain_id_valid("sha256:00"));
        assert_true(sk_chain_id_valid("blake3:0a"));
        assert_false(sk_chain_id_valid(NULL));
        assert_false(sk_chain_id_valid(""));
        assert_false(sk_chain_id_valid("nocolon"));
        assert_false(sk_chain_id_valid(":abc"));
        assert_false(sk_chain_id_valid("sha256:"));
        assert_false(sk_chain_id_valid("sha256:../x"));
        assert_false(sk_chain_id_valid("sha256:ABCD"));      /* hex is lowercase */
        assert_false(sk_chain_id_valid("sha256:abc:def"));
        assert_false(sk_chain_id_valid("SHA256:abcd"));
        assert_false(sk_chain_id_valid("abcdefghijklmnopq:00")); /* algo of 17 */
        assert_true(sk_chain_id_valid("abcdefghijklmnop:00"));
        char longid[SK_CHAIN_ID_MAX + 2];
        memset(longid, 'a', sizeof(longid) - 1);
        memcpy(longid, "sha256:", 7);
        longid[SK_CHAIN_ID_MAX] = '\0';
        assert_true(sk_chain_id_valid(longid));
        longid[SK_CHAIN_ID_MAX] = 'a';
        longid[SK_CHAIN_ID_MAX + 1] = '\0';
        assert_false(sk_chain_id_valid(longid));

        assert_true(sk_backup_id_valid(ID1));
        assert_false(sk_backup_id_valid(NULL));
        assert_false(sk_backup_id_valid("aaaa"));
        assert_false(sk_backup_id_valid("latest"));
        assert_false(sk_backup_id_valid(ID1 "a"));
        assert_false(sk_backup_id_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));

        char name[SK_CHAIN_ID_MAX + 1];
        assert_int_equal(sk_layer_object_name(CHAIN1, name), 0);
        assert_string_equal(name, "sha256-1111111111111111111111111111111111111111111111111111111111111111");
        assert_int_equal(sk_layer_object_name("sha256:../x", name), -EINVAL);
        assert_int_equal(sk_layer_object_name(":abc", name), -EINVAL);
        assert_int_equal(sk_layer_object_name(longid, name), -EINVAL);
        longid[SK_CHAIN_ID_MAX] = '\0';
        assert_int_equal(sk_layer_object_name(longid, name), 0);
        assert_int_equal(strlen(name), SK_CHAIN_ID_MAX);
}

static void test_roundtrip(void **state _unused_) {
        /* A key with every kind of byte that needs escaping. */
        const char *key = "ns/7/a b%c\t\x7f\xc3\xa9\x01z";
        sk_container_layer layers[2] = { { CHAIN1, ID1 }, { CHAIN2, ID2 } };
        sk_container_record in = {
                .committed = true, .snapshot = (char *) key, .chain_id = "sha256:33", .layers = layers, .n_layers = 2
        };
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        assert_int_equal(sk_container_record_encode(&in, &buf, &len), 0);
        const char *want = "snapkeep-container 1\nkind committed\nsnapshot ns/7/a%20b%25c%09%7f%c3%a9%01z\n"
                           "chain-id sha256:33\nlayer " CHAIN1 " " ID1 "\nlayer " CHAIN2 " " ID2 "\n";
        assert_int_equal(len, strlen(want));
        assert_memory_equal(buf, want, len);

        sk_container_record out = {};
        assert_int_equal(sk_container_record_decode(buf, len, &out, NULL, 0), 0);
        assert_true(out.committed);
        assert_string_equal(out.snapshot, key);
        assert_string_equal(out.chain_id, "sha256:33");
        assert_int_equal(out.n_layers, 2);
        assert_string_equal(out.layers[1].chain_id, CHAIN2);
        assert_string_equal(out.layers[1].backup_id, ID2);
        char *ids[2] = { CHAIN1, CHAIN2 };
        assert_true(sk_container_record_same_chain(&out, ids, 2));
        assert_false(sk_container_record_same_chain(&out, ids, 1));
        ids[0] = CHAIN2;
        assert_false(sk_container_record_same_chain(&out, ids, 2));
        sk_container_record_clear(&out);
        sk_container_record_clear(&out); /* a cleared record clears again */

        /* An active record without layers, and upper-case escapes. */
        assert_int_equal(decode(HEAD, &out, NULL, 0), 0);
        assert_false(out.committed);
        assert_null(out.chain_id);
        assert_int_equal(out.n_layers, 0);
        sk_container_record_clear(&out);
        assert_int_equal(decode("snapkeep-container 1\nkind active\nsnapshot a%2Fb\nchain-id -\n", &out, NULL, 0),
                         0);
        assert_string_equal(out.snapshot, "a/b");
        sk_container_record_clear(&out);
}

static void test_encode_refuses(void **state _unused_) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        sk_container_layer bad_backup = { CHAIN1, "latest" }, bad_chain = { "sha256:X", ID1 };
        sk_container_record r = { .snapshot = "k" };
        r.snapshot = "";
        assert_int_equal(sk_container_record_encode(&r, &buf, &len), -EINVAL);
        r.snapshot = "k";
        r.chain_id = "nocolon";
        assert_int_equal(sk_container_record_encode(&r, &buf, &len), -EINVAL);
        r.chain_id = NULL;
        r.layers = &bad_backup;
        r.n_layers = 1;
        assert_int_equal(sk_container_record_encode(&r, &buf, &len), -EINVAL);
        r.layers = &bad_chain;
        assert_int_equal(sk_container_record_encode(&r, &buf, &len), -EINVAL);
        assert_null(buf);
}

static void test_decode_refuses(void **state _unused_) {
        static const struct {
                const char *text;
                int r;
                const char *why;
        } cases[] = {
                { "", -EBADMSG, "empty" },
                { "snapkeep-container 1\nkind active\nsnapshot k\nchain-id -", -EBADMSG, "newline" },
                { "kind active\nsnapkeep-container 1\nsnapshot k\nchain-id -\n", -EBADMSG, "line 1: no" },
                { "snapkeep-container 2\nkind active\nsnapshot k\nchain-id -\n", -EPROTONOSUPPORT, "version 2" },
                { "snapkeep-container one\nkind active\n", -EBADMSG, "line 1: header: bad version" },
                { "snapkeep-container\nkind active\n", -EBADMSG, "bad version" },
                { HEAD "\n", -EBADMSG, "line 5: empty line" },
                { HEAD "Kind x\n", -EBADMSG, "line 5: bad key" },
                { HEAD " x\n", -EBADMSG, "line 5: bad key" },
                { HEAD "snapkeep-container 1\n", -EBADMSG, "header given twice" },
                { HEAD "kind active\n", -EBADMSG, "line 5: 'kind' given twice" },
                { HEAD "snapshot k\n", -EBADMSG, "'snapshot' given twice" },
                { HEAD "chain-id -\n", -EBADMSG, "'chain-id' given twice" },
                { "snapkeep-container 1\nsnapshot k\nchain-id -\n", -EBADMSG, "no 'kind'" },
                { "snapkeep-container 1\nkind active\nchain-id -\n", -EBADMSG, "no 'snapshot'" },
                { "snapkeep-container 1\nkind active\nsnapshot k\n", -EBADMSG, "no 'chain-id'" },
                { "snapkeep-container 1\nkind Committed\nsnapshot k\nchain-id -\n", -EBADMSG, "kind:" },
                { "snapkeep-container 1\nkind\nsnapshot k\nchain-id -\n", -EBADMSG, "'kind' without a value" },
                { "snapkeep-container 1\nkind active\nsnapshot \nchain-id -\n", -EBADMSG, "empty key" },
                { "snapkeep-container 1\nkind active\nsnapshot a b\nchain-id -\n", -EBADMSG, "0x20 must be escaped" },
                { "snapkeep-container 1\nkind active\nsnapshot a\xc3\xa9\nchain-id -\n", -EBADMSG, "0xc3" },
                { "snapkeep-container 1\nkind active\nsnapshot a%2\nchain-id -\n", -EBADMSG, "two hex digits" },
                { "snapkeep-container 1\nkind active\nsnapshot a%zz\nchain-id -\n", -EBADMSG, "two hex digits" },
                { "snapkeep-container 1\nkind active\nsnapshot a%00b\nchain-id -\n", -EBADMSG, "%00" },
                { "snapkeep-container 1\nkind active\nsnapshot k\nchain-id sha256\n", -EBADMSG, "not a chain id" },
                { HEAD "layer " CHAIN1 "\n", -EBADMSG, "line 5: layer: expected" },
                { HEAD "layer " CHAIN1 " latest\n", -EBADMSG, "not a backup id" },
                { HEAD "layer " CHAIN1 " aaaa\n", -EBADMSG, "not a backup id" },
                { HEAD "layer " CHAIN1 " " ID1 " x\n", -EBADMSG, "not a backup id" },
                { HEAD "layer " CHAIN1 "  " ID1 "\n", -EBADMSG, "not a backup id" },
                { HEAD "layer sha256:../x " ID1 "\n", -EBADMSG, "not a chain id" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                refused(cases[i].text, cases[i].r, cases[i].why);

        /* A NUL byte, which a C-string reader would silently stop at. */
        static const char nul[] = HEAD "layer \0 x\n";
        sk_container_record rec = {};
        char why[128];
        assert_int_equal(sk_container_record_decode(nul, sizeof(nul) - 1, &rec, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "NUL"));

        /* A why buffer too small for the message is truncated, not overrun. */
        char tiny[4] = "xyz";
        assert_int_equal(decode("kind x\n", &rec, tiny, 3), -EBADMSG);
        assert_int_equal(tiny[2], '\0');
        assert_int_equal(tiny[3], '\0');
}

static void test_unknown_keys(void **state _unused_) {
        sk_container_record rec = {};
        assert_int_equal(decode(HEAD "future-key some value\nbare\nx-y \x01\x7f\n", &rec, NULL, 0), 0);
        assert_string_equal(rec.snapshot, "ns/1/c1");
        sk_container_record_clear(&rec);
}

/* Append text to a growing buffer. */
static void put(char **buf, size_t *len, const char *text) {
        size_t n = strlen(text);
        *buf = realloc(*buf, *len + n + 1);
        assert_non_null(*buf);
        memcpy(*buf + *len, text, n + 1);
        *len += n;
}

static void test_bounds(void **state _unused_) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        put(&buf, &len, HEAD);
        for (int i = 0; i < SK_CONTAINER_MAX_LAYERS; i++)
                put(&buf, &len, "layer " CHAIN1 " " ID1 "\n");
        sk_container_record rec = {};
        assert_int_equal(sk_container_record_decode(buf, len, &rec, NULL, 0), 0);
        assert_int_equal(rec.n_layers, SK_CONTAINER_MAX_LAYERS);
        /* What decodes also encodes. */
        _cleanup_free_ char *again = NULL;
        size_t again_len;
        assert_int_equal(sk_container_record_encode(&rec, &again, &again_len), 0);
        assert_int_equal(again_len, len);
        sk_container_record_clear(&rec);

        put(&buf, &len, "layer " CHAIN1 " " ID1 "\n");
        char why[128];
        assert_int_equal(sk_container_record_decode(buf, len, &rec, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "more than 1024 layers"));

        /* The key bound, decoded. */
        _cleanup_free_ char *key = malloc(SK_CONTAINER_KEY_MAX + 2);
        assert_non_null(key);
        memset(key, 'k', SK_CONTAINER_KEY_MAX + 1);
        key[SK_CONTAINER_KEY_MAX + 1] = '\0';
        sk_container_record big = { .snapshot = key };
        _cleanup_free_ char *enc = NULL;
        size_t enc_len;
        assert_int_equal(sk_container_record_encode(&big, &enc, &enc_len), -EINVAL);
        free(buf);
        buf = NULL;
        len = 0;
        put(&buf, &len, "snapkeep-container 1\nkind active\nchain-id -\nsnapshot ");
        put(&buf, &len, key);
        put(&buf, &len, "\n");
        assert_int_equal(sk_container_record_decode(buf, len, &rec, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "longer than 4096"));

        /* The object bound, whatever it holds. */
        _cleanup_free_ char *huge = malloc(SK_CONTAINER_RECORD_MAX + 1);
        assert_non_null(huge);
        memset(huge, '\n', SK_CONTAINER_RECORD_MAX + 1);
        assert_int_equal(sk_container_record_decode(huge, SK_CONTAINER_RECORD_MAX + 1, &rec, why, sizeof(why)),
                         -EBADMSG);
        assert_non_null(strstr(why, "more than"));
}

static void test_layer_object(void **state _unused_) {
        char line[SK_BACKUP_ID_HEX + 2], id[SK_BACKUP_ID_HEX + 1] = "untouched";
        assert_int_equal(sk_layer_object_encode(ID2, line), SK_BACKUP_ID_HEX + 1);
        assert_string_equal(line, ID2 "\n");
        assert_int_equal(sk_layer_object_decode(line, SK_BACKUP_ID_HEX + 1, id), 0);
        assert_string_equal(id, ID2);
        assert_int_equal(sk_layer_object_encode("latest", line), -EINVAL);

        strcpy(id, "untouched");
        assert_int_equal(sk_layer_object_decode(ID1, SK_BACKUP_ID_HEX, id), -EBADMSG);        /* no newline */
        assert_int_equal(sk_layer_object_decode(ID1 "\nx", SK_BACKUP_ID_HEX + 2, id), -EBADMSG); /* trailing */
        char traversal[SK_BACKUP_ID_HEX + 1]; /* "../aaa…a\n": the right length, not an id */
        memset(traversal, 'a', SK_BACKUP_ID_HEX);
        memcpy(traversal, "../", 3);
        traversal[SK_BACKUP_ID_HEX] = '\n';
        assert_int_equal(sk_layer_object_decode(traversal, sizeof(traversal), id), -EBADMSG);
        assert_string_equal(id, "untouched");
}

SK_TEST_MAIN(cmocka_unit_test(test_ids), cmocka_unit_test(test_roundtrip),
             cmocka_unit_test(test_encode_refuses), cmocka_unit_test(test_decode_refuses),
             cmocka_unit_test(test_unknown_keys), cmocka_unit_test(test_bounds),
             cmocka_unit_test(test_layer_object))
