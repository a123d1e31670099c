/* Blob index: in-memory table, sorted runs and the index file codec; see
 * index.h, index-run.h and docs/FORMAT.md sections 1 and 6. */
#include "repo/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/le.h"
#include "common/macro.h"
#include "common/array.h"
#include "repo/crypto.h"
#include "repo/index-merge.h"
#include "repo/index-run.h"

/* An entry of the table of recent inserts. seq is the index's clock when it
 * was written: the entry is dead once its pack was removed later. */
typedef struct mem_entry {
        sk_index_entry e;
        uint64_t seq;
} mem_entry;

#define MAX_RUNS 8
#define DEFAULT_FREEZE_AT (256u * 1024)
#define DEFAULT_SMALL_COMMIT 4096
#define MEM_MIN_CAP 1024
/* Smaller runs stay in memory: spilling costs writes to disk, and the memory
 * of a small index does not matter. */
#define DEFAULT_SPILL_MIN (32u << 20)
/* Merges of fewer records run in the caller's thread: they take
 * milliseconds, not worth a thread; larger ones (seconds at 16 million) in
 * the background (index-merge.h). One frozen table's worth is large. */
#define DEFAULT_BACKGROUND_MIN (256u * 1024)
/* Newer runs merged into one (without the oldest) once there are this many,
 * so that runs stay few while the newer ones are too small for a full
 * merge to pay (it rewrites the oldest). */
#define PARTIAL_AT 3

struct sk_index {
        /* recent inserts: open addressing, pack == SK_INDEX_NO_PACK empty */
        mem_entry *slots;
        size_t cap;             /* power of two */
        size_t used;            /* occupied slots, dead ones included */
        /* runs[0] is the oldest; a newer run hides an older one's key */
        sk_index_run *runs[MAX_RUNS];
        uint64_t run_seq[MAX_RUNS];
        size_t nruns;
        size_t count;           /* live entries */
        bool any_removed;       /* sk_index_remove_pack was called */
        uint64_t seed;          /* key_hash */
        uint64_t clock;
        /* per pack number */
        uint8_t (*packs)[32];
        uint64_t *removed_at;   /* clock of the last sk_index_remove_pack, 0 never */
        uint32_t *live;         /* live entries */
        uint32_t npacks;
        size_t packs_cap;
        uint32_t *pack_slots;   /* open addressing over pack numbers, UINT32_MAX empty */
        size_t pack_slots_cap;
        /* the same for numbers not in the name table (the repository's
         * placeholders for packs being written): open addressing by number */
        struct other_pack { uint32_t n, live; uint64_t removed_at; } *others;
        size_t others_cap, nothers;
        sk_recbuf stage;        /* bulk loading; stage.v NULL: nothing staged */
        sk_spill spill;         /* directory for run files (ours, duplicated), -1: memory */
        size_t freeze_at, small_commit;
        /* The merge in flight, of runs[merging_first .. + its inputs),
         * stamped with merging_seq; installed by the next insert, push, poll
         * or wait once done (until then "merging", finished or not). */
        sk_run_merge *merging;
        uint64_t merging_seq;
        size_t merging_first;   /* its first input: 0 full, 1 partial */
        bool merging_background;
        bool merge_failed;      /* the last one failed: wait for 8 runs before the next */
        size_t background_min;  /* records from which a merge runs in the background */
        unsigned merges, background_merges;
        unsigned merge_delay_ms;        /* tests */
};

/* The slot of a 32-byte id or pack name in the hash tables: all of its
 * bytes, mixed with a random seed per index. Ids and pack names come from
 * repository files that any key holder can write; placing by their first
 * bytes let crafted ones share one probe cluster (quadratic inserts). */
static uint64_t key_hash(const sk_index *idx, const uint8_t *b) {
        uint64_t h = idx->seed;
        for (unsigned i = 0; i < 32; i += 8) {
                uint64_t w;
                memcpy(&w, b + i, 8);
                h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
                h ^= h >> 29;
        }
        return h * 0xbf58476d1ce4e5b9ULL ^ (h >> 32);
}

static int alloc_slots(mem_entry **ret, size_t cap) {
        mem_entry *s = malloc(cap * sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < cap; i++)
                s[i].e.pack = SK_INDEX_NO_PACK;
        *ret = s;
        return 0;
}

