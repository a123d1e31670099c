/* Index: hash table behaviour and the index file codec (round trip,
 * corruption, versions). With SK_WRITE_CORPUS=DIR it writes seed inputs for
 * tests/fuzz/fuzz-index (same fixed keys). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "repo/index.h"
#include "common/fsutil.h"
#include "tests/lib/testrepo.h"

static void make_id(sk_blob_id *id, uint32_t i) {
        uint8_t buf[4] = { (uint8_t) i, (uint8_t) (i >> 8), (uint8_t) (i >> 16), (uint8_t) (i >> 24) };
        assert_int_equal(sk_sha256(buf, 4, id->b), 0);
}

static void test_table(void **state) {
        (void) state;
        sk_index *idx;
        assert_int_equal(sk_index_new(&idx), 0);
        uint8_t pn[3][32];
        uint32_t p[3];
        for (int i = 0; i < 3; i++) {
                memset(pn[i], i + 1, 32);
                assert_int_equal(sk_index_pack_add(idx, pn[i], &p[i]), 1);
        }
        uint32_t again;
        assert_int_equal(sk_index_pack_add(idx, pn[1], &again), 0);
        assert_int_equal(again, p[1]);
        assert_int_equal(sk_index_pack_find(idx, pn[2], &again), 1);
        assert_int_equal(again, p[2]);
        assert_memory_equal(sk_index_pack_name(idx, p[0]), pn[0], 32);
        assert_null(sk_index_pack_name(idx, 77));

        const uint32_t N = 100000;
        for (uint32_t i = 0; i < N; i++) {
                sk_index_entry e = { .pack = p[i % 3], .offset = i, .stored_len = i * 2, .raw_len = i * 3, .type = 1 };
                make_id(&e.id, i);
                assert_int_equal(sk_index_insert(idx, &e, false), 1);
        }
        assert_int_equal(sk_index_count(idx), N);
        /* duplicates keep the first */
        sk_index_entry d = { .pack = p[0], .offset = 999999, .type = SK_BLOB_DATA };
        make_id(&d.id, 5);
        assert_int_equal(sk_index_insert(idx, &d, false), 0);
        sk_index_entry got;
        assert_int_equal(sk_index_lookup(idx, &d.id, SK_BLOB_DATA, &got), 1);
        assert_int_equal(got.offset, 5);
        assert_int_equal(sk_index_insert(idx, &d, true), 0);
        assert_int_equal(sk_index_lookup(idx, &d.id, SK_BLOB_DATA, &got), 1);
        assert_int_equal(got.offset, 999999);
        for (uint32_t i = 0; i < N; i += 997) {
                sk_blob_id id;
                make_id(&id, i);
                assert_int_equal(sk_index_lookup(idx, &id, SK_BLOB_DATA, &got), 1);
                if (i != 5)
                        assert_int_equal(got.raw_len, i * 3);
        }
        sk_blob_id missing;
        make_id(&missing, N + 1);
        assert_int_equal(sk_index_lookup(idx, &missing, SK_BLOB_DATA, NULL), 0);

        /* removing a pack drops exactly its entries */
        assert_int_equal(sk_index_remove_pack(idx, p[1]), 0);
        size_t want = 0;
        for (uint32_t i = 0; i < N; i++)
                want += (i % 3 != 1) || i == 5; /* id 5 was moved to p[0] */
        assert_int_equal(sk_index_count(idx), want);
        sk_blob_id id4;
        make_id(&id4, 4); /* 4 % 3 == 1 */
        assert_int_equal(sk_index_lookup(idx, &id4, SK_BLOB_DATA, NULL), 0);

        /* (id, type) is the key: a tree blob with a data blob's id (a file
         * holding a tree's bytes) is a second entry, found only by its type */
        sk_blob_id id6;
        make_id(&id6, 6);
        assert_int_equal(sk_index_lookup(idx, &id6, SK_BLOB_TREE, NULL), 0);
        sk_index_entry t = { .id = id6, .pack = p[2], .offset = 4242, .type = SK_BLOB_TREE };
        assert_int_equal(sk_index_insert(idx, &t, false), 1);
        assert_int_equal(sk_index_count(idx), want + 1);
        assert_int_equal(sk_index_lookup(idx, &id6, SK_BLOB_TREE, &got), 1);
        assert_int_equal(got.offset, 4242);
        assert_int_equal(got.type, SK_BLOB_TREE);
        assert_int_equal(sk_index_lookup(idx, &id6, SK_BLOB_DATA, &got), 1);
        assert_int_equal(got.offset, 6);
        assert_int_equal(got.type, SK_BLOB_DATA);
        /* both survive a rehash, and removing one's pack keeps the other */
        assert_int_equal(sk_index_remove_pack(idx, p[2]), 0);
        assert_int_equal(sk_index_lookup(idx, &id6, SK_BLOB_TREE, NULL), 0);
        assert_int_equal(sk_index_lookup(idx, &id6, SK_BLOB_DATA, &got), 1);
        assert_int_equal(got.offset, 6);
        sk_index_free(idx);
}

