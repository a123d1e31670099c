/* The (dev, ino) map (common/inomap.h): insert and find across growth,
 * values kept through rehashing, the entry bound, iteration, and a set. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/inomap.h"

typedef struct val {
        uint64_t a;
        char tag[13];   /* an odd size: values are padded to 8 bytes */
} val;

static void test_get_find(void **state) {
        (void) state;
        _cleanup_(sk_inomap_freep) sk_inomap *m = NULL;
        assert_int_equal(sk_inomap_new(sizeof(val), 0, &m), 0);
        assert_null(sk_inomap_find(m, 1, 2));
        assert_int_equal(sk_inomap_size(m), 0);

        /* enough entries to grow the table several times */
        for (uint64_t i = 0; i < 10000; i++) {
                val *v = NULL;
                assert_int_equal(sk_inomap_get(m, i % 3, i, (void **) &v), 1);
                assert_int_equal(v->a, 0);      /* zeroed on insert */
                assert_int_equal(v->tag[0], 0);
                v->a = i * 7 + 1;
        }
        assert_int_equal(sk_inomap_size(m), 10000);
        for (uint64_t i = 0; i < 10000; i++) {
                val *v = sk_inomap_find(m, i % 3, i);
                assert_non_null(v);
                assert_int_equal(v->a, i * 7 + 1);
                /* the same ino on another device is another inode */
                assert_null(sk_inomap_find(m, i % 3 + 3, i));
        }
        /* get on an existing key finds it, keeps the value */
        val *v = NULL;
        assert_int_equal(sk_inomap_get(m, 2, 5, (void **) &v), 0);
        assert_int_equal(v->a, 5 * 7 + 1);
        assert_int_equal(sk_inomap_size(m), 10000);
        /* ino 0 and dev 0 are ordinary keys */
        assert_int_equal(sk_inomap_get(m, 0, 0, NULL), 0);
        assert_int_equal(sk_inomap_get(m, 7, 0, NULL), 1);
        assert_non_null(sk_inomap_find(m, 7, 0));
}

static void test_bound(void **state) {
        (void) state;
        _cleanup_(sk_inomap_freep) sk_inomap *m = NULL;
        assert_int_equal(sk_inomap_new(sizeof(uint64_t), 100, &m), 0);
        for (uint64_t i = 0; i < 100; i++)
                assert_int_equal(sk_inomap_get(m, 1, i, NULL), 1);
        assert_int_equal(sk_inomap_get(m, 1, 100, NULL), -ENOMEM);
        assert_null(sk_inomap_find(m, 1, 100));
        /* existing entries are still found at the bound */
        assert_int_equal(sk_inomap_get(m, 1, 42, NULL), 0);
        assert_int_equal(sk_inomap_size(m), 100);
}

static void test_iterate(void **state) {
        (void) state;
        _cleanup_(sk_inomap_freep) sk_inomap *m = NULL;
        assert_int_equal(sk_inomap_new(sizeof(uint64_t), 0, &m), 0);
        size_t it = 0;
        assert_null(sk_inomap_next(m, &it));
        uint64_t want = 0;
        for (uint64_t i = 1; i <= 500; i++) {
                uint64_t *v = NULL;
                assert_int_equal(sk_inomap_get(m, 9, i * 1000, (void **) &v), 1);
                *v = i;
                want += i;
        }
        uint64_t sum = 0;
        size_t n = 0;
        it = 0;
        for (uint64_t *v; (v = sk_inomap_next(m, &it));) {
                sum += *v;
                n++;
        }
        assert_int_equal(n, 500);
        assert_int_equal(sum, want);
}

static void test_set(void **state) {
        (void) state;
        _cleanup_(sk_inomap_freep) sk_inomap *m = NULL;
        assert_int_equal(sk_inomap_new(0, 0, &m), 0);
        assert_int_equal(sk_inomap_get(m, 3, 4, NULL), 1);
        assert_int_equal(sk_inomap_get(m, 3, 4, NULL), 0);
        assert_int_equal(sk_inomap_get(m, 4, 3, NULL), 1);
        assert_non_null(sk_inomap_find(m, 3, 4));
        assert_null(sk_inomap_find(m, 3, 5));
        assert_int_equal(sk_inomap_size(m), 2);
        assert_null(sk_inomap_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_find),
                cmocka_unit_test(test_bound),
                cmocka_unit_test(test_iterate),
                cmocka_unit_test(test_set),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
