/* Secrets and key slots: add/list/remove/passwd-style operations over the
 * local backend, wrong secrets, wrong kind, slot tampering, bounds on slot
 * size and scrypt cost. With SK_WRITE_CORPUS=DIR it writes seed inputs for
 * tests/fuzz/fuzz-keyslot. scrypt cost is
 * kept at the minimum allowed (2^10) so the test is quick under ASan. */
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

#include "store/backend.h"
#include "repo/crypto.h"
#include "repo/keyring.h"
#include "common/fsutil.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
        char *dir;
        sk_backend *b;
        uint8_t repo_id[16];
        uint8_t master[32];
} fixture;

static int setup(void **state) {
        fixture *f = sk_test_fixture_new(state, sizeof(*f), "sk-keyring");
        sk_random_bytes(f->repo_id, 16);
        sk_random_bytes(f->master, 32);
        return sk_backend_open(f->dir, 1, NULL, NULL, &f->b) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        sk_backend_free(f->b);
        return sk_test_fixture_free(f);
}

static sk_secret *pass(const char *p) {
        sk_secret *s = NULL;
        assert_int_equal(sk_secret_new(SK_SECRET_PASSPHRASE, p, strlen(p), &s), 0);
        return s;
}

static int count_cb(const sk_key_info *info, void *ud) {
        int *n = ud;
        assert_int_equal(strlen(info->slot), SK_SLOT_ID_HEX);
        assert_true(info->created > 0);
        (*n)++;
        return 0;
}

static void test_add_unlock_remove(void **state) {
        fixture *f = *state;
        sk_secret *a = pass("correct horse"), *b = pass("battery staple"), *wrong = pass("correct horsE");
        char *slot_a = NULL, *slot_b = NULL, *got = NULL;
        uint8_t m[32];

        /* no slots yet */
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, a, m, NULL), -ENOENT);
        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, a, 10, &slot_a), 0);
        assert_int_equal(strlen(slot_a), SK_SLOT_ID_HEX);
        memset(m, 0, sizeof(m));
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, a, m, &got), 0);
        assert_memory_equal(m, f->master, 32);
        assert_string_equal(got, slot_a);
        free(got);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, wrong, m, NULL), -EKEYREJECTED);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, b, m, NULL), -EKEYREJECTED);

        /* last slot cannot go */
        assert_int_equal(sk_keyring_remove(f->b, slot_a), -EBUSY);

        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, b, 10, &slot_b), 0);
        int n = 0;
        assert_int_equal(sk_keyring_list(f->b, count_cb, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, b, m, &got), 0);
        assert_string_equal(got, slot_b);
        free(got);

        /* "passwd": old slot removed, old passphrase rejected, new one works */
        assert_int_equal(sk_keyring_remove(f->b, slot_a), 0);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, a, m, NULL), -EKEYREJECTED);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, b, m, NULL), 0);
        assert_int_equal(sk_keyring_remove(f->b, slot_a), -ENOENT);
        assert_int_equal(sk_keyring_remove(f->b, "../config"), -EINVAL);
        n = 0;
        assert_int_equal(sk_keyring_list(f->b, count_cb, &n), 0);
        assert_int_equal(n, 1);

        /* another repository's id does not unlock */
        uint8_t other[16] = { 1 };
        assert_int_equal(sk_keyring_unlock(f->b, other, b, m, NULL), -EKEYREJECTED);

        free(slot_a);
        free(slot_b);
        sk_secret_free(a);
        sk_secret_free(b);
        sk_secret_free(wrong);
}

static void test_keyfile(void **state) {
        fixture *f = *state;
        char path[512];
        snprintf(path, sizeof(path), "%s/keyfile", f->dir);
        uint8_t bytes[64];
        sk_random_bytes(bytes, sizeof(bytes));
        int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
        assert_true(dfd >= 0);
        assert_int_equal(sk_write_file_atomic(dfd, "keyfile", bytes, sizeof(bytes), 0600), 0);
        close(dfd);

        sk_secret *k = NULL, *k2 = NULL, *p = NULL;
        assert_int_equal(sk_secret_from_file(SK_SECRET_KEYFILE, path, &k), 0);
        assert_int_equal(sk_secret_get_kind(k), SK_SECRET_KEYFILE);
        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, k, 0, NULL), 0);
        uint8_t m[32];
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, k, m, NULL), 0);
        assert_memory_equal(m, f->master, 32);
        /* the same bytes as a passphrase are another kind of secret */
        assert_int_equal(sk_secret_new(SK_SECRET_PASSPHRASE, bytes, sizeof(bytes), &p), 0);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, p, m, NULL), -EKEYREJECTED);
        /* one byte different */
        bytes[5] ^= 1;
        assert_int_equal(sk_secret_new(SK_SECRET_KEYFILE, bytes, sizeof(bytes), &k2), 0);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, k2, m, NULL), -EKEYREJECTED);
        sk_secret_free(k);
        sk_secret_free(k2);
        sk_secret_free(p);
}

