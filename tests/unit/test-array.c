/* sk_grow (common/array.h): doubling, the first allocation, need and size 0,
 * overflow of need * size leaving the old array valid, and the SK_GROW
 * wrapper as callers use it. (No case asks for a block no memory can hold:
 * ASan aborts on those instead of returning NULL.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/array.h"

static void test_first_and_doubling(void **state) {
        (void) state;
        size_t cap = 0;
        int *v = sk_grow(NULL, &cap, 1, sizeof(int));
        assert_non_null(v);
        assert_int_equal(cap, SK_GROW_MIN);
        for (int i = 0; i < SK_GROW_MIN; i++)
                v[i] = i;
        /* large enough already: same block, same capacity */
        assert_ptr_equal(sk_grow(v, &cap, SK_GROW_MIN, sizeof(int)), v);
        assert_int_equal(cap, SK_GROW_MIN);
        /* one more doubles, contents kept */
        v = sk_grow(v, &cap, SK_GROW_MIN + 1, sizeof(int));
        assert_non_null(v);
        assert_int_equal(cap, 2 * SK_GROW_MIN);
        for (int i = 0; i < SK_GROW_MIN; i++)
                assert_int_equal(v[i], i);
        /* a need far beyond double is met at once */
        v = sk_grow(v, &cap, 1000, sizeof(int));
        assert_non_null(v);
        assert_true(cap >= 1000);
        assert_int_equal(cap, 1024);
        free(v);
}

static void test_zero(void **state) {
        (void) state;
        size_t cap = 0;
        /* need 0: still a block free() takes, not NULL (NULL means failure) */
        void *p = sk_grow(NULL, &cap, 0, sizeof(long));
        assert_non_null(p);
        assert_ptr_equal(sk_grow(p, &cap, 0, sizeof(long)), p);
        free(p);
        /* size 0: elements take no room; any need fits */
        cap = 0;
        p = sk_grow(NULL, &cap, 5, 0);
        assert_non_null(p);
        assert_true(cap >= 5);
        void *q = sk_grow(p, &cap, SIZE_MAX, 0);
        assert_non_null(q);
        assert_int_equal(cap, SIZE_MAX);
        free(q);
}

static void test_overflow(void **state) {
        (void) state;
        size_t cap = 0;
        char *v = sk_grow(NULL, &cap, 4, 1);
        assert_non_null(v);
        memcpy(v, "abc", 4);
        size_t before = cap;
        /* need * size overflows: NULL, old array and capacity untouched */
        assert_null(sk_grow(v, &cap, SIZE_MAX / 8 + 1, 16));
        assert_int_equal(cap, before);
        assert_string_equal(v, "abc");
        free(v);
}

static void test_macro(void **state) {
        (void) state;
        struct item { uint64_t a, b; } *v = NULL;
        size_t n = 0, cap = 0;
        for (uint64_t i = 0; i < 100; i++) {
                assert_int_equal(SK_GROW(v, cap, n + 1), 0);
                v[n++] = (struct item) { i, i * i };
        }
        assert_true(cap >= 100);
        for (uint64_t i = 0; i < 100; i++)
                assert_true(v[i].a == i && v[i].b == i * i);
        struct item *keep = v;
        assert_int_equal(SK_GROW(v, cap, SIZE_MAX / 4), -ENOMEM);
        assert_ptr_equal(v, keep);
        free(v);
}

static int int_cmp(const void *key, const void *element) {
        int a = *(const int *) key, b = *(const int *) element;
        return (a > b) - (a < b);
}

/* Insert random values at their lower bound: the array stays sorted, each
 * value is found where it went, and absent values report their slot. */
static void test_sorted(void **state) {
        (void) state;
        int *v = NULL;
        size_t n = 0, cap = 0;
        bool found = true;
        assert_int_equal(sk_lower_bound(v, 0, sizeof(int), &(int) { 5 }, int_cmp, &found), 0);
        assert_false(found);
        srand(7);
        for (int i = 0; i < 500; i++) {
                int x = rand() % 300;
                size_t at = sk_lower_bound(v, n, sizeof(int), &x, int_cmp, &found);
                assert_true(at == n || v[at] >= x);
                assert_true(at == 0 || v[at - 1] < x);
                assert_true(found == (at < n && v[at] == x));
                assert_int_equal(SK_INSERT_AT(v, n, cap, at, x), 0);
                assert_int_equal(v[at], x);
        }
        assert_int_equal(n, 500);
        for (size_t i = 1; i < n; i++)
                assert_true(v[i - 1] <= v[i]);
        int big = 1000;
        assert_int_equal(sk_lower_bound(v, n, sizeof(int), &big, int_cmp, NULL), n);
        free(v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_first_and_doubling),
                cmocka_unit_test(test_zero),
                cmocka_unit_test(test_overflow),
                cmocka_unit_test(test_macro),
                cmocka_unit_test(test_sorted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
