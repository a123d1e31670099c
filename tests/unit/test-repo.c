/* The repository object end to end over the local backend: init/open errors,
 * put/get/dedup, flush and reopen, multithreaded put, objects, corruption
 * (flipped byte, truncated and missing pack, corrupt index) with check and
 * rebuild-index, repack/rewrite-index/delete-pack, keys, locks. Small chunk
 * and pack sizes and minimum scrypt cost keep it fast under ASan. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/backend.h"
#include "repo/chunker.h"
#include "repo/repo.h"
#include "common/fsutil.h"
#include "tests/lib/testrepo.h"

typedef sk_test_repo fixture;

static const sk_repo_init_opts small = {
        .chunk_min = 4096, .chunk_avg = 16384, .chunk_max = 65536, .pack_size = 256 * 1024, .scrypt_log2n = 10,
};

static int setup(void **state) {
        fixture *f = sk_test_repo_new(state, sizeof(*f), "sk-repo");
        sk_test_repo_init(f, f->url, "s3cret", &small);
        return 0;
}

static int teardown(void **state) {
        return sk_test_repo_free(*state);
}

static void reopen(fixture *f) {
        sk_repo_free(f->repo);
        f->repo = NULL;
        int r = sk_repo_open(f->url, f->secret, &f->repo);
        if (r < 0)
                fprintf(stderr, "open: %s\n", sk_repo_last_error(NULL));
        assert_int_equal(r, 0);
}


/* A fingerprint of a directory tree: names, sizes, mtimes (to show that
 * something wrote nothing). */
static unsigned long long tree_sum;
static int sum_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) type;
        (void) ftw;
        for (const char *c = path; *c; c++)
                tree_sum = tree_sum * 131 + (unsigned char) *c;
        tree_sum = tree_sum * 31 + (unsigned long long) st->st_size;
        tree_sum = tree_sum * 31 + (unsigned long long) st->st_mtim.tv_nsec + (unsigned long long) st->st_mtim.tv_sec;
        return 0;
}

static unsigned long long tree_fingerprint(const char *dir) {
        tree_sum = 0;
        assert_int_equal(nftw(dir, sum_one, 16, FTW_PHYS), 0);
        return tree_sum;
}

static void test_init_open_errors(void **state) {
        fixture *f = *state;
        sk_repo *r2 = NULL;
        sk_secret *wrong = NULL;
        char url[700];

        assert_int_equal(sk_repo_init(f->url, &small, f->secret, &r2), -EEXIST);
        assert_int_equal(sk_secret_new(SK_SECRET_PASSPHRASE, "s3creT", 6, &wrong), 0);
        char rootdir[700];
        snprintf(rootdir, sizeof(rootdir), "%s/repo", f->dir);
        unsigned long long before = tree_fingerprint(rootdir);
        assert_int_equal(sk_repo_open(f->url, wrong, &r2), -EKEYREJECTED);
        assert_true(tree_fingerprint(rootdir) == before); /* nothing written */
        /* (and the fingerprint does see a write) */
        assert_int_equal(sk_repo_put_object(f->repo, "backups", "probe", "x", 1), 0);
        assert_true(tree_fingerprint(rootdir) != before);
        assert_int_equal(sk_repo_delete_object(f->repo, "backups", "probe"), 0);
        assert_non_null(strstr(sk_repo_last_error(NULL), "wrong password"));
        snprintf(url, sizeof(url), "%s/nothing-here", f->dir);
        assert_int_equal(sk_repo_open(url, f->secret, &r2), -ENOENT);
        /* (s3:// is left out: the S3 backend plugs in there, issue 6) */
        assert_int_equal(sk_repo_open("ftp://host/repo", f->secret, &r2), -EPROTONOSUPPORT);
        assert_int_equal(sk_repo_open("gopher://x/y", f->secret, &r2), -EPROTONOSUPPORT);
        /* a directory without config is not a repository */
        assert_int_equal(sk_repo_open(f->dir, f->secret, &r2), -ENOENT);
        /* invalid parameters */
        sk_repo_init_opts bad = small;
        bad.chunk_avg = bad.chunk_min;
        snprintf(url, sizeof(url), "%s/other", f->dir);
        assert_int_equal(sk_repo_init(url, &bad, f->secret, &r2), -EINVAL);
        bad = small;
        bad.zstd_level = 30;
        assert_int_equal(sk_repo_init(url, &bad, f->secret, &r2), -EINVAL);

        /* wrong key wrote nothing: the tree is byte-identical afterwards */
        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.pack_count, 0);

        /* unknown version -> -EPROTO */
        char path[700];
        snprintf(path, sizeof(path), "%s/repo", f->dir);
        int dfd = open(path, O_RDONLY | O_DIRECTORY);
        assert_true(dfd >= 0);
        void *buf;
        size_t len;
        assert_int_equal(sk_read_file(dfd, "config", 1 << 20, &buf, &len), 0);
        uint8_t version = ((uint8_t *) buf)[8];
        assert_int_equal(version, SK_REPO_FORMAT_VERSION); /* new repositories get the newest */
        ((uint8_t *) buf)[8] = SK_REPO_FORMAT_VERSION + 1;
        assert_int_equal(sk_write_file_atomic(dfd, "config", buf, len, 0600), 0);
        assert_int_equal(sk_repo_open(f->url, f->secret, &r2), -EPROTO);
        /* another known version: the header is sealed as associated data, so
         * a repository cannot be passed off as another version without the key */
        ((uint8_t *) buf)[8] = 1;
        assert_int_equal(sk_write_file_atomic(dfd, "config", buf, len, 0600), 0);
        assert_int_equal(sk_repo_open(f->url, f->secret, &r2), -EBADMSG);
        ((uint8_t *) buf)[8] = version;
        ((uint8_t *) buf)[50] ^= 1; /* inside the sealed body */
        assert_int_equal(sk_write_file_atomic(dfd, "config", buf, len, 0600), 0);
        assert_int_equal(sk_repo_open(f->url, f->secret, &r2), -EBADMSG);
        ((uint8_t *) buf)[50] ^= 1;
        assert_int_equal(sk_write_file_atomic(dfd, "config", buf, len, 0600), 0);
        free(buf);
        close(dfd);
        reopen(f);
        sk_repo_config cfg;
        assert_int_equal(sk_repo_get_config(f->repo, &cfg), 0);
        assert_int_equal(cfg.chunk_avg, 16384);
        assert_int_equal(cfg.pack_size, 256 * 1024);
        assert_int_equal(cfg.zstd_level, 3);
        assert_int_equal(strlen(cfg.repo_id), 32);
        sk_secret_free(wrong);
}

