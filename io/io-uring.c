/* The io_uring I/O engine: each operation is one SQE (or a few, when a short
 * transfer is continued), and completions are harvested from the CQ in
 * batches. Ops the kernel's probe lacks run synchronously at submission
 * through the thread engine's core (sk_io_sync_exec).
 *
 * DESIGN: a slot's index and generation are the SQE user_data (bit 63 marks
 * our own cancel requests, whose CQEs are dropped). A CQE is dispatched on the
 * slot's op in one switch: short reads/writes and -EINTR/-EAGAIN resubmit the
 * slot, the rest finishes it. The ring has room for two SQEs per slot (the op
 * and one cancel), so getting an SQE only fails if the SQ is full of
 * unsubmitted entries, which a submit clears. */
#include "io/ioengine-internal.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/macro.h"

#define CANCEL_BIT (UINT64_C(1) << 63)

static int uring_opcode(sk_io_op op) {
        switch (op) {
        case SK_IO_OP_OPENAT: return IORING_OP_OPENAT;
        case SK_IO_OP_STATX: return IORING_OP_STATX;
        case SK_IO_OP_READ: return IORING_OP_READ;
        case SK_IO_OP_WRITE: return IORING_OP_WRITE;
        case SK_IO_OP_FALLOCATE:
        case SK_IO_OP_PUNCH_HOLE: return IORING_OP_FALLOCATE;
        case SK_IO_OP_FSYNC: return IORING_OP_FSYNC;
        case SK_IO_OP_CLOSE: return IORING_OP_CLOSE;
        default: return -1;
        }
}

/* SQE user_data of a slot: the generation guards against a late cancel
 * hitting the next operation that reuses the slot. */
static uint64_t slot_ud(const sk_io *io, uint32_t idx) {
        return ((uint64_t) io->slots[idx].gen << 32) | idx;
}

static struct io_uring_sqe *uring_sqe(sk_io *io) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
        if (!sqe) {
                int r = io_uring_submit(&io->ring);
                if (r > 0)
                        io->unsubmitted = 0;
                sqe = io_uring_get_sqe(&io->ring);
        }
        if (sqe)
                io->unsubmitted++;
        return sqe;
}

/* Registered buffer holding [p, p+len), or -1. */
static int fixed_index(const sk_io *io, const void *p, size_t len) {
        if (!io->buffers_registered || len == 0)
                return -1;
        const uint8_t *b = p;
        if (b < io->pool || b + len > io->pool + io->buf_size * io->buf_count)
                return -1;
        size_t first = (size_t) (b - io->pool) / io->buf_size;
        size_t last = (size_t) (b + len - 1 - io->pool) / io->buf_size;
        return first == last ? (int) first : -1;
}

/* Queue the slot's (remaining) operation as one SQE. */
static int uring_queue(sk_io *io, uint32_t idx) {
        io_slot *s = &io->slots[idx];
        struct io_uring_sqe *sqe = uring_sqe(io);
        if (!sqe)
                return -EBUSY;

        switch (s->op) {
        case SK_IO_OP_READ:
        case SK_IO_OP_WRITE: {
                uint8_t *p = (uint8_t *) s->buf + s->done;
                unsigned n = (unsigned) MIN(s->len - s->done, (uint64_t) MAX_IO_CHUNK);
                uint64_t off = s->offset == SK_IO_OFFSET_CURRENT ? SK_IO_OFFSET_CURRENT : s->offset + s->done;
                int fi = fixed_index(io, p, n);
                if (s->op == SK_IO_OP_READ) {
                        if (fi >= 0)
                                io_uring_prep_read_fixed(sqe, s->fd, p, n, off, fi);
                        else
                                io_uring_prep_read(sqe, s->fd, p, n, off);
                } else {
                        if (fi >= 0)
                                io_uring_prep_write_fixed(sqe, s->fd, p, n, off, fi);
                        else
                                io_uring_prep_write(sqe, s->fd, p, n, off);
                }
                break;
        }
        case SK_IO_OP_OPENAT:
                io_uring_prep_openat(sqe, s->fd, s->path, s->flags, s->mode);
                break;
        case SK_IO_OP_STATX:
                io_uring_prep_statx(sqe, s->fd, s->path, s->flags, s->mask, s->buf);
                break;
        case SK_IO_OP_FALLOCATE:
        case SK_IO_OP_PUNCH_HOLE:
                io_uring_prep_fallocate(sqe, s->fd, s->flags, (off_t) s->offset, (off_t) s->len);
                break;
        case SK_IO_OP_FSYNC:
                io_uring_prep_fsync(sqe, s->fd, s->flags ? IORING_FSYNC_DATASYNC : 0);
                break;
        case SK_IO_OP_CLOSE:
                io_uring_prep_close(sqe, s->fd);
                break;
        default:
                io_uring_prep_nop(sqe); /* keeps the SQ consistent; the CQE finishes it with -EPROTO */
                break;
        }
        io_uring_sqe_set_data64(sqe, slot_ud(io, idx));
        s->state = SLOT_RUNNING;
        io->kernel_inflight++;
        return 0;
}

