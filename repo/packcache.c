/* Read-ahead cache of pack spans (see packcache.h for the design). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "repo/packcache.h"
#include "common/macro.h"
#include "common/array.h"

/* The read-ahead never shrinks below this: one small request per scattered
 * blob is what a read without the cache would cost anyway. */
#define RA_MIN (64u * 1024)

typedef struct span {
        bool used;
        bool loading;           /* a reader is fetching it; len is the request */
        bool eof;               /* the pack ended inside the requested range */
        uint32_t pack;
        uint64_t offset;
        size_t len;
        uint8_t *buf;
        size_t cap;             /* of buf */
        unsigned readers;       /* copying out of buf without the lock */
        uint64_t generation;    /* of the cache when it was loaded: another one is stale */
        uint64_t served;
        uint64_t last_use;
} span;

/* A planned record. When the span holding it goes while planned reads of it
 * remain (a deduplicated blob that a later file reads again, or a record a
 * reader has not reached yet), its bytes are kept here, so the pack need not
 * be fetched again; at most KEPT_MAX bytes are kept in all. */
typedef struct need {
        uint32_t pack;
        uint32_t len;
        uint64_t offset;
        uint32_t remaining;     /* planned reads not yet served */
        uint8_t *kept;
} need;

#define KEPT_MAX (64u * 1024 * 1024)

/* Prefetches waiting for a loader thread (sk_packcache_start_loaders). A
 * restore hints every chunk of a file as it queues it; what is queued is
 * deduplicated by pack, and hints beyond this many are dropped (the reader
 * then loads the span itself, as without loaders). */
#define PF_QUEUE 16

/* Packs whose first read was declined recently (sk_packcache_tune). */
#define SEEN 64

typedef struct pf_req {
        uint32_t pack;
        uint64_t offset;
        size_t len;
} pf_req;

struct sk_packcache {
        pthread_mutex_t mu;
        pthread_cond_t loaded;
        span *spans;
        unsigned n;
        size_t span_max, ra;
        uint64_t tick;
        sk_packcache_fetch_fn fetch;
        void *userdata;
        sk_packcache_stats st;
        /* Reads without a plan (sk_packcache_tune): the read-ahead's
         * ceiling, and whether a pack's first read away from its start is
         * left to the caller. */
        size_t ra_max;
        bool exact_first;
        uint32_t seen[SEEN];    /* pack + 1; 0 = empty */
        unsigned seen_next;
        /* The plan: every record a reader said it will read, sorted by
         * (pack, offset) before use. */
        need *needs;
        size_t n_needs, cap_needs;
        bool needs_sorted;
        size_t kept_bytes;      /* sum of needs' kept copies */
        /* The buffer of the span retired last, for the next load to fill
         * (a load retires its victim right before fetching: no extra memory). */
        uint8_t *spare;
        size_t spare_cap;
        /* Loader threads: prefetches are queued for them instead of run by
         * the caller, so that several spans are fetched at once while the
         * readers work (on S3 each is a round trip of its own). */
        pthread_t *loaders;
        unsigned n_loaders;
        bool stopping;
        pthread_cond_t work;    /* a request was queued, or an entry may have become usable */
        pf_req queue[PF_QUEUE];
        unsigned q_head, q_len;
        /* Counts drops: a load that was in flight across a drop may hold a
         * pack the caller has since renumbered, so it is not kept. */
        uint64_t generation;
};

static void keep_spare(sk_packcache *pc, uint8_t *buf, size_t cap) {
        if (!pc->spare || pc->spare_cap < cap) {
                free(pc->spare);
                pc->spare = buf;
                pc->spare_cap = cap;
        } else {
                free(buf);
        }
}

int sk_packcache_new(unsigned entries, size_t span_max, sk_packcache_fetch_fn fetch, void *userdata,
                     sk_packcache **ret) {
        if (entries == 0 || span_max < RA_MIN || !fetch)
                return -EINVAL;
        sk_packcache *pc = calloc(1, sizeof(*pc));
        if (!pc)
                return -ENOMEM;
        pc->spans = calloc(entries, sizeof(span));
        if (!pc->spans) {
                free(pc);
                return -ENOMEM;
        }
        pthread_mutex_init(&pc->mu, NULL);
        pthread_cond_init(&pc->loaded, NULL);
        pthread_cond_init(&pc->work, NULL);
        pc->n = entries;
        pc->span_max = span_max;
        pc->ra = span_max;
        pc->ra_max = span_max;
        pc->fetch = fetch;
        pc->userdata = userdata;
        *ret = pc;
        return 0;
}

