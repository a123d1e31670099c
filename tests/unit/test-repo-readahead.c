/* The repository's one read-ahead cache for a store that asks for read-ahead
 * (sk_backend.read_ahead: S3), on a local repository with the field forced,
 * so that it runs without a server:
 *  - blobs read outside a restore, in reverse order (as a tree walk reads
 *    parents first), come back intact through a few spans, where a local
 *    store (read_ahead 0) makes no cache at all;
 *  - during a restore (begin .. end) no first read is left exact (a partial
 *    restore reads without a plan), and after it the rule is back;
 *  - sk_repo_trim frees the spans and the next read loads again;
 *  - readers racing index rewrites that renumber the packs (one pack
 *    dropped from the index and added back in turn) never get another
 *    pack's bytes: no read fails (before the cache checked which
 *    numbering a reader's pack number came from, such reads failed as
 *    "record holds another blob" on a good pack). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repo/packcache.h"
#include "repo/repo-internal.h"
#include "store/backend.h"
#include "tests/lib/testrepo.h"

#define NB 600
#define BLOB 8192

typedef sk_test_repo fixture;

static sk_blob_id ids[NB];

/* 600 blobs of 8 KiB in packs of 256 KiB: about 20 packs */
static int setup(void **state) {
        fixture *f = sk_test_repo_new(state, sizeof(*f), "sk-repo-ra");
        static const sk_repo_init_opts o = { .chunk_min = 4096, .chunk_avg = 16384, .chunk_max = 65536,
                                             .pack_size = 256 * 1024, .scrypt_log2n = 10 };
        sk_test_repo_init(f, f->url, "pw", &o);
        uint64_t x = 7;
        for (uint32_t i = 0; i < NB; i++) {
                uint8_t buf[BLOB];
                for (size_t j = 0; j < sizeof(buf); j += 8) {
                        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                        memcpy(buf + j, &x, 8);
                }
                memcpy(buf, &i, sizeof(i));
                assert_int_equal(sk_repo_put_blob(f->repo, SK_BLOB_DATA, buf, sizeof(buf), &ids[i], NULL), 0);
        }
        assert_int_equal(sk_repo_flush(f->repo), 0);
        return 0;
}

static int teardown(void **state) {
        return sk_test_repo_free(*state);
}

/* 0 if blob i reads back as itself, else the error (-EPROTO: other bytes) */
static int read_blob(sk_repo *repo, uint32_t i) {
        void *b = NULL;
        size_t len = 0;
        int r = sk_repo_get_blob(repo, SK_BLOB_DATA, &ids[i], &b, &len);
        uint32_t k = UINT32_MAX;
        if (r >= 0 && len == BLOB)
                memcpy(&k, b, sizeof(k));
        free(b);
        return r < 0 ? r : k == i ? 0 : -EPROTO;
}

static void reopen(fixture *f, size_t read_ahead) {
        sk_repo_free(f->repo);
        f->repo = NULL;
        assert_int_equal(sk_repo_open(f->url, f->secret, &f->repo), 0);
        f->repo->b->read_ahead = read_ahead;    /* what an S3 backend says */
}

static void test_reads_through_one_cache(void **state) {
        fixture *f = *state;
        reopen(f, 0);
        for (uint32_t i = NB; i-- > 0;)
                assert_int_equal(read_blob(f->repo, i), 0);
        assert_null(f->repo->read_ahead[0]);    /* a local store: direct reads, no cache */

        reopen(f, 1u << 20);
        for (uint32_t i = NB; i-- > 0;)
                assert_int_equal(read_blob(f->repo, i), 0);
        assert_non_null(f->repo->read_ahead[0]);
        sk_packcache_stats st;
        sk_packcache_get_stats(f->repo->read_ahead[0], &st);
        print_message("%u blobs read backwards: %llu spans loaded, %llu read directly\n", NB,
                      (unsigned long long) st.spans_loaded, (unsigned long long) st.declined);
        /* a span per pack (about 20), plus each pack's first read, exact */
        assert_true(st.spans_loaded >= 10 && st.spans_loaded <= 40);
        assert_true(st.declined <= 40);

        /* between restore begin and end (a partial restore reads without a
         * plan), no first read is left exact: every miss loads a span */
        sk_repo_trim(f->repo);
        sk_packcache_get_stats(f->repo->read_ahead[0], &st);
        uint64_t declined = st.declined;
        assert_int_equal(sk_repo_read_ahead_begin(f->repo), 0);
        for (uint32_t i = NB; i-- > 0;)
                assert_int_equal(read_blob(f->repo, i), 0);
        sk_repo_read_ahead_end(f->repo);
        sk_packcache_get_stats(f->repo->read_ahead[0], &st);
        assert_int_equal(st.declined, declined);
        /* and after the end, the rule is back: a pack's first read away
         * from its start is exact again */
        sk_repo_trim(f->repo);
        uint32_t far = 0;
        sk_index_entry e = { 0 };
        while (far < NB && (sk_index_lookup(f->repo->idx, &ids[far], SK_BLOB_DATA, &e) != 1 || e.offset < 65536))
                far++;
        assert_true(far < NB);
        assert_int_equal(read_blob(f->repo, far), 0);
        sk_packcache_get_stats(f->repo->read_ahead[0], &st);
        assert_int_equal(st.declined, declined + 1);

        /* trim: the spans go, and reading again loads again */
        sk_repo_trim(f->repo);
        uint64_t loaded = st.spans_loaded;
        assert_int_equal(read_blob(f->repo, 3), 0);
        assert_int_equal(read_blob(f->repo, 4), 0);
        sk_packcache_get_stats(f->repo->read_ahead[0], &st);
        assert_true(st.spans_loaded > loaded);
}

