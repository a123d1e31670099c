/* Read-ahead cache of pack spans (see packcache.h for the design). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backup/packcache.h"
#include "common/macro.h"

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
        unsigned readers;       /* copying out of buf without the lock */
        uint64_t served;
        uint64_t last_use;
} span;

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
        uint64_t *plan_end;     /* by pack: end of its last planned record, 0 = none */
        size_t n_plan;
};

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
        pc->n = entries;
        pc->span_max = span_max;
        pc->ra = span_max;
        pc->fetch = fetch;
        pc->userdata = userdata;
        *ret = pc;
        return 0;
}

void sk_packcache_free(sk_packcache *pc) {
        if (!pc)
                return;
        for (unsigned i = 0; i < pc->n; i++)
                free(pc->spans[i].buf);
        free(pc->spans);
        free(pc->plan_end);
        pthread_cond_destroy(&pc->loaded);
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
                if (!s->used || s->pack != pack || offset < s->offset)
                        continue;
                if (offset + len <= s->offset + s->len)
                        return s;
                if (!s->loading && s->eof && offset <= s->offset + s->len)
                        *ret_short = true;
        }
        return NULL;
}

static bool consumed(const span *s) {
        return s->served * 4 >= s->len * 3;
}

/* Adapt the read-ahead to how much of a span was used before it went. A
 * span nobody read was a prefetch that came too early, which says nothing
 * about how the reads are laid out. */
static void retire(sk_packcache *pc, span *s) {
        if (s->served == 0 || pc->n_plan > 0)
                ;
        else if (s->served * 4 < s->len)
                pc->ra = pc->ra / 4 > RA_MIN ? pc->ra / 4 : RA_MIN;
        else if (s->served * 2 >= s->len)
                pc->ra = pc->ra * 2 < pc->span_max ? pc->ra * 2 : pc->span_max;
        free(s->buf);
        *s = (span) { 0 };
}

/* The entry to (re)use: a free one, else the least recently used idle one
 * whose span was mostly read, else (not for a prefetch) the least recently
 * used idle one. */
static span *pick_victim(sk_packcache *pc, bool consumed_only) {
        span *best = NULL;
        for (unsigned i = 0; i < pc->n; i++) {
                span *s = &pc->spans[i];
                if (!s->used)
                        return s;
                if (s->loading || s->readers > 0)
                        continue;
                if (consumed_only && !consumed(s))
                        continue;
                if (!best || (consumed(s) && !consumed(best)) ||
                    (consumed(s) == consumed(best) && s->last_use < best->last_use))
                        best = s;
        }
        return best;
}

/* Load [offset, offset + max(ra, len)) of pack into v (called with the lock
 * held; drops it during the fetch). */
static int load(sk_packcache *pc, span *v, uint32_t pack, uint64_t offset, size_t len) {
        if (v->used)
                retire(pc, v);
        size_t want = pc->ra > len ? pc->ra : len;
        if (pc->n_plan > 0) {
                uint64_t end = pack < pc->n_plan ? pc->plan_end[pack] : 0;
                want = end > offset + len ? (size_t) MIN(end - offset, (uint64_t) pc->span_max) : len;
                want = MAX(want, len);
        } else if (offset + len <= want) {
                /* The record is near the pack's start: take the pack from
                 * its start, since what comes before it is likely wanted as
                 * well (trees are written children first and read parents
                 * first). */
                offset = 0;
        }
        *v = (span) { .used = true, .loading = true, .pack = pack, .offset = offset, .len = want };
        pthread_mutex_unlock(&pc->mu);

        void *buf = NULL;
        size_t got = 0;
        int r = pc->fetch(pc->userdata, pack, offset, want, &buf, &got);

        pthread_mutex_lock(&pc->mu);
        if (r < 0) {
                *v = (span) { 0 };
                pthread_cond_broadcast(&pc->loaded);
                return r;
        }
        v->loading = false;
        v->buf = buf;
        v->len = got;
        v->eof = got < want;
        v->last_use = ++pc->tick;
        pc->st.spans_loaded++;
        pc->st.bytes_loaded += got;
        pthread_cond_broadcast(&pc->loaded);
        return 0;
}

int sk_packcache_read(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len, void **ret) {
        bool loaded_once = false;
        pthread_mutex_lock(&pc->mu);
        for (;;) {
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
                        }
                        pthread_mutex_unlock(&pc->mu);
                        if (!out)
                                return -ENOMEM;
                        *ret = out;
                        return 1;
                }
                /* The pack ends early (truncated), or our own load did not
                 * reach the record: the caller's direct read names it. */
                span *v = truncated || loaded_once ? NULL : pick_victim(pc, false);
                if (!v) {
                        pc->st.declined++;
                        pthread_mutex_unlock(&pc->mu);
                        return 0;
                }
                int r = load(pc, v, pack, offset, len);
                if (r < 0) {
                        pthread_mutex_unlock(&pc->mu);
                        return r;
                }
                loaded_once = true;
        }
}

int sk_packcache_plan(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len) {
        int r = 0;
        pthread_mutex_lock(&pc->mu);
        if (pack >= pc->n_plan) {
                size_t n = MAX((size_t) pack + 1, pc->n_plan * 2);
                uint64_t *t = realloc(pc->plan_end, n * sizeof(*t));
                if (!t)
                        r = -ENOMEM;
                else {
                        memset(t + pc->n_plan, 0, (n - pc->n_plan) * sizeof(*t));
                        pc->plan_end = t;
                        pc->n_plan = n;
                }
        }
        if (r >= 0)
                pc->plan_end[pack] = MAX(pc->plan_end[pack], offset + len);
        pthread_mutex_unlock(&pc->mu);
        return r;
}

int sk_packcache_prefetch(sk_packcache *pc, uint32_t pack, uint64_t offset, size_t len) {
        bool truncated;
        int r = 0;
        pthread_mutex_lock(&pc->mu);
        if (!find(pc, pack, offset, len, &truncated) && !truncated) {
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

void sk_packcache_drop(sk_packcache *pc) {
        pthread_mutex_lock(&pc->mu);
        free(pc->plan_end);
        pc->plan_end = NULL;
        pc->n_plan = 0;
        pc->ra = pc->span_max;
        for (unsigned i = 0; i < pc->n; i++) {
                span *s = &pc->spans[i];
                if (s->used && !s->loading && s->readers == 0) {
                        free(s->buf);
                        *s = (span) { 0 };
                }
        }
        pthread_mutex_unlock(&pc->mu);
}

void sk_packcache_get_stats(sk_packcache *pc, sk_packcache_stats *ret) {
        pthread_mutex_lock(&pc->mu);
        *ret = pc->st;
        pthread_mutex_unlock(&pc->mu);
}