static void test_put_get_dedup_reopen(void **state) {
        fixture *f = *state;
        sk_blob_id ids[40];
        bool was_new;
        /* 40 blobs of 20..40 KiB: several packs of 256 KiB */
        for (int i = 0; i < 40; i++) {
                size_t n = 20000 + (size_t) i * 500;
                uint8_t *d = sk_test_random_data(n, (uint32_t) i, i % 2);
                assert_int_equal(sk_repo_put_blob(f->repo, i == 3 ? SK_BLOB_TREE : SK_BLOB_DATA, d, n, &ids[i], &was_new), 0);
                assert_true(was_new);
                sk_blob_type t = i == 3 ? SK_BLOB_TREE : SK_BLOB_DATA;
                assert_int_equal(sk_repo_has_blob(f->repo, t, &ids[i]), 1);
                /* readable before flush (pending or already written pack) */
                void *g;
                size_t gl;
                assert_int_equal(sk_repo_get_blob(f->repo, t, &ids[i], &g, &gl), 0);
                assert_int_equal(gl, n);
                assert_memory_equal(g, d, n);
                free(g);
                /* dedup */
                sk_blob_id again;
                assert_int_equal(sk_repo_put_blob(f->repo, t, d, n, &again, &was_new), 0);
                assert_false(was_new);
                assert_memory_equal(again.b, ids[i].b, 32);
                free(d);
        }
        /* empty blob */
        sk_blob_id empty;
        assert_int_equal(sk_repo_put_blob(f->repo, SK_BLOB_DATA, "", 0, &empty, &was_new), 0);
        assert_true(was_new);
        assert_int_equal(sk_repo_flush(f->repo), 0);

        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_true(st.pack_count >= 3);
        assert_int_equal(st.blob_count, 41);
        assert_int_equal(st.tree_blobs, 1);
        /* compressible blobs shrank: stored < raw overall */
        assert_true(st.blob_stored_bytes < st.blob_raw_bytes);

        reopen(f);
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.blob_count, 41);
        assert_int_equal(st.index_files_bad, 0);
        for (int i = 0; i < 40; i++) {
                size_t n = 20000 + (size_t) i * 500;
                uint8_t *d = sk_test_random_data(n, (uint32_t) i, i % 2);
                void *g;
                size_t gl;
                sk_blob_type t = i == 3 ? SK_BLOB_TREE : SK_BLOB_DATA;
                assert_int_equal(sk_repo_get_blob(f->repo, t, &ids[i], &g, &gl), 0);
                assert_int_equal(gl, n);
                assert_memory_equal(g, d, n);
                free(g);
                assert_int_equal(sk_repo_put_blob(f->repo, t, d, n, NULL, &was_new), 0);
                assert_false(was_new);
                free(d);
        }
        void *g;
        size_t gl;
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &empty, &g, &gl), 0);
        assert_int_equal(gl, 0);
        free(g);
        sk_blob_id unknown = { { 1, 2, 3 } };
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &unknown, &g, &gl), -ENOENT);
        assert_int_equal(sk_repo_has_blob(f->repo, SK_BLOB_DATA, &unknown), 0);

        /* a blob put but never flushed is gone after reopen (crash-equivalent) */
        uint8_t *d = sk_test_random_data(1000, 999, false);
        sk_blob_id lost;
        assert_int_equal(sk_repo_put_blob(f->repo, SK_BLOB_DATA, d, 1000, &lost, NULL), 0);
        free(d);
        reopen(f);
        assert_int_equal(sk_repo_has_blob(f->repo, SK_BLOB_DATA, &lost), 0);

        char hex[65];
        sk_blob_id back;
        assert_int_equal(sk_blob_id_from_hex(sk_blob_id_to_hex(&ids[0], hex), &back), 0);
        assert_memory_equal(back.b, ids[0].b, 32);
        assert_int_equal(sk_blob_id_from_hex("abc", &back), -EINVAL);
}

/* sk_repo_put_blob_with_id: the caller's id is used as is; it reads back,
 * gives the same id as put_blob and dedups against it both ways; a wrong id
 * reads as corrupt, never as the id's data. */
static void test_put_with_id(void **state) {
        fixture *f = *state;
        bool was_new;
        uint8_t *d1 = sk_test_random_data(30000, 71, true), *d2 = sk_test_random_data(20000, 72, false);
        sk_blob_id id1, id2, got;
        void *g;
        size_t gl;

        assert_int_equal(sk_repo_blob_id(f->repo, d1, 30000, &id1), 0);
        assert_int_equal(sk_repo_put_blob_with_id(f->repo, SK_BLOB_DATA, &id1, d1, 30000, &was_new), 0);
        assert_true(was_new);
        assert_int_equal(sk_repo_has_blob(f->repo, SK_BLOB_DATA, &id1), 1);
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &id1, &g, &gl), 0);
        assert_int_equal(gl, 30000);
        assert_memory_equal(g, d1, 30000);
        free(g);
        /* put_blob of the same bytes: same id, deduplicated */
        assert_int_equal(sk_repo_put_blob(f->repo, SK_BLOB_DATA, d1, 30000, &got, &was_new), 0);
        assert_false(was_new);
        assert_memory_equal(got.b, id1.b, SK_BLOB_ID_SIZE);

        /* the other way round: put_blob first, then with its id */
        assert_int_equal(sk_repo_put_blob(f->repo, SK_BLOB_DATA, d2, 20000, &id2, &was_new), 0);
        assert_true(was_new);
        assert_int_equal(sk_repo_blob_id(f->repo, d2, 20000, &got), 0);
        assert_memory_equal(got.b, id2.b, SK_BLOB_ID_SIZE);
        assert_int_equal(sk_repo_put_blob_with_id(f->repo, SK_BLOB_DATA, &id2, d2, 20000, &was_new), 0);
        assert_false(was_new);
        /* the type is part of the key, as for put_blob */
        assert_int_equal(sk_repo_put_blob_with_id(f->repo, SK_BLOB_TREE, &id2, d2, 20000, &was_new), 0);
        assert_true(was_new);

        /* a wrong id: stored, but every read verifies the id and refuses it */
        sk_blob_id wrong = id1;
        wrong.b[0] ^= 1;
        assert_int_equal(sk_repo_put_blob_with_id(f->repo, SK_BLOB_DATA, &wrong, d2, 20000, &was_new), 0);
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &wrong, &g, &gl), -EBADMSG);

        assert_int_equal(sk_repo_flush(f->repo), 0);
        reopen(f);
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &id1, &g, &gl), 0);
        assert_int_equal(gl, 30000);
        assert_memory_equal(g, d1, 30000);
        free(g);
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &id2, &g, &gl), 0);
        assert_memory_equal(g, d2, 20000);
        free(g);
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &wrong, &g, &gl), -EBADMSG);
        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.blob_count, 4);
        free(d1);
        free(d2);
}

