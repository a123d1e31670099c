/* Index model check (issue 15): the blob index gives the same answers as a
 * plain table on a long random workload of inserts (new, duplicate, replace),
 * lookups (present, absent, the other type), removals of a pack, and reopens
 * (every entry written to index files and read back into a new index, as a
 * repository's open does). Any index design behind repo/index.h must pass it
 * unchanged; the seed is printed, and SK_MODEL_SEED replays one.
 *
 * The same workload runs three times: as the repository uses the index by
 * default; with the table of recent inserts frozen into sorted runs every 64
 * entries (so runs, tombstones and merges are everywhere), reopens that stage
 * and commit in bulk with stale duplicates staged after the real entries
 * (they must lose), and bulk batches among the operations, runs in a spill
 * directory; the same in anonymous memory; and the same again with every
 * merge in a thread of its own, its result held back 2 ms, so that inserts,
 * replaces, removals and freezes happen while merges run and the results
 * are installed in between. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repo/index.h"
#include "tests/lib/testrepo.h"
#include "tests/lib/testutil.h"

#define IDS 3000   /* distinct blob ids: repeats are frequent */
#define PACKS 40
#define OPS 40000

typedef struct model_entry {
        bool present;
        unsigned pack; /* model pack number: name byte pattern */
        uint32_t offset, stored_len, raw_len;
        uint8_t flags;
} model_entry;

typedef struct model {
        model_entry e[IDS][2]; /* [id][type - 1] */
        uint32_t next_offset[PACKS];
        size_t count;
} model;

static uint64_t rng;
static uint32_t next_rand(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (uint32_t) (rng >> 16);
}

static void model_id(sk_blob_id *id, uint32_t i) {
        uint8_t buf[4] = { (uint8_t) i, (uint8_t) (i >> 8), (uint8_t) (i >> 16), (uint8_t) (i >> 24) };
        assert_int_equal(sk_sha256(buf, 4, id->b), 0);
}

static void pack_name(uint8_t name[32], unsigned p) {
        memset(name, 0xA5, 32);
        name[0] = (uint8_t) p;
        name[31] = (uint8_t) (p * 7);
}

static uint32_t pack_number(sk_index *idx, unsigned p) {
        uint8_t name[32];
        uint32_t n;
        pack_name(name, p);
        assert_true(sk_index_pack_add(idx, name, &n) >= 0);
        return n;
}

/* The model pack of an index entry, by its pack's name. */
static unsigned model_pack_of(const sk_index *idx, uint32_t n) {
        const uint8_t *name = sk_index_pack_name(idx, n);
        assert_non_null(name);
        uint8_t want[32];
        pack_name(want, name[0]);
        assert_memory_equal(name, want, 32);
        return name[0];
}

static sk_blob_id ids[IDS];

static void check_lookup(const sk_index *idx, const model *m, uint32_t i, unsigned t) {
        sk_index_entry got;
        const model_entry *x = &m->e[i][t - 1];
        int r = sk_index_lookup(idx, &ids[i], (sk_blob_type) t, &got);
        assert_int_equal(r, x->present ? 1 : 0);
        if (!x->present)
                return;
        assert_memory_equal(got.id.b, ids[i].b, SK_BLOB_ID_SIZE);
        assert_int_equal(got.type, t);
        assert_int_equal(model_pack_of(idx, got.pack), x->pack);
        assert_int_equal(got.offset, x->offset);
        assert_int_equal(got.stored_len, x->stored_len);
        assert_int_equal(got.raw_len, x->raw_len);
        assert_int_equal(got.flags, x->flags);
}

typedef struct walk {
        const model *m;
        const sk_index *idx;
        size_t n;
} walk;