int sk_index_new(sk_index **ret) {
        sk_index *idx = calloc(1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        idx->cap = MEM_MIN_CAP;
        idx->clock = 1;
        idx->spill = (sk_spill) { .dirfd = -1, .min_bytes = DEFAULT_SPILL_MIN };
        idx->stage = (sk_recbuf) { .fd = -1, .dirfd = -1 };
        idx->freeze_at = DEFAULT_FREEZE_AT;
        idx->small_commit = DEFAULT_SMALL_COMMIT;
        idx->background_min = DEFAULT_BACKGROUND_MIN;
        int r = sk_random_bytes(&idx->seed, sizeof(idx->seed));
        if (r >= 0)
                r = alloc_slots(&idx->slots, idx->cap);
        if (r < 0) {
                free(idx);
                return r;
        }
        *ret = idx;
        return 0;
}

static int merge_settle(sk_index *idx, bool wait);

int sk_index_set_spill_dir(sk_index *idx, int dirfd) {
        (void) merge_settle(idx, true);         /* a merge writes into the old directory */
        int fd = -1;
        if (dirfd >= 0 && (fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3)) < 0)
                return -errno;
        if (idx->spill.dirfd >= 0)
                close(idx->spill.dirfd);
        idx->spill.dirfd = fd;
        return 0;
}

void sk_index_tune(sk_index *idx, size_t freeze_at, size_t small_commit, size_t spill_min_bytes) {
        idx->freeze_at = MAX(freeze_at, (size_t) 1);
        idx->small_commit = small_commit;
        idx->spill.min_bytes = spill_min_bytes;
}

void sk_index_tune_merges(sk_index *idx, size_t background_min, unsigned delay_ms) {
        idx->background_min = background_min;
        idx->merge_delay_ms = delay_ms;
}

void sk_index_free(sk_index *idx) {
        if (!idx)
                return;
        sk_run_merge_cancel(idx->merging);      /* it reads the runs freed below */
        free(idx->slots);
        for (size_t i = 0; i < idx->nruns; i++)
                sk_index_run_free(idx->runs[i]);
        sk_recbuf_done(&idx->stage);
        if (idx->spill.dirfd >= 0)
                close(idx->spill.dirfd);
        free(idx->packs);
        free(idx->removed_at);
        free(idx->live);
        free(idx->pack_slots);
        free(idx->others);
        free(idx);
}

/* --- the table of recent inserts --- */

/* Keyed by (id, type): a data blob and a tree blob may share an id (a file
 * whose bytes equal a tree's encoding) and are different blobs. Both hash to
 * the same home slot; linear probing keeps them apart. */
static mem_entry *find_slot(const sk_index *idx, mem_entry *slots, size_t cap, const uint8_t *id, uint8_t type) {
        size_t mask = cap - 1, i = (size_t) key_hash(idx, id) & mask;
        for (;;) {
                mem_entry *s = &slots[i];
                if (s->e.pack == SK_INDEX_NO_PACK ||
                    (s->e.type == type && memcmp(s->e.id.b, id, SK_BLOB_ID_SIZE) == 0))
                        return s;
                i = (i + 1) & mask;
        }
}

static int mem_reset(sk_index *idx, size_t cap) {
        mem_entry *ns;
        if (alloc_slots(&ns, cap) < 0)
                return -ENOMEM;
        free(idx->slots);
        idx->slots = ns;
        idx->cap = cap;
        idx->used = 0;
        return 0;
}

static int mem_grow(sk_index *idx) {
        size_t ncap = idx->cap * 2;
        mem_entry *ns;
        if (alloc_slots(&ns, ncap) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < idx->cap; i++)
                if (idx->slots[i].e.pack != SK_INDEX_NO_PACK)
                        *find_slot(idx, ns, ncap, idx->slots[i].e.id.b, idx->slots[i].e.type) = idx->slots[i];
        free(idx->slots);
        idx->slots = ns;
        idx->cap = ncap;
        return 0;
}

/* --- per-pack state: when a pack was removed, how many live entries --- */

static struct other_pack *other_slot(struct other_pack *v, size_t cap, uint32_t n) {
        size_t mask = cap - 1, i = (size_t) (n * 0x9e3779b1u) & mask;
        while (v[i].n != SK_INDEX_NO_PACK && v[i].n != n)
                i = (i + 1) & mask;
        return &v[i];
}

static struct other_pack *other_find(const sk_index *idx, uint32_t n) {
        if (!idx->others_cap)
                return NULL;
        struct other_pack *o = other_slot(idx->others, idx->others_cap, n);
        return o->n == n ? o : NULL;
}

static struct other_pack *other_get(sk_index *idx, uint32_t n) {
        struct other_pack *o = other_find(idx, n);
        if (o)
                return o;
        if ((idx->nothers + 1) * 2 > idx->others_cap) {
                size_t ncap = idx->others_cap ? idx->others_cap * 2 : 64;
                struct other_pack *nv = malloc(ncap * sizeof(*nv));
                if (!nv)
                        return NULL;
                for (size_t i = 0; i < ncap; i++)
                        nv[i] = (struct other_pack) { .n = SK_INDEX_NO_PACK };
                for (size_t i = 0; i < idx->others_cap; i++)
                        if (idx->others[i].n != SK_INDEX_NO_PACK)
                                *other_slot(nv, ncap, idx->others[i].n) = idx->others[i];
                free(idx->others);
                idx->others = nv;
                idx->others_cap = ncap;
        }
        o = other_slot(idx->others, idx->others_cap, n);
        *o = (struct other_pack) { .n = n };
        idx->nothers++;
        return o;
}

