/* The repository fixture of the unit tests: a temp dir holding a fresh
 * repository, opened with a passphrase, and its teardown; and the fixed
 * session key the index and pack tests seal with. Header-only (static
 * inline) because only the tests that link repo/ include it, while
 * testutil.c is linked into every unit test. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/crypto.h"
#include "repo/keyring.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "tests/lib/testutil.h"

/* A test fixture struct either is an sk_test_repo or has one as its first
 * member (so it is also an sk_test_fixture_new() fixture: dir comes first). */
typedef struct sk_test_repo {
        char *dir;              /* the temp dir, removed at teardown */
        char *repo_path;        /* "<dir>/repo" */
        char *url;              /* "file://<dir>/repo", the same place */
        sk_secret *secret;      /* set by sk_test_repo_init() */
        sk_repo *repo;          /* likewise, open (a test may close it: NULL) */
} sk_test_repo;

/* A zeroed fixture of size bytes (at least an sk_test_repo) with its dir,
 * repo_path and url made, stored in *state; no repository yet. */
static inline void *sk_test_repo_new(void **state, size_t size, const char *prefix) {
        assert_true(size >= sizeof(sk_test_repo));
        sk_test_repo *t = sk_test_fixture_new(state, size, prefix);
        t->repo_path = sk_test_path(t->dir, "repo");
        assert_true(asprintf(&t->url, "file://%s", t->repo_path) > 0);
        return t;
}

/* Init the repository at where (t->repo_path or t->url) with o, under the
 * passphrase; it stays open in t->repo. */
static inline void sk_test_repo_init(sk_test_repo *t, const char *where, const char *passphrase,
                                     const sk_repo_init_opts *o) {
        assert_int_equal(sk_secret_new(SK_SECRET_PASSPHRASE, passphrase, strlen(passphrase), &t->secret), 0);
        assert_int_equal(sk_repo_init(where, o, t->secret, &t->repo), 0);
}

/* Close and free all of it; returns 0, to end a teardown with. */
static inline int sk_test_repo_free(void *fixture) {
        sk_test_repo *t = fixture;
        sk_repo_free(t->repo);
        sk_secret_free(t->secret);
        free(t->repo_path);
        free(t->url);
        return sk_test_fixture_free(t);
}

/* A cmocka setup/teardown pair for tests that need nothing but a repository
 * with a passphrase ("pw") and the smallest scrypt cost. */
static inline int sk_test_repo_setup(void **state) {
        sk_test_repo *t = sk_test_repo_new(state, sizeof(*t), "sk-test-repo");
        sk_test_repo_init(t, t->repo_path, "pw", &(sk_repo_init_opts){ .scrypt_log2n = 10 });
        return 0;
}

static inline int sk_test_repo_teardown(void **state) {
        return sk_test_repo_free(*state);
}

/* A test run with that pair (an sk_test_repo in *state); SK_FIXTURE_TEST
 * (testutil.h) for a file's own pair. */
#define SK_REPO_TEST(fn) cmocka_unit_test_setup_teardown(fn, sk_test_repo_setup, sk_test_repo_teardown)

/* The key a sealed index or pack file of the tests is under: a fixed
 * session key (32 bytes of 0x42, which tests/fuzz seeds share) and, like
 * the repository, dependent on the salt. sk_test_resolve is the readers'
 * .resolve; sk_test_key() returns the key for a writer (a static buffer,
 * valid until the next call). */
static inline int sk_test_resolve(void *ud, const uint8_t salt[SK_SALT_SIZE], uint8_t key[SK_KEY_SIZE]) {
        (void) ud;
        for (size_t i = 0; i < SK_KEY_SIZE; i++)
                key[i] = 0x42 ^ salt[i];
        return 0;
}

static inline const uint8_t *sk_test_key(const uint8_t *salt) {
        static uint8_t k[SK_KEY_SIZE];
        sk_test_resolve(NULL, salt, k);
        return k;
}
