/* Read-ahead cache of pack spans (see packcache.h for the design). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backup/packcache.h"

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

/* Adapt the read-ahead to how much of a span was used before it went. */
static void retire(sk_packcache *pc, span *s) {
        if (s->served * 4 < s->len)
                pc->ra = pc->ra / 4 > RA_MIN ? pc->ra / 4 : RA_MIN;
        else if (s->served * 2 >= s->len)
                pc->ra = pc->ra * 2 < pc->span_max ? pc->ra * 2 : pc->span_max;
        free(s->buf);
        *s = (span) { 0 };
}

static span *pick_victim(sk_packcache *pc) {
        span *best = NULL;
        for (unsigned i = 0; i < pc->n; i++) {
                span *s = &pc->spans[i];
                if (!s->used)
                        return s;
                if (s->loading || s->readers > 0)
                        continue;
                if (!best || s->last_use < best->last_use)
                        best = s;
        }
        return best;
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
                span *v = truncated || loaded_once ? NULL : pick_victim(pc);
                if (!v) {
                        pc->st.declined++;
                        pthread_mutex_unlock(&pc->mu);
                        return 0;
                }
                if (v->used)
                        retire(pc, v);
                size_t want = pc->ra > len ? pc->ra : len;
                *v = (span) { .used = true, .loading = true, .pack = pack, .offset = offset, .len = want };
                pthread_mutex_unlock(&pc->mu);

                void *buf = NULL;
                size_t got = 0;
                int r = pc->fetch(pc->userdata, pack, offset, want, &buf, &got);

                pthread_mutex_lock(&pc->mu);
                if (r < 0) {
                        *v = (span) { 0 };
                        pthread_cond_broadcast(&pc->loaded);
                        pthread_mutex_unlock(&pc->mu);
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
                loaded_once = true;
        }
}

void sk_packcache_drop(sk_packcache *pc) {
        pthread_mutex_lock(&pc->mu);
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
