/* Growing an array by doubling: the one overflow-checked copy of the
 * "if (n == cap) { cap *= 2; realloc }" block that every growing array needs;
 * and the binary search and insertion of arrays kept sorted. Nothing here
 * prints; a failure is reported as NULL or -ENOMEM. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

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

/* In the array base of n elements of size bytes, sorted by cmp, the index of
 * the first element that is not before key: cmp(key, element) is negative,
 * zero or positive as key sorts before, with or after the element. Returns n
 * when every element is before key. *ret_found (if not NULL) says whether
 * the element at the returned index compares equal to key. */
size_t sk_lower_bound(const void *base, size_t n, size_t size, const void *key,
                      int (*cmp)(const void *key, const void *element), bool *ret_found);

/* Insert value at index at of the lvalue array arr of n elements (capacity
 * cap), moving the rest up: 0, or -ENOMEM with arr and n as they were. */
#define SK_INSERT_AT(arr, n, cap, at, value)                                              \
        ({                                                                               \
                int _r = SK_GROW(arr, cap, (n) + 1);                                     \
                if (_r == 0) {                                                           \
                        size_t _at = (at);                                               \
                        memmove((arr) + _at + 1, (arr) + _at, ((n) - _at) * sizeof(*(arr))); \
                        (arr)[_at] = (value);                                            \
                        (n)++;                                                           \
                }                                                                        \
                _r;                                                                      \
        })