static uint64_t removed_at(const sk_index *idx, uint32_t n) {
        if (!idx->any_removed)
                return 0;       /* the common case: no cache miss on the pack's state */
        if (n < idx->npacks)
                return idx->removed_at[n];
        const struct other_pack *o = other_find(idx, n);
        return o ? o->removed_at : 0;
}

/* The live counter of pack n (NULL only if a new one cannot be allocated). */
static uint32_t *live_of(sk_index *idx, uint32_t n) {
        if (n < idx->npacks)
                return &idx->live[n];
        struct other_pack *o = other_get(idx, n);
        return o ? &o->live : NULL;
}

static bool mem_dead(const sk_index *idx, const mem_entry *m) {
        return m->seq < removed_at(idx, m->e.pack);
}

static bool run_dead(const sk_index *idx, size_t i, const sk_run_rec *r) {
        return r->tomb || idx->run_seq[i] < removed_at(idx, r->pack);
}

static void rec_to_entry(const sk_run_rec *r, sk_index_entry *e) {
        memcpy(e->id.b, r->id, SK_BLOB_ID_SIZE);
        e->pack = r->pack;
        e->offset = r->offset;
        e->stored_len = r->stored_len;
        e->raw_len = r->raw_len;
        e->type = r->type;
        e->flags = r->flags;
}

static sk_run_rec entry_to_rec(const sk_index_entry *e) {
        sk_run_rec r = {
                .type = e->type, .flags = e->flags, .pack = e->pack, .offset = e->offset,
                .stored_len = e->stored_len, .raw_len = e->raw_len,
        };
        memcpy(r.id, e->id.b, SK_BLOB_ID_SIZE);
        return r;
}

/* The newest version of (id, type): 1 and *ret, *live if there is one. The
 * newest decides: a dead one hides older ones (it was replaced, then its
 * pack removed, and the answer is "absent"). */
static int find_newest(const sk_index *idx, const uint8_t *id, uint8_t type, sk_index_entry *ret, bool *live) {
        const mem_entry *m = find_slot(idx, idx->slots, idx->cap, id, type);
        if (m->e.pack != SK_INDEX_NO_PACK) {
                if (ret)
                        *ret = m->e;
                *live = !mem_dead(idx, m);
                return 1;
        }
        for (size_t i = idx->nruns; i-- > 0;) {
                const sk_run_rec *r = sk_index_run_find(idx->runs[i], id, type);
                if (r) {
                        if (ret)
                                rec_to_entry(r, ret);
                        *live = !run_dead(idx, i, r);
                        return 1;
                }
        }
        return 0;
}

/* --- runs --- */

static int cmp_pack_number(const void *a, const void *b) {
        uint64_t x = (*(const uint64_t (*)[2]) a)[0], y = (*(const uint64_t (*)[2]) b)[0];
        return x < y ? -1 : x > y;
}

/* When each pack was last removed, for a merge to read while the index goes
 * on changing (index-merge.h). Nothing to copy when nothing was removed. */
static int removed_snapshot(const sk_index *idx, sk_merge_removed *ret) {
        sk_merge_removed r = { 0 };
        if (!idx->any_removed) {
                *ret = r;
                return 0;
        }
        if (idx->npacks > 0 && !(r.packs = malloc(idx->npacks * sizeof(*r.packs))))
                return -ENOMEM;
        if (idx->npacks > 0)
                memcpy(r.packs, idx->removed_at, idx->npacks * sizeof(*r.packs));
        r.npacks = idx->npacks;
        if (idx->nothers > 0 && !(r.others = malloc(idx->nothers * sizeof(*r.others)))) {
                free(r.packs);
                return -ENOMEM;
        }
        for (size_t i = 0; i < idx->others_cap; i++)
                if (idx->others[i].n != SK_INDEX_NO_PACK && idx->others[i].removed_at > 0) {
                        r.others[r.nothers][0] = idx->others[i].n;
                        r.others[r.nothers][1] = idx->others[i].removed_at;
                        r.nothers++;
                }
        if (r.nothers > 1)
                qsort(r.others, r.nothers, sizeof(*r.others), cmp_pack_number);
        *ret = r;
        return 0;
}

/* The merged run takes the place of its inputs, runs[a .. a + k); the runs
 * pushed while it ran stay above it. An empty result just drops them. */
static void merge_install(sk_index *idx, size_t a, size_t k, sk_index_run *run) {
        for (size_t i = a; i < a + k; i++)
                sk_index_run_free(idx->runs[i]);
        size_t at = a;
        if (sk_index_run_count(run) > 0) {
                idx->runs[at] = run;
                idx->run_seq[at] = idx->merging_seq;
                at++;
        } else {
                sk_index_run_free(run);
        }
        size_t rest = idx->nruns - a - k;
        memmove(idx->runs + at, idx->runs + a + k, rest * sizeof(*idx->runs));
        memmove(idx->run_seq + at, idx->run_seq + a + k, rest * sizeof(*idx->run_seq));
        idx->nruns = at + rest;
}

