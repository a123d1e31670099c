/* sk_grow (array.h): capacity doubling with the multiplication checked, so
 * that no caller computes cap * size by hand; sk_lower_bound, the one binary
 * search of sorted arrays. */
#include "common/array.h"

#include <stdint.h>
#include <stdlib.h>

void *sk_grow(void *p, size_t *cap, size_t need, size_t size) {
        if (p && need <= *cap)
                return p;
        size_t ncap = *cap;
        if (ncap < SK_GROW_MIN)
                ncap = SK_GROW_MIN;
        while (ncap < need)
                ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        /* The doubling may overshoot what fits in memory words: fall back to
         * exactly need before giving up. */
        if (size && ncap > SIZE_MAX / size)
                ncap = need;
        if (size && ncap > SIZE_MAX / size)
                return NULL;
        size_t bytes = ncap * size;
        void *t = realloc(p, bytes ? bytes : 1);
        if (!t)
                return NULL;
        *cap = ncap;
        return t;
}

size_t sk_lower_bound(const void *base, size_t n, size_t size, const void *key,
                      int (*cmp)(const void *key, const void *element), bool *ret_found) {
        const char *b = base;
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cmp(key, b + mid * size) > 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (ret_found)
                *ret_found = lo < n && cmp(key, b + lo * size) == 0;
        return lo;
}
