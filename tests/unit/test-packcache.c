/* The pack read-ahead cache: sequential reads take one fetch per span and
 * return the right bytes; the pack's end, truncation and fetch errors;
 * the read-ahead shrinking for scattered reads and growing back; concurrent
 * readers sharing spans; drop. The "packs" are byte arrays in memory and the
 * fetch function counts its calls. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "repo/packcache.h"
#include "common/macro.h"
#include "tests/lib/testutil.h"

#define NPACKS 8
#define PACK_LEN (4u * 1024 * 1024)
#define SPAN (1024u * 1024)
#define REC 4096u

typedef struct store {
        uint8_t *pack[NPACKS];
        size_t len[NPACKS];
        pthread_mutex_t mu;
        unsigned fetches;
        unsigned reused;        /* fetches into a retired span's buffer */
        uint64_t last_offset;   /* of the last fetch */
        size_t last_len;
        int fail_next;          /* -errno for the next fetch, then 0 */
} store;

static int fetch(void *userdata, uint32_t pack, uint64_t offset, size_t len, void **io_buf, size_t *io_cap,
                 size_t *ret_len) {
        store *s = userdata;
        pthread_mutex_lock(&s->mu);
        s->fetches++;
        s->last_offset = offset;
        s->last_len = len;
        int fail = s->fail_next;
        s->fail_next = 0;
        pthread_mutex_unlock(&s->mu);
        if (fail)
                return fail;
        if (pack >= NPACKS)
                return -ENOENT;
        size_t n = offset < s->len[pack] ? s->len[pack] - offset : 0;
        if (n > len)
                n = len;
        uint8_t *b = *io_buf;
        if (b && *io_cap >= len) {
                pthread_mutex_lock(&s->mu);
                s->reused++; /* a retired span's buffer, filled again */
                pthread_mutex_unlock(&s->mu);
        } else {
                free(b);
                *io_buf = NULL;
                b = malloc(len + 1);
                if (!b)
                        return -ENOMEM;
                *io_buf = b;
                *io_cap = len;
        }
        memcpy(b, s->pack[pack] + offset, n);
        *ret_len = n;
        return 0;
}

static int setup(void **state) {
        store *s = calloc(1, sizeof(*s));
        pthread_mutex_init(&s->mu, NULL);
        for (unsigned p = 0; p < NPACKS; p++) {
                s->len[p] = PACK_LEN;
                s->pack[p] = malloc(PACK_LEN);
                for (size_t i = 0; i < PACK_LEN; i++)
                        s->pack[p][i] = (uint8_t) (i * 7 + p * 131 + (i >> 12));
        }
        *state = s;
        return 0;
}

static int teardown(void **state) {
        store *s = *state;
        for (unsigned p = 0; p < NPACKS; p++)
                free(s->pack[p]);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return 0;
}

static void read_ok(sk_packcache *pc, store *s, uint32_t pack, uint64_t off, size_t len) {
        void *buf = NULL;
        assert_int_equal(sk_packcache_read(pc, pack, off, len, &buf), 1);
        assert_memory_equal(buf, s->pack[pack] + off, len);
        free(buf);
}

static void test_sequential_one_fetch_per_span(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(4, SPAN, fetch, s, &pc), 0);
        for (uint32_t p = 0; p < 2; p++)
                for (uint64_t off = 0; off + REC <= PACK_LEN; off += REC)
                        read_ok(pc, s, p, off, REC);
        /* 2 packs x 4 MiB in 1 MiB spans */
        assert_int_equal(s->fetches, 2 * PACK_LEN / SPAN);
        /* 4 entries: the first 4 spans get new buffers, the next 4 fill the
         * buffers of the spans they replace (no new pages to fault in) */
        assert_int_equal(s->reused, 2 * PACK_LEN / SPAN - 4);
        sk_packcache_stats st;
        sk_packcache_get_stats(pc, &st);
        assert_int_equal(st.spans_loaded, 8);
        assert_int_equal(st.bytes_loaded, 2 * PACK_LEN);
        assert_int_equal(st.bytes_served, 2 * PACK_LEN);
        assert_int_equal(st.declined, 0);
        sk_packcache_free(pc);
}

