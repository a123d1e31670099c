/* sk_grow (array.h): capacity doubling with the multiplication checked, so
 * that no caller computes cap * size by hand. */
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