static int walk_one(const sk_index_entry *e, void *ud) {
        walk *w = ud;
        w->n++;
        /* every entry the index holds is one the model holds, with its values */
        for (uint32_t i = 0; i < IDS; i++)
                if (!memcmp(ids[i].b, e->id.b, SK_BLOB_ID_SIZE)) {
                        assert_true(e->type == SK_BLOB_DATA || e->type == SK_BLOB_TREE);
                        const model_entry *x = &w->m->e[i][e->type - 1];
                        assert_true(x->present);
                        assert_int_equal(model_pack_of(w->idx, e->pack), x->pack);
                        assert_int_equal(e->offset, x->offset);
                        return 0;
                }
        fail_msg("the index holds an id the model never inserted");
        return -EINVAL;
}

static void check_all(const sk_index *idx, const model *m) {
        assert_int_equal(sk_index_count(idx), m->count);
        walk w = { m, idx, 0 };
        assert_int_equal(sk_index_foreach(idx, walk_one, &w), 0);
        assert_int_equal(w.n, m->count);
        for (uint32_t i = 0; i < IDS; i++)
                for (unsigned t = 1; t <= 2; t++)
                        check_lookup(idx, m, i, t);
}

static int by_offset(const void *a, const void *b) {
        const sk_pack_record *x = a, *y = b;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* How the index is driven. */
typedef struct mode {
        const char *name;
        size_t freeze_at, small_commit;
        bool stage;             /* reopens and bulk batches through sk_index_stage */
        bool spill;
        bool background;        /* every merge in a thread, held back 2 ms */
} mode;

static const mode *cur_mode;
static int spill_dir = -1;
static char spill_path[] = "/var/tmp/sk-index-model.XXXXXX";

static sk_index *new_index(void) {
        sk_index *idx;
        assert_int_equal(sk_index_new(&idx), 0);
        if (cur_mode->freeze_at)
                sk_index_tune(idx, cur_mode->freeze_at, cur_mode->small_commit, 0);
        if (cur_mode->background)
                sk_index_tune_merges(idx, 0, 2);
        if (cur_mode->spill) {
                if (spill_dir < 0) {
                        assert_non_null(mkdtemp(spill_path));
                        spill_dir = open(spill_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        assert_true(spill_dir >= 0);
                }
                assert_int_equal(sk_index_set_spill_dir(idx, spill_dir), 0);
        }
        return idx;
}

typedef struct reload {
        sk_index *idx;
} reload;

static int reload_one(const uint8_t pack[32], const sk_pack_record *r, void *ud) {
        reload *l = ud;
        uint32_t n;
        int q = sk_index_pack_add(l->idx, pack, &n);
        if (q < 0)
                return q;
        sk_index_entry e = { .id = r->id, .pack = n, .offset = r->offset, .stored_len = r->stored_len,
                             .raw_len = r->raw_len, .type = r->type, .flags = r->flags };
        q = cur_mode->stage ? sk_index_stage(l->idx, &e) : sk_index_insert(l->idx, &e, false);
        return q < 0 ? q : 0;
}

/* Write the model's entries as index files (a few packs per file, as a flush
 * does) and read them into a new index. */
static unsigned background_merges;

static sk_index *reopen(sk_index *old, const model *m) {
        sk_index_stats st;
        sk_index_get_stats(old, &st);
        background_merges += st.background_merges;
        sk_index_free(old);
        sk_index *idx = new_index();
        sk_pack_keys keys = { .resolve = sk_test_resolve };
        uint8_t salt[32] = { 9 }, nonce[12] = { 1 };
        for (unsigned first = 0; first < PACKS; first += 7) {
                sk_index_section s[7];
                sk_pack_record *recs[7];
                size_t ns = 0;
                for (unsigned p = first; p < first + 7 && p < PACKS; p++) {
                        recs[ns] = calloc(IDS * 2, sizeof(sk_pack_record));
                        assert_non_null(recs[ns]);
                        size_t n = 0;
                        for (uint32_t i = 0; i < IDS; i++)
                                for (unsigned t = 1; t <= 2; t++) {
                                        const model_entry *x = &m->e[i][t - 1];
                                        if (!x->present || x->pack != p)
                                                continue;
                                        recs[ns][n++] = (sk_pack_record) { .id = ids[i], .type = (uint8_t) t,
                                                                           .flags = x->flags, .raw_len = x->raw_len,
                                                                           .stored_len = x->stored_len,
                                                                           .offset = x->offset };
                                }
                        qsort(recs[ns], n, sizeof(sk_pack_record), by_offset);
                        pack_name(s[ns].pack, p);
                        s[ns].entries = recs[ns];
                        s[ns].n = n;
                        ns++;
                }
                void *file;
                size_t len;
                nonce[0]++;
                assert_int_equal(sk_index_file_encode(sk_test_key(salt), salt, nonce, s, ns, &file, &len), 0);
                reload l = { idx };
                assert_int_equal(sk_index_file_decode(&keys, file, len, reload_one, &l), 0);
                free(file);
                for (size_t k = 0; k < ns; k++)
                        free(recs[k]);
        }
        if (cur_mode->stage) {
                /* stale copies staged after the real ones: the first staged wins */
                for (uint32_t i = 0; i < IDS; i += 5)
                        for (unsigned t = 1; t <= 2; t++) {
                                if (!m->e[i][t - 1].present)
                                        continue;
                                sk_index_entry e = { .id = ids[i], .pack = pack_number(idx, (i + 3) % PACKS),
                                                     .offset = 7, .stored_len = 9, .raw_len = 9, .type = (uint8_t) t };
                                assert_int_equal(sk_index_stage(idx, &e), 0);
                        }
                assert_int_equal(sk_index_stage_commit(idx), 0);
        }
        return idx;
}

/* A bulk batch: staged entries, committed at once, mean what inserting each
 * without replace means. */
static void bulk_batch(sk_index *idx, model *m) {
        unsigned k = 1 + next_rand() % 40;
        for (unsigned j = 0; j < k; j++) {
                uint32_t i = next_rand() % IDS;
                unsigned t = 1 + next_rand() % 2, p = next_rand() % PACKS;
                model_entry *x = &m->e[i][t - 1];
                sk_index_entry e = { .id = ids[i], .pack = pack_number(idx, p), .offset = m->next_offset[p],
                                     .stored_len = 1 + next_rand() % 4000, .type = (uint8_t) t };
                e.raw_len = e.stored_len;
                assert_int_equal(sk_index_stage(idx, &e), 0);
                if (!x->present) {
                        *x = (model_entry) { true, p, e.offset, e.stored_len, e.raw_len, 0 };
                        m->count++;
                        m->next_offset[p] += SK_RECORD_OVERHEAD + e.stored_len;
                }
        }
        assert_int_equal(sk_index_stage_commit(idx), 0);
}

static void run_model(void **state) {
        cur_mode = *state;
        print_message("mode: %s\n", cur_mode->name);
        const char *seed_env = getenv("SK_MODEL_SEED");
        uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed15ULL;
        print_message("seed %#llx (SK_MODEL_SEED replays it)\n", (unsigned long long) seed);
        rng = seed | 1;
        for (uint32_t i = 0; i < IDS; i++)
                model_id(&ids[i], i);
        model *m = calloc(1, sizeof(*m));
        assert_non_null(m);
        for (unsigned p = 0; p < PACKS; p++)
                m->next_offset[p] = SK_PACK_HEADER_SIZE;
        sk_index *idx = new_index();
        unsigned inserts = 0, dups = 0, replaces = 0, lookups = 0, removes = 0, reopens = 0, bulks = 0;

        for (unsigned op = 0; op < OPS; op++) {
                uint32_t k = next_rand() % 1000, i = next_rand() % IDS;
                unsigned t = 1 + next_rand() % 2;
                model_entry *x = &m->e[i][t - 1];
                if (k < 550) {
                        unsigned p = next_rand() % PACKS;
                        bool replace = next_rand() % 10 == 0;
                        sk_index_entry e = { .id = ids[i], .pack = pack_number(idx, p), .offset = m->next_offset[p],
                                             .stored_len = 1 + next_rand() % 4000, .type = (uint8_t) t,
                                             .flags = (uint8_t) (next_rand() % 2) };
                        e.raw_len = e.flags ? e.stored_len * 3 : e.stored_len;
                        int r = sk_index_insert(idx, &e, replace);
                        assert_int_equal(r, x->present ? 0 : 1);
                        if (!x->present || replace) {
                                m->count += !x->present;
                                *x = (model_entry) { true, p, e.offset, e.stored_len, e.raw_len, e.flags };
                                m->next_offset[p] += SK_RECORD_OVERHEAD + e.stored_len;
                                inserts += r == 1;
                                replaces += r == 0;
                        } else {
                                dups++;
                        }
                } else if (k < 980) {
                        if (cur_mode->stage && k >= 972) {
                                bulk_batch(idx, m);
                                bulks++;
                                continue;
                        }
                        check_lookup(idx, m, i, t);
                        lookups++;
                } else if (k < 997) {
                        unsigned p = next_rand() % PACKS;
                        assert_int_equal(sk_index_remove_pack(idx, pack_number(idx, p)), 0);
                        for (uint32_t j = 0; j < IDS; j++)
                                for (unsigned u = 0; u < 2; u++)
                                        if (m->e[j][u].present && m->e[j][u].pack == p) {
                                                m->e[j][u].present = false;
                                                m->count--;
                                        }
                        removes++;
                } else {
                        idx = reopen(idx, m);
                        check_all(idx, m);
                        reopens++;
                }
        }
        check_all(idx, m);
        idx = reopen(idx, m);
        check_all(idx, m);
        print_message("%u inserts, %u duplicates kept, %u replaces, %u lookups, %u pack removals, %u reopens, "
                      "%u bulk batches; %zu entries at the end\n",
                      inserts, dups, replaces, lookups, removes, reopens, bulks, m->count);
        assert_true(inserts > 1000 && dups > 100 && replaces > 100 && removes > 10 && reopens > 10);
        assert_true(!cur_mode->stage || bulks > 100);
        sk_index_stats st;
        sk_index_get_stats(idx, &st);
        background_merges += st.background_merges;
        print_message("%u merges in the background\n", background_merges);
        /* the default moves only merges of a million records to a thread */
        assert_true(cur_mode->background ? background_merges > 20 : background_merges == 0);
        background_merges = 0;
        size_t heap, spilled;
        sk_index_memory(idx, &heap, &spilled);
        print_message("index: %zu bytes of heap, %zu records spilled\n", heap, spilled);
        /* the runs really are in the spill file when there is one */
        assert_true(cur_mode->spill ? spilled > 0 : spilled == 0);
        sk_index_free(idx);
        free(m);
        if (spill_dir >= 0) {
                close(spill_dir);
                spill_dir = -1;
                assert_int_equal(rmdir(spill_path), 0);  /* the run files were never linked */
                memcpy(spill_path + strlen(spill_path) - 6, "XXXXXX", 6);     /* the next mode's mkdtemp */
        }
}

static const mode as_used = { "as the repository uses it" };
static const mode runs_spilled = { "runs every 64 entries, bulk loads, spilled", 64, 0, true, true };
static const mode runs_memory = { "runs every 64 entries, bulk loads, in memory", 64, 0, true, false };
static const mode runs_background = { "runs every 64 entries, bulk loads, spilled, merges in the background", 64, 0,
                                      true, true, true };

SK_TEST_MAIN(cmocka_unit_test_prestate(run_model, (void *) &as_used),
             cmocka_unit_test_prestate(run_model, (void *) &runs_spilled),
             cmocka_unit_test_prestate(run_model, (void *) &runs_memory),
             cmocka_unit_test_prestate(run_model, (void *) &runs_background))