/* Install the merge in flight if it is done (or, with wait, once it is). A
 * failed merge (a full spill disk, no memory) leaves the runs as they were,
 * which is still correct: a later push tries again. */
static int merge_settle(sk_index *idx, bool wait) {
        if (!idx->merging || (!wait && !sk_run_merge_ready(idx->merging)))
                return 0;
        size_t k = sk_run_merge_inputs(idx->merging);
        sk_index_run *run = NULL;
        int r = sk_run_merge_finish(idx->merging, &run);
        idx->merging = NULL;
        idx->merge_failed = r < 0;
        if (r < 0)
                return r;
        merge_install(idx, idx->merging_first, k, run);
        idx->merges++;
        idx->background_merges += idx->merging_background;
        return 0;
}

/* Merge runs[first ..] into one: of each key the newest version, if live.
 * From the oldest (first 0), nothing older can reappear once a dead
 * version or a tombstone is dropped; from the next (1), dead newest
 * versions stay as tombstones. In the background when it is large (and a
 * thread starts), else now. One merge at a time. */
static int merge_runs(sk_index *idx, size_t first, bool may_background) {
        if (idx->merging)
                return -EBUSY;
        size_t total = 0;
        for (size_t i = first; i < idx->nruns; i++)
                total += sk_index_run_count(idx->runs[i]);
        bool background = may_background && total >= idx->background_min;
        for (;;) {
                sk_merge_removed removed;
                int r = removed_snapshot(idx, &removed);
                if (r < 0)
                        return r;
                r = sk_run_merge_start(idx->runs + first, idx->run_seq + first, idx->nruns - first, first == 0,
                                       removed, &idx->spill, background, idx->merge_delay_ms, &idx->merging);
                if (r < 0 && background) {
                        background = false;     /* no thread: merge now, slower but the same */
                        continue;
                }
                if (r < 0)
                        return r;
                idx->merging_seq = idx->clock++;
                idx->merging_first = first;
                idx->merging_background = background;
                return background ? 0 : merge_settle(idx, true);
        }
}

/* Few runs keep lookups short; merging all when the newer runs add up to
 * a quarter of the oldest keeps the rewriting linear in what was added, and
 * merging the newest ones among themselves keeps them few meanwhile (a
 * merge in the background has time to finish before the runs run out). A
 * partial merge takes the newest runs down to the first one larger than
 * all above it together, so that runs of a size merge with their like and
 * no large run is rewritten for every small one (size tiers: each entry is
 * rewritten about once per tripling). After a failed merge (a full spill
 * disk), the next waits until the runs run out. */
static int maybe_merge(sk_index *idx) {
        if (idx->nruns < 2 || idx->merging || (idx->merge_failed && idx->nruns < MAX_RUNS))
                return 0;
        size_t oldest = sk_index_run_count(idx->runs[0]), newer = 0;
        for (size_t i = 1; i < idx->nruns; i++)
                newer += sk_index_run_count(idx->runs[i]);
        if (idx->nruns == MAX_RUNS || newer * 4 >= oldest)
                return merge_runs(idx, 0, true);
        size_t k = 0, above = 0;
        for (size_t i = idx->nruns; i-- > 1; k++) {
                size_t c = sk_index_run_count(idx->runs[i]);
                if (k > 0 && c > above)
                        break;
                above += c;
        }
        return k >= PARTIAL_AT ? merge_runs(idx, idx->nruns - k, true) : 0;
}

/* The caller made room (nruns < MAX_RUNS: make_room). A failed merge after
 * the push leaves more runs, which is still correct. */
static void push_run(sk_index *idx, sk_index_run *run) {
        if (sk_index_run_count(run) == 0) {
                sk_index_run_free(run);
                return;
        }
        sk_index_run_release(run);
        idx->runs[idx->nruns] = run;
        idx->run_seq[idx->nruns] = idx->clock++;
        idx->nruns++;
        (void) merge_settle(idx, false);
        (void) maybe_merge(idx);
}

/* Room for one more run: with MAX_RUNS runs, the merge in flight is waited
 * for (inserts outran it), or all are merged now. */
static int make_room(sk_index *idx) {
        if (idx->nruns < MAX_RUNS)
                return 0;
        (void) merge_settle(idx, true);
        return idx->nruns < MAX_RUNS ? 0 : merge_runs(idx, 0, false);
}

int sk_index_merge_wait(sk_index *idx) {
        return merge_settle(idx, true);
}

int sk_index_merge_poll(sk_index *idx) {
        return merge_settle(idx, false);
}

void sk_index_get_stats(const sk_index *idx, sk_index_stats *ret) {
        *ret = (sk_index_stats) { .runs = idx->nruns, .merging = idx->merging != NULL, .merges = idx->merges,
                                  .background_merges = idx->background_merges };
}