typedef struct thr {
        sk_repo *repo;
        int t;
        int result;
} thr;

static void *put_thread(void *arg) {
        thr *a = arg;
        for (int i = 0; i < 30; i++) {
                /* half the blobs are shared by all threads: races on dedup */
                uint32_t seed = i % 2 ? (uint32_t) (1000 + i) : (uint32_t) (2000 + a->t * 100 + i);
                size_t n = 8000 + (size_t) (seed % 7) * 1000;
                uint8_t *d = sk_test_random_data(n, seed, seed % 3 == 0);
                sk_blob_id id;
                int r = sk_repo_put_blob(a->repo, SK_BLOB_DATA, d, n, &id, NULL);
                if (r == 0) {
                        void *g;
                        size_t gl;
                        r = sk_repo_get_blob(a->repo, SK_BLOB_DATA, &id, &g, &gl);
                        if (r == 0 && (gl != n || memcmp(g, d, n) != 0))
                                r = -EIO;
                        if (r == 0)
                                free(g);
                }
                free(d);
                if (r < 0) {
                        a->result = r;
                        return NULL;
                }
        }
        return NULL;
}

static void test_threads(void **state) {
        fixture *f = *state;
        pthread_t th[4];
        thr a[4];
        for (int t = 0; t < 4; t++) {
                a[t] = (thr) { .repo = f->repo, .t = t };
                assert_int_equal(pthread_create(&th[t], NULL, put_thread, &a[t]), 0);
        }
        for (int t = 0; t < 4; t++) {
                pthread_join(th[t], NULL);
                assert_int_equal(a[t].result, 0);
        }
        assert_int_equal(sk_repo_flush(f->repo), 0);
        reopen(f);
        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        /* 15 shared + 4 * 15 private, each stored once */
        assert_int_equal(st.blob_count, 15 + 60);
}

typedef struct names {
        char v[16][130];
        int n;
} names;

static int name_cb(const char *name, void *ud) {
        names *n = ud;
        assert_true(n->n < 16);
        snprintf(n->v[n->n++], 130, "%s", name);
        return 0;
}

static void test_objects(void **state) {
        fixture *f = *state;
        uint8_t *big = sk_test_random_data(300000, 5, true);
        assert_int_equal(sk_repo_put_object(f->repo, "backups", "b1", "hello", 5), 0);
        assert_int_equal(sk_repo_put_object(f->repo, "backups", "b2.x_y-z", big, 300000), 0);
        assert_int_equal(sk_repo_put_object(f->repo, "backups", "empty", "", 0), 0);
        void *g;
        size_t gl;
        assert_int_equal(sk_repo_get_object(f->repo, "backups", "b1", &g, &gl), 0);
        assert_int_equal(gl, 5);
        assert_string_equal(g, "hello");
        free(g);
        assert_int_equal(sk_repo_get_object(f->repo, "backups", "b2.x_y-z", &g, &gl), 0);
        assert_int_equal(gl, 300000);
        assert_memory_equal(g, big, 300000);
        free(g);
        assert_int_equal(sk_repo_get_object(f->repo, "backups", "empty", &g, &gl), 0);
        assert_int_equal(gl, 0);
        free(g);
        /* compressed on disk */
        char path[700];
        struct stat stt;
        snprintf(path, sizeof(path), "%s/repo/backups/b2.x_y-z", f->dir);
        assert_int_equal(stat(path, &stt), 0);
        assert_true(stt.st_size < 200000);
        free(big);

        names n = { .n = 0 };
        assert_int_equal(sk_repo_list_objects(f->repo, "backups", name_cb, &n), 0);
        assert_int_equal(n.n, 3);

        assert_int_equal(sk_repo_get_object(f->repo, "backups", "nope", &g, &gl), -ENOENT);
        assert_int_equal(sk_repo_put_object(f->repo, "index", "x", "a", 1), -EINVAL);
        assert_int_equal(sk_repo_put_object(f->repo, "backups", "../x", "a", 1), -EINVAL);
        assert_int_equal(sk_repo_put_object(f->repo, "backups", ".hidden", "a", 1), -EINVAL);
        assert_int_equal(sk_repo_put_object(f->repo, "Backups", "x", "a", 1), -EINVAL);

        /* renamed object fails verification (name is bound) */
        char from[700], to[700];
        snprintf(from, sizeof(from), "%s/repo/backups/b1", f->dir);
        snprintf(to, sizeof(to), "%s/repo/backups/b9", f->dir);
        assert_int_equal(link(from, to), 0);
        assert_int_equal(sk_repo_get_object(f->repo, "backups", "b9", &g, &gl), -EBADMSG);
        /* flipped byte */
        int fd = open(from, O_RDWR);
        uint8_t c;
        assert_int_equal(pread(fd, &c, 1, 70), 1);
        c ^= 1;
        assert_int_equal(pwrite(fd, &c, 1, 70), 1);
        close(fd);
        assert_int_equal(sk_repo_get_object(f->repo, "backups", "b1", &g, &gl), -EBADMSG);
        assert_non_null(strstr(sk_repo_last_error(f->repo), "backups/b1"));
        assert_int_equal(sk_repo_delete_object(f->repo, "backups", "b1"), 0);
        assert_int_equal(sk_repo_delete_object(f->repo, "backups", "b1"), -ENOENT);
}