static int collect(const uint8_t pack[32], const sk_pack_record *r, void *ud) {
        size_t *n = ud;
        assert_int_equal(pack[0], r->offset >= 1000 ? 2 : 1);
        (*n)++;
        return 0;
}

static void encode_sample(void **ret, size_t *ret_len) {
        sk_pack_record a[3], b[2];
        memset(a, 0, sizeof(a));
        memset(b, 0, sizeof(b));
        for (int i = 0; i < 3; i++) {
                make_id(&a[i].id, (uint32_t) i);
                a[i].offset = 64 + (uint32_t) i * 200;
                a[i].raw_len = a[i].stored_len = 50;
                a[i].type = SK_BLOB_DATA;
        }
        for (int i = 0; i < 2; i++) {
                make_id(&b[i].id, 10 + (uint32_t) i);
                b[i].offset = 1000 + (uint32_t) i * 500;
                b[i].raw_len = 300;
                b[i].stored_len = 100;
                b[i].flags = SK_BLOB_FLAG_ZSTD;
                b[i].type = SK_BLOB_TREE;
        }
        sk_index_section s[2] = { { .entries = a, .n = 3 }, { .entries = b, .n = 2 } };
        memset(s[0].pack, 1, 32);
        memset(s[1].pack, 2, 32);
        uint8_t salt[32] = { 3 }, nonce[12] = { 4 };
        assert_int_equal(sk_index_file_encode(sk_test_key(salt), salt, nonce, s, 2, ret, ret_len), 0);
}

static void test_file_codec(void **state) {
        (void) state;
        sk_pack_keys keys = { .resolve = sk_test_resolve };
        void *f;
        size_t len, n = 0;
        encode_sample(&f, &len);
        assert_int_equal(sk_index_file_decode(&keys, f, len, collect, &n), 0);
        assert_int_equal(n, 5);

        const char *dir = getenv("SK_WRITE_CORPUS");
        if (dir) {
                sk_test_write_file(dir, "index-2-packs", f, len);
                sk_test_write_file(dir, "index-header-only", f, SK_FILE_HEADER_SIZE + 10);
        }

        uint8_t *b = f;
        /* every single flipped byte is caught */
        for (size_t i = 0; i < len; i++) {
                b[i] ^= 0x04;
                n = 0;
                int r = sk_index_file_decode(&keys, f, len, collect, &n);
                assert_true(r == -EBADMSG || r == -EPROTO);
                assert_int_equal(n, 0);
                b[i] ^= 0x04;
        }
        /* truncation */
        for (size_t l = 0; l < len; l += 3)
                assert_int_equal(sk_index_file_decode(&keys, f, l, collect, &n), -EBADMSG);
        /* version */
        b[8] = 9;
        assert_int_equal(sk_index_file_decode(&keys, f, len, collect, &n), -EPROTO);
        b[8] = 1;
        b[14] = 1; /* required feature bit 16 */
        assert_int_equal(sk_index_file_decode(&keys, f, len, collect, &n), -EPROTO);
        b[14] = 0;
        n = 0;
        assert_int_equal(sk_index_file_decode(&keys, f, len, collect, &n), 0);
        assert_int_equal(n, 5);
        free(f);
}