static void forget_plan(sk_packcache *pc) {
        for (size_t i = 0; i < pc->n_needs; i++)
                free(pc->needs[i].kept);
        free(pc->needs);
        pc->needs = NULL;
        pc->n_needs = pc->cap_needs = 0;
        pc->kept_bytes = 0;
}

static int need_cmp(const void *a, const void *b) {
        const need *x = a, *y = b;
        if (x->pack != y->pack)
                return x->pack < y->pack ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sort the plan and merge repeated records (their reads add up). */
static void sort_needs(sk_packcache *pc) {
        if (pc->needs_sorted)
                return;
        qsort(pc->needs, pc->n_needs, sizeof(need), need_cmp);
        size_t w = 0;
        for (size_t i = 0; i < pc->n_needs; i++) {
                if (w > 0 && need_cmp(&pc->needs[w - 1], &pc->needs[i]) == 0) {
                        pc->needs[w - 1].remaining += pc->needs[i].remaining;
                        continue;
                }
                pc->needs[w++] = pc->needs[i];
        }
        pc->n_needs = w;
        pc->needs_sorted = true;
}

/* Index of the first need at or after (pack, offset). */
static size_t need_lower_bound(const sk_packcache *pc, uint32_t pack, uint64_t offset) {
        need key = { .pack = pack, .offset = offset };
        return sk_lower_bound(pc->needs, pc->n_needs, sizeof(need), &key, need_cmp, NULL);
}

static need *find_need(sk_packcache *pc, uint32_t pack, uint64_t offset) {
        size_t i = need_lower_bound(pc, pack, offset);
        if (i < pc->n_needs && pc->needs[i].pack == pack && pc->needs[i].offset == offset)
                return &pc->needs[i];
        return NULL;
}

/* The range of pack covering its planned records that still have reads to
 * come and are not kept. False if there are none. */
static bool needed_range(sk_packcache *pc, uint32_t pack, uint64_t *ret_start, uint64_t *ret_end) {
        bool any = false;
        sort_needs(pc);
        for (size_t i = need_lower_bound(pc, pack, 0); i < pc->n_needs && pc->needs[i].pack == pack; i++) {
                const need *n = &pc->needs[i];
                if (n->remaining == 0 || n->kept)
                        continue;
                if (!any)
                        *ret_start = n->offset;
                *ret_end = n->offset + n->len;
                any = true;
        }
        return any;
}

/* A span is going: keep copies of its records that will be read again. */
static void keep_needed(sk_packcache *pc, const span *s) {
        if (!s->buf)
                return;
        sort_needs(pc);
        for (size_t i = need_lower_bound(pc, s->pack, s->offset);
             i < pc->n_needs && pc->needs[i].pack == s->pack; i++) {
                need *n = &pc->needs[i];
                if (n->offset + n->len > s->offset + s->len)
                        break;
                if (n->remaining == 0 || n->kept || pc->kept_bytes + n->len > KEPT_MAX)
                        continue;
                n->kept = malloc(n->len ? n->len : 1);
                if (!n->kept)
                        continue;       /* then the pack is read again: slower, not wrong */
                memcpy(n->kept, s->buf + (n->offset - s->offset), n->len);
                pc->kept_bytes += n->len;
        }
}

/* One planned read of n was served. */
static void need_served(sk_packcache *pc, need *n) {
        if (n->remaining > 0)
                n->remaining--;
        if (n->remaining == 0 && n->kept) {
                free(n->kept);
                n->kept = NULL;
                pc->kept_bytes -= n->len;
        }
}

void sk_packcache_free(sk_packcache *pc) {
        if (!pc)
                return;
        pthread_mutex_lock(&pc->mu);
        pc->stopping = true;
        pthread_cond_broadcast(&pc->work);
        pthread_mutex_unlock(&pc->mu);
        for (unsigned i = 0; i < pc->n_loaders; i++)
                pthread_join(pc->loaders[i], NULL);
        free(pc->loaders);
        for (unsigned i = 0; i < pc->n; i++)
                free(pc->spans[i].buf);
        free(pc->spans);
        free(pc->spare);
        forget_plan(pc);
        pthread_cond_destroy(&pc->loaded);
        pthread_cond_destroy(&pc->work);
        pthread_mutex_destroy(&pc->mu);
        free(pc);
}

/* The span holding [offset, offset + len) (a loading one counts if its
 * request covers it), or NULL. *ret_short is set when a loaded span starts
 * at or before offset but the pack ended before offset + len. */
static span *find(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len, bool *ret_short) {
        *ret_short = false;
        for (unsigned i = 0; i < pc->n; i++) {
                span *s = &pc->spans[i];
                /* a span from before a drop that a reader was still using
                 * holds a pack under its old number: never found again */
                if (!s->used || s->generation != pc->generation || s->pack != pack || offset < s->offset)
                        continue;
                if (offset + len <= s->offset + s->len)
                        return s;
                if (!s->loading && s->eof && offset <= s->offset + s->len)
                        *ret_short = true;
        }
        return NULL;
}

/* Whether a span has served most of what it was loaded for: with a plan,
 * when at most a quarter of its bytes are planned records with reads to
 * come (those are kept when it goes); without, when three quarters of its
 * bytes were read. */
static bool consumed(sk_packcache *pc, const span *s) {
        if (pc->n_needs == 0)
                return s->served * 4 >= s->len * 3;
        uint64_t left = 0;
        sort_needs(pc);
        for (size_t i = need_lower_bound(pc, s->pack, s->offset);
             i < pc->n_needs && pc->needs[i].pack == s->pack; i++) {
                const need *n = &pc->needs[i];
                if (n->offset + n->len > s->offset + s->len)
                        break;
                if (n->remaining > 0 && !n->kept)
                        left += n->len;
        }
        return left * 4 <= s->len;
}

/* Adapt the read-ahead to how much of a span was used before it went. A
 * span nobody read was a prefetch that came too early, which says nothing
 * about how the reads are laid out. */
static void retire(sk_packcache *pc, span *s) {
        bool stale = s->generation != pc->generation;
        if (pc->n_needs > 0 && !stale)
                keep_needed(pc, s);
        if (s->served == 0 || pc->n_needs > 0 || stale)
                ;
        else if (s->served * 4 < s->len)
                pc->ra = pc->ra / 4 > RA_MIN ? pc->ra / 4 : RA_MIN;
        else if (s->served * 2 >= s->len)
                pc->ra = pc->ra * 2 < pc->ra_max ? pc->ra * 2 : pc->ra_max;
        if (s->buf)
                keep_spare(pc, s->buf, s->cap);
        *s = (span) { 0 };
}

/* The entry to (re)use: a free one, else the least recently used idle one
 * whose span was mostly read, else (not for a prefetch) the least recently
 * used idle one. */
static span *pick_victim(sk_packcache *pc, bool consumed_only) {
        span *best = NULL;
        bool best_consumed = false;
        for (unsigned i = 0; i < pc->n; i++) {
                span *s = &pc->spans[i];
                if (!s->used)
                        return s;
                if (s->loading || s->readers > 0)
                        continue;
                if (s->generation != pc->generation)
                        return s;       /* stale: as good as free */
                bool c = consumed(pc, s);
                if (consumed_only && !c)
                        continue;
                if (!best || (c && !best_consumed) || (c == best_consumed && s->last_use < best->last_use)) {
                        best = s;
                        best_consumed = c;
                }
        }
        return best;
}

/* Load [offset, offset + max(ra, len)) of pack into v (called with the lock
 * held; drops it during the fetch). */
static int load(sk_packcache *pc, span *v, uint32_t pack, uint64_t offset, size_t len) {
        if (v->used)
                retire(pc, v);
        size_t want = pc->ra > len ? pc->ra : len;
        uint64_t start, end;
        if (pc->n_needs > 0) {
                /* Everything of this pack still to be read, in one request
                 * (restic reads a pack the same way); from the wanted record
                 * on if that is more than a span. */
                if (needed_range(pc, pack, &start, &end)) {
                        start = MIN(start, offset);
                        end = MAX(end, offset + len);
                        if (end - start > pc->span_max) {
                                start = offset;
                                end = MIN(end, offset + MAX((uint64_t) pc->span_max, (uint64_t) len));
                        }
                } else {
                        start = offset;
                        end = offset + len;
                }
                offset = start;
                want = (size_t) (end - start);
        } else if (offset + len <= want) {
                /* The record is near the pack's start: take the pack from
                 * its start, since what comes before it is likely wanted as
                 * well (trees are written children first and read parents
                 * first). */
                offset = 0;
        } else if (pc->exact_first) {
                /* Tuned (sk_packcache_tune): the aligned window around the
                 * record, so that reads going backwards through a pack (a
                 * tree walk) share windows too, as readers in any order do. */
                uint64_t wstart = offset - offset % want;
                want = (size_t) MAX((uint64_t) want, offset + len - wstart);
                offset = wstart;
        }
        *v = (span) { .used = true, .loading = true, .pack = pack, .offset = offset, .len = want,
                      .generation = pc->generation };
        void *buf = pc->spare;
        size_t cap = pc->spare_cap, got = 0;
        pc->spare = NULL;
        pc->spare_cap = 0;
        uint64_t generation = pc->generation;
        pthread_mutex_unlock(&pc->mu);
        int r = pc->fetch(pc->userdata, pack, offset, want, &buf, &cap, &got);

        pthread_mutex_lock(&pc->mu);
        if (generation != pc->generation)       /* renumbered meanwhile: neither bytes nor error are the caller's */
                r = -ESTALE;
        if (r < 0) {
                free(buf);
                *v = (span) { 0 };
                pthread_cond_broadcast(&pc->loaded);
                if (pc->q_len > 0) /* the entry is free again: a waiting loader may use it */
                        pthread_cond_signal(&pc->work);
                return r;
        }
        v->loading = false;
        v->buf = buf;
        v->cap = cap;
        v->len = got;
        v->eof = got < want;
        v->last_use = ++pc->tick;
        pc->st.spans_loaded++;
        pc->st.bytes_loaded += got;
        pthread_cond_broadcast(&pc->loaded);
        return 0;
}

/* Whether a miss without a plan should be read exactly by the caller
 * (sk_packcache_tune): the first one of a pack, unless the record is near
 * the pack's start. Remembers the pack either way. Lock held. */
static bool exact_read(sk_packcache *pc, uint32_t pack, uint64_t offset) {
        if (!pc->exact_first || pc->n_needs > 0)
                return false;
        for (unsigned i = 0; i < SEEN; i++)
                if (pc->seen[i] == pack + 1u)
                        return false;
        pc->seen[pc->seen_next++ % SEEN] = pack + 1u;
        return offset >= RA_MIN;
}

uint64_t sk_packcache_generation(sk_packcache *pc) {
        pthread_mutex_lock(&pc->mu);
        uint64_t g = pc->generation;
        pthread_mutex_unlock(&pc->mu);
        return g;
}

int sk_packcache_read(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len, void **ret) {
        return sk_packcache_read_as_of(pc, sk_packcache_generation(pc), pack, offset, len, ret);
}

int sk_packcache_read_as_of(sk_packcache *pc, uint64_t generation, uint32_t pack, uint64_t offset, size_t len,
                            void **ret) {
        bool loaded_once = false;
        pthread_mutex_lock(&pc->mu);
        need *n = NULL;
        if (pc->n_needs > 0 && pc->generation == generation) {
                sort_needs(pc);
                n = find_need(pc, pack, offset);
                if (n && n->len != len)
                        n = NULL;
        }
        if (n && n->kept) {
                void *out = malloc(len ? len : 1);
                if (out) {
                        memcpy(out, n->kept, len);
                        pc->st.bytes_served += len;
                        need_served(pc, n);
                }
                pthread_mutex_unlock(&pc->mu);
                if (!out)
                        return -ENOMEM;
                *ret = out;
                return 1;
        }
        for (;;) {
                /* The caller's pack number is from before a drop (its
                 * index was replaced since): it may name another pack now. */
                if (pc->generation != generation) {
                        pc->st.declined++;
                        pthread_mutex_unlock(&pc->mu);
                        return 0;
                }
                bool truncated;
                span *s = find(pc, pack, offset, len, &truncated);
                if (s && s->loading) {
                        pthread_cond_wait(&pc->loaded, &pc->mu);
                        continue;
                }
                if (s) {
                        s->readers++;
                        s->last_use = ++pc->tick;
                        pthread_mutex_unlock(&pc->mu);
                        void *out = malloc(len ? len : 1);
                        if (out)
                                memcpy(out, s->buf + (offset - s->offset), len);
                        pthread_mutex_lock(&pc->mu);
                        s->readers--;
                        if (out) {
                                s->served += len;
                                pc->st.bytes_served += len;
                                /* the plan may have been re-sorted while the
                                 * lock was dropped: look the need up again */
                                n = n ? find_need(pc, pack, offset) : NULL;
                                if (n)
                                        need_served(pc, n);
                                /* the span may now be consumed: a waiting loader can use it */
                                if (pc->q_len > 0)
                                        pthread_cond_signal(&pc->work);
                        }
                        pthread_mutex_unlock(&pc->mu);
                        if (!out)
                                return -ENOMEM;
                        *ret = out;
                        return 1;
                }
                /* The pack ends early (truncated), or our own load did not
                 * reach the record, or it is a pack's first read away from
                 * its start: the caller's direct read names it. */
                span *v = truncated || loaded_once || exact_read(pc, pack, offset) ? NULL : pick_victim(pc, false);
                if (!v) {
                        pc->st.declined++;
                        pthread_mutex_unlock(&pc->mu);
                        return 0;
                }
                int r = load(pc, v, pack, offset, len);
                if (r == -ESTALE) { /* dropped meanwhile: the caller reads directly, by name */
                        pc->st.declined++;
                        pthread_mutex_unlock(&pc->mu);
                        return 0;
                }
                if (r < 0) {
                        pthread_mutex_unlock(&pc->mu);
                        return r;
                }
                loaded_once = true;
        }
}

int sk_packcache_plan(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len) {
        if (len > UINT32_MAX)
                return -EINVAL;
        int r = 0;
        pthread_mutex_lock(&pc->mu);
        r = SK_GROW(pc->needs, pc->cap_needs, pc->n_needs + 1);
        if (r >= 0) {
                pc->needs[pc->n_needs++] = (need) { .pack = pack, .offset = offset, .len = (uint32_t) len,
                                                    .remaining = 1 };
                pc->needs_sorted = false;
        }
        pthread_mutex_unlock(&pc->mu);
        return r;
}

/* Whether [offset, offset + len) of pack is cached, being loaded, kept, or
 * known to lie past the pack's end: nothing to prefetch. Lock held. */
static bool have_or_past_end(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len) {
        bool truncated;
        if (pc->n_needs > 0) {
                sort_needs(pc);
                need *n = find_need(pc, pack, offset);
                if (n && n->kept)
                        return true;
        }
        return find(pc, pack, offset, len, &truncated) || truncated;
}

/* The oldest queued prefetch, taken off the queue. Lock held, queue not empty. */
static pf_req dequeue(sk_packcache *pc) {
        pf_req q = pc->queue[pc->q_head];
        pc->q_head = (pc->q_head + 1) % PF_QUEUE;
        pc->q_len--;
        return q;
}

static bool queued(const sk_packcache *pc, uint32_t pack) {
        for (unsigned i = 0; i < pc->q_len; i++)
                if (pc->queue[(pc->q_head + i) % PF_QUEUE].pack == pack)
                        return true;
        return false;
}

int sk_packcache_prefetch(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len) {
        int r = 0;
        pthread_mutex_lock(&pc->mu);
        if (have_or_past_end(pc, pack, offset, len))
                ;
        else if (pc->n_loaders > 0) {
                /* A span covers a whole pack when loaders are used (remote
                 * stores: sk_repo_read_ahead_begin), so one request per pack. */
                if (!queued(pc, pack) && pc->q_len < PF_QUEUE) {
                        pc->queue[(pc->q_head + pc->q_len++) % PF_QUEUE] = (pf_req) { pack, offset, len };
                        pthread_cond_signal(&pc->work);
                        r = 1;
                }
        } else {
                span *v = pick_victim(pc, true);
                if (v) {
                        r = load(pc, v, pack, offset, len);
                        if (r >= 0)
                                r = 1;
                }
        }
        pthread_mutex_unlock(&pc->mu);
        return r;
}

/* A loader: takes queued prefetches in order and loads each into a free or
 * consumed entry, waiting for one to become so (a reader finishing a span
 * signals); a request whose bytes arrived meanwhile is dropped. A failed
 * fetch is dropped too: the reader that needs the bytes fetches them itself
 * and reports the error with its context. */
static void *loader_main(void *arg) {
        sk_packcache *pc = arg;
        pthread_mutex_lock(&pc->mu);
        while (!pc->stopping) {
                if (pc->q_len == 0) {
                        pthread_cond_wait(&pc->work, &pc->mu);
                        continue;
                }
                pf_req q = pc->queue[pc->q_head];
                if (have_or_past_end(pc, q.pack, q.offset, q.len)) {
                        (void) dequeue(pc);
                        continue;
                }
                span *v = pick_victim(pc, true);
                if (!v) {
                        pthread_cond_wait(&pc->work, &pc->mu);
                        continue;
                }
                (void) dequeue(pc);
                (void) load(pc, v, q.pack, q.offset, q.len);
        }
        pthread_mutex_unlock(&pc->mu);
        return NULL;
}

int sk_packcache_start_loaders(sk_packcache *pc, unsigned n) {
        if (n == 0 || n > pc->n)
                return -EINVAL;
        pthread_mutex_lock(&pc->mu);
        bool started = pc->n_loaders > 0;
        pthread_mutex_unlock(&pc->mu);
        if (started)
                return 0;
        pthread_t *t = calloc(n, sizeof(*t));
        if (!t)
                return -ENOMEM;
        unsigned k = 0;
        int r = 0;
        for (; k < n; k++) {
                r = -pthread_create(&t[k], NULL, loader_main, pc);
                if (r < 0)
                        break;
        }
        if (k == 0) {
                /* No thread (a pids limit, say): prefetches stay synchronous,
                 * slower but the same results. */
                free(t);
                return 0;
        }
        pthread_mutex_lock(&pc->mu);
        pc->loaders = t;
        pc->n_loaders = k;      /* fewer than asked if a thread could not start: fewer at once, same results */
        pthread_mutex_unlock(&pc->mu);
        return 0;
}

void sk_packcache_drop(sk_packcache *pc) {
        pthread_mutex_lock(&pc->mu);
        forget_plan(pc);
        pc->generation++;
        pc->q_len = 0;
        pc->ra = pc->ra_max;
        memset(pc->seen, 0, sizeof(pc->seen));      /* pack numbers may name other packs now */
        for (unsigned i = 0; i < pc->n; i++) {
                span *s = &pc->spans[i];
                if (s->used && !s->loading && s->readers == 0) {
                        free(s->buf);
                        *s = (span) { 0 };
                }
        }
        free(pc->spare);
        pc->spare = NULL;
        pc->spare_cap = 0;
        pthread_mutex_unlock(&pc->mu);
}

void sk_packcache_tune(sk_packcache *pc, size_t ra_max, bool exact_first) {
        pthread_mutex_lock(&pc->mu);
        pc->ra_max = MIN(MAX(ra_max, (size_t) RA_MIN), pc->span_max);
        pc->ra = pc->ra_max;
        pc->exact_first = exact_first;
        pthread_mutex_unlock(&pc->mu);
}

void sk_packcache_get_stats(sk_packcache *pc, sk_packcache_stats *ret) {
        pthread_mutex_lock(&pc->mu);
        *ret = pc->st;
        pthread_mutex_unlock(&pc->mu);
}