/* --- corruption --- */

typedef struct check_res {
        int ok, bad, missing;
        char detail[512];
} check_res;

static int check_cb(const char *pack, const sk_blob_info *bi, int status, const char *detail, void *ud) {
        check_res *c = ud;
        (void) pack;
        (void) bi;
        if (status == 0)
                c->ok++;
        else if (status == -ENOENT)
                c->missing++;
        else {
                c->bad++;
                snprintf(c->detail, sizeof(c->detail), "%s", detail);
        }
        return 0;
}

typedef struct pack_names {
        char v[64][65];
        int n;
} pack_names;

static int pack_cb(const char *pack, uint64_t size, void *ud) {
        pack_names *p = ud;
        (void) size;
        assert_true(p->n < 64);
        snprintf(p->v[p->n++], 65, "%s", pack);
        return 0;
}

static void fill(fixture *f, sk_blob_id *ids, int n) {
        for (int i = 0; i < n; i++) {
                uint8_t *d = sk_test_random_data(30000, (uint32_t) (500 + i), false);
                assert_int_equal(sk_repo_put_blob(f->repo, SK_BLOB_DATA, d, 30000, &ids[i], NULL), 0);
                free(d);
        }
        assert_int_equal(sk_repo_flush(f->repo), 0);
}

static void pack_file(fixture *f, const char *pack, char *out, size_t n) {
        snprintf(out, n, "%s/repo/data/%.2s/%s", f->dir, pack, pack);
}

static void test_flipped_byte(void **state) {
        fixture *f = *state;
        sk_blob_id ids[20];
        fill(f, ids, 20);
        pack_names p = { .n = 0 };
        assert_int_equal(sk_repo_list_packs(f->repo, pack_cb, &p), 0);
        assert_true(p.n >= 2);
        for (int i = 0; i < p.n; i++) {
                check_res c = { 0 };
                assert_int_equal(sk_repo_check_pack(f->repo, p.v[i], true, check_cb, &c), 0);
                assert_int_equal(c.bad + c.missing, 0);
        }
        /* flip one byte inside the second record of the first pack */
        char path[800];
        pack_file(f, p.v[0], path, sizeof(path));
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        off_t off = 64 + (96 + 16 + 30000) + 96 + 1234;
        uint8_t c8;
        assert_int_equal(pread(fd, &c8, 1, off), 1);
        c8 ^= 0x20;
        assert_int_equal(pwrite(fd, &c8, 1, off), 1);
        close(fd);

        check_res c = { 0 };
        assert_int_equal(sk_repo_check_pack(f->repo, p.v[0], true, check_cb, &c), -EBADMSG);
        assert_int_equal(c.bad, 1);
        assert_true(c.ok >= 1);
        assert_non_null(strstr(c.detail, p.v[0]));
        assert_non_null(strstr(c.detail, "AEAD tag mismatch"));
        /* even without --read-data the name mismatch is found and the blob named */
        memset(&c, 0, sizeof(c));
        assert_int_equal(sk_repo_check_pack(f->repo, p.v[0], false, check_cb, &c), -EBADMSG);
        assert_int_equal(c.bad, 1);

        /* get_blob: exactly one blob fails, naming pack and offset */
        int failed = 0;
        for (int i = 0; i < 20; i++) {
                void *g;
                size_t gl;
                int r = sk_repo_get_blob(f->repo, SK_BLOB_DATA, &ids[i], &g, &gl);
                if (r == 0) {
                        free(g);
                        continue;
                }
                assert_int_equal(r, -EBADMSG);
                const char *e = sk_repo_last_error(f->repo);
                assert_non_null(strstr(e, p.v[0]));
                char want[64];
                snprintf(want, sizeof(want), "offset %u", (unsigned) (64 + 96 + 16 + 30000));
                assert_non_null(strstr(e, want));
                failed++;
        }
        assert_int_equal(failed, 1);

        /* rebuild-index leaves the bad blob out; a new put stores it again */
        uint64_t np, nb, bad;
        assert_int_equal(sk_repo_rebuild_index(f->repo, &np, &nb, &bad), 0);
        assert_int_equal(nb, 19);
        assert_true(bad >= 1);
        for (int i = 0; i < 20; i++) {
                uint8_t *d = sk_test_random_data(30000, (uint32_t) (500 + i), false);
                bool was_new;
                assert_int_equal(sk_repo_put_blob(f->repo, SK_BLOB_DATA, d, 30000, NULL, &was_new), 0);
                free(d);
                if (was_new) {
                        void *g;
                        size_t gl;
                        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &ids[i], &g, &gl), 0);
                        free(g);
                }
        }
}

static void test_truncated_and_missing_pack(void **state) {
        fixture *f = *state;
        sk_blob_id ids[20];
        fill(f, ids, 20);
        pack_names p = { .n = 0 };
        assert_int_equal(sk_repo_list_packs(f->repo, pack_cb, &p), 0);
        assert_true(p.n >= 3);
        char path[800];
        pack_file(f, p.v[0], path, sizeof(path));
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(truncate(path, st.st_size / 2), 0);
        check_res c = { 0 };
        assert_int_equal(sk_repo_check_pack(f->repo, p.v[0], false, check_cb, &c), -EBADMSG);
        assert_true(c.ok >= 1);                 /* records before the cut verify */
        assert_true(c.missing >= 1);            /* indexed blobs after the cut are missing */

        pack_file(f, p.v[1], path, sizeof(path));
        assert_int_equal(unlink(path), 0);
        memset(&c, 0, sizeof(c));
        assert_int_equal(sk_repo_check_pack(f->repo, p.v[1], false, check_cb, &c), -ENOENT);
        assert_true(c.missing >= 1);
        int enoent = 0;
        for (int i = 0; i < 20; i++) {
                void *g;
                size_t gl;
                int r = sk_repo_get_blob(f->repo, SK_BLOB_DATA, &ids[i], &g, &gl);
                if (r == 0)
                        free(g);
                else if (strstr(sk_repo_last_error(f->repo), "missing"))
                        enoent++;
        }
        assert_true(enoent >= 1);
}