/* Dispatch one CQE of an operation slot. */
static void uring_complete(sk_io *io, uint32_t idx, int res) {
        io_slot *s = &io->slots[idx];
        bool canceled = slot_canceled(s);

        io->kernel_inflight--;
        if (s->polling) {
                s->polling = false;
                if (canceled)
                        return sk_io_finish(io, idx, -ECANCELED);
                if (res < 0 && res != -EINTR && res != -EAGAIN)
                        return sk_io_finish(io, idx, res);
                if (uring_queue(io, idx) < 0)
                        return sk_io_finish(io, idx, -EBUSY);
                return;
        }
        if (res == -EINTR || res == -EAGAIN) {
                if (canceled)
                        return sk_io_finish(io, idx, -ECANCELED);
                if (res == -EAGAIN && s->offset == SK_IO_OFFSET_CURRENT &&
                    (s->op == SK_IO_OP_READ || s->op == SK_IO_OP_WRITE)) {
                        /* An O_NONBLOCK stream on a kernel that hands
                         * EAGAIN back instead of arming its own poll (6.x
                         * waits by itself): wait for readiness with a
                         * POLL_ADD rather than spinning. */
                        struct io_uring_sqe *sqe = uring_sqe(io);
                        if (!sqe)
                                return sk_io_finish(io, idx, -EBUSY);
                        io_uring_prep_poll_add(sqe, s->fd, s->op == SK_IO_OP_READ ? POLLIN : POLLOUT);
                        io_uring_sqe_set_data64(sqe, slot_ud(io, idx));
                        s->polling = true;
                        io->kernel_inflight++;
                        return;
                }
                if (++s->retries < MAX_RETRIES && uring_queue(io, idx) >= 0)
                        return;
                return sk_io_finish(io, idx, res);
        }
        switch (s->op) {
        case SK_IO_OP_READ:
        case SK_IO_OP_WRITE: {
                bool reading = s->op == SK_IO_OP_READ;
                if (res < 0)
                        return sk_io_finish(io, idx, res);
                if (res == 0 && !reading)
                        return sk_io_finish(io, idx, -EIO); /* a write that makes no progress */
                s->done += (uint64_t) res;
                /* a read ends at EOF, and a stream read with whatever came */
                if (s->done >= s->len || (reading && (res == 0 || s->offset == SK_IO_OFFSET_CURRENT)))
                        return sk_io_finish(io, idx, (int64_t) s->done);
                if (canceled)
                        return sk_io_finish(io, idx, -ECANCELED);
                /* short transfer: submit the rest */
                if (uring_queue(io, idx) < 0)
                        return sk_io_finish(io, idx, -EBUSY);
                return;
        }
        case SK_IO_OP_OPENAT:
        case SK_IO_OP_STATX:
        case SK_IO_OP_FALLOCATE:
        case SK_IO_OP_PUNCH_HOLE:
        case SK_IO_OP_FSYNC:
        case SK_IO_OP_CLOSE:
                return sk_io_finish(io, idx, res);
        default:
                return sk_io_finish(io, idx, -EPROTO);
        }
}

static void uring_harvest(sk_io *io) {
        struct io_uring_cqe *cqes[64];
        unsigned n;

        while ((n = io_uring_peek_batch_cqe(&io->ring, cqes, ARRAY_SIZE(cqes))) > 0) {
                for (unsigned i = 0; i < n; i++) {
                        uint64_t ud = io_uring_cqe_get_data64(cqes[i]);
                        int res = cqes[i]->res;
                        if (ud & CANCEL_BIT)
                                continue; /* -ENOENT/-EALREADY: the op completes on its own */
                        uint32_t idx = (uint32_t) ud;
                        if (idx < io->depth && io->slots[idx].state == SLOT_RUNNING && ud == slot_ud(io, idx))
                                uring_complete(io, idx, res);
                }
                io_uring_cq_advance(&io->ring, n);
        }
}

