/* Helpers for the cmocka unit tests. */
#pragma once

/* Make a fresh directory under $TMPDIR (or /tmp) named after prefix. The
 * returned string is owned by the caller; remove the tree with sk_rm_rf(). */
char *sk_test_mkdtemp(const char *prefix);

/* Open descriptors of this process (entries of /proc/self/fd), or -1. */
int sk_test_count_fds(void);

/* Walk a chain of `depth` directories named "d" below dir, creating them if
 * create, holding at most two descriptors (such paths exceed PATH_MAX).
 * Returns an fd of the deepest directory (the caller closes it) or -errno. */
int sk_test_chain(const char *dir, int depth, int create);