static void test_corrupt_index_rebuild(void **state) {
        fixture *f = *state;
        sk_blob_id ids[20];
        fill(f, ids, 20);
        /* damage every index file */
        names n = { .n = 0 };
        char dir[700];
        snprintf(dir, sizeof(dir), "%s/repo/index", f->dir);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        assert_true(dfd >= 0);
        DIR *d = fdopendir(dup(dfd));
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strlen(de->d_name) < 130)
                        memcpy(n.v[n.n++], de->d_name, strlen(de->d_name) + 1);
        closedir(d);
        assert_true(n.n >= 1);
        for (int i = 0; i < n.n; i++) {
                void *buf;
                size_t len;
                assert_int_equal(sk_read_file(dfd, n.v[i], 1 << 24, &buf, &len), 0);
                ((uint8_t *) buf)[len / 2] ^= 0x01;
                int fd = openat(dfd, n.v[i], O_WRONLY | O_TRUNC);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, buf, len), (ssize_t) len);
                close(fd);
                free(buf);
        }
        close(dfd);
        reopen(f);
        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.index_files_bad, (uint64_t) n.n);
        assert_int_equal(st.blob_count, 0);
        names bad = { .n = 0 };
        assert_int_equal(sk_repo_foreach_bad_index(f->repo, name_cb, &bad), 0);
        assert_int_equal(bad.n, n.n);

        /* prune's index rewrite refuses: it would forget those packs */
        assert_int_equal(sk_repo_rewrite_index(f->repo, NULL, NULL), -EBADMSG);
        assert_non_null(strstr(sk_repo_last_error(f->repo), "rebuild-index"));

        uint64_t np, nb, nbad;
        assert_int_equal(sk_repo_rebuild_index(f->repo, &np, &nb, &nbad), 0);
        assert_int_equal(nb, 20);
        assert_int_equal(nbad, 0);
        assert_true(np >= 2);
        reopen(f);
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.index_files_bad, 0);
        assert_int_equal(st.blob_count, 20);
        for (int i = 0; i < 20; i++) {
                void *g;
                size_t gl;
                assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &ids[i], &g, &gl), 0);
                free(g);
        }
}

/* --- prune primitives --- */

typedef struct drop_ctx {
        char pack[65];
} drop_ctx;

static bool drop_pack(const char *pack, const sk_blob_info *bi, void *ud) {
        (void) bi;
        return strcmp(pack, ((drop_ctx *) ud)->pack) == 0;
}

typedef struct blob_in_pack {
        char pack[65];
        sk_blob_id ids[64];
        int n;
} blob_in_pack;

static int blob_cb(const char *pack, const sk_blob_info *bi, void *ud) {
        blob_in_pack *b = ud;
        if (strcmp(pack, b->pack) == 0 && b->n < 64)
                b->ids[b->n++] = bi->id;
        return 0;
}

static void test_repack(void **state) {
        fixture *f = *state;
        sk_blob_id ids[20];
        fill(f, ids, 20);
        pack_names p = { .n = 0 };
        assert_int_equal(sk_repo_list_packs(f->repo, pack_cb, &p), 0);
        /* "prune" the first pack: keep half its blobs by repacking them */
        blob_in_pack bp = { .n = 0 };
        snprintf(bp.pack, sizeof(bp.pack), "%s", p.v[0]);
        assert_int_equal(sk_repo_foreach_blob(f->repo, blob_cb, &bp), 0);
        assert_true(bp.n >= 2);
        int keep = bp.n / 2;
        for (int i = 0; i < keep; i++)
                assert_int_equal(sk_repo_repack_blob(f->repo, SK_BLOB_DATA, &bp.ids[i]), 0);
        assert_int_equal(sk_repo_flush(f->repo), 0);
        drop_ctx dc;
        snprintf(dc.pack, sizeof(dc.pack), "%s", p.v[0]);
        assert_int_equal(sk_repo_rewrite_index(f->repo, drop_pack, &dc), 0);
        assert_int_equal(sk_repo_delete_pack(f->repo, p.v[0]), 0);
        assert_int_equal(sk_repo_delete_pack(f->repo, p.v[0]), -ENOENT);
        reopen(f);
        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.blob_count, 20 - (uint64_t) (bp.n - keep));
        assert_int_equal(st.index_files_bad, 0);
        for (int i = 0; i < bp.n; i++) {
                void *g;
                size_t gl;
                int r = sk_repo_get_blob(f->repo, SK_BLOB_DATA, &bp.ids[i], &g, &gl);
                assert_int_equal(r, i < keep ? 0 : -ENOENT);
                if (r == 0)
                        free(g);
        }
        /* every remaining pack checks clean */
        p.n = 0;
        assert_int_equal(sk_repo_list_packs(f->repo, pack_cb, &p), 0);
        for (int i = 0; i < p.n; i++) {
                check_res c = { 0 };
                assert_int_equal(sk_repo_check_pack(f->repo, p.v[i], true, check_cb, &c), 0);
        }
}

/* --- keys and locks through the repo --- */

typedef struct key_ctx {
        int n, current;
} key_ctx;

static int key_cb(const sk_key_info *info, void *ud) {
        key_ctx *k = ud;
        k->n++;
        k->current += info->current;
        return 0;
}

