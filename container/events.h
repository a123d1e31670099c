/* The event ring: what capture and restore report as they go (start,
 * progress, done, error), kept for `snapkeep daemon events` to read.
 *
 * DESIGN
 * A fixed ring of the last SK_EVENT_RING events, each numbered by a sequence
 * that only grows. A reader asks for the events after the last number it saw
 * and may wait for one; a reader that fell behind by more than the ring gets
 * the oldest ones still held (the others were overwritten), and a reader
 * holding a number from a previous run of the daemon (larger than any held)
 * starts over. Posting never blocks on a reader: the ring is an object of its
 * own, apart from the capture handle, so neither waits on the other's lock. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

#define SK_EVENT_RING 256

typedef struct sk_capture_event {
        uint64_t seq;
        int64_t time_ns;
        char kind[24];
        char snapshot[256];
        char backup_id[65];
        uint64_t files_done, bytes_done, bytes_total;
        char message[256];
} sk_capture_event;

typedef struct sk_event_ring sk_event_ring;

int sk_event_ring_new(sk_event_ring **ret);
void sk_event_ring_free(sk_event_ring *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_event_ring *, sk_event_ring_free);

/* Add one event, numbered one past the last and stamped now; strings are
 * truncated to their fields (snapshot, backup_id may be NULL; fmt, which
 * makes the message, too). Wakes every waiting reader. */
void sk_event_ring_post(sk_event_ring *r, const char *kind, const char *snapshot, const char *backup_id,
                        uint64_t files, uint64_t bytes, uint64_t total, const char *fmt, ...) _printf_(8, 9);

/* Copy up to max events with seq > since into out (oldest first), waiting up
 * to wait_ms for one if there is none. Returns the number copied. */
size_t sk_event_ring_read(sk_event_ring *r, uint64_t since, unsigned wait_ms, sk_capture_event *out, size_t max);

/* The number of the last event posted (0: none yet). */
uint64_t sk_event_ring_last(sk_event_ring *r);
