/* Growing an array by doubling: the one overflow-checked copy of the
 * "if (n == cap) { cap *= 2; realloc }" block that every growing array needs.
 * Nothing here prints; a failure is reported as NULL for the caller to turn
 * into -ENOMEM. */
#pragma once

#include <errno.h>
#include <stddef.h>

/* Make room for at least need elements of size bytes in the array p (NULL
 * when nothing is allocated yet) whose capacity is *cap elements. The new
 * capacity is *cap doubled (at least SK_GROW_MIN, at least need) until it
 * fits, or need itself when doubling would overflow. Returns the array (p
 * when it is large enough already, else the moved or new block) and sets
 * *cap; returns NULL on overflow of need * size or out of memory, leaving p
 * allocated and *cap unchanged. The result is never NULL on success, even for
 * need 0 or size 0 (an empty array is still a block that free() accepts). */
void *sk_grow(void *p, size_t *cap, size_t need, size_t size);

#define SK_GROW_MIN 16

/* sk_grow on an lvalue array and its capacity, assigning the array on
 * success: 0 or -ENOMEM. arr is left as it was on failure. */
#define SK_GROW(arr, cap, need)                                                          \
        ({                                                                               \
                void *_g = sk_grow((arr), &(cap), (need), sizeof(*(arr)));              \
                if (_g)                                                                  \
                        (arr) = _g;                                                      \
                _g ? 0 : -ENOMEM;                                                        \
        })