static void test_password_file_newline(void **state) {
        fixture *f = *state;
        int dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
        assert_true(dfd >= 0);
        assert_int_equal(sk_write_file_atomic(dfd, "pw", "hunter2\n", 8, 0600), 0);
        assert_int_equal(sk_write_file_atomic(dfd, "empty", "\n", 1, 0600), 0);
        close(dfd);
        char path[512];
        snprintf(path, sizeof(path), "%s/pw", f->dir);
        sk_secret *a = NULL, *b = pass("hunter2");
        assert_int_equal(sk_secret_from_file(SK_SECRET_PASSPHRASE, path, &a), 0);
        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, a, 10, NULL), 0);
        uint8_t m[32];
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, b, m, NULL), 0);
        snprintf(path, sizeof(path), "%s/empty", f->dir);
        sk_secret *e = NULL;
        assert_int_equal(sk_secret_from_file(SK_SECRET_PASSPHRASE, path, &e), -EINVAL);
        snprintf(path, sizeof(path), "%s/missing", f->dir);
        assert_int_equal(sk_secret_from_file(SK_SECRET_PASSPHRASE, path, &e), -ENOENT);
        sk_secret_free(a);
        sk_secret_free(b);
}

typedef struct first_slot {
        char id[SK_SLOT_ID_HEX + 1];
} first_slot;

static int first_cb(const sk_key_info *info, void *ud) {
        snprintf(((first_slot *) ud)->id, SK_SLOT_ID_HEX + 1, "%s", info->slot);
        return 0;
}

static void test_tampered_slot(void **state) {
        fixture *f = *state;
        sk_secret *a = pass("pw");
        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, a, 10, NULL), 0);
        first_slot fs;
        assert_int_equal(sk_keyring_list(f->b, first_cb, &fs), 0);
        char name[64];
        snprintf(name, sizeof(name), "keys/%s", fs.id);
        void *buf;
        size_t len;
        assert_int_equal(sk_backend_get(f->b, name, 0, SIZE_MAX, &buf, &len), 0);
        uint8_t m[32];
        /* a flipped byte anywhere in the authenticated part -> rejected */
        size_t spots[] = { 48, 60, 130, 160, 170, 200 };
        for (size_t i = 0; i < 6; i++) {
                ((uint8_t *) buf)[spots[i]] ^= 0x01;
                assert_int_equal(sk_backend_put(f->b, name, buf, len), 0);
                assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, a, m, NULL), -EKEYREJECTED);
                ((uint8_t *) buf)[spots[i]] ^= 0x01;
        }
        /* an unknown slot version -> -EPROTO (when no other slot opens) */
        ((uint8_t *) buf)[8] = 2;
        assert_int_equal(sk_backend_put(f->b, name, buf, len), 0);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, a, m, NULL), -EPROTO);
        ((uint8_t *) buf)[8] = 1;
        assert_int_equal(sk_backend_put(f->b, name, buf, len), 0);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, a, m, NULL), 0);
        free(buf);
        sk_secret_free(a);
}

/* The only slot, rewritten with scrypt parameters log2n/r/p (its tag then
 * fails, but the cost bound must refuse it before scrypt runs). */
static void slot_with_cost(fixture *f, void *buf, size_t len, const char *name, uint8_t log2n, uint8_t r, uint8_t p) {
        ((uint8_t *) buf)[42] = log2n;
        ((uint8_t *) buf)[43] = r;
        ((uint8_t *) buf)[44] = p;
        assert_int_equal(sk_backend_put(f->b, name, buf, len), 0);
}

/* The one key slot a fresh keyring holds, for passphrase "pw": its secret,
 * file name and bytes (released with slot_free()). */
typedef struct one_slot {
        sk_secret *a;
        char name[64];
        uint8_t *buf;
        size_t len;
} one_slot;

static one_slot only_slot(fixture *f) {
        one_slot s = { .a = pass("pw") };
        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, s.a, 10, NULL), 0);
        first_slot fs;
        assert_int_equal(sk_keyring_list(f->b, first_cb, &fs), 0);
        snprintf(s.name, sizeof(s.name), "keys/%s", fs.id);
        void *buf;
        assert_int_equal(sk_backend_get(f->b, s.name, 0, 4096, &buf, &s.len), 0);
        assert_int_equal(s.len, SK_KEYSLOT_SIZE);
        s.buf = buf;
        return s;
}

static void slot_free(one_slot *s) {
        free(s->buf);
        sk_secret_free(s->a);
}

