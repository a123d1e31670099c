/* Merging index runs, in the caller's thread or a background one; see
 * index-merge.h. */
#include "repo/index-merge.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"

/* An index holds at most MAX_RUNS runs (index.c); a merge takes all or the
 * newest of them. */
#define MERGE_MAX_INPUTS 16

struct sk_run_merge {
        sk_index_run *runs[MERGE_MAX_INPUTS];
        uint64_t run_seq[MERGE_MAX_INPUTS];
        size_t n;
        bool full;
        sk_merge_removed removed;
        sk_spill spill;
        unsigned delay_ms;
        bool threaded;
        pthread_t thread;
        atomic_bool cancel;
        atomic_bool release;    /* finish is waiting: hold back no longer */
        atomic_bool done;
        int result;
        sk_index_run *out;
};

static void removed_free(sk_merge_removed *r) {
        free(r->packs);
        free(r->others);
        *r = (sk_merge_removed) { 0 };
}

/* The clock value of pack n's last removal, 0 if never. */
static uint64_t removed_at(const sk_merge_removed *r, uint32_t n) {
        if (n < r->npacks)
                return r->packs ? r->packs[n] : 0;
        size_t lo = 0, hi = r->nothers;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (r->others[mid][0] < n)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < r->nothers && r->others[lo][0] == n ? r->others[lo][1] : 0;
}

static bool dead(const sk_run_merge *m, size_t i, const sk_run_rec *rec) {
        return rec->tomb || m->run_seq[i] < removed_at(&m->removed, rec->pack);
}

/* How often a merge looks at the cancel flag: a check per record would cost
 * an atomic load each, and this many records take well under a millisecond. */
#define CANCEL_EVERY 65536

/* The k-way merge: of each key the newest version (the highest input), if
 * it is live; if not, nothing (full) or a tombstone. The inputs are few (at most MAX_RUNS), so a linear scan of
 * their heads beats a heap. */
static int merge(sk_run_merge *m) {
        size_t head[MERGE_MAX_INPUTS] = { 0 };
        sk_recbuf out;
        int r = sk_recbuf_init(&out, &m->spill);
        if (r < 0)
                return r;
        for (size_t step = 1;; step++) {
                if (step % CANCEL_EVERY == 0 && atomic_load_explicit(&m->cancel, memory_order_relaxed)) {
                        sk_recbuf_done(&out);
                        return -ECANCELED;
                }
                const sk_run_rec *best = NULL;
                size_t bi = 0;
                /* newest first: among equal keys the newest stays chosen */
                for (size_t i = m->n; i-- > 0;) {
                        if (head[i] >= sk_index_run_count(m->runs[i]))
                                continue;
                        const sk_run_rec *c = sk_index_run_at(m->runs[i], head[i]);
                        if (!best || sk_run_rec_cmp_key(c, best->id, best->type) < 0) {
                                best = c;
                                bi = i;
                        }
                }
                if (!best)
                        break;
                sk_run_rec keep = *best;
                bool alive = !dead(m, bi, best);
                for (size_t i = 0; i < m->n; i++)
                        if (head[i] < sk_index_run_count(m->runs[i]) &&
                            sk_run_rec_cmp_key(sk_index_run_at(m->runs[i], head[i]), keep.id, keep.type) == 0)
                                head[i]++;
                if (!alive && m->full)
                        continue;
                keep.tomb = !alive;
                keep.seq = 0;
                if ((r = sk_recbuf_push(&out, &keep)) < 0) {
                        sk_recbuf_done(&out);
                        return r;
                }
        }
        if ((r = sk_index_run_from_sorted(&out, &m->out)) < 0)
                return r;
        sk_index_run_release(m->out);
        return 0;
}

/* Tests: hold the result back, so that the index goes on changing while
 * the merge is "running": delay_ms, or until someone waits for it. */
static void hold_back(sk_run_merge *m) {
        for (unsigned i = 0; i < m->delay_ms && !atomic_load(&m->cancel) && !atomic_load(&m->release); i++)
                nanosleep(&(struct timespec) { .tv_nsec = 1000000 }, NULL);
}

static void *merge_main(void *arg) {
        sk_run_merge *m = arg;
        m->result = merge(m);
        if (m->threaded)
                hold_back(m);
        atomic_store(&m->done, true);
        return NULL;
}

int sk_run_merge_start(sk_index_run *const *runs, const uint64_t *run_seq, size_t n, bool full,
                       sk_merge_removed removed, const sk_spill *spill, bool background, unsigned delay_ms,
                       sk_run_merge **ret) {
        if (n == 0 || n > MERGE_MAX_INPUTS) {
                removed_free(&removed);
                return -EINVAL;
        }
        sk_run_merge *m = calloc(1, sizeof(*m));
        if (!m) {
                removed_free(&removed);
                return -ENOMEM;
        }
        memcpy(m->runs, runs, n * sizeof(*runs));
        memcpy(m->run_seq, run_seq, n * sizeof(*run_seq));
        m->n = n;
        m->full = full;
        m->removed = removed;
        m->spill = *spill;
        m->delay_ms = delay_ms;
        atomic_init(&m->cancel, false);
        atomic_init(&m->release, false);
        atomic_init(&m->done, false);
        if (background) {
                m->threaded = true;     /* before the thread reads it */
                int r = -pthread_create(&m->thread, NULL, merge_main, m);
                if (r < 0) {
                        removed_free(&m->removed);
                        free(m);
                        return r;
                }
        } else {
                merge_main(m);
        }
        *ret = m;
        return 0;
}

bool sk_run_merge_ready(sk_run_merge *m) {
        return atomic_load(&m->done);
}

size_t sk_run_merge_inputs(const sk_run_merge *m) {
        return m->n;
}

static void merge_free(sk_run_merge *m) {
        if (m->threaded)
                pthread_join(m->thread, NULL);
        removed_free(&m->removed);
        free(m);
}

int sk_run_merge_finish(sk_run_merge *m, sk_index_run **ret) {
        atomic_store(&m->release, true);
        if (m->threaded)
                pthread_join(m->thread, NULL);
        m->threaded = false;
        int r = m->result;
        if (r >= 0)
                *ret = m->out;
        else
                sk_index_run_free(m->out);
        merge_free(m);
        return r;
}

void sk_run_merge_cancel(sk_run_merge *m) {
        if (!m)
                return;
        atomic_store(&m->cancel, true);
        if (m->threaded)
                pthread_join(m->thread, NULL);
        m->threaded = false;
        sk_index_run_free(m->out);
        merge_free(m);
}