static int count_only(const uint8_t pack[32], const sk_pack_record *r, void *ud) {
        (void) pack;
        (void) r;
        (*(size_t *) ud)++;
        return 0;
}

static void test_implausible_entries(void **state) {
        (void) state;
        /* a well-sealed file whose entries are nonsense is still rejected */
        sk_pack_keys keys = { .resolve = sk_test_resolve };
        sk_pack_record a[2];
        memset(a, 0, sizeof(a));
        a[0].offset = 64;
        a[0].raw_len = a[0].stored_len = 10;
        a[0].type = 3; /* unknown type */
        sk_index_section s = { .entries = a, .n = 1 };
        uint8_t salt[32] = { 0 }, nonce[12] = { 0 };
        void *f;
        size_t len, n = 0;
        assert_int_equal(sk_index_file_encode(sk_test_key(salt), salt, nonce, &s, 1, &f, &len), 0);
        assert_int_equal(sk_index_file_decode(&keys, f, len, count_only, &n), -EBADMSG);
        free(f);
        /* overlapping offsets */
        a[0].type = 1;
        a[1] = a[0];
        a[1].offset = 70;
        s.n = 2;
        assert_int_equal(sk_index_file_encode(sk_test_key(salt), salt, nonce, &s, 1, &f, &len), 0);
        assert_int_equal(sk_index_file_decode(&keys, f, len, count_only, &n), -EBADMSG);
        free(f);
}

/* Writers never make an index file readers would refuse: more entries than
 * SK_INDEX_FILE_MAX_ENTRIES is -E2BIG before anything is read or allocated
 * (the sections' entries here are never touched). */
static void test_file_entry_bound(void **state) {
        (void) state;
        sk_pack_record dummy = { 0 };
        sk_index_section s[3];
        for (int i = 0; i < 3; i++)
                s[i] = (sk_index_section) { .entries = &dummy, .n = SK_PACK_MAX_BLOBS };
        uint8_t key[SK_KEY_SIZE] = { 0 }, salt[SK_SALT_SIZE] = { 0 }, nonce[SK_NONCE_SIZE] = { 0 };
        void *file = NULL;
        size_t len;
        assert_int_equal(sk_index_file_encode(key, salt, nonce, s, 3, &file, &len), -E2BIG);
        assert_null(file);
        assert_true((uint64_t) SK_INDEX_FILE_MAX_ENTRIES * (SK_PACK_ENTRY_SIZE + 40) + 100 < SK_INDEX_FILE_MAX);
}

static int count_cb(const sk_index_entry *e, void *ud) {
        (void) e;
        (*(size_t *) ud)++;
        return 0;
}

static void insert_range(sk_index *idx, uint32_t from, uint32_t to, uint32_t pack, bool replace) {
        for (uint32_t i = from; i < to; i++) {
                sk_index_entry e = { .pack = pack, .offset = i, .stored_len = 1, .raw_len = 1, .type = SK_BLOB_DATA };
                make_id(&e.id, i);
                assert_true(sk_index_insert(idx, &e, replace) >= 0);
        }
}

/* An index freezing its table at freeze_at entries, merging in the
 * background from background_min records, held back delay_ms. */
static sk_index *merge_index(size_t freeze_at, size_t background_min, unsigned delay_ms) {
        sk_index *idx;
        assert_int_equal(sk_index_new(&idx), 0);
        sk_index_tune(idx, freeze_at, 0, 0);
        sk_index_tune_merges(idx, background_min, delay_ms);
        return idx;
}

/* n packs named by the bytes first, first + 1, ... into p[]. */
static void add_packs(sk_index *idx, uint8_t first, uint32_t *p, int n) {
        for (int i = 0; i < n; i++) {
                uint8_t name[32];
                memset(name, first + i, 32);
                assert_int_equal(sk_index_pack_add(idx, name, &p[i]), 1);
        }
}