/* Turn the table of recent inserts into a run. A dead entry becomes a
 * tombstone where an older run has its key, else it is dropped. */
static int freeze(sk_index *idx) {
        int r = make_room(idx);
        if (r < 0)
                return r;
        sk_recbuf b;
        if ((r = sk_recbuf_init(&b, &idx->spill)) < 0)
                return r;
        for (size_t i = 0; i < idx->cap && r >= 0; i++) {
                const mem_entry *m = &idx->slots[i];
                if (m->e.pack == SK_INDEX_NO_PACK)
                        continue;
                sk_run_rec rec = entry_to_rec(&m->e);
                if (mem_dead(idx, m)) {
                        bool older = false;
                        for (size_t j = 0; j < idx->nruns && !older; j++)
                                older = sk_index_run_find(idx->runs[j], m->e.id.b, m->e.type) != NULL;
                        if (!older)
                                continue;
                        rec.tomb = 1;
                }
                r = sk_recbuf_push(&b, &rec);
        }
        if (r < 0) {
                sk_recbuf_done(&b);
                return r;
        }
        sk_index_run *run;
        if ((r = sk_index_run_build(&b, &idx->spill, &run)) < 0)
                return r;
        /* the run holds everything now: empty the table before push_run may merge */
        if ((r = mem_reset(idx, MEM_MIN_CAP)) < 0) {
                sk_index_run_free(run);
                return r;
        }
        push_run(idx, run);
        return 0;
}

/* A failed freeze (no memory, a full spill disk) loses nothing: the table
 * keeps the entries, and the next attempt waits until it has doubled. */
static void maybe_freeze(sk_index *idx) {
        if (idx->used < idx->freeze_at)
                return;
        if (freeze(idx) < 0)
                idx->freeze_at *= 2;
}

/* --- the public table --- */

int sk_index_insert(sk_index *idx, const sk_index_entry *e, bool replace) {
        if (e->pack == SK_INDEX_NO_PACK)
                return -EINVAL;
        (void) merge_settle(idx, false);        /* a finished merge frees its inputs */
        sk_index_entry old;
        bool live = false;
        int f = find_newest(idx, e->id.b, e->type, &old, &live);
        if (f && live && !replace)
                return 0;
        uint32_t *lv = live_of(idx, e->pack);
        if (!lv || ((idx->used + 1) * 10 > idx->cap * 7 && mem_grow(idx) < 0))
                return -ENOMEM;
        mem_entry *s = find_slot(idx, idx->slots, idx->cap, e->id.b, e->type);
        if (s->e.pack == SK_INDEX_NO_PACK)
                idx->used++;
        *s = (mem_entry) { .e = *e, .seq = idx->clock++ };
        (*lv)++;
        if (f && live) {
                /* exists: old's pack was counted when it went in, so its
                 * counter exists and live_of allocates nothing */
                uint32_t *ol = live_of(idx, old.pack);
                if (ol)
                        (*ol)--;
                maybe_freeze(idx);      /* a repack replaces many keys of runs */
                return 0;
        }
        idx->count++;
        maybe_freeze(idx);
        return 1;
}

int sk_index_lookup(const sk_index *idx, const sk_blob_id *id, sk_blob_type type, sk_index_entry *ret) {
        sk_index_entry e;
        bool live;
        if (!find_newest(idx, id->b, (uint8_t) type, &e, &live) || !live)
                return 0;
        if (ret)
                *ret = e;
        return 1;
}

size_t sk_index_count(const sk_index *idx) {
        return idx->count;
}

/* O(1): the entries stay where they are, and the clock says they are dead. */
int sk_index_remove_pack(sk_index *idx, uint32_t n) {
        idx->any_removed = true;
        if (n >= idx->npacks) {
                struct other_pack *o = other_find(idx, n);
                if (!o)
                        return 0;       /* never had an entry */
                o->removed_at = idx->clock++;
                idx->count -= o->live;
                o->live = 0;
                return 0;
        }
        idx->removed_at[n] = idx->clock++;
        idx->count -= idx->live[n];
        idx->live[n] = 0;
        return 0;
}