/* --- readers racing index rewrites ------------------------------------------ */

typedef struct race {
        sk_repo *repo;
        atomic_bool stop;
        atomic_uint reads, errors;
        char first_error[256];
        pthread_mutex_t mu;
} race;

/* The pack with the smallest name, which the rewrites drop from and add back
 * to the index in turn, and which blobs it holds (the readers skip them). */
static char p0[65];
static bool in_p0[NB];

static void *reader(void *arg) {
        race *rc = arg;
        uint64_t x = (uintptr_t) &x;
        while (!atomic_load(&rc->stop)) {
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                uint32_t i = (uint32_t) ((x >> 33) % NB);
                if (in_p0[i])
                        continue;
                int r = read_blob(rc->repo, i);
                atomic_fetch_add(&rc->reads, 1);
                if (r < 0 && atomic_fetch_add(&rc->errors, 1) == 0) {
                        pthread_mutex_lock(&rc->mu);
                        snprintf(rc->first_error, sizeof(rc->first_error), "%s: %s", strerror(-r),
                                 sk_repo_last_error(rc->repo));
                        pthread_mutex_unlock(&rc->mu);
                }
        }
        return NULL;
}

static bool drop_p0(const char *pack, const sk_blob_info *bi, void *userdata) {
        (void) bi;
        (void) userdata;
        return strcmp(pack, p0) == 0;
}

/* Every rewrite writes the index anew and swaps it in; dropping p0 and
 * adding it back in turn gives every other pack a new number each time,
 * while three threads read blobs through the cache. */
static void test_readers_race_renumbering(void **state) {
        fixture *f = *state;
        reopen(f, 64u << 10);
        for (uint32_t n = 0; sk_index_pack_name(f->repo->idx, n); n++) {
                char hex[65];
                sk_repo_pack_hex(f->repo, n, hex);
                if (!p0[0] || strcmp(hex, p0) < 0)
                        memcpy(p0, hex, sizeof(hex));
        }
        for (uint32_t i = 0; i < NB; i++) {
                sk_index_entry e;
                char hex[65];
                assert_int_equal(sk_index_lookup(f->repo->idx, &ids[i], SK_BLOB_DATA, &e), 1);
                sk_repo_pack_hex(f->repo, e.pack, hex);
                in_p0[i] = strcmp(hex, p0) == 0;
        }
        race rc = { .repo = f->repo };
        pthread_mutex_init(&rc.mu, NULL);
        pthread_t t[3];
        for (int i = 0; i < 3; i++)
                assert_int_equal(pthread_create(&t[i], NULL, reader, &rc), 0);
        int rewrites = 0;
        for (; rewrites < 200; rewrites++) {
                char *add[1] = { p0 };
                if (rewrites % 2)
                        assert_int_equal(sk_repo_rewrite_index_add(f->repo, NULL, NULL, add, 1), 0);
                else
                        assert_int_equal(sk_repo_rewrite_index(f->repo, drop_p0, NULL), 0);
        }
        atomic_store(&rc.stop, true);
        for (int i = 0; i < 3; i++)
                pthread_join(t[i], NULL);
        print_message("%d index swaps, %u reads, %u failed%s%s\n", rewrites, atomic_load(&rc.reads),
                      atomic_load(&rc.errors), rc.first_error[0] ? ": " : "", rc.first_error);
        assert_true(atomic_load(&rc.reads) > 100);
        assert_int_equal(atomic_load(&rc.errors), 0);
        pthread_mutex_destroy(&rc.mu);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_reads_through_one_cache), SK_FIXTURE_TEST(test_readers_race_renumbering))