static void test_keys(void **state) {
        fixture *f = *state;
        sk_secret *p2 = NULL, *p3 = NULL;
        char *slot2 = NULL, *slot3 = NULL;
        assert_int_equal(sk_secret_new(SK_SECRET_PASSPHRASE, "second", 6, &p2), 0);
        assert_int_equal(sk_secret_new(SK_SECRET_PASSPHRASE, "third", 5, &p3), 0);
        assert_int_equal(sk_repo_key_add(f->repo, p2, &slot2), 0);
        key_ctx k = { 0 };
        assert_int_equal(sk_repo_key_list(f->repo, key_cb, &k), 0);
        assert_int_equal(k.n, 2);
        assert_int_equal(k.current, 1);
        sk_repo *r2 = NULL;
        assert_int_equal(sk_repo_open(f->url, p2, &r2), 0);
        /* the slot in use cannot be removed */
        assert_int_equal(sk_repo_key_remove(r2, slot2), -EBUSY);
        /* passwd on r2: slot2 replaced by slot3 */
        assert_int_equal(sk_repo_key_passwd(r2, p3, &slot3), 0);
        sk_repo_free(r2);
        assert_int_equal(sk_repo_open(f->url, p2, &r2), -EKEYREJECTED);
        assert_int_equal(sk_repo_open(f->url, p3, &r2), 0);
        k = (key_ctx) { 0 };
        assert_int_equal(sk_repo_key_list(r2, key_cb, &k), 0);
        assert_int_equal(k.n, 2);
        sk_repo_free(r2);
        /* original still works */
        reopen(f);
        free(slot2);
        free(slot3);
        sk_secret_free(p2);
        sk_secret_free(p3);
}

static void test_locks(void **state) {
        fixture *f = *state;
        sk_lock *s = NULL, *x = NULL;
        assert_int_equal(sk_repo_lock(f->repo, false, 0, &s), 0);
        assert_int_equal(sk_repo_lock(f->repo, true, 0, &x), -EBUSY);
        assert_non_null(strstr(sk_repo_last_error(f->repo), "locked"));
        assert_int_equal(sk_lock_refresh(s), 0);
        assert_int_equal(sk_lock_release(s), 0);
        assert_int_equal(sk_repo_lock(f->repo, true, 0, &x), 0);
        unsigned removed = 9;
        assert_int_equal(sk_repo_unlock_stale(f->repo, &removed), 0);
        assert_int_equal(removed, 0);
        assert_int_equal(sk_lock_release(x), 0);
}

static int count_names(const char *name, uint64_t size, void *ud) {
        (void) name;
        (void) size;
        (*(int *) ud)++;
        return 0;
}

static int n_index_files(fixture *f) {
        char path[700];
        int n = 0;
        DIR *d;
        snprintf(path, sizeof(path), "%s/repo/index", f->dir);
        assert_non_null(d = opendir(path));
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* A writer whose lock was removed as stale (by a prune on another handle)
 * writes no index file and no manifest: both fail with -ESTALE naming the
 * lock, and nothing is left behind that names its data. */
static void test_lost_lock_blocks_writes(void **state) {
        fixture *f = *state;
        sk_repo *w = NULL;
        sk_lock *s = NULL, *x = NULL;
        (void) count_names;
        assert_int_equal(sk_repo_open(f->url, f->secret, &w), 0);
        assert_int_equal(sk_repo_lock(w, false, 0, &s), 0);
        uint8_t *d = sk_test_random_data(30000, 77, false);
        assert_int_equal(sk_repo_put_blob(w, SK_BLOB_DATA, d, 30000, NULL, NULL), 0);
        free(d);
        assert_int_equal(sk_repo_put_object(w, "backups", "before", "x", 1), 0);
        int n_before = n_index_files(f);

        /* the lock looks an hour old to the other handle's exclusive request */
        char path[700], buf[256];
        snprintf(path, sizeof(path), "%s/repo/locks/%s", f->dir, sk_lock_id(s));
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        fprintf(fp, "snapkeep-lock 1\nexclusive 0\nhost elsewhere\npid 1\ncreated 1\ntime %ld\n",
                (long) time(NULL) - 3600);
        fclose(fp);
        assert_int_equal(sk_repo_lock(f->repo, true, 0, &x), 0);
        assert_int_equal(sk_lock_release(x), 0);

        assert_int_equal(sk_repo_flush(w), -ESTALE);
        assert_non_null(strstr(sk_repo_last_error(w), "lost"));
        assert_non_null(strstr(sk_repo_last_error(w), sk_lock_id(s)));
        assert_int_equal(n_index_files(f), n_before);
        assert_int_equal(sk_repo_put_object(w, "backups", "after", "x", 1), -ESTALE);
        snprintf(buf, sizeof(buf), "%s/repo/backups/after", f->dir);
        assert_int_equal(access(buf, F_OK), -1);
        assert_int_equal(sk_repo_lock_check(w, s), -ESTALE);
        assert_int_equal(sk_lock_release(s), 0);
        /* without a lock (released), writes are not guarded any more */
        assert_int_equal(sk_repo_put_object(w, "backups", "after", "x", 1), 0);
        sk_repo_free(w);
}

static void test_stale_index_after_prune(void **state) {
        fixture *f = *state;
        sk_blob_id ids[20];
        fill(f, ids, 20);
        /* a second writer opened before the "prune" */
        sk_repo *other = NULL;
        assert_int_equal(sk_repo_open(f->url, f->secret, &other), 0);
        assert_int_equal(sk_repo_has_blob(other, SK_BLOB_DATA, &ids[0]), 1);

        /* prune on f: drop the pack holding ids[0] */
        pack_names p = { .n = 0 };
        assert_int_equal(sk_repo_list_packs(f->repo, pack_cb, &p), 0);
        blob_in_pack bp = { .n = 0 };
        for (int i = 0; i < p.n; i++) {
                bp.n = 0;
                snprintf(bp.pack, sizeof(bp.pack), "%s", p.v[i]);
                assert_int_equal(sk_repo_foreach_blob(f->repo, blob_cb, &bp), 0);
                bool has0 = false;
                for (int k = 0; k < bp.n; k++)
                        has0 |= memcmp(bp.ids[k].b, ids[0].b, 32) == 0;
                if (has0)
                        break;
        }
        sk_lock *x = NULL;
        assert_int_equal(sk_repo_lock(f->repo, true, 0, &x), 0);
        drop_ctx dc;
        snprintf(dc.pack, sizeof(dc.pack), "%s", bp.pack);
        assert_int_equal(sk_repo_rewrite_index(f->repo, drop_pack, &dc), 0);
        assert_int_equal(sk_repo_delete_pack(f->repo, bp.pack), 0);
        assert_int_equal(sk_lock_release(x), 0);

        /* the other handle still believes in the old index until it locks */
        assert_int_equal(sk_repo_has_blob(other, SK_BLOB_DATA, &ids[0]), 1);
        sk_lock *s = NULL;
        assert_int_equal(sk_repo_lock(other, false, 0, &s), 0);
        assert_int_equal(sk_repo_has_blob(other, SK_BLOB_DATA, &ids[0]), 0);
        /* so a new put of that data stores it again instead of deduping it away */
        uint8_t *d = sk_test_random_data(30000, 500, false);
        bool was_new = false;
        assert_int_equal(sk_repo_put_blob(other, SK_BLOB_DATA, d, 30000, NULL, &was_new), 0);
        assert_true(was_new);
        free(d);
        assert_int_equal(sk_repo_flush(other), 0);
        assert_int_equal(sk_lock_release(s), 0);

        /* and f picks up the other writer's new index file incrementally */
        assert_int_equal(sk_repo_has_blob(f->repo, SK_BLOB_DATA, &ids[0]), 0);
        assert_int_equal(sk_repo_reload_index(f->repo), 0);
        assert_int_equal(sk_repo_has_blob(f->repo, SK_BLOB_DATA, &ids[0]), 1);
        void *g;
        size_t gl;
        assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &ids[0], &g, &gl), 0);
        free(g);
        sk_repo_free(other);
}

