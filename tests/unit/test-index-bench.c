/* The blob index at scale: a unit test of the bulk load into spilled runs,
 * and, with arguments, the benchmark of its memory, open time and lookup rate
 * on a synthetic repository of N blobs (bench/index.sh; issue 15).
 *
 *   test-index-bench                         the unit test
 *   test-index-bench N [SPILL_DIR|memory [foreground]]
 *                                            the benchmark: one JSON line
 *
 * "Open" loads N entries as a repository's open does once the index files are
 * decoded (decoding is the same for both): 32 blobs per pack, every entry's
 * pack added first. Built with
 * -DSK_INDEX_BENCH_TABLE against the previous index (bench/index.sh compiles
 * it from git), entries are inserted one by one as that index's open did;
 * otherwise they are staged and committed. Then 2 million lookups of present
 * ids and 2 million of absent ids, in random order, and 2 Mi new blobs
 * inserted one by one as a backup adds them (enough to make the runs merge
 * at every size): the longest single insert is what holds a repository's
 * lock longest. A third argument "foreground" runs every merge in the
 * caller's thread, as before merges moved to the background; "noadd" skips
 * the adding (the table index takes minutes for it at 16 million). Prints
 * one JSON line.
 * Ids are a keyed hash of the entry's number, as HMAC ids are uniform. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "repo/index.h"

#ifndef SK_INDEX_BENCH_TABLE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "tests/lib/testutil.h"
#endif

#define PER_PACK 32
#define LOOKUPS (2u << 20)
#define ADDS (2u << 20)

static uint64_t mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

static void make_id(uint64_t i, sk_blob_id *id) {
        for (unsigned k = 0; k < 4; k++) {
                uint64_t v = mix(i * 4 + k);
                memcpy(id->b + 8 * k, &v, 8);
        }
}

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* kB values of /proc/self/status fields */
static long status_kb(const char *field) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        long v = -1;
        size_t n = strlen(field);
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, field, n) == 0 && line[n] == ':')
                        v = strtol(line + n + 1, NULL, 10);
        if (f)
                fclose(f);
        return v;
}

static void add_blob(sk_index *idx, uint64_t i, bool stage) {
        uint8_t name[32] = { 0 };
        uint64_t p = i / PER_PACK;
        memcpy(name, &p, 8);
        name[31] = 0xa5;
        sk_index_entry e = { .offset = (uint32_t) (i % PER_PACK) * 65536, .stored_len = 60000,
                             .raw_len = 65536, .type = SK_BLOB_DATA, .flags = 1 };
        make_id(i, &e.id);
        if (sk_index_pack_add(idx, name, &e.pack) < 0)
                exit(3);
#ifdef SK_INDEX_BENCH_TABLE
        (void) stage;
        if (sk_index_insert(idx, &e, false) < 0)
                exit(3);
#else
        if ((stage ? sk_index_stage(idx, &e) : sk_index_insert(idx, &e, false)) < 0)
                exit(3);
#endif
}

#ifndef SK_INDEX_BENCH_TABLE
/* 300,000 blobs staged and committed into a run in a spill file, then
 * 100,000 inserted one by one (frozen into runs of 16,384 and merged): every
 * one is found with its pack, absent ids are not, and the heap holds a few
 * bytes per blob, not a table slot (48 bytes at a load of at most 0.7). */
static void test_spilled_runs(void **state) {
        (void) state;
        char dir[] = "/var/tmp/sk-index-bench.XXXXXX";
        assert_non_null(mkdtemp(dir));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        sk_index *idx;
        assert_int_equal(sk_index_new(&idx), 0);
        assert_int_equal(sk_index_set_spill_dir(idx, dfd), 0);
        sk_index_tune(idx, 16384, 4096, 1 << 20);
        const uint64_t bulk = 300000, single = 100000;
        for (uint64_t i = 0; i < bulk; i++)
                add_blob(idx, i, true);
        assert_int_equal(sk_index_stage_commit(idx), 0);
        for (uint64_t i = bulk; i < bulk + single; i++)
                add_blob(idx, i, false);
        assert_int_equal(sk_index_count(idx), bulk + single);
        for (uint64_t i = 0; i < bulk + single; i += 7) {
                sk_blob_id id;
                sk_index_entry e;
                make_id(i, &id);
                assert_int_equal(sk_index_lookup(idx, &id, SK_BLOB_DATA, &e), 1);
                const uint8_t *name = sk_index_pack_name(idx, e.pack);
                uint64_t p;
                memcpy(&p, name, 8);
                assert_int_equal(p, i / PER_PACK);
                assert_int_equal(e.offset, (uint32_t) (i % PER_PACK) * 65536);
                assert_int_equal(sk_index_lookup(idx, &id, SK_BLOB_TREE, NULL), 0);
                make_id(bulk + single + i, &id);
                assert_int_equal(sk_index_lookup(idx, &id, SK_BLOB_DATA, NULL), 0);
        }
        size_t heap, spilled;
        sk_index_memory(idx, &heap, &spilled);
        print_message("heap %.1f bytes per blob (pack names included), %zu of %llu records spilled\n",
                      (double) heap / (double) (bulk + single), spilled, (unsigned long long) (bulk + single));
        assert_true(spilled >= bulk);
        assert_true(heap < (bulk + single) * 16);
        sk_index_free(idx);
        close(dfd);
        assert_int_equal(rmdir(dir), 0);        /* the run files were never linked */
}
#endif

