/* Helpers for the cmocka unit tests: what two or more tests would otherwise
 * each write for themselves (a temp-dir fixture, a path, a file, the main
 * that runs a group), so that a test file says only what it tests. Anything
 * that needs the repository library lives in testrepo.h instead, because
 * every unit test links this file and not every one links repo/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Make a fresh directory under $TMPDIR (or /tmp) named after prefix. The
 * returned string is owned by the caller; remove the tree with sk_rm_rf(). */
char *sk_test_mkdtemp(const char *prefix);

/* The fixture every test with files shares: a zeroed struct of size bytes
 * whose FIRST member is `char *dir`, set to a fresh sk_test_mkdtemp(prefix)
 * (it asserts on failure); also stored in *state, for a cmocka setup.
 * sk_test_fixture_free() removes the tree below dir and frees dir and the
 * struct; it returns 0, so a teardown can end with it. */
void *sk_test_fixture_new(void **state, size_t size, const char *prefix);
int sk_test_fixture_free(void *fixture);

/* "dir/name", asserted, owned by the caller. */
char *sk_test_path(const char *dir, const char *name);

/* Write len bytes to dir/name, replacing it (asserted). */
void sk_test_write_file(const char *dir, const char *name, const void *buf, size_t len);

/* n (+1 spare) bytes from a fixed xorshift stream of seed, the same on
 * every run: incompressible, or drawn from eight letters when compressible.
 * Owned by the caller (free()); asserted. */
uint8_t *sk_test_random_data(size_t n, uint32_t seed, bool compressible);

/* int main() of a test file: run the cmocka tests given (cmocka_unit_test
 * or SK_FIXTURE_TEST entries) as one group. */
#define SK_TEST_MAIN(...)                                                            \
        int main(void) {                                                             \
                const struct CMUnitTest tests[] = { __VA_ARGS__ };                   \
                return cmocka_run_group_tests(tests, NULL, NULL);                   \
        }

/* A test run between the file's own static setup() and teardown(). */
#define SK_FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

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

/* The "THPeligible" flag of this process's mapping holding p, from
 * /proc/self/smaps (-1: no mapping holds it). */
int sk_test_thp_eligible(const void *p);

/* Whether this process can have no transparent huge pages (off system-wide,
 * or for the process): a test of the advice then has nothing to check. */
bool sk_test_thp_never(void);
