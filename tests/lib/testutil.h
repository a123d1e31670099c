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

/* Open descriptors of this process (entries of /proc/self/fd), or -1. */
int sk_test_count_fds(void);

/* Walk a chain of `depth` directories named "d" below dir, creating them if
 * create, holding at most two descriptors (such paths exceed PATH_MAX).
 * Returns an fd of the deepest directory (the caller closes it) or -errno. */
int sk_test_chain(const char *dir, int depth, int create);