static void test_write_failure_sticky(void **state) {
        fixture *f = *state;
        /* make pack writes fail: "data" becomes a plain file */
        char path[800];
        snprintf(path, sizeof(path), "%s/repo/data", f->dir);
        assert_int_equal(sk_rm_rf(path), 0);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
        int failed_at = -1;
        for (int i = 0; i < 20 && failed_at < 0; i++) {
                uint8_t *d = sk_test_random_data(30000, (uint32_t) (700 + i), false);
                if (sk_repo_put_blob(f->repo, SK_BLOB_DATA, d, 30000, NULL, NULL) < 0)
                        failed_at = i;
                free(d);
        }
        /* Full packs are written by writer threads, so the failure reaches a
         * later put, or else the flush, which waits for them. */
        if (failed_at < 0)
                assert_true(sk_repo_flush(f->repo) < 0);
        assert_non_null(strstr(sk_repo_last_error(f->repo), "writing pack"));
        /* every later put and the flush report it: a backup cannot complete */
        uint8_t *d = sk_test_random_data(100, 1, false);
        assert_true(sk_repo_put_blob(f->repo, SK_BLOB_DATA, d, 100, NULL, NULL) < 0);
        free(d);
        assert_true(sk_repo_flush(f->repo) < 0);
        assert_non_null(strstr(sk_repo_last_error(f->repo), "writing pack"));
}

static void test_empty_repo_ops(void **state) {
        fixture *f = *state;
        uint64_t np = 9, nb = 9, nbad = 9;
        assert_int_equal(sk_repo_flush(f->repo), 0);
        assert_int_equal(sk_repo_rebuild_index(f->repo, &np, &nb, &nbad), 0);
        assert_int_equal(np + nb + nbad, 0);
        assert_int_equal(sk_repo_rewrite_index(f->repo, NULL, NULL), 0);
        assert_int_equal(sk_repo_reload_index(f->repo), 0);
        sk_repo_stats st;
        assert_int_equal(sk_repo_get_stats(f->repo, &st), 0);
        assert_int_equal(st.pack_count + st.blob_count + st.index_files, 0);
        reopen(f);
}