static void test_record_across_span_boundary_and_larger_than_span(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(2, SPAN, fetch, s, &pc), 0);
        read_ok(pc, s, 0, 0, REC);
        /* straddles the first span's end: a new span starts at the record */
        read_ok(pc, s, 0, SPAN - 100, 300);
        /* bigger than a span: loaded whole */
        read_ok(pc, s, 1, 10, 3 * SPAN);
        assert_int_equal(s->fetches, 3);
        sk_packcache_free(pc);
}

static void test_pack_end_and_truncation(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(4, SPAN, fetch, s, &pc), 0);
        /* the last record of a pack: the span is cut short by the pack's end */
        read_ok(pc, s, 2, PACK_LEN - REC, REC);
        /* a record the index says runs past the end: declined, not invented */
        void *buf = NULL;
        assert_int_equal(sk_packcache_read(pc, 2, PACK_LEN - 100, 200, &buf), 0);
        assert_null(buf);
        /* truncated pack: a record beyond what the fetch returned */
        s->len[3] = 1000;
        assert_int_equal(sk_packcache_read(pc, 3, 500, 1000, &buf), 0);
        assert_null(buf);
        read_ok(pc, s, 3, 0, 500);
        s->len[3] = PACK_LEN;
        sk_packcache_free(pc);
}

static void test_fetch_error_propagates_and_is_not_cached(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(4, SPAN, fetch, s, &pc), 0);
        void *buf = NULL;
        s->fail_next = -EIO;
        assert_int_equal(sk_packcache_read(pc, 0, 0, REC, &buf), -EIO);
        assert_int_equal(sk_packcache_read(pc, NPACKS, 0, REC, &buf), -ENOENT);
        read_ok(pc, s, 0, 0, REC);
        sk_packcache_free(pc);
}

/* One record from each of many places: the read-ahead must shrink, so the
 * bytes fetched end up far below spans x span size. Then sequential reads
 * grow it back. */
static void test_scattered_reads_shrink_read_ahead(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        const size_t big = 4u * 1024 * 1024;
        assert_int_equal(sk_packcache_new(2, big, fetch, s, &pc), 0);
        unsigned n = 0;
        for (uint64_t off = 0; off + REC <= PACK_LEN; off += 512 * 1024)
                for (uint32_t p = 0; p < NPACKS; p++, n++)
                        read_ok(pc, s, p, off, REC);
        sk_packcache_stats st;
        sk_packcache_get_stats(pc, &st);
        assert_int_equal(st.spans_loaded, n);
        /* without adaptation: n x up-to-4-MiB spans, about 40 MiB */
        assert_true(st.bytes_loaded < (uint64_t) n * big / 8);

        /* sequential again: spans grow, so later fetches are big */
        unsigned before = s->fetches;
        for (uint64_t off = 0; off + REC <= PACK_LEN; off += REC)
                read_ok(pc, s, 5, off, REC);
        unsigned seq = s->fetches - before;
        assert_true(seq < PACK_LEN / (64 * 1024));
        sk_packcache_free(pc);
}

typedef struct reader {
        sk_packcache *pc;
        store *s;
        pthread_barrier_t *start;
        uint32_t packs;         /* read this many packs whole, or */
        size_t span_only;       /* only the first span_only bytes of pack 0 */
        int bad;
} reader;

static void *reader_main(void *userdata) {
        reader *rd = userdata;
        pthread_barrier_wait(rd->start);
        uint32_t packs = rd->span_only ? 1 : rd->packs;
        size_t end = rd->span_only ? rd->span_only : PACK_LEN;
        for (uint32_t p = 0; p < packs; p++)
                for (uint64_t off = 0; off + REC <= end; off += REC) {
                        void *buf = NULL;
                        int r = sk_packcache_read(rd->pc, p, off, REC, &buf);
                        if (r < 0 || (r == 1 && memcmp(buf, rd->s->pack[p] + off, REC) != 0))
                                rd->bad++;
                        free(buf);
                }
        return NULL;
}

