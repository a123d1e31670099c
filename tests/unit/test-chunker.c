/* FastCDC chunker: limits, average, stability under shifts, keying,
 * streaming independence, and a speed figure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "repo/chunker.h"
#include "repo/crypto.h"
#include "tests/lib/testutil.h"

#define MIN_SZ (2 * 1024)
#define AVG_SZ (8 * 1024)
#define MAX_SZ (64 * 1024)


/* Cut offsets (ends of chunks, absolute) of data, fed in pieces of `step`
 * bytes (0 = whole buffer). Returns count; *ret owned. */
static size_t cuts(const sk_gear_table *g, const uint8_t *data, size_t n, size_t step, uint32_t mn, uint32_t av,
                   uint32_t mx, size_t **ret) {
        sk_chunker c = SK_CHUNKER_INIT;
        assert_int_equal(sk_chunker_init(&c, g, mn, av, mx), 0);
        size_t cap = n / mn + 2, k = 0, off = 0;
        size_t *v = malloc(cap * sizeof(size_t));
        assert_non_null(v);
        uint32_t rnd = 12345;
        while (off < n) {
                size_t len = n - off;
                if (step) {
                        rnd = rnd * 1103515245 + 12345;
                        len = MIN_SZ / 4 + (rnd >> 8) % step;
                        if (len > n - off)
                                len = n - off;
                }
                const uint8_t *p = data + off;
                size_t left = len;
                while (left > 0) {
                        size_t q = sk_chunker_scan(&c, p, left);
                        if (q == SK_CHUNKER_NO_CUT)
                                break;
                        assert_true(q >= 1 && q <= left);
                        p += q;
                        left -= q;
                        assert_true(k < cap);
                        v[k++] = (size_t) (p - data);
                }
                off += len;
        }
        if (k == 0 || v[k - 1] != n)
                v[k++] = n; /* last partial chunk */
        *ret = v;
        return k;
}

static void gear(sk_gear_table *g, uint8_t seed) {
        uint8_t key[32];
        memset(key, seed, sizeof(key));
        assert_int_equal(sk_gear_table_derive(key, g), 0);
}

static void test_limits_and_average(void **state) {
        (void) state;
        sk_gear_table g;
        gear(&g, 1);
        size_t n = 16u << 20;
        uint8_t *d = sk_test_random_data(n, 1, false);
        size_t *v;
        size_t k = cuts(&g, d, n, 0, MIN_SZ, AVG_SZ, MAX_SZ, &v);
        size_t prev = 0;
        for (size_t i = 0; i < k; i++) {
                size_t len = v[i] - prev;
                if (i + 1 < k)
                        assert_true(len >= MIN_SZ);
                assert_true(len <= MAX_SZ);
                prev = v[i];
        }
        double avg = (double) n / (double) k;
        printf("figure: chunks: %zu, average %.0f (target %d)\n", k, avg, AVG_SZ);
        assert_true(avg > 0.75 * AVG_SZ && avg < 1.35 * AVG_SZ);

        /* zeros: no natural cut points, so every chunk is exactly max */
        memset(d, 0, 1u << 20);
        free(v);
        k = cuts(&g, d, 1u << 20, 0, MIN_SZ, AVG_SZ, MAX_SZ, &v);
        assert_int_equal(k, (1u << 20) / MAX_SZ);
        for (size_t i = 0; i < k; i++)
                assert_int_equal(v[i], (i + 1) * MAX_SZ);
        free(v);
        free(d);
}

static void test_default_sizes_average(void **state) {
        (void) state;
        sk_gear_table g;
        gear(&g, 7);
        size_t n = 96u << 20;
        uint8_t *d = sk_test_random_data(n, 9, false);
        size_t *v;
        size_t k = cuts(&g, d, n, 0, 512 * 1024, 1024 * 1024, 8 * 1024 * 1024, &v);
        double avg = (double) n / (double) k;
        printf("figure: chunker default parameters: %zu chunks, average %.0f KiB (target 1024)\n", k, avg / 1024);
        assert_true(avg > 0.7 * 1048576 && avg < 1.4 * 1048576);
        free(v);
        free(d);
}

static size_t common_cuts(const size_t *a, size_t na, const size_t *b, size_t nb, size_t shift_b, size_t from) {
        size_t i = 0, j = 0, same = 0;
        while (i < na && j < nb) {
                size_t x = a[i], y = b[j] - shift_b;
                if (b[j] < shift_b) {
                        j++;
                        continue;
                }
                if (x == y) {
                        if (x > from)
                                same++;
                        i++;
                        j++;
                } else if (x < y)
                        i++;
                else
                        j++;
        }
        return same;
}