int main(int argc, char **argv) {
        if (argc < 2) {
#ifndef SK_INDEX_BENCH_TABLE
                const struct CMUnitTest tests[] = { cmocka_unit_test(test_spilled_runs) };
                return cmocka_run_group_tests(tests, NULL, NULL);
#else
                fprintf(stderr, "usage: index-bench N\n");
                return 1;
#endif
        }
        uint64_t n = strtoull(argv[1], NULL, 0);
        long anon0 = status_kb("RssAnon"), file0 = status_kb("RssFile");
        sk_index *idx;
        if (sk_index_new(&idx) < 0)
                return 2;
#ifndef SK_INDEX_BENCH_TABLE
        const char *spill = argc > 2 ? argv[2] : "/var/tmp";
        int dfd = -1;
        if (strcmp(spill, "memory") != 0 && (dfd = open(spill, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                perror(spill);
                return 2;
        }
        if (dfd >= 0 && sk_index_set_spill_dir(idx, dfd) < 0)
                return 2;
        if (argc > 3 && strcmp(argv[3], "foreground") == 0)
                sk_index_tune_merges(idx, SIZE_MAX, 0);
#endif
        double t0 = now();
        for (uint64_t i = 0; i < n; i++)
                add_blob(idx, i, true);
#ifndef SK_INDEX_BENCH_TABLE
        if (sk_index_stage_commit(idx) < 0)
                return 3;
#endif
        double t_open = now() - t0;
        if (sk_index_count(idx) != n) {
                fprintf(stderr, "count %zu, want %llu\n", sk_index_count(idx), (unsigned long long) n);
                return 4;
        }
        long anon1 = status_kb("RssAnon"), file1 = status_kb("RssFile"), hwm = status_kb("VmHWM");

        uint64_t rng = 12345, found = 0;
        double t1 = now();
        for (uint32_t k = 0; k < LOOKUPS; k++) {
                sk_blob_id id;
                rng = mix(rng);
                make_id(rng % n, &id);
                found += sk_index_lookup(idx, &id, SK_BLOB_DATA, NULL) == 1;
        }
        double t_present = now() - t1;
        t1 = now();
        for (uint32_t k = 0; k < LOOKUPS; k++) {
                sk_blob_id id;
                rng = mix(rng);
                make_id(n + rng % (4 * n), &id);
                found += sk_index_lookup(idx, &id, SK_BLOB_DATA, NULL) == 1;
        }
        double t_absent = now() - t1;
        if (found != LOOKUPS) {
                fprintf(stderr, "lookups found %llu of %u present\n", (unsigned long long) found, LOOKUPS);
                return 4;
        }
        long anon2 = status_kb("RssAnon"), file2 = status_kb("RssFile");

        double longest = 0, t_merge = 0;
        uint64_t adds = argc > 3 && strcmp(argv[3], "noadd") == 0 ? 0 : ADDS;
        t1 = now();
        for (uint64_t i = 0; i < adds; i++) {
                double a = now();
                add_blob(idx, 5 * n + i, false);        /* past the absent ids above */
                double d = now() - a;
                longest = d > longest ? d : longest;
        }
        double t_add = now() - t1;
#ifndef SK_INDEX_BENCH_TABLE
        t1 = now();
        if (sk_index_merge_wait(idx) < 0)
                return 5;
        t_merge = now() - t1;
#endif
        if (sk_index_count(idx) != n + adds) {
                fprintf(stderr, "count after adding %zu, want %llu\n", sk_index_count(idx),
                        (unsigned long long) (n + adds));
                return 4;
        }
        printf("{\"blobs\":%llu,\"open_s\":%.3f,\"anon_bytes_per_blob\":%.1f,\"file_bytes_per_blob\":%.1f,"
               "\"anon_after_lookups_per_blob\":%.1f,\"file_after_lookups_per_blob\":%.1f,"
               "\"peak_rss_mib\":%.0f,\"present_lookups_per_s\":%.0f,\"absent_lookups_per_s\":%.0f,"
               "\"add_s\":%.3f,\"add_longest_insert_ms\":%.1f,\"merge_wait_s\":%.3f}\n",
               (unsigned long long) n, t_open, (double) (anon1 - anon0) * 1024 / (double) n,
               (double) (file1 - file0) * 1024 / (double) n, (double) (anon2 - anon0) * 1024 / (double) n,
               (double) (file2 - file0) * 1024 / (double) n, (double) hwm / 1024, LOOKUPS / t_present,
               LOOKUPS / t_absent, t_add, longest * 1000, t_merge);
        sk_index_free(idx);
        return 0;
}