static void run_readers(sk_packcache *pc, store *s, uint32_t packs, size_t span_only) {
        pthread_barrier_t start;
        reader rd[4];
        pthread_t t[4];
        pthread_barrier_init(&start, NULL, 4);
        for (int i = 0; i < 4; i++) {
                rd[i] = (reader) { .pc = pc, .s = s, .start = &start, .packs = packs, .span_only = span_only };
                assert_int_equal(pthread_create(&t[i], NULL, reader_main, &rd[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(rd[i].bad, 0);
        }
        pthread_barrier_destroy(&start);
}

static int slow_fetch(void *userdata, uint32_t pack, uint64_t offset, size_t len, void **io_buf, size_t *io_cap,
                      size_t *ret_len) {
        struct timespec t = { 0, 200 * 1000000L };
        nanosleep(&t, NULL);
        return fetch(userdata, pack, offset, len, io_buf, io_cap, ret_len);
}

/* Four readers start together on the same span while its fetch is slow:
 * one loads it and the others wait for that load. */
static void test_concurrent_readers_share_a_loading_span(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(4, SPAN, slow_fetch, s, &pc), 0);
        run_readers(pc, s, 0, SPAN);
        assert_int_equal(s->fetches, 1);
        sk_packcache_free(pc);
}

/* Readers racing over more data than the cache holds: every byte served
 * is right (a reader may have to reload or be declined, never misread). */
static void test_concurrent_readers_under_eviction(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(2, SPAN, fetch, s, &pc), 0);
        run_readers(pc, s, 4, 0);
        sk_packcache_drop(pc);
        read_ok(pc, s, 0, 0, REC);
        sk_packcache_free(pc);
}

/* With a plan, a miss loads exactly up to the pack's last planned record:
 * one fetch for all of a pack's planned records, nothing read past them. */
static void test_plan_loads_up_to_the_last_planned_record(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(4, 2 * PACK_LEN, fetch, s, &pc), 0);
        const uint64_t offs[] = { 64, 100000, 900000, 2500000 };
        for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
                assert_int_equal(sk_packcache_plan(pc, 6, offs[i], REC), 0);
        assert_int_equal(sk_packcache_plan(pc, 7, 5000, REC), 0);
        for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
                read_ok(pc, s, 6, offs[i], REC);
        assert_int_equal(s->fetches, 1);
        sk_packcache_stats st;
        sk_packcache_get_stats(pc, &st);
        assert_int_equal(st.bytes_loaded, 2500000 + REC - 64);
        /* a pack with one planned record: just that record */
        read_ok(pc, s, 7, 5000, REC);
        /* a record of a pack nothing was planned for: just that record */
        read_ok(pc, s, 5, 7000, REC);
        sk_packcache_get_stats(pc, &st);
        assert_int_equal(st.bytes_loaded, 2500000 + REC - 64 + 2 * REC);
        assert_int_equal(s->fetches, 3);
        /* drop forgets the plan: back to read-ahead from the pack's start */
        sk_packcache_drop(pc);
        read_ok(pc, s, 6, 100000, REC);
        sk_packcache_get_stats(pc, &st);
        assert_int_equal(st.bytes_loaded, 2500000 + REC - 64 + 2 * REC + PACK_LEN);
        sk_packcache_free(pc);
}

/* With a plan, each pack is fetched once: a miss takes the pack from its
 * first to its last needed record, and records still needed when their span
 * goes (a deduplicated blob read again later) are kept. */