static void test_shift_stability(void **state) {
        (void) state;
        sk_gear_table g;
        gear(&g, 2);
        size_t n = 8u << 20;
        uint8_t *d = sk_test_random_data(n + 1000, 3, false);
        size_t *a, *b;
        size_t na = cuts(&g, d + 1000, n, 0, MIN_SZ, AVG_SZ, MAX_SZ, &a);
        /* same data with 1000 bytes inserted in front, and with 77 */
        size_t nb = cuts(&g, d, n + 1000, 0, MIN_SZ, AVG_SZ, MAX_SZ, &b);
        size_t same = common_cuts(a, na, b, nb, 1000, 0);
        printf("figure: chunker front insert: %zu of %zu boundaries unchanged\n", same, na);
        assert_true(same * 100 >= na * 97);
        free(b);
        nb = cuts(&g, d + 1000 - 77, n + 77, 0, MIN_SZ, AVG_SZ, MAX_SZ, &b);
        same = common_cuts(a, na, b, nb, 77, 0);
        assert_true(same * 100 >= na * 97);
        free(b);

        /* insertion in the middle: boundaries after it come back */
        uint8_t *m = malloc(n + 500);
        assert_non_null(m);
        memcpy(m, d + 1000, n / 2);
        memset(m + n / 2, 0x5a, 500);
        memcpy(m + n / 2 + 500, d + 1000 + n / 2, n / 2);
        nb = cuts(&g, m, n + 500, 0, MIN_SZ, AVG_SZ, MAX_SZ, &b);
        size_t after = 0;
        for (size_t i = 0; i < na; i++)
                after += a[i] > n / 2 + MAX_SZ;
        same = 0;
        for (size_t i = 0, j = 0; i < na && j < nb;) {
                if (a[i] <= n / 2 + MAX_SZ) {
                        i++;
                        continue;
                }
                if (b[j] < 500 || b[j] - 500 < a[i])
                        j++;
                else if (b[j] - 500 > a[i])
                        i++;
                else {
                        same++;
                        i++;
                        j++;
                }
        }
        printf("figure: chunker middle insert: %zu of %zu later boundaries unchanged\n", same, after);
        assert_true(same * 100 >= after * 99);
        free(a);
        free(b);
        free(m);
        free(d);
}

static void test_keyed(void **state) {
        (void) state;
        sk_gear_table g1, g2;
        gear(&g1, 4);
        gear(&g2, 5);
        assert_memory_not_equal(g1.g, g2.g, sizeof(g1.g));
        size_t n = 4u << 20;
        uint8_t *d = sk_test_random_data(n, 4, false);
        size_t *a, *b;
        size_t na = cuts(&g1, d, n, 0, MIN_SZ, AVG_SZ, MAX_SZ, &a);
        size_t nb = cuts(&g2, d, n, 0, MIN_SZ, AVG_SZ, MAX_SZ, &b);
        size_t same = common_cuts(a, na, b, nb, 0, 0);
        printf("figure: chunker different key: %zu of %zu boundaries shared\n", same, na);
        assert_true(same * 10 < na);
        /* same key again: identical */
        free(b);
        nb = cuts(&g1, d, n, 0, MIN_SZ, AVG_SZ, MAX_SZ, &b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof(size_t));
        free(a);
        free(b);
        free(d);
}

static void test_streaming(void **state) {
        (void) state;
        sk_gear_table g;
        gear(&g, 6);
        size_t n = 4u << 20;
        uint8_t *d = sk_test_random_data(n, 6, false);
        size_t *a, *b;
        size_t na = cuts(&g, d, n, 0, MIN_SZ, AVG_SZ, MAX_SZ, &a);
        size_t steps[] = { 1, 100, 4096, 70000 };
        for (size_t s = 0; s < 4; s++) {
                size_t nb = cuts(&g, d, n, steps[s], MIN_SZ, AVG_SZ, MAX_SZ, &b);
                assert_int_equal(na, nb);
                assert_memory_equal(a, b, na * sizeof(size_t));
                free(b);
        }
        free(a);
        free(d);
}

static void test_init_errors(void **state) {
        (void) state;
        sk_gear_table g;
        sk_chunker c = SK_CHUNKER_INIT;
        gear(&g, 1);
        assert_int_equal(sk_chunker_init(&c, &g, 32, 64, 128), -EINVAL);
        assert_int_equal(sk_chunker_init(&c, &g, 1024, 1024, 4096), -EINVAL);
        assert_int_equal(sk_chunker_init(&c, &g, 1024, 4096, 4096), -EINVAL);
        assert_int_equal(sk_chunker_init(&c, NULL, 1024, 2048, 4096), -EINVAL);
        assert_int_equal(sk_chunker_init(&c, &g, 1024, 2048, 4096), 0);
        assert_int_equal(sk_chunker_scan(&c, "", 0), SK_CHUNKER_NO_CUT);
}

static void test_speed(void **state) {
        (void) state;
        sk_gear_table g;
        gear(&g, 8);
        size_t n = 64u << 20;
        uint8_t *d = sk_test_random_data(n, 8, false);
        sk_chunker c = SK_CHUNKER_INIT;
        assert_int_equal(sk_chunker_init(&c, &g, 512 * 1024, 1024 * 1024, 8 * 1024 * 1024), 0);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        size_t k = 0;
        for (int rep = 0; rep < 4; rep++) {
                const uint8_t *p = d;
                size_t left = n;
                while (left) {
                        size_t q = sk_chunker_scan(&c, p, left);
                        if (q == SK_CHUNKER_NO_CUT)
                                break;
                        p += q;
                        left -= q;
                        k++;
                }
                sk_chunker_reset(&c);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("figure: chunker speed (default sizes): %.0f MiB/s (%zu cuts)\n", 4.0 * (double) n / 1048576.0 / s, k);
        assert_true(k > 0);
        free(d);
}

SK_TEST_MAIN(cmocka_unit_test(test_limits_and_average), cmocka_unit_test(test_default_sizes_average),
             cmocka_unit_test(test_shift_stability), cmocka_unit_test(test_keyed),
             cmocka_unit_test(test_streaming), cmocka_unit_test(test_init_errors),
             cmocka_unit_test(test_speed))