int sk_index_foreach(const sk_index *idx, sk_index_fn cb, void *userdata) {
        for (size_t i = 0; i < idx->cap; i++) {
                const mem_entry *m = &idx->slots[i];
                if (m->e.pack == SK_INDEX_NO_PACK || mem_dead(idx, m))
                        continue;
                int r = cb(&m->e, userdata);
                if (r < 0)
                        return r;
        }
        for (size_t i = idx->nruns; i-- > 0;) {
                const sk_index_run *run = idx->runs[i];
                for (size_t j = 0; j < sk_index_run_count(run); j++) {
                        const sk_run_rec *rec = sk_index_run_at(run, j);
                        if (run_dead(idx, i, rec))
                                continue;
                        /* hidden by a newer version? */
                        bool hidden = find_slot(idx, idx->slots, idx->cap, rec->id, rec->type)->e.pack != SK_INDEX_NO_PACK;
                        for (size_t k = i + 1; k < idx->nruns && !hidden; k++)
                                hidden = sk_index_run_find(idx->runs[k], rec->id, rec->type) != NULL;
                        if (hidden)
                                continue;
                        sk_index_entry e;
                        rec_to_entry(rec, &e);
                        int r = cb(&e, userdata);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* --- bulk loading --- */

int sk_index_stage(sk_index *idx, const sk_index_entry *e) {
        if (e->pack == SK_INDEX_NO_PACK)
                return -EINVAL;
        /* the pack's live counter exists from now, so the commit cannot fail
         * half-way through counting */
        if (!live_of(idx, e->pack))
                return -ENOMEM;
        if (!idx->stage.v) {
                int r = sk_recbuf_init(&idx->stage, &idx->spill);
                if (r < 0)
                        return r;
        }
        if (idx->stage.n >= UINT32_MAX)
                return -E2BIG;
        sk_run_rec rec = entry_to_rec(e);
        rec.seq = (uint32_t) idx->stage.n;
        return sk_recbuf_push(&idx->stage, &rec);
}

void sk_index_stage_discard(sk_index *idx) {
        sk_recbuf_done(&idx->stage);
}

/* Equal to sk_index_insert(e, false) of every staged entry in order: the
 * first of a key wins, and one already live in the index wins over all. */
int sk_index_stage_commit(sk_index *idx) {
        if (!idx->stage.v)
                return 0;
        sk_recbuf b = idx->stage;
        idx->stage = (sk_recbuf) { .fd = -1, .dirfd = -1 };
        int r = 0;
        /* A large batch becomes a run, and into an empty index (a
         * repository's open) any batch does, so every open takes the path
         * large repositories take. A dead version in the table would hide the
         * new run: the table is emptied first. A small batch, or one whose
         * freeze or merge failed, goes through the table instead. */
        bool empty = idx->nruns == 0 && idx->used == 0;
        bool direct = b.n >= idx->small_commit || empty;
        if (direct && idx->used > 0 && freeze(idx) < 0)
                direct = false;
        if (direct && make_room(idx) < 0)
                direct = false;
        if (!direct) {
                for (size_t i = 0; i < b.n && r >= 0; i++) {
                        sk_index_entry e;
                        rec_to_entry(&b.v[i], &e);
                        r = sk_index_insert(idx, &e, false);
                }
                sk_recbuf_done(&b);
                return r < 0 ? r : 0;
        }
        if (!empty) {
                /* what is live in the index already wins over the batch */
                size_t w = 0;
                for (size_t i = 0; i < b.n; i++) {
                        bool live;
                        if (find_newest(idx, b.v[i].id, b.v[i].type, NULL, &live) && live)
                                continue;
                        b.v[w++] = b.v[i];
                }
                b.n = w;
        }
        sk_index_run *run;
        if ((r = sk_index_run_build(&b, &idx->spill, &run)) < 0)
                return r;
        for (size_t i = 0; i < sk_index_run_count(run); i++)
                (*live_of(idx, sk_index_run_at(run, i)->pack))++;     /* made by sk_index_stage */
        idx->count += sk_index_run_count(run);
        push_run(idx, run);
        return 0;
}

size_t sk_index_stage_mark(const sk_index *idx) {
        return idx->stage.n;
}

void sk_index_stage_rollback(sk_index *idx, size_t mark) {
        if (mark < idx->stage.n)
                idx->stage.n = mark;
}

void sk_index_memory(const sk_index *idx, size_t *heap, size_t *spilled_records) {
        size_t h = sizeof(*idx) + idx->cap * sizeof(mem_entry) +
                   idx->packs_cap * (32 + sizeof(uint64_t) + sizeof(uint32_t)) + idx->pack_slots_cap * sizeof(uint32_t);
        size_t s = 0;
        for (size_t i = 0; i < idx->nruns; i++) {
                h += sk_index_run_heap_bytes(idx->runs[i]);
                if (sk_index_run_spilled(idx->runs[i]))
                        s += sk_index_run_count(idx->runs[i]);
        }
        *heap = h;
        *spilled_records = s;
}

/* --- pack names --- */

static uint32_t *find_pack_slot(const sk_index *idx, const uint8_t name[32]) {
        size_t mask = idx->pack_slots_cap - 1, i = (size_t) key_hash(idx, name) & mask;
        for (;;) {
                uint32_t *s = &idx->pack_slots[i];
                if (*s == UINT32_MAX || memcmp(idx->packs[*s], name, 32) == 0)
                        return s;
                i = (i + 1) & mask;
        }
}

static int grow_packs(sk_index *idx) {
        size_t old_cap = idx->packs_cap;
        if (SK_GROW(idx->packs, idx->packs_cap, (size_t) idx->npacks + 1) < 0)
                return -ENOMEM;
        if (idx->packs_cap != old_cap) {
                uint64_t *ra = realloc(idx->removed_at, idx->packs_cap * sizeof(uint64_t));
                if (ra)
                        idx->removed_at = ra;
                uint32_t *lv = realloc(idx->live, idx->packs_cap * sizeof(uint32_t));
                if (lv)
                        idx->live = lv;
                if (!ra || !lv) {
                        idx->packs_cap = old_cap;  /* the larger packs array is harmless */
                        return -ENOMEM;
                }
        }
        if ((idx->npacks + 1) * 2 > idx->pack_slots_cap) {
                size_t ncap = idx->pack_slots_cap ? idx->pack_slots_cap * 2 : 128;
                uint32_t *ns = malloc(ncap * sizeof(uint32_t));
                if (!ns)
                        return -ENOMEM;
                memset(ns, 0xff, ncap * sizeof(uint32_t));
                free(idx->pack_slots);
                idx->pack_slots = ns;
                idx->pack_slots_cap = ncap;
                for (uint32_t k = 0; k < idx->npacks; k++)
                        *find_pack_slot(idx, idx->packs[k]) = k;
        }
        return 0;
}

int sk_index_pack_add(sk_index *idx, const uint8_t name[32], uint32_t *ret) {
        if (idx->pack_slots_cap) {
                uint32_t *s = find_pack_slot(idx, name);
                if (*s != UINT32_MAX) {
                        *ret = *s;
                        return 0;
                }
        }
        if (idx->npacks >= UINT32_MAX - 1)
                return -E2BIG;
        if (grow_packs(idx) < 0)
                return -ENOMEM;
        uint32_t n = idx->npacks++;
        memcpy(idx->packs[n], name, 32);
        idx->removed_at[n] = 0;
        idx->live[n] = 0;
        *find_pack_slot(idx, name) = n;
        *ret = n;
        return 1;
}

const uint8_t *sk_index_pack_name(const sk_index *idx, uint32_t n) {
        return n < idx->npacks ? idx->packs[n] : NULL;
}

int sk_index_pack_find(const sk_index *idx, const uint8_t name[32], uint32_t *ret) {
        if (!idx->pack_slots_cap)
                return 0;
        uint32_t *s = find_pack_slot(idx, name);
        if (*s == UINT32_MAX)
                return 0;
        *ret = *s;
        return 1;
}

/* --- common header and envelope --- */

void sk_file_header_encode_version(const char magic[8], uint16_t version, uint8_t out[SK_FILE_HEADER_SIZE]) {
        memset(out, 0, SK_FILE_HEADER_SIZE);
        memcpy(out, magic, 8);
        sk_put_le16(out + 8, version);
}

void sk_file_header_encode(const char magic[8], uint8_t out[SK_FILE_HEADER_SIZE]) {
        sk_file_header_encode_version(magic, 1, out);
}

int sk_file_header_parse_version(const void *buf, size_t len, const char magic[8], uint16_t max_version) {
        const uint8_t *p = buf;
        if (len < SK_FILE_HEADER_SIZE || memcmp(p, magic, 8) != 0)
                return -EBADMSG;
        uint16_t v = sk_get_le16(p + 8);
        if (v < 1 || v > max_version || sk_get_le32(p + 12) != 0)
                return -EPROTO;
        return v;
}

int sk_file_header_parse(const void *buf, size_t len, const char magic[8]) {
        int r = sk_file_header_parse_version(buf, len, magic, 1);
        return r < 0 ? r : 0;
}

int sk_seal_envelope(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                     const uint8_t nonce[SK_NONCE_SIZE], const void *aad, size_t aadlen, const void *in,
                     size_t len, uint8_t *out) {
        memcpy(out, salt, SK_SALT_SIZE);
        memcpy(out + SK_SALT_SIZE, nonce, SK_NONCE_SIZE);
        uint8_t *ct = out + SK_SALT_SIZE + SK_NONCE_SIZE;
        return sk_aead_seal(key, nonce, aad, aadlen, in, len, ct, ct + len);
}

int sk_open_envelope(const sk_pack_keys *keys, const void *aad, size_t aadlen, const void *env, size_t len,
                     void **ret, size_t *ret_len) {
        const uint8_t *p = env;
        uint8_t key[SK_KEY_SIZE];
        if (len < SK_SEAL_OVERHEAD)
                return -EBADMSG;
        size_t n = len - SK_SEAL_OVERHEAD;
        _cleanup_free_ uint8_t *out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        int q = keys->resolve(keys->userdata, p, key);
        if (q < 0)
                return q;
        const uint8_t *ct = p + SK_SALT_SIZE + SK_NONCE_SIZE;
        q = sk_aead_open(key, p + SK_SALT_SIZE, aad, aadlen, ct, n, out, ct + n);
        sk_wipe(key, sizeof(key));
        if (q < 0)
                return q;
        out[n] = 0;
        *ret_len = n;
        *ret = TAKE_PTR(out);
        return 0;
}

/* --- index files --- */

static const char index_magic[8] = { 'S', 'K', 'I', 'N', 'D', 'E', 'X', 0 };

int sk_index_file_encode(const uint8_t key[SK_KEY_SIZE], const uint8_t salt[SK_SALT_SIZE],
                         const uint8_t nonce[SK_NONCE_SIZE], const sk_index_section *s, size_t n,
                         void **ret, size_t *ret_len) {
        if (n > UINT32_MAX)
                return -E2BIG;
        size_t plen = 8, entries = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i].n > SK_PACK_MAX_BLOBS)
                        return -E2BIG;
                entries += s[i].n;
                plen += 40 + SK_PACK_ENTRY_SIZE * s[i].n;
        }
        /* never write what a reader would refuse */
        if (entries > SK_INDEX_FILE_MAX_ENTRIES || n > SK_INDEX_FILE_MAX_ENTRIES)
                return -E2BIG;
        _cleanup_free_ uint8_t *plain = calloc(1, plen);
        if (!plain)
                return -ENOMEM;
        uint8_t *w = plain;
        sk_put_le32(w, (uint32_t) n);
        w += 8;
        for (size_t i = 0; i < n; i++) {
                memcpy(w, s[i].pack, 32);
                sk_put_le32(w + 32, (uint32_t) s[i].n);
                w += 40;
                for (size_t k = 0; k < s[i].n; k++) {
                        const sk_pack_record *r = &s[i].entries[k];
                        memcpy(w, r->id.b, SK_BLOB_ID_SIZE);
                        sk_put_le32(w + 32, r->offset);
                        sk_put_le32(w + 36, r->stored_len);
                        sk_put_le32(w + 40, r->raw_len);
                        w[44] = r->type;
                        w[45] = r->flags;
                        w += SK_PACK_ENTRY_SIZE;
                }
        }
        size_t total = SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + plen;
        _cleanup_free_ uint8_t *out = malloc(total);
        if (!out)
                return -ENOMEM;
        sk_file_header_encode(index_magic, out);
        int q = sk_seal_envelope(key, salt, nonce, out, SK_FILE_HEADER_SIZE, plain, plen, out + SK_FILE_HEADER_SIZE);
        if (q < 0)
                return q;
        *ret_len = total;
        *ret = TAKE_PTR(out);
        return 0;
}