static void test_plan_reads_each_pack_once(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(2, 2 * PACK_LEN, fetch, s, &pc), 0);
        /* pack 0: A read twice (planned twice), B once; packs 1..5: one each */
        const uint64_t A = 300000, B = 50000;
        assert_int_equal(sk_packcache_plan(pc, 0, A, REC), 0);
        assert_int_equal(sk_packcache_plan(pc, 0, B, REC), 0);
        for (uint32_t p = 1; p <= 5; p++)
                assert_int_equal(sk_packcache_plan(pc, p, 1000 * p, REC), 0);
        assert_int_equal(sk_packcache_plan(pc, 0, A, REC), 0);
        /* A before B: the span still starts at B, the first needed record */
        read_ok(pc, s, 0, A, REC);
        read_ok(pc, s, 0, B, REC);
        assert_int_equal(s->fetches, 1);
        for (uint32_t p = 1; p <= 5; p++)
                read_ok(pc, s, p, 1000 * p, REC);
        assert_int_equal(s->fetches, 6);
        /* pack 0's span is long gone; A's second read comes from the copy */
        read_ok(pc, s, 0, A, REC);
        assert_int_equal(s->fetches, 6);
        sk_packcache_stats st;
        sk_packcache_get_stats(pc, &st);
        assert_int_equal(st.bytes_loaded, (A + REC - B) + 5 * REC);
        /* a third, unplanned read of A: fetched again, just the record */
        read_ok(pc, s, 0, A, REC);
        assert_int_equal(s->fetches, 7);
        sk_packcache_free(pc);
}

/* A prefetch loads a span for later readers, but never pushes out a span
 * that has not been read yet. */
static void test_prefetch_uses_only_free_or_consumed_entries(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(2, SPAN, fetch, s, &pc), 0);
        assert_int_equal(sk_packcache_prefetch(pc, 0, 64, REC), 1);
        assert_int_equal(sk_packcache_prefetch(pc, 0, 64 + REC, REC), 0);      /* cached already */
        assert_int_equal(sk_packcache_prefetch(pc, 1, 64, REC), 1);
        assert_int_equal(sk_packcache_prefetch(pc, 2, 64, REC), 0);            /* both unread */
        assert_int_equal(s->fetches, 2);
        read_ok(pc, s, 1, 64, REC);
        assert_int_equal(s->fetches, 2);
        /* read all of pack 0's span: now it may be replaced */
        for (uint64_t off = 0; off + REC <= SPAN; off += REC)
                read_ok(pc, s, 0, off, REC);
        assert_int_equal(sk_packcache_prefetch(pc, 2, 64, REC), 1);
        read_ok(pc, s, 2, 64, REC);
        assert_int_equal(s->fetches, 3);
        sk_packcache_free(pc);
}

/* A fetch that waits (up to 2 s) until another fetch is in flight too, and
 * records how many ran at once: loaders must fetch side by side. */
static pthread_mutex_t par_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t par_cv = PTHREAD_COND_INITIALIZER;
static unsigned par_now, par_max, par_started;
static bool par_wait;

static int paired_fetch(void *userdata, uint32_t pack, uint64_t offset, size_t len, void **io_buf, size_t *io_cap,
                        size_t *ret_len) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        pthread_mutex_lock(&par_mu);
        par_now++;
        par_started++;
        par_max = par_now > par_max ? par_now : par_max;
        pthread_cond_broadcast(&par_cv);
        /* wait for a second fetch to start (not to be in flight: it may
         * have started and ended already, having waited for this one) */
        while (par_wait && par_started < 2 && pthread_cond_timedwait(&par_cv, &par_mu, &until) == 0)
                ;
        pthread_mutex_unlock(&par_mu);
        int r = fetch(userdata, pack, offset, len, io_buf, io_cap, ret_len);
        pthread_mutex_lock(&par_mu);
        par_now--;
        pthread_mutex_unlock(&par_mu);
        return r;
}

/* With loader threads, prefetches are queued (one per pack) and two packs
 * are fetched at the same time; a loader waits for an entry to be read
 * before it replaces it, and readers find the spans the loaders fetched. */