static int uring_flush(sk_io *io) {
        if (io->unsubmitted == 0)
                return 0;
        int r = io_uring_submit(&io->ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
                return r;
        if (r > 0)
                io->unsubmitted = r >= (int) io->unsubmitted ? 0 : io->unsubmitted - (unsigned) r;
        return r < 0 ? 0 : r;
}

static int uring_reap(sk_io *io, sk_io_completion *out, size_t max, size_t want) {
        size_t n = 0;
        for (;;) {
                uring_harvest(io);
                n += sk_io_deliver_done(io, out + n, max - n);
                if (n >= want || n == max || io->kernel_inflight == 0)
                        break;
                int r = io_uring_submit_and_wait(&io->ring, 1);
                if (r >= 0)
                        io->unsubmitted = 0;
                else if (r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
                        return n > 0 ? (int) n : r;
        }
        int r = uring_flush(io);
        if (r < 0 && n == 0)
                return r;
        return (int) n;
}

static int uring_setup(sk_io *io, const sk_io_options *o, char *why, size_t why_len) {
        unsigned entries = io->depth * 2;
        /* COOP_TASKRUN: no IPI per completion (we always reap from the
         * submitting task); TASKRUN_FLAG lets liburing's peek notice pending
         * task work, so a non-blocking reap still sees completions. */
        struct io_uring_params p = { .flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG };
        int r = io_uring_queue_init_params(entries, &io->ring, &p);
        if (r == -EINVAL) {
                p = (struct io_uring_params) { 0 };
                r = io_uring_queue_init_params(entries, &io->ring, &p);
        }
        if (r < 0) {
                snprintf(why, why_len, "io_uring_setup: %s", strerror(-r));
                return r;
        }
        io->ring_ok = true;

        struct io_uring_probe *probe = io_uring_get_probe_ring(&io->ring);
        if (!probe) {
                snprintf(why, why_len, "io_uring probe failed");
                return -EOPNOTSUPP;
        }
        static const struct { int op; const char *name; } required[] = {
                { IORING_OP_READ, "IORING_OP_READ" },
                { IORING_OP_WRITE, "IORING_OP_WRITE" },
                { IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(required); i++)
                if (!io_uring_opcode_supported(probe, required[i].op)) {
                        snprintf(why, why_len, "kernel lacks %s", required[i].name);
                        io_uring_free_probe(probe);
                        return -EOPNOTSUPP;
                }

        io->sync_ops = o->uring_sync_ops;
        for (int op = SK_IO_OP_OPENAT; op < _SK_IO_OP_MAX; op++)
                if (!io_uring_opcode_supported(probe, uring_opcode((sk_io_op) op)))
                        io->sync_ops |= 1u << op;
        io_uring_free_probe(probe);
        return 0;
}

static void uring_teardown(sk_io *io) {
        if (io->ring_ok)
                io_uring_queue_exit(&io->ring);
        io->ring_ok = false;
        io->buffers_registered = false;
}

static int uring_start(sk_io *io, uint32_t idx) {
        io_slot *s = &io->slots[idx];

        if (io->sync_ops & (1u << s->op)) {
                s->state = SLOT_RUNNING;
                sk_io_finish(io, idx, sk_io_sync_exec(io, s, -1));
                return 0;
        }
        int r = uring_queue(io, idx);
        if (r < 0)
                sk_io_slot_put_back(io, idx);
        return r;
}

static void uring_complete_now(sk_io *io, uint32_t idx, int64_t res) {
        io->slots[idx].state = SLOT_RUNNING;
        sk_io_finish(io, idx, res);
}

static int uring_cancel(sk_io *io, uint64_t user_data) {
        int n = 0;
        for (uint32_t i = 0; i < io->depth; i++) {
                io_slot *s = &io->slots[i];
                if (s->state != SLOT_RUNNING || s->user_data != user_data || s->canceled)
                        continue;
                __atomic_store_n(&s->canceled, 1, __ATOMIC_RELEASE);
                struct io_uring_sqe *sqe = uring_sqe(io);
                if (!sqe)
                        return -EBUSY;
                io_uring_prep_cancel64(sqe, slot_ud(io, i), 0);
                io_uring_sqe_set_data64(sqe, CANCEL_BIT | i);
                n++;
        }
        int r = uring_flush(io);
        return r < 0 ? r : n;
}

int sk_io_uring_register_pool(sk_io *io) {
        struct iovec *iov = calloc(io->buf_count, sizeof(*iov));
        if (!iov)
                return -ENOMEM;
        for (unsigned i = 0; i < io->buf_count; i++)
                iov[i] = (struct iovec) { io->pool + (size_t) i * io->buf_size, io->buf_size };
        int r = io_uring_register_buffers(&io->ring, iov, io->buf_count);
        free(iov);
        if (r < 0)
                sk_io_append_reason(io, " (buffer registration failed: %s)", strerror(-r));
        else
                io->buffers_registered = true;
        return 0;
}

const sk_io_engine sk_io_uring_engine = {
        .setup = uring_setup,
        .teardown = uring_teardown,
        .start = uring_start,
        .complete_now = uring_complete_now,
        .flush = uring_flush,
        .reap = uring_reap,
        .cancel = uring_cancel,
};