/* Entries from .. to of pack, staged and committed: one run. */
static void stage_range(sk_index *idx, uint32_t from, uint32_t to, uint32_t pack) {
        for (uint32_t i = from; i < to; i++) {
                sk_index_entry e = { .pack = pack, .offset = i, .stored_len = 1, .raw_len = 1, .type = SK_BLOB_DATA };
                make_id(&e.id, i);
                assert_int_equal(sk_index_stage(idx, &e), 0);
        }
        assert_int_equal(sk_index_stage_commit(idx), 0);
}

/* 1: found in pack (or 0: absent). */
static void expect(const sk_index *idx, uint32_t i, int found, uint32_t pack) {
        sk_blob_id id;
        sk_index_entry got;
        make_id(&id, i);
        assert_int_equal(sk_index_lookup(idx, &id, SK_BLOB_DATA, &got), found);
        if (found)
                assert_int_equal(got.pack, pack);
}

/* A merge in the background (held back until waited for) while the index goes on
 * changing: a pack removed after the merge started must stay removed when
 * the merged run is installed (the run is stamped with the clock of the
 * start, not of the install), a key replaced meanwhile keeps its new
 * version, and a run frozen meanwhile stays above the merged one. */
static void test_background_merge(void **state) {
        (void) state;
        sk_index *idx = merge_index(100, 0, SK_INDEX_HOLD_MERGES);
        uint32_t p[3];
        add_packs(idx, 0x40, p, 3);
        insert_range(idx, 0, 100, p[0], false);        /* frozen: run 1 */
        insert_range(idx, 100, 200, p[1], false);      /* run 2: as large as run 1, so they merge */
        sk_index_stats st;
        sk_index_get_stats(idx, &st);
        assert_true(st.merging);
        assert_int_equal(st.runs, 2);
        assert_int_equal(st.merges, 0);

        assert_int_equal(sk_index_remove_pack(idx, p[0]), 0);
        insert_range(idx, 150, 160, p[2], true);       /* replaced while merging */
        insert_range(idx, 200, 290, p[2], false);      /* with the replaces: run 3, above the merge */
        sk_index_get_stats(idx, &st);
        assert_true(st.merging);
        assert_int_equal(st.runs, 3);
        expect(idx, 5, 0, 0);

        assert_int_equal(sk_index_merge_wait(idx), 0);
        sk_index_get_stats(idx, &st);
        assert_false(st.merging);
        assert_int_equal(st.runs, 2);
        assert_int_equal(st.merges, 1);
        assert_int_equal(st.background_merges, 1);
        for (uint32_t i = 0; i < 100; i++)
                expect(idx, i, 0, 0);
        for (uint32_t i = 100; i < 200; i++)
                expect(idx, i, 1, i >= 150 && i < 160 ? p[2] : p[1]);
        for (uint32_t i = 200; i < 290; i++)
                expect(idx, i, 1, p[2]);
        size_t n = 0;
        assert_int_equal(sk_index_foreach(idx, count_cb, &n), 0);
        assert_int_equal(n, 190);
        assert_int_equal(sk_index_count(idx), 190);

        /* freed with a merge in flight: cancelled, nothing leaks (ASan) */
        insert_range(idx, 300, 700, p[1], false);
        sk_index_get_stats(idx, &st);
        assert_true(st.merging);
        sk_index_free(idx);
}

/* A run of over a million records: its directory (2 MiB and more) is a
 * huge-page mapping (index-run.c), found, merged and freed like a small one. */
static void test_large_run(void **state) {
        (void) state;
        sk_index *idx = merge_index(100, SIZE_MAX, 0);
        uint32_t p[2];
        add_packs(idx, 0x70, p, 2);
        const uint32_t n = 1100000;
        stage_range(idx, 0, n, p[0]);
        for (uint32_t i = 0; i < n; i += 997)
                expect(idx, i, 1, p[0]);
        expect(idx, n - 1, 1, p[0]);
        expect(idx, n, 0, 0);
        insert_range(idx, n - 300, n + 300, p[1], true); /* runs above it, then a full merge */
        assert_int_equal(sk_index_merge_wait(idx), 0);
        for (uint32_t i = n - 400; i < n + 300; i++)
                expect(idx, i, 1, i >= n - 300 ? p[1] : p[0]);
        expect(idx, 0, 1, p[0]);
        assert_int_equal(sk_index_count(idx), n + 300);
        sk_index_free(idx);
}