static void test_loaders_fetch_packs_side_by_side(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        par_now = par_max = par_started = 0;
        par_wait = true;
        assert_int_equal(sk_packcache_new(2, 2 * PACK_LEN, paired_fetch, s, &pc), 0);
        assert_int_equal(sk_packcache_start_loaders(pc, 3), -EINVAL); /* more loaders than entries */
        assert_int_equal(sk_packcache_start_loaders(pc, 2), 0);
        assert_int_equal(sk_packcache_start_loaders(pc, 2), 0); /* again: nothing changes */
        for (uint32_t p = 0; p < 3; p++)
                for (uint64_t off = 0; off < 4 * REC; off += REC)
                        assert_int_equal(sk_packcache_plan(pc, p, off, REC), 0);
        assert_int_equal(sk_packcache_prefetch(pc, 0, 0, REC), 1);
        assert_int_equal(sk_packcache_prefetch(pc, 0, REC, REC), 0); /* the pack is queued or loading */
        assert_int_equal(sk_packcache_prefetch(pc, 1, 0, REC), 1);
        assert_int_equal(sk_packcache_prefetch(pc, 2, 0, REC), 1); /* waits for an entry */
        for (uint32_t p = 0; p < 3; p++) {
                if (p == 2) { /* pack 2's load started when pack 0 had been read: alone */
                        pthread_mutex_lock(&par_mu);
                        par_wait = false;
                        pthread_cond_broadcast(&par_cv);
                        pthread_mutex_unlock(&par_mu);
                }
                for (uint64_t off = 0; off < 4 * REC; off += REC)
                        read_ok(pc, s, p, off, REC);
        }
        assert_int_equal(s->fetches, 3);
        assert_int_equal(par_max, 2);

        /* a failed prefetch is dropped: the reader fetches and gets the bytes */
        sk_packcache_drop(pc);
        s->fail_next = -EIO;
        assert_int_equal(sk_packcache_prefetch(pc, 4, 0, REC), 1);
        unsigned fetches = 0;
        for (int i = 0; i < 500 && fetches < 4; i++) {
                nanosleep(&(struct timespec) { 0, 10 * 1000 * 1000 }, NULL);
                pthread_mutex_lock(&s->mu);
                fetches = s->fetches;
                pthread_mutex_unlock(&s->mu);
        }
        assert_int_equal(fetches, 4);
        read_ok(pc, s, 4, 0, REC);
        /* freed with requests queued and loaders waiting: no hang, no leak */
        for (uint32_t p = 5; p < NPACKS; p++)
                (void) sk_packcache_prefetch(pc, p, 0, REC);
        sk_packcache_free(pc);
}

/* Tuned as for a remote store's reads without a plan: a pack's first read
 * away from its start is left to the caller (a single blob costs no window),
 * its second read loads the aligned window around it, a first read near the
 * start loads one from the pack's start; spans are at most ra_max long, and
 * a walk backwards through a pack shares windows. A plan, or a drop (pack
 * numbers renamed), changes that; a reader whose pack number predates a
 * drop is declined. This is what an S3 "ls" of one directory
 * and a backup's parent trees rely on (the backend has no windows of its
 * own any more). */