int sk_index_file_decode(const sk_pack_keys *keys, const void *buf, size_t len, sk_index_file_fn cb,
                         void *userdata) {
        const uint8_t *p = buf;
        int q = sk_file_header_parse(p, len, index_magic);
        if (q < 0)
                return q;
        _cleanup_free_ uint8_t *plain = NULL;
        size_t plen;
        q = sk_open_envelope(keys, p, SK_FILE_HEADER_SIZE, p + SK_FILE_HEADER_SIZE, len - SK_FILE_HEADER_SIZE,
                             (void **) &plain, &plen);
        if (q < 0)
                return q;
        if (plen < 8)
                return -EBADMSG;
        uint32_t npacks = sk_get_le32(plain);
        size_t off = 8;
        for (uint32_t i = 0; i < npacks; i++) {
                if (plen - off < 40)
                        return -EBADMSG;
                const uint8_t *pack = plain + off;
                uint32_t n = sk_get_le32(plain + off + 32);
                off += 40;
                if (n > SK_PACK_MAX_BLOBS || (uint64_t) (plen - off) < (uint64_t) n * SK_PACK_ENTRY_SIZE)
                        return -EBADMSG;
                uint64_t end = SK_PACK_HEADER_SIZE;
                for (uint32_t k = 0; k < n; k++) {
                        const uint8_t *e = plain + off;
                        sk_pack_record r = {
                                .offset = sk_get_le32(e + 32),
                                .stored_len = sk_get_le32(e + 36),
                                .raw_len = sk_get_le32(e + 40),
                                .type = e[44],
                                .flags = e[45],
                        };
                        memcpy(r.id.b, e, SK_BLOB_ID_SIZE);
                        off += SK_PACK_ENTRY_SIZE;
                        if ((r.type != SK_BLOB_DATA && r.type != SK_BLOB_TREE) || (r.flags & ~SK_BLOB_FLAG_ZSTD) ||
                            r.raw_len > SK_BLOB_MAX_SIZE || r.stored_len > SK_BLOB_MAX_SIZE || r.offset < end)
                                return -EBADMSG;
                        end = (uint64_t) r.offset + sk_record_length(&r);
                        if (end > SK_PACK_MAX_SIZE)
                                return -EBADMSG;
                        q = cb(pack, &r, userdata);
                        if (q < 0)
                                return q;
                }
        }
        if (off != plen)
                return -EBADMSG;
        return 0;
}