/* Newer runs merged among themselves (not the oldest): a key whose newest
 * version is dead (its pack removed after it replaced an older version)
 * must stay absent, so the partial merge keeps a tombstone for it, or the
 * oldest run's version would come back. */
static void partial_merge_keeps_tombstones(bool background) {
        /* in this thread, or in the background held back until waited for */
        sk_index *idx = merge_index(100, background ? 0 : SIZE_MAX, background ? SK_INDEX_HOLD_MERGES : 0);
        uint32_t p[3];
        add_packs(idx, 0x60, p, 3);
        stage_range(idx, 0, 5000, p[0]);              /* the oldest run */
        insert_range(idx, 0, 50, p[1], true);          /* replaces ... */
        insert_range(idx, 1000000, 1000050, p[1], false);
        assert_int_equal(sk_index_remove_pack(idx, p[1]), 0); /* ... whose pack goes */
        insert_range(idx, 2000, 2100, p[2], true);     /* run 3 (the table froze at 100) */
        sk_index_stats st;
        sk_index_get_stats(idx, &st);
        assert_int_equal(st.runs, 3);
        insert_range(idx, 3000000, 3000100, p[2], false); /* run 4: three newer runs, far below a quarter */
        if (background) {
                sk_index_get_stats(idx, &st);
                assert_true(st.merging);
                assert_int_equal(sk_index_merge_wait(idx), 0);
        }
        sk_index_get_stats(idx, &st);
        assert_int_equal(st.merges, 1);
        assert_int_equal(st.runs, 2);                  /* the oldest, and the newer ones merged */
        for (uint32_t i = 0; i < 50; i++)
                expect(idx, i, 0, 0);                  /* not the oldest run's version */
        for (uint32_t i = 50; i < 5000; i++)
                expect(idx, i, 1, i >= 2000 && i < 2100 ? p[2] : p[0]);
        expect(idx, 1000000, 0, 0);
        expect(idx, 3000000, 1, p[2]);
        size_t n = 0;
        assert_int_equal(sk_index_foreach(idx, count_cb, &n), 0);
        assert_int_equal(n, 4950 + 100);
        assert_int_equal(sk_index_count(idx), n);
        sk_index_free(idx);
}

static void test_partial_merge_keeps_tombstones(void **state) {
        (void) state;
        partial_merge_keeps_tombstones(false);
        partial_merge_keeps_tombstones(true);
}

/* Size tiers: runs merge with runs of their size. After three runs of 100
 * became one of 300, the next three of 100 merge among themselves (the 300
 * is not rewritten for them), and the two of 300 with the next... */
static void test_partial_merges_by_size(void **state) {
        (void) state;
        sk_index *idx = merge_index(100, SIZE_MAX, 0);
        uint32_t p;
        add_packs(idx, 0x70, &p, 1);
        stage_range(idx, 0, 100000, p);
        sk_index_stats st;
        insert_range(idx, 200000, 200300, p, false);   /* 3 runs of 100: merged into 300 */
        sk_index_get_stats(idx, &st);
        assert_int_equal(st.runs, 2);
        assert_int_equal(st.merges, 1);
        insert_range(idx, 200300, 200500, p, false);   /* 300, 100, 100: no merge */
        sk_index_get_stats(idx, &st);
        assert_int_equal(st.runs, 4);
        assert_int_equal(st.merges, 1);
        insert_range(idx, 200500, 200600, p, false);   /* 300 + three of 100: all four (300 <= 300) */
        sk_index_get_stats(idx, &st);
        assert_int_equal(st.runs, 2);
        assert_int_equal(st.merges, 2);
        for (uint32_t i = 200000; i < 200600; i += 7)
                expect(idx, i, 1, p);
        assert_int_equal(sk_index_count(idx), 100600);
        sk_index_free(idx);
}

/* Packs numbered outside the name table (the repository's placeholders for
 * packs being written) and a removal of one, then a merge: the merge's copy
 * of the removals must read only the placeholder table's used slots (it
 * wrote past its copy's end when free slots held leftovers). */
