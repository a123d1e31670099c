/* Private to io/: what the two I/O engines share. ioengine.c owns the public
 * API, the slot table and the choice of engine; io-uring.c and io-threads.c
 * each implement the sk_io_engine ops table below over that slot table, so
 * the public entry points dispatch through one pointer instead of testing the
 * backend in every function. Not a public header: nothing outside io/ may
 * include it.
 *
 * DESIGN: both engines share one table of slots (one per outstanding
 * operation), a stack of free slots that only the caller's thread touches,
 * and a FIFO of finished slots waiting to be reaped. The engine-specific
 * state lives in struct sk_io too (grouped below), because the slot table and
 * the buffer pool are read by both. */
#pragma once

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "io/ioengine.h"

/* One SQE moves at most this much; the continuation logic does the rest
 * (cqe->res is an int). The synchronous path uses the same bound. */
#define MAX_IO_CHUNK (1u << 30)
/* A persistent -EAGAIN/-EINTR is handed to the caller after this many tries
 * rather than spinning forever. */
#define MAX_RETRIES 100000u
#define NO_SLOT UINT32_MAX

enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_RUNNING, SLOT_DONE };

typedef struct io_slot {
        uint64_t user_data;
        sk_io_op op;
        enum slot_state state;
        int canceled;           /* atomic: set by the caller, read by workers */
        int fd;
        int flags;              /* open/statx flags, fallocate mode, fsync datasync */
        unsigned mask;          /* statx mask */
        mode_t mode;
        char *path;
        void *buf;
        uint64_t len;
        uint64_t offset;
        uint64_t done;          /* bytes transferred so far */
        unsigned retries;
        bool polling;           /* io_uring: a POLL_ADD stands in for the op */
        int64_t res;
        int worker;             /* threads: worker running it */
        uint32_t gen;           /* io_uring: bumped per use, part of user_data */
        uint32_t next;          /* threads: pending list link */
} io_slot;

/* What an engine implements. Every op but setup is called only once setup
 * succeeded; teardown also after a failed setup, and must undo what a
 * partial setup did. */
typedef struct sk_io_engine {
        /* Bring the engine up on io (slots allocated, depth and pool set).
         * On failure, why says why in a few words (for the probe line). */
        int (*setup)(sk_io *io, const sk_io_options *o, char *why, size_t why_len);
        void (*teardown)(sk_io *io);
        /* Run (or queue) the filled slot idx. On failure the slot is freed. */
        int (*start)(sk_io *io, uint32_t idx);
        /* Finish slot idx with res from the caller's thread, without running
         * it (a zero-length read or write). */
        void (*complete_now)(sk_io *io, uint32_t idx, int64_t res);
        /* Hand queued operations over; the number handed over, or -errno. */
        int (*flush)(sk_io *io);
        /* Collect up to max completions, waiting for want (see sk_io_reap()). */
        int (*reap)(sk_io *io, sk_io_completion *out, size_t max, size_t want);
        /* Ask every outstanding op with user_data to cancel; how many. */
        int (*cancel)(sk_io *io, uint64_t user_data);
} sk_io_engine;

extern const sk_io_engine sk_io_uring_engine;
extern const sk_io_engine sk_io_threads_engine;

struct sk_io {
        const sk_io_engine *engine;     /* NULL until an engine is set up */
        sk_io_backend backend;
        unsigned depth;
        char reason[256];

        io_slot *slots;
        uint32_t *free_stack;
        unsigned n_free;
        uint32_t *done_ring;    /* FIFO of finished slots, capacity depth */
        unsigned done_head, done_len;

        /* buffer pool */
        uint8_t *pool;
        size_t buf_size;
        unsigned buf_count;
        bool buffers_registered;

        /* io_uring (io-uring.c) */
        struct io_uring ring;
        bool ring_ok;
        unsigned sync_ops;      /* ops run synchronously (bit per sk_io_op) */
        unsigned kernel_inflight;
        unsigned unsubmitted;

        /* threads (io-threads.c) */
        pthread_t *workers;
        int *cancel_fd;         /* one eventfd per worker */
        unsigned n_cancel_fd;
        unsigned n_workers;
        pthread_mutex_t lock;
        pthread_cond_t work_cond, done_cond;
        bool sync_init;
        bool stop;
        uint32_t pend_head, pend_tail;
        unsigned n_pending, n_running;
};

static inline bool slot_canceled(const io_slot *s) {
        return __atomic_load_n(&s->canceled, __ATOMIC_ACQUIRE) != 0;
}

/* --- ioengine.c: the slot table ------------------------------------------------- */

/* Set slot idx's result and move it to the finished FIFO (with threads:
 * under io->lock). */
void sk_io_finish(sk_io *io, uint32_t idx, int64_t res);
/* Move up to max finished slots into out, freeing them; how many. */
size_t sk_io_deliver_done(sk_io *io, sk_io_completion *out, size_t max);
/* Give slot idx back to the free stack (its path freed). */
void sk_io_slot_put_back(sk_io *io, uint32_t idx);
/* Append to the probe line (io->reason), truncating. */
_printf_(2, 3) void sk_io_append_reason(sk_io *io, const char *fmt, ...);

/* --- io-uring.c ------------------------------------------------------------------- */

/* Register the buffer pool with the ring. A refusal by the kernel is not an
 * error (the probe line says it, and I/O runs unregistered); -ENOMEM is. */
int sk_io_uring_register_pool(sk_io *io);

/* --- io-threads.c ------------------------------------------------------------------ */

/* Run slot s's operation with plain syscalls, to the end: the thread engine's
 * workers (worker = its index, whose eventfd interrupts a stream wait) and the
 * io_uring engine for ops its kernel lacks (worker -1: no cancel channel). */
int64_t sk_io_sync_exec(sk_io *io, io_slot *s, int worker);