/* Before the bound, open ran scrypt with whatever a slot asked: N = 2^21 is
 * 256 MiB at r = 1 (-EKEYREJECTED after the work), and the issue's N = 2^22,
 * r = 32, p = 16 asked for 16 GiB. Now both are -EFBIG before any scrypt,
 * and a good slot beside such a one still opens. */
static void slot_cost_refused(fixture *f, uint8_t log2n, uint8_t r, uint8_t p) {
        one_slot s = only_slot(f);
        uint8_t m[32];
        slot_with_cost(f, s.buf, s.len, s.name, log2n, r, p);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, s.a, m, NULL), -EFBIG);
        assert_non_null(strstr(sk_keyring_last_skipped(), s.name + 5));
        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, s.a, 10, NULL), 0);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, s.a, m, NULL), 0);
        assert_memory_equal(m, f->master, 32);
        slot_free(&s);
}

static void test_slot_scrypt_bound(void **state) {
        slot_cost_refused(*state, 21, 1, 1);
}

static void test_slot_scrypt_bound_issue(void **state) {
        slot_cost_refused(*state, 22, 32, 16);
}

/* A slot file is read with a bound of one byte more than a slot: a huge
 * file is refused without reading it (before: read whole, then rejected). */
static void test_slot_size_bound(void **state) {
        fixture *f = *state;
        one_slot s = only_slot(f);
        char *path;
        assert_true(asprintf(&path, "%s/%s", f->dir, s.name) > 0);
        assert_int_equal(truncate(path, (off_t) 1 << 30), 0);  /* sparse */
        uint8_t m[32];
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, s.a, m, NULL), -EFBIG);
        assert_int_equal(truncate(path, SK_KEYSLOT_SIZE), 0);
        assert_int_equal(sk_keyring_unlock(f->b, f->repo_id, s.a, m, NULL), 0);
        free(path);
        slot_free(&s);
}

static void test_keyslot_parse(void **state) {
        fixture *f = *state;
        one_slot s = only_slot(f);
        sk_keyslot ks;
        assert_int_equal(sk_keyslot_parse(s.buf, s.len, &ks), 0);
        assert_int_equal(ks.log2n, 10);
        assert_int_equal(ks.r, 8);
        assert_int_equal(ks.p, 1);
        assert_memory_equal(ks.repo_id, f->repo_id, 16);
        assert_int_equal(sk_keyslot_parse(s.buf, s.len - 1, &ks), -EBADMSG);
        const char *dir = getenv("SK_WRITE_CORPUS");
        if (dir) {
                sk_test_write_file(dir, "slot-valid", s.buf, s.len);
                s.buf[42] = 22, s.buf[43] = 32, s.buf[44] = 16;
                sk_test_write_file(dir, "slot-16gib", s.buf, s.len);
        }
        static const struct {
                uint8_t log2n, r, p;
                int want;
        } cases[] = {
                { 20, 8, 1, 0 },                /* the costliest slot a writer makes: 1 GiB */
                { 19, 8, 2, 0 },                /* work 1 GiB: within twice the writer's */
                { 18, 8, 8, 0 },                /* work 2 GiB: the bound */
                { 18, 8, 9, -EFBIG },
                { 20, 16, 1, -EFBIG },          /* memory 2 GiB */
                { 21, 1, 1, -EFBIG },           /* N beyond 2^20 */
                { 22, 32, 16, -EFBIG },         /* the issue's slot */
                { 255, 255, 255, -EFBIG },
                { 10, 0, 1, -EBADMSG },
                { 10, 8, 0, -EBADMSG },
                { 0, 8, 1, -EBADMSG },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                s.buf[42] = cases[i].log2n;
                s.buf[43] = cases[i].r;
                s.buf[44] = cases[i].p;
                assert_int_equal(sk_keyslot_parse(s.buf, s.len, &ks), cases[i].want);
        }
        /* writers stay within the bound */
        assert_int_equal(sk_keyring_add(f->b, f->repo_id, f->master, s.a, 21, NULL), -EINVAL);
        slot_free(&s);
}

static void test_secret_limits(void **state) {
        (void) state;
        sk_secret *s = NULL;
        assert_int_equal(sk_secret_new(SK_SECRET_PASSPHRASE, "", 0, &s), -EINVAL);
        assert_int_equal(sk_secret_new(3, "x", 1, &s), -EINVAL);
        sk_secret_free(NULL);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_add_unlock_remove), SK_FIXTURE_TEST(test_keyfile),
             SK_FIXTURE_TEST(test_password_file_newline), SK_FIXTURE_TEST(test_tampered_slot),
             SK_FIXTURE_TEST(test_slot_scrypt_bound), SK_FIXTURE_TEST(test_slot_scrypt_bound_issue),
             SK_FIXTURE_TEST(test_slot_size_bound), SK_FIXTURE_TEST(test_keyslot_parse),
             cmocka_unit_test(test_secret_limits))