static void test_merge_after_placeholder_removal(void **state) {
        (void) state;
        /* leave dirty memory for the placeholder table's malloc to reuse */
        for (int k = 0; k < 8; k++) {
                void *junk[8];
                for (int j = 0; j < 8; j++) {
                        junk[j] = malloc((size_t) 1024 << (k % 3));
                        assert_non_null(junk[j]);
                        memset(junk[j], 0x7f, (size_t) 1024 << (k % 3));
                }
                for (int j = 0; j < 8; j++)
                        free(junk[j]);
        }
        sk_index *idx = merge_index(100, SIZE_MAX, 0);
        const uint32_t tag = 0x80000001u;
        insert_range(idx, 0, 50, tag, false);
        insert_range(idx, 50, 100, tag + 1, false);    /* run 1 */
        assert_int_equal(sk_index_remove_pack(idx, tag), 0);
        insert_range(idx, 100, 200, tag + 2, false);   /* run 2: merged with run 1 */
        sk_index_stats st;
        sk_index_get_stats(idx, &st);
        assert_int_equal(st.merges, 1);
        for (uint32_t i = 0; i < 50; i++)
                expect(idx, i, 0, 0);
        for (uint32_t i = 50; i < 100; i++)
                expect(idx, i, 1, tag + 1);
        assert_int_equal(sk_index_count(idx), 150);
        sk_index_free(idx);
}

/* Freeing an index whose merge is held back 5 s cancels it at once. */
static void test_free_cancels_a_merge(void **state) {
        (void) state;
        sk_index *idx = merge_index(100, 0, 5000);
        insert_range(idx, 0, 200, 1, false);
        sk_index_stats st;
        sk_index_get_stats(idx, &st);
        assert_true(st.merging);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        sk_index_free(idx);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6;
        assert_true(ms < 1000);
}

/* Merges that fail (the spill file may not grow: RLIMIT_FSIZE) leave the
 * runs as they were, and every answer right, in the caller's thread and in
 * the background. */
static void test_failed_merges_lose_nothing(void **state) {
        (void) state;
        char path[] = "/var/tmp/sk-index-fail.XXXXXX";
        assert_non_null(mkdtemp(path));
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
        struct rlimit old, lim;
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 200 * 1024;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        for (int bg = 0; bg < 2; bg++) {
                /* runs of 1500 stay in memory; merges spill */
                sk_index *idx = merge_index(1500, bg ? 0 : SIZE_MAX, 0);
                assert_int_equal(sk_index_set_spill_dir(idx, dfd), 0);
                uint32_t p[2];
                add_packs(idx, 0x30, p, 2);
                uint32_t n = 1500 * 12;
                insert_range(idx, 0, n, p[0], false);
                insert_range(idx, 0, 300, p[1], true);
                assert_int_equal(sk_index_remove_pack(idx, p[1]), 0);
                insert_range(idx, n, n + 1500 * 3, p[0], false);
                (void) sk_index_merge_wait(idx);
                for (uint32_t i = 0; i < n + 4500; i++)
                        expect(idx, i, i < 300 ? 0 : 1, p[0]);
                size_t c = 0;
                assert_int_equal(sk_index_foreach(idx, count_cb, &c), 0);
                assert_int_equal(c, n + 4500 - 300);
                assert_int_equal(sk_index_count(idx), c);
                sk_index_free(idx);
        }
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, old_handler);
        close(dfd);
        assert_int_equal(rmdir(path), 0);
}

SK_TEST_MAIN(cmocka_unit_test(test_partial_merges_by_size), cmocka_unit_test(test_merge_after_placeholder_removal),
             cmocka_unit_test(test_free_cancels_a_merge), cmocka_unit_test(test_failed_merges_lose_nothing),
             cmocka_unit_test(test_table), cmocka_unit_test(test_file_codec), cmocka_unit_test(test_background_merge),
             cmocka_unit_test(test_large_run),
             cmocka_unit_test(test_partial_merge_keeps_tombstones),
             cmocka_unit_test(test_implausible_entries), cmocka_unit_test(test_file_entry_bound))