static void test_tuned_exact_first_reads(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        const size_t ra = 256u * 1024;
        assert_int_equal(sk_packcache_new(4, SPAN, fetch, s, &pc), 0);
        sk_packcache_tune(pc, ra, true);
        void *buf = NULL;
        /* first read of pack 1 in its middle: declined, nothing fetched */
        assert_int_equal(sk_packcache_read(pc, 1, 2 * SPAN, REC, &buf), 0);
        assert_null(buf);
        assert_int_equal(s->fetches, 0);
        /* second read of pack 1: the window of ra bytes aligned around it */
        read_ok(pc, s, 1, 2 * SPAN + REC, REC);
        assert_int_equal(s->fetches, 1);
        assert_int_equal(s->last_offset, 2 * SPAN);
        assert_int_equal(s->last_len, ra);
        read_ok(pc, s, 1, 2 * SPAN + 2 * REC, REC);
        assert_int_equal(s->fetches, 1);
        /* a first read near a pack's start: a span from offset 0 at once */
        read_ok(pc, s, 2, 8192, REC);
        assert_int_equal(s->fetches, 2);
        assert_int_equal(s->last_offset, 0);
        assert_int_equal(s->last_len, ra);
        /* sequential reads never grow the read-ahead past ra_max */
        for (uint64_t off = 0; off + REC <= SPAN; off += REC)
                read_ok(pc, s, 2, off, REC);
        assert_int_equal(s->last_len, ra);
        assert_int_equal(s->fetches, 2 + (SPAN - ra) / ra);
        /* a walk backwards through a pack (parents before children) shares
         * the aligned windows: one fetch per window after the first read */
        unsigned before = s->fetches;
        assert_int_equal(sk_packcache_read(pc, 4, 2 * SPAN - REC, REC, &buf), 0);
        for (uint64_t off = 2 * SPAN - 2 * REC; off >= SPAN; off -= REC)
                read_ok(pc, s, 4, off, REC);
        assert_int_equal(s->fetches, before + SPAN / ra);
        /* a drop forgets which packs were read (their numbers may change),
         * and a reader whose pack number is from before it is declined even
         * where a span of that number is cached now */
        uint64_t gen = sk_packcache_generation(pc);
        sk_packcache_drop(pc);
        before = s->fetches;
        assert_int_equal(sk_packcache_read(pc, 1, 3 * SPAN, REC, &buf), 0);
        assert_int_equal(s->fetches, before);
        read_ok(pc, s, 2, 8192, REC);
        assert_int_equal(s->last_len, ra);     /* the read-ahead starts at ra_max again */
        assert_int_equal(sk_packcache_read_as_of(pc, gen, 2, 8192, REC, &buf), 0);
        assert_null(buf);
        assert_int_equal(sk_packcache_read_as_of(pc, sk_packcache_generation(pc), 2, 8192, REC, &buf), 1);
        free(buf);
        buf = NULL;
        before = s->fetches;
        /* with a plan, a first read loads what is planned */
        assert_int_equal(sk_packcache_plan(pc, 3, 2 * SPAN, REC), 0);
        assert_int_equal(sk_packcache_plan(pc, 3, 2 * SPAN + 4 * REC, REC), 0);
        read_ok(pc, s, 3, 2 * SPAN, REC);
        assert_int_equal(s->fetches, before + 1);
        assert_int_equal(s->last_len, 5 * REC);
        sk_packcache_stats st;
        sk_packcache_get_stats(pc, &st);
        assert_int_equal(st.declined, 4);
        sk_packcache_free(pc);

        /* untuned (a local store, the default): a first read away from the
         * start loads a span of span_max at once */
        assert_int_equal(sk_packcache_new(4, SPAN, fetch, s, &pc), 0);
        before = s->fetches;
        read_ok(pc, s, 5, 2 * SPAN, REC);
        assert_int_equal(s->fetches, before + 1);
        assert_int_equal(s->last_len, SPAN);
        sk_packcache_free(pc);
}

static void test_bad_arguments(void **state) {
        store *s = *state;
        sk_packcache *pc = NULL;
        assert_int_equal(sk_packcache_new(0, SPAN, fetch, s, &pc), -EINVAL);
        assert_int_equal(sk_packcache_new(4, 100, fetch, s, &pc), -EINVAL);
        assert_int_equal(sk_packcache_new(4, SPAN, NULL, s, &pc), -EINVAL);
        sk_packcache_free(NULL);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_sequential_one_fetch_per_span),
             SK_FIXTURE_TEST(test_record_across_span_boundary_and_larger_than_span),
             SK_FIXTURE_TEST(test_pack_end_and_truncation),
             SK_FIXTURE_TEST(test_fetch_error_propagates_and_is_not_cached),
             SK_FIXTURE_TEST(test_scattered_reads_shrink_read_ahead),
             SK_FIXTURE_TEST(test_concurrent_readers_share_a_loading_span),
             SK_FIXTURE_TEST(test_concurrent_readers_under_eviction),
             SK_FIXTURE_TEST(test_plan_loads_up_to_the_last_planned_record),
             SK_FIXTURE_TEST(test_plan_reads_each_pack_once),
             SK_FIXTURE_TEST(test_loaders_fetch_packs_side_by_side),
             SK_FIXTURE_TEST(test_prefetch_uses_only_free_or_consumed_entries),
             SK_FIXTURE_TEST(test_tuned_exact_first_reads),
             SK_FIXTURE_TEST(test_bad_arguments))
