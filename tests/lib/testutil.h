/* Helpers for the cmocka unit tests. */
#pragma once

/* Make a fresh directory under $TMPDIR (or /tmp) named after prefix. The
 * returned string is owned by the caller; remove the tree with sk_rm_rf(). */
char *sk_test_mkdtemp(const char *prefix);

#include <stdbool.h>
#include <stddef.h>

/* Track the largest single allocation from now on (sk_test_max_alloc()
 * returns it and starts over). Works through the ASan allocator hook, so
 * only in ASan builds (how make check runs the unit tests); returns false
 * elsewhere, and callers then skip their allocation assertions. A decoder of
 * untrusted input must not ask for memory its input does not justify: this
 * shows what it asked for before it checked. */
bool sk_test_track_allocs(void);
size_t sk_test_max_alloc(void);
