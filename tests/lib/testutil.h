/* Helpers for the cmocka unit tests. */
#pragma once

/* Make a fresh directory under $TMPDIR (or /tmp) named after prefix. The
 * returned string is owned by the caller; remove the tree with sk_rm_rf(). */
char *sk_test_mkdtemp(const char *prefix);