static void test_leftovers(void **state) {
        fixture *f = *state;
        sk_blob_id ids[4];
        fill(f, ids, 4);
        /* what a process killed in the middle of a put leaves behind */
        char path[800];
        snprintf(path, sizeof(path), "%s/repo/data/ab", f->dir);
        assert_int_equal(sk_mkdir_p(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/repo/data/ab/abcd.tmp-1234abcd", f->dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "partial", 7), 7);
        close(fd);
        struct timespec old[2] = { { .tv_sec = time(NULL) - 7200 }, { .tv_sec = time(NULL) - 7200 } };
        assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
        char fresh[800];
        snprintf(fresh, sizeof(fresh), "%s/repo/index/ffff.tmp-00000001", f->dir);
        fd = open(fresh, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
        /* never listed as a pack */
        pack_names p = { .n = 0 };
        assert_int_equal(sk_repo_list_packs(f->repo, pack_cb, &p), 0);
        for (int i = 0; i < p.n; i++)
                assert_null(strstr(p.v[i], "tmp"));
        uint64_t removed = 0;
        assert_int_equal(sk_repo_remove_leftovers(f->repo, 3600, &removed), 0);
        assert_int_equal(removed, 1);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(access(fresh, F_OK), 0);   /* too young: maybe a live writer */
        assert_int_equal(sk_repo_remove_leftovers(f->repo, 0, &removed), 0);
        assert_int_equal(removed, 1);
        /* the repository is intact */
        for (int i = 0; i < 4; i++) {
                void *g;
                size_t gl;
                assert_int_equal(sk_repo_get_blob(f->repo, SK_BLOB_DATA, &ids[i], &g, &gl), 0);
                free(g);
        }
}

typedef struct list_ctx {
        int n;
        uint64_t total;
} list_ctx;

static int list_cb(const char *name, uint64_t size, void *ud) {
        list_ctx *l = ud;
        assert_null(strstr(name, ".tmp-"));
        assert_true(strncmp(name, "t/", 2) == 0);
        l->n++;
        l->total += size;
        return 0;
}

static void test_backend_local(void **state) {
        fixture *f = *state;
        char root[700];
        snprintf(root, sizeof(root), "%s/raw", f->dir);
        sk_backend *b = NULL;
        assert_int_equal(sk_backend_open(root, 0, NULL, NULL, &b), -ENOENT);
        assert_int_equal(sk_backend_open(root, 1, NULL, NULL, &b), 0);
        assert_string_equal(b->scheme, "file");
        assert_int_equal(sk_backend_put(b, "t/a/b/obj", "0123456789", 10), 0);
        assert_int_equal(sk_backend_put(b, "t/x", "", 0), 0);
        void *g;
        size_t gl;
        uint64_t sz;
        assert_int_equal(sk_backend_head(b, "t/a/b/obj", &sz), 0);
        assert_int_equal(sz, 10);
        assert_int_equal(sk_backend_get(b, "t/a/b/obj", 3, 4, &g, &gl), 0);
        assert_int_equal(gl, 4);
        assert_memory_equal(g, "3456", 4);
        free(g);
        assert_int_equal(sk_backend_get(b, "t/a/b/obj", 8, SIZE_MAX, &g, &gl), 0);
        assert_int_equal(gl, 2);
        assert_string_equal(g, "89");
        free(g);
        assert_int_equal(sk_backend_get(b, "t/a/b/obj", 100, 5, &g, &gl), 0);
        assert_int_equal(gl, 0);
        free(g);
        /* replace */
        assert_int_equal(sk_backend_put(b, "t/a/b/obj", "new", 3), 0);
        assert_int_equal(sk_backend_get(b, "t/a/b/obj", 0, SIZE_MAX, &g, &gl), 0);
        assert_int_equal(gl, 3);
        free(g);
        list_ctx l = { 0 };
        assert_int_equal(sk_backend_list(b, "t/", list_cb, &l), 0);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.total, 3);
        l = (list_ctx) { 0 };
        assert_int_equal(sk_backend_list(b, "nothing/", list_cb, &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(sk_backend_list(b, "t", list_cb, &l), -EINVAL);
        assert_int_equal(sk_backend_del(b, "t/x"), 0);
        assert_int_equal(sk_backend_del(b, "t/x"), -ENOENT);
        assert_int_equal(sk_backend_get(b, "t/x", 0, 1, &g, &gl), -ENOENT);
        assert_int_equal(sk_backend_head(b, "t/x", &sz), -ENOENT);
        /* names that could escape the root */
        assert_int_equal(sk_backend_put(b, "../evil", "x", 1), -EINVAL);
        assert_int_equal(sk_backend_put(b, "/abs", "x", 1), -EINVAL);
        assert_int_equal(sk_backend_put(b, "a//b", "x", 1), -EINVAL);
        assert_int_equal(sk_backend_put(b, "a/./b", "x", 1), -EINVAL);
        assert_int_equal(sk_backend_get(b, "t/../../x", 0, 1, &g, &gl), -EINVAL);
        sk_backend_free(b);
        snprintf(root, sizeof(root), "file://%s/raw", f->dir);
        assert_int_equal(sk_backend_open(root, 0, NULL, NULL, &b), 0);
        sk_backend_free(b);
        assert_int_equal(sk_backend_open("file://relative", 0, NULL, NULL, &b), -EINVAL);
}

static void test_chunker_from_repo(void **state) {
        fixture *f = *state;
        sk_chunker c = SK_CHUNKER_INIT;
        assert_int_equal(sk_repo_chunker_init(f->repo, &c), 0);
        assert_int_equal(c.min, 4096);
        assert_int_equal(c.max, 65536);
        uint8_t *d = sk_test_random_data(1 << 20, 1, false);
        size_t k = sk_chunker_scan(&c, d, 1 << 20);
        assert_true(k >= 4096 && k <= 65536);
        /* another repository (another key) cuts elsewhere */
        char url[700];
        snprintf(url, sizeof(url), "%s/repo2", f->dir);
        sk_repo *r2 = NULL;
        assert_int_equal(sk_repo_init(url, &small, f->secret, &r2), 0);
        sk_chunker c2 = SK_CHUNKER_INIT;
        assert_int_equal(sk_repo_chunker_init(r2, &c2), 0);
        size_t cuts1[8], cuts2[8], o1 = 0, o2 = 0;
        int same = 0;
        sk_chunker_reset(&c);
        for (int i = 0; i < 8; i++) {
                o1 += sk_chunker_scan(&c, d + o1, (1 << 20) - o1);
                o2 += sk_chunker_scan(&c2, d + o2, (1 << 20) - o2);
                cuts1[i] = o1;
                cuts2[i] = o2;
        }
        for (int i = 0; i < 8; i++)
                for (int j = 0; j < 8; j++)
                        same += cuts1[i] == cuts2[j];
        assert_true(same <= 1);
        /* and the same data gets different blob ids */
        sk_blob_id a, b;
        assert_int_equal(sk_repo_blob_id(f->repo, d, 100, &a), 0);
        assert_int_equal(sk_repo_blob_id(r2, d, 100, &b), 0);
        assert_memory_not_equal(a.b, b.b, 32);
        sk_repo_free(r2);
        free(d);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_init_open_errors), SK_FIXTURE_TEST(test_put_get_dedup_reopen), SK_FIXTURE_TEST(test_put_with_id),
             SK_FIXTURE_TEST(test_threads), SK_FIXTURE_TEST(test_objects), SK_FIXTURE_TEST(test_flipped_byte),
             SK_FIXTURE_TEST(test_truncated_and_missing_pack), SK_FIXTURE_TEST(test_corrupt_index_rebuild),
             SK_FIXTURE_TEST(test_repack), SK_FIXTURE_TEST(test_keys), SK_FIXTURE_TEST(test_locks),
             SK_FIXTURE_TEST(test_lost_lock_blocks_writes), SK_FIXTURE_TEST(test_stale_index_after_prune),
             SK_FIXTURE_TEST(test_write_failure_sticky), SK_FIXTURE_TEST(test_empty_repo_ops),
             SK_FIXTURE_TEST(test_leftovers), SK_FIXTURE_TEST(test_backend_local),
             SK_FIXTURE_TEST(test_chunker_from_repo))
