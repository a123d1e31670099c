/* Restore slots: bounded, refused at once when full, handles reused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "repo/keyring.h"
#include "repo/repo.h"
#include "common/fsutil.h"
#include "container/repopool.h"
#include "tests/lib/testrepo.h"

typedef struct fixture {
        sk_test_repo r;         /* first: the fixture is an sk_test_repo too */
        unsigned opens;
        int fail; /* open fails with this when set */
} fixture;

static int open_fn(void *userdata, sk_repo **ret, char **ret_error) {
        fixture *f = userdata;
        if (f->fail) {
                if (ret_error)
                        *ret_error = strdup("cannot open");
                return f->fail;
        }
        f->opens++;
        return sk_repo_open(f->r.url, f->r.secret, ret);
}

static int setup(void **state) {
        fixture *f = sk_test_repo_new(state, sizeof(*f), "sk-repopool");
        sk_test_repo_init(&f->r, f->r.url, "s3cret", &(sk_repo_init_opts){ .scrypt_log2n = 10 });
        sk_repo_free(f->r.repo);
        f->r.repo = NULL;
        return 0;
}


static void test_bound_and_reuse(void **state) {
        fixture *f = *state;
        sk_repo_pool *p = NULL;
        sk_repo *a = NULL, *b = NULL, *c = NULL;
        char *err = NULL;

        assert_int_equal(sk_repo_pool_new(0, open_fn, f, &p), -EINVAL);
        assert_int_equal(sk_repo_pool_new(2, open_fn, f, &p), 0);
        assert_int_equal(sk_repo_pool_begin(p, &a, NULL), 0);
        assert_int_equal(sk_repo_pool_begin(p, &b, NULL), 0);
        assert_ptr_not_equal(a, b); /* one handle per holder */
        assert_int_equal(sk_repo_pool_busy(p), 2);
        /* full: refused at once, saying why, nothing opened */
        assert_int_equal(sk_repo_pool_begin(p, &c, &err), -EAGAIN);
        assert_null(c);
        assert_non_null(err);
        assert_non_null(strstr(err, "2 restores are running already"));
        free(err);
        assert_int_equal(f->opens, 2);

        /* a freed slot is taken again, on the idle handle */
        sk_repo_pool_end(p, a);
        assert_int_equal(sk_repo_pool_busy(p), 1);
        assert_int_equal(sk_repo_pool_begin(p, &c, NULL), 0);
        assert_ptr_equal(c, a);
        assert_int_equal(f->opens, 2);
        sk_repo_pool_end(p, b);
        sk_repo_pool_end(p, c);
        assert_int_equal(sk_repo_pool_busy(p), 0);

        /* an open failure gives the slot back */
        sk_repo_pool *q = NULL;
        assert_int_equal(sk_repo_pool_new(1, open_fn, f, &q), 0);
        f->fail = -EKEYREJECTED;
        err = NULL;
        assert_int_equal(sk_repo_pool_begin(q, &a, &err), -EKEYREJECTED);
        assert_string_equal(err, "cannot open");
        free(err);
        assert_int_equal(sk_repo_pool_busy(q), 0);
        f->fail = 0;
        assert_int_equal(sk_repo_pool_begin(q, &a, NULL), 0);
        sk_repo_pool_end(q, a);
        sk_repo_pool_free(q);
        sk_repo_pool_free(p); /* frees the idle handles (ASan: no leak) */
}

SK_TEST_MAIN(cmocka_unit_test_setup_teardown(test_bound_and_reuse, setup, sk_test_repo_teardown))
