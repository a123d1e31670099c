/* The event ring (see events.h): one mutex and one condition variable over a
 * fixed array, so posting costs a copy and never allocates. */
#include "container/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct sk_event_ring {
        pthread_mutex_t mutex;
        pthread_cond_t cond;
        uint64_t last_seq;
        sk_capture_event ring[SK_EVENT_RING];
};

int sk_event_ring_new(sk_event_ring **ret) {
        sk_event_ring *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        pthread_mutex_init(&r->mutex, NULL);
        pthread_cond_init(&r->cond, NULL);
        *ret = r;
        return 0;
}

void sk_event_ring_free(sk_event_ring *r) {
        if (!r)
                return;
        pthread_mutex_destroy(&r->mutex);
        pthread_cond_destroy(&r->cond);
        free(r);
}

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sk_event_ring_post(sk_event_ring *r, const char *kind, const char *snapshot, const char *backup_id,
                        uint64_t files, uint64_t bytes, uint64_t total, const char *fmt, ...) {
        pthread_mutex_lock(&r->mutex);
        uint64_t seq = ++r->last_seq;
        sk_capture_event *e = &r->ring[seq % SK_EVENT_RING];
        *e = (sk_capture_event) { .seq = seq, .time_ns = now_ns(), .files_done = files, .bytes_done = bytes,
                                  .bytes_total = total };
        snprintf(e->kind, sizeof(e->kind), "%s", kind);
        snprintf(e->snapshot, sizeof(e->snapshot), "%s", snapshot ? snapshot : "");
        snprintf(e->backup_id, sizeof(e->backup_id), "%s", backup_id ? backup_id : "");
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(e->message, sizeof(e->message), fmt, ap);
                va_end(ap);
        }
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->mutex);
}

size_t sk_event_ring_read(sk_event_ring *r, uint64_t since, unsigned wait_ms, sk_capture_event *out, size_t max) {
        size_t n = 0;
        pthread_mutex_lock(&r->mutex);
        /* A client that saw a previous run of the daemon starts over. */
        if (since > r->last_seq)
                since = 0;
        if (r->last_seq <= since && wait_ms > 0) {
                struct timespec dl;
                clock_gettime(CLOCK_REALTIME, &dl);
                dl.tv_sec += wait_ms / 1000;
                dl.tv_nsec += (long) (wait_ms % 1000) * 1000000L;
                if (dl.tv_nsec >= 1000000000L) {
                        dl.tv_sec++;
                        dl.tv_nsec -= 1000000000L;
                }
                while (r->last_seq <= since)
                        if (pthread_cond_timedwait(&r->cond, &r->mutex, &dl) == ETIMEDOUT)
                                break;
        }
        uint64_t first = since + 1;
        if (r->last_seq >= SK_EVENT_RING && first <= r->last_seq - SK_EVENT_RING)
                first = r->last_seq - SK_EVENT_RING + 1; /* older ones were overwritten */
        for (uint64_t s = first; s <= r->last_seq && n < max; s++)
                out[n++] = r->ring[s % SK_EVENT_RING];
        pthread_mutex_unlock(&r->mutex);
        return n;
}

uint64_t sk_event_ring_last(sk_event_ring *r) {
        pthread_mutex_lock(&r->mutex);
        uint64_t seq = r->last_seq;
        pthread_mutex_unlock(&r->mutex);
        return seq;
}
