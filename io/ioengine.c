/* The I/O engine (see ioengine.h for the contract).
 *
 * DESIGN: both backends share one table of slots (one per outstanding
 * operation), a stack of free slots that only the caller's thread touches,
 * and a FIFO of finished slots waiting to be reaped.
 *
 * io_uring: a slot's index and generation are the SQE user_data (bit 63
 * marks our own cancel requests, whose CQEs are dropped). A CQE is dispatched on the slot's op in
 * one switch: short reads/writes and -EINTR/-EAGAIN resubmit the slot, the
 * rest finishes it. The ring has room for two SQEs per slot (the op and one
 * cancel), so getting an SQE only fails if the SQ is full of unsubmitted
 * entries, which a submit clears.
 *
 * threads: slots go on a pending list that workers pop under one mutex; the
 * worker runs the same synchronous code the io_uring backend uses for
 * unsupported ops (sync_exec) and pushes the slot to the finished FIFO. A
 * stream read (SK_IO_OFFSET_CURRENT) may block forever, so a worker polls
 * the fd together with its own eventfd, which sk_io_cancel() pokes. Positioned
 * I/O on regular files is never interrupted: it finishes quickly anyway. */
#include "io/ioengine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"

#define DEFAULT_QUEUE_DEPTH 64u
#define MAX_QUEUE_DEPTH 4096u
#define DEFAULT_THREADS 4u
#define MAX_THREADS 256u
#define DEFAULT_BUFFER_SIZE (1024u * 1024)
/* One SQE moves at most this much; the continuation logic does the rest
 * (cqe->res is an int). */
#define MAX_IO_CHUNK (1u << 30)
/* A persistent -EAGAIN/-EINTR is handed to the caller after this many tries
 * rather than spinning forever. */
#define MAX_RETRIES 100000u
#define CANCEL_BIT (UINT64_C(1) << 63)
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

struct sk_io {
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

        /* io_uring */
        struct io_uring ring;
        bool ring_ok;
        unsigned sync_ops;      /* ops run synchronously (bit per sk_io_op) */
        unsigned kernel_inflight;
        unsigned unsubmitted;

        /* threads */
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

/* ---- helpers shared by both backends ------------------------------------------ */

static bool slot_canceled(const io_slot *s) {
        return __atomic_load_n(&s->canceled, __ATOMIC_ACQUIRE) != 0;
}

static void push_done(sk_io *io, uint32_t idx) {
        io->slots[idx].state = SLOT_DONE;
        io->done_ring[(io->done_head + io->done_len) % io->depth] = idx;
        io->done_len++;
}

static uint32_t pop_done(sk_io *io) {
        uint32_t idx = io->done_ring[io->done_head];
        io->done_head = (io->done_head + 1) % io->depth;
        io->done_len--;
        return idx;
}

/* Turn a finished slot into the caller's completion and free the slot. */
static void deliver(sk_io *io, uint32_t idx, sk_io_completion *c) {
        io_slot *s = &io->slots[idx];
        *c = (sk_io_completion) {
                .user_data = s->user_data,
                .op = s->op,
                .fd = s->fd,
                .res = s->res,
                .buf = s->buf,
                .offset = s->offset,
        };
        free(s->path);
        *s = (io_slot) { .state = SLOT_FREE, .next = NO_SLOT, .worker = -1, .gen = s->gen };
        io->free_stack[io->n_free++] = idx;
}

/* Wait until fd is ready for events or the worker's cancel eventfd fires.
 * worker < 0 (io_uring's synchronous path): no cancel channel. */
static int wait_ready(sk_io *io, io_slot *s, int worker, short events) {
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = s->fd, .events = events },
                        { .fd = worker >= 0 ? io->cancel_fd[worker] : -1, .events = POLLIN },
                };
                if (slot_canceled(s))
                        return -ECANCELED;
                int k = poll(p, worker >= 0 ? 2 : 1, -1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (worker >= 0 && (p[1].revents & POLLIN)) {
                        uint64_t v;
                        if (read(io->cancel_fd[worker], &v, sizeof(v)) < 0 && errno != EAGAIN)
                                return negative_errno();
                        continue; /* re-check canceled */
                }
                if (p[0].revents)
                        return 0;
        }
}

/* Named FIFOs refuse RWF_NOWAIT (EOPNOTSUPP; pipe(2) pipes take it), so
 * after poll() said ready a plain read() could still block: another worker
 * woken by the same POLLIN may have taken the data. Among our workers one at
 * a time asks how much is there (FIONREAD) and reads no more, which never
 * blocks (nothing there and no writer left is EOF, which does not block
 * either); a write takes at most PIPE_BUF, which POLLOUT guarantees room for.
 * Where FIONREAD is not known the read is a plain one, as before. The fd's
 * O_NONBLOCK flag is the caller's and shared, so it is left alone. */
static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;

static ssize_t stream_rw_unsupported_nowait(int fd, void *p, size_t want, bool reading) {
        ssize_t n;
        pthread_mutex_lock(&stream_lock);
        if (reading) {
                int avail = 0;
                if (ioctl(fd, FIONREAD, &avail) < 0) {
                        pthread_mutex_unlock(&stream_lock);
                        return read(fd, p, want);
                }
                struct pollfd q = { .fd = fd, .events = POLLIN };
                if (avail > 0)
                        n = read(fd, p, MIN(want, (size_t) avail));
                else if (poll(&q, 1, 0) == 1 && (q.revents & POLLHUP) && !(q.revents & POLLIN))
                        n = read(fd, p, want); /* no writer left: EOF, returns 0 at once */
                else {
                        pthread_mutex_unlock(&stream_lock);
                        errno = EAGAIN;
                        return -1;
                }
        } else
                n = write(fd, p, MIN(want, (size_t) PIPE_BUF));
        int saved = errno;
        pthread_mutex_unlock(&stream_lock);
        errno = saved;
        return n;
}

/* pread/pwrite (or read/write for streams) until done, EOF or error. */
static int64_t sync_rw(sk_io *io, io_slot *s, int worker) {
        bool reading = s->op == SK_IO_OP_READ;
        bool stream = s->offset == SK_IO_OFFSET_CURRENT;
        uint64_t done = 0;
        unsigned retries = 0;

        while (done < s->len) {
                if (slot_canceled(s))
                        return -ECANCELED;
                if (stream) {
                        int r = wait_ready(io, s, worker, reading ? POLLIN : POLLOUT);
                        if (r < 0)
                                return r;
                }
                size_t want = (size_t) MIN(s->len - done, (uint64_t) MAX_IO_CHUNK);
                uint8_t *p = (uint8_t *) s->buf + done;
                ssize_t n;
                if (stream) {
                        /* Several workers may wait on one stream; all wake on
                         * POLLIN but only one gets the data. A plain blocking
                         * read() would leave the others stuck where cancellation
                         * cannot reach them, so ask for no waiting and go back
                         * to poll() (with the cancel eventfd) on EAGAIN. */
                        struct iovec iov = { .iov_base = p, .iov_len = want };
                        n = reading ? preadv2(s->fd, &iov, 1, -1, RWF_NOWAIT)
                                    : pwritev2(s->fd, &iov, 1, -1, RWF_NOWAIT);
                        struct stat st;
                        /* Regular files (read at the file position) always poll
                         * ready, so an EAGAIN there would spin: read them
                         * blocking, as the kernel does not block on them long. */
                        if (n < 0 && (errno == EAGAIN || errno == EOPNOTSUPP)) {
                                int e = errno;
                                if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode))
                                        n = reading ? read(s->fd, p, want) : write(s->fd, p, want);
                                else if (e == EOPNOTSUPP)
                                        n = stream_rw_unsupported_nowait(s->fd, p, want, reading);
                                else
                                        errno = e;
                        }
                        if (n < 0 && errno == EAGAIN)
                                continue;
                } else if (reading)
                        n = pread(s->fd, p, want, (off_t) (s->offset + done));
                else
                        n = pwrite(s->fd, p, want, (off_t) (s->offset + done));
                if (n < 0) {
                        int r = negative_errno();
                        if ((r == -EINTR || r == -EAGAIN) && ++retries < MAX_RETRIES) {
                                if (r == -EAGAIN && !stream)
                                        sched_yield();
                                continue;
                        }
                        return r;
                }
                if (n == 0) {
                        if (reading)
                                break;
                        return -EIO; /* a write that makes no progress */
                }
                done += (uint64_t) n;
                if (reading && stream)
                        break;
        }
        return (int64_t) done;
}

static int64_t sync_exec(sk_io *io, io_slot *s, int worker) {
        int r;

        for (unsigned tries = 0;; tries++) {
                switch (s->op) {
                case SK_IO_OP_READ:
                case SK_IO_OP_WRITE:
                        return sync_rw(io, s, worker);
                case SK_IO_OP_OPENAT:
                        r = openat(s->fd, s->path, s->flags, s->mode);
                        break;
                case SK_IO_OP_STATX:
                        r = statx(s->fd, s->path, s->flags, s->mask, s->buf);
                        break;
                case SK_IO_OP_FALLOCATE:
                case SK_IO_OP_PUNCH_HOLE:
                        r = fallocate(s->fd, s->flags, (off_t) s->offset, (off_t) s->len);
                        break;
                case SK_IO_OP_FSYNC:
                        r = s->flags ? fdatasync(s->fd) : fsync(s->fd);
                        break;
                case SK_IO_OP_CLOSE:
                        /* Linux frees the fd even when close fails: never retry. */
                        return close(s->fd) < 0 && errno != EINTR ? negative_errno() : 0;
                default:
                        /* A slot with an unknown op is an engine bug: make it visible. */
                        return -EPROTO;
                }
                if (r >= 0)
                        return r;
                r = negative_errno();
                if ((r != -EINTR && r != -EAGAIN) || tries >= MAX_RETRIES)
                        return r;
        }
}

/* ---- io_uring backend ----------------------------------------------------------- */

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

static const char *op_name(sk_io_op op) {
        switch (op) {
        case SK_IO_OP_OPENAT: return "openat";
        case SK_IO_OP_STATX: return "statx";
        case SK_IO_OP_READ: return "read";
        case SK_IO_OP_WRITE: return "write";
        case SK_IO_OP_FALLOCATE: return "fallocate";
        case SK_IO_OP_PUNCH_HOLE: return "punch-hole";
        case SK_IO_OP_FSYNC: return "fsync";
        case SK_IO_OP_CLOSE: return "close";
        default: return "?";
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

static void finish(sk_io *io, uint32_t idx, int64_t res) {
        io->slots[idx].res = res;
        push_done(io, idx);
}

/* Dispatch one CQE of an operation slot. */
static void uring_complete(sk_io *io, uint32_t idx, int res) {
        io_slot *s = &io->slots[idx];
        bool canceled = slot_canceled(s);

        io->kernel_inflight--;
        if (s->polling) {
                s->polling = false;
                if (canceled)
                        return finish(io, idx, -ECANCELED);
                if (res < 0 && res != -EINTR && res != -EAGAIN)
                        return finish(io, idx, res);
                if (uring_queue(io, idx) < 0)
                        return finish(io, idx, -EBUSY);
                return;
        }
        if (res == -EINTR || res == -EAGAIN) {
                if (canceled)
                        return finish(io, idx, -ECANCELED);
                if (res == -EAGAIN && s->offset == SK_IO_OFFSET_CURRENT &&
                    (s->op == SK_IO_OP_READ || s->op == SK_IO_OP_WRITE)) {
                        /* An O_NONBLOCK stream on a kernel that hands
                         * EAGAIN back instead of arming its own poll (6.x
                         * waits by itself): wait for readiness with a
                         * POLL_ADD rather than spinning. */
                        struct io_uring_sqe *sqe = uring_sqe(io);
                        if (!sqe)
                                return finish(io, idx, -EBUSY);
                        io_uring_prep_poll_add(sqe, s->fd, s->op == SK_IO_OP_READ ? POLLIN : POLLOUT);
                        io_uring_sqe_set_data64(sqe, slot_ud(io, idx));
                        s->polling = true;
                        io->kernel_inflight++;
                        return;
                }
                if (++s->retries < MAX_RETRIES && uring_queue(io, idx) >= 0)
                        return;
                return finish(io, idx, res);
        }
        switch (s->op) {
        case SK_IO_OP_READ:
        case SK_IO_OP_WRITE: {
                bool reading = s->op == SK_IO_OP_READ;
                if (res < 0)
                        return finish(io, idx, res);
                if (res == 0 && !reading)
                        return finish(io, idx, -EIO); /* a write that makes no progress */
                s->done += (uint64_t) res;
                /* a read ends at EOF, and a stream read with whatever came */
                if (s->done >= s->len || (reading && (res == 0 || s->offset == SK_IO_OFFSET_CURRENT)))
                        return finish(io, idx, (int64_t) s->done);
                if (canceled)
                        return finish(io, idx, -ECANCELED);
                /* short transfer: submit the rest */
                if (uring_queue(io, idx) < 0)
                        return finish(io, idx, -EBUSY);
                return;
        }
        case SK_IO_OP_OPENAT:
        case SK_IO_OP_STATX:
        case SK_IO_OP_FALLOCATE:
        case SK_IO_OP_PUNCH_HOLE:
        case SK_IO_OP_FSYNC:
        case SK_IO_OP_CLOSE:
                return finish(io, idx, res);
        default:
                return finish(io, idx, -EPROTO);
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
                while (n < max && io->done_len > 0)
                        deliver(io, pop_done(io), &out[n++]);
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

/* ---- thread backend ----------------------------------------------------------------- */

typedef struct worker_arg {
        sk_io *io;
        int index;
} worker_arg;

static void *worker_main(void *arg) {
        worker_arg *wa = arg;
        sk_io *io = wa->io;
        int w = wa->index;
        free(wa);

        pthread_mutex_lock(&io->lock);
        for (;;) {
                while (!io->stop && io->pend_head == NO_SLOT)
                        pthread_cond_wait(&io->work_cond, &io->lock);
                if (io->pend_head == NO_SLOT)
                        break; /* stop, and nothing left to run */
                uint32_t idx = io->pend_head;
                io_slot *s = &io->slots[idx];
                io->pend_head = s->next;
                if (io->pend_head == NO_SLOT)
                        io->pend_tail = NO_SLOT;
                io->n_pending--;
                io->n_running++;
                s->state = SLOT_RUNNING;
                s->worker = w;
                pthread_mutex_unlock(&io->lock);

                int64_t res = sync_exec(io, s, w);

                pthread_mutex_lock(&io->lock);
                s->res = res;
                s->worker = -1;
                io->n_running--;
                push_done(io, idx);
                pthread_cond_broadcast(&io->done_cond);
        }
        pthread_mutex_unlock(&io->lock);
        return NULL;
}

static int threads_setup(sk_io *io, unsigned n) {
        int r;

        if (pthread_mutex_init(&io->lock, NULL) != 0)
                return -ENOMEM;
        if (pthread_cond_init(&io->work_cond, NULL) != 0) {
                pthread_mutex_destroy(&io->lock);
                return -ENOMEM;
        }
        if (pthread_cond_init(&io->done_cond, NULL) != 0) {
                pthread_cond_destroy(&io->work_cond);
                pthread_mutex_destroy(&io->lock);
                return -ENOMEM;
        }
        io->sync_init = true;
        io->pend_head = io->pend_tail = NO_SLOT;
        io->workers = calloc(n, sizeof(*io->workers));
        io->cancel_fd = malloc(n * sizeof(*io->cancel_fd));
        if (!io->workers || !io->cancel_fd)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                io->cancel_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (io->cancel_fd[i] < 0)
                        return negative_errno();
                io->n_cancel_fd++;
        }
        for (unsigned i = 0; i < n; i++) {
                worker_arg *wa = malloc(sizeof(*wa));
                if (!wa)
                        return -ENOMEM;
                *wa = (worker_arg) { .io = io, .index = (int) i };
                r = pthread_create(&io->workers[i], NULL, worker_main, wa);
                if (r != 0) {
                        free(wa);
                        return -r;
                }
                io->n_workers++;
        }
        return 0;
}

static int threads_reap(sk_io *io, sk_io_completion *out, size_t max, size_t want) {
        size_t n = 0;
        pthread_mutex_lock(&io->lock);
        for (;;) {
                while (n < max && io->done_len > 0)
                        deliver(io, pop_done(io), &out[n++]);
                if (n >= want || n == max || io->n_pending + io->n_running == 0)
                        break;
                pthread_cond_wait(&io->done_cond, &io->lock);
        }
        pthread_mutex_unlock(&io->lock);
        return (int) n;
}

/* ---- public API ------------------------------------------------------------------------ */

const char *sk_io_backend_name(sk_io_backend b) {
        switch (b) {
        case SK_IO_AUTO: return "auto";
        case SK_IO_URING: return "uring";
        case SK_IO_THREADS: return "threads";
        }
        return "?";
}

int sk_io_backend_from_string(const char *s, sk_io_backend *ret) {
        static const sk_io_backend all[] = { SK_IO_AUTO, SK_IO_URING, SK_IO_THREADS };
        if (!s || !ret)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(all); i++)
                if (strcmp(s, sk_io_backend_name(all[i])) == 0) {
                        *ret = all[i];
                        return 0;
                }
        return -EINVAL;
}

static void uring_teardown(sk_io *io) {
        if (io->ring_ok)
                io_uring_queue_exit(&io->ring);
        io->ring_ok = false;
        io->buffers_registered = false;
}

static void threads_teardown(sk_io *io) {
        if (!io->sync_init)
                return;
        pthread_mutex_lock(&io->lock);
        io->stop = true;
        pthread_cond_broadcast(&io->work_cond);
        pthread_mutex_unlock(&io->lock);
        for (unsigned i = 0; i < io->n_workers; i++)
                pthread_join(io->workers[i], NULL);
        for (unsigned i = 0; i < io->n_cancel_fd; i++)
                close(io->cancel_fd[i]);
        free(io->workers);
        free(io->cancel_fd);
        io->workers = NULL;
        io->cancel_fd = NULL;
        pthread_cond_destroy(&io->done_cond);
        pthread_cond_destroy(&io->work_cond);
        pthread_mutex_destroy(&io->lock);
        io->sync_init = false;
}

_printf_(2, 3) static void append_reason(sk_io *io, const char *fmt, ...) {
        size_t l = strlen(io->reason);
        va_list ap;
        va_start(ap, fmt);
        if (l < sizeof(io->reason))
                vsnprintf(io->reason + l, sizeof(io->reason) - l, fmt, ap);
        va_end(ap);
}

int sk_io_new(const sk_io_options *opts, sk_io **ret) {
        sk_io_options o = opts ? *opts : (sk_io_options) { 0 };
        int r;

        if (!ret || o.backend > SK_IO_THREADS || o.queue_depth > MAX_QUEUE_DEPTH || o.threads > MAX_THREADS)
                return -EINVAL;
        if (o.queue_depth == 0)
                o.queue_depth = DEFAULT_QUEUE_DEPTH;
        if (o.threads == 0)
                o.threads = DEFAULT_THREADS;
        if (o.register_buffers) {
                if (o.buffer_count == 0)
                        o.buffer_count = o.queue_depth;
                if (o.buffer_size == 0)
                        o.buffer_size = DEFAULT_BUFFER_SIZE;
                if (o.buffer_count > 1024 || o.buffer_size > MAX_IO_CHUNK || o.buffer_size % 4096 != 0)
                        return -EINVAL;
        }

        sk_io *io = calloc(1, sizeof(*io));
        if (!io)
                return -ENOMEM;
        io->depth = o.queue_depth;
        io->slots = calloc(io->depth, sizeof(*io->slots));
        io->free_stack = malloc(io->depth * sizeof(*io->free_stack));
        io->done_ring = malloc(io->depth * sizeof(*io->done_ring));
        if (!io->slots || !io->free_stack || !io->done_ring) {
                r = -ENOMEM;
                goto fail;
        }
        for (unsigned i = 0; i < io->depth; i++) {
                io->slots[i] = (io_slot) { .state = SLOT_FREE, .next = NO_SLOT, .worker = -1 };
                io->free_stack[i] = io->depth - 1 - i;
        }
        io->n_free = io->depth;

        if (o.register_buffers) {
                void *p = NULL;
                r = posix_memalign(&p, 4096, o.buffer_size * o.buffer_count);
                if (r != 0) {
                        r = -r;
                        goto fail;
                }
                io->pool = p;
                io->buf_size = o.buffer_size;
                io->buf_count = o.buffer_count;
        }

        if (o.backend != SK_IO_THREADS) {
                char why[160] = "";
                r = uring_setup(io, &o, why, sizeof(why));
                if (r < 0) {
                        uring_teardown(io);
                        if (o.backend == SK_IO_URING)
                                goto fail;
                        snprintf(io->reason, sizeof(io->reason), "io_uring unavailable (%s); using threads", why);
                } else {
                        io->backend = SK_IO_URING;
                        snprintf(io->reason, sizeof(io->reason), "io_uring");
                        bool any = false;
                        for (int op = SK_IO_OP_OPENAT; op < _SK_IO_OP_MAX; op++)
                                if (io->sync_ops & (1u << op)) {
                                        append_reason(io, any ? ", %s" : " (%s", op_name((sk_io_op) op));
                                        any = true;
                                }
                        if (any)
                                append_reason(io, " unsupported; done synchronously)");
                        if (io->pool) {
                                struct iovec *iov = calloc(io->buf_count, sizeof(*iov));
                                if (!iov) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                for (unsigned i = 0; i < io->buf_count; i++)
                                        iov[i] = (struct iovec) { io->pool + (size_t) i * io->buf_size, io->buf_size };
                                r = io_uring_register_buffers(&io->ring, iov, io->buf_count);
                                free(iov);
                                if (r < 0)
                                        append_reason(io, " (buffer registration failed: %s)", strerror(-r));
                                else
                                        io->buffers_registered = true;
                        }
                }
        } else
                snprintf(io->reason, sizeof(io->reason), "threads (selected by option)");

        if (io->backend != SK_IO_URING) {
                io->backend = SK_IO_THREADS;
                r = threads_setup(io, o.threads);
                if (r < 0)
                        goto fail;
        }
        *ret = io;
        return 0;
fail:
        sk_io_free(io);
        return r;
}

int sk_io_cancel_all(sk_io *io) {
        if (!io)
                return -EINVAL;
        int n = 0;
        for (uint32_t i = 0; i < io->depth; i++)
                if (io->slots[i].state != SLOT_FREE) {
                        int r = sk_io_cancel(io, io->slots[i].user_data);
                        if (r < 0)
                                return r;
                        n += r;
                }
        return n;
}

void sk_io_free(sk_io *io) {
        if (!io)
                return;
        if (io->slots && (io->ring_ok || io->sync_init)) {
                sk_io_completion c[32];
                (void) sk_io_cancel_all(io);
                while (sk_io_outstanding(io) > 0) {
                        int n = sk_io_reap(io, c, ARRAY_SIZE(c), 1);
                        if (n <= 0)
                                break;
                        for (int i = 0; i < n; i++)
                                if (c[i].op == SK_IO_OP_OPENAT && c[i].res >= 0)
                                        close((int) c[i].res);
                }
        }
        uring_teardown(io);
        threads_teardown(io);
        if (io->slots)
                for (unsigned i = 0; i < io->depth; i++)
                        free(io->slots[i].path);
        free(io->slots);
        free(io->free_stack);
        free(io->done_ring);
        free(io->pool);
        free(io);
}

sk_io_backend sk_io_get_backend(const sk_io *io) {
        return io->backend;
}

const char *sk_io_reason(const sk_io *io) {
        return io->reason;
}

bool sk_io_buffers_registered(const sk_io *io) {
        return io->buffers_registered;
}

unsigned sk_io_queue_depth(const sk_io *io) {
        return io->depth;
}

void *sk_io_buffer(sk_io *io, unsigned i) {
        if (!io->pool || i >= io->buf_count)
                return NULL;
        return io->pool + (size_t) i * io->buf_size;
}

size_t sk_io_buffer_size(const sk_io *io) {
        return io->pool ? io->buf_size : 0;
}

unsigned sk_io_outstanding(const sk_io *io) {
        return io->depth - io->n_free;
}

/* Take a slot for a new op; the caller fills it and calls start(). */
static int slot_get(sk_io *io, uint64_t user_data, sk_io_op op, int fd, uint32_t *ret_idx) {
        if (io->n_free == 0)
                return -EAGAIN;
        uint32_t idx = io->free_stack[--io->n_free];
        uint32_t gen = (io->slots[idx].gen + 1) & 0x7fffffffu; /* bit 63 of user_data stays ours */
        io->slots[idx] = (io_slot) {
                .gen = gen,
                .user_data = user_data,
                .op = op,
                .state = SLOT_PENDING,
                .fd = fd,
                .worker = -1,
                .next = NO_SLOT,
        };
        *ret_idx = idx;
        return 0;
}

static void slot_put_back(sk_io *io, uint32_t idx) {
        free(io->slots[idx].path);
        io->slots[idx] = (io_slot) { .state = SLOT_FREE, .next = NO_SLOT, .worker = -1, .gen = io->slots[idx].gen };
        io->free_stack[io->n_free++] = idx;
}

static int start(sk_io *io, uint32_t idx) {
        io_slot *s = &io->slots[idx];

        if (io->backend == SK_IO_URING) {
                if (io->sync_ops & (1u << s->op)) {
                        s->state = SLOT_RUNNING;
                        finish(io, idx, sync_exec(io, s, -1));
                        return 0;
                }
                int r = uring_queue(io, idx);
                if (r < 0)
                        slot_put_back(io, idx);
                return r;
        }
        pthread_mutex_lock(&io->lock);
        if (io->pend_tail == NO_SLOT)
                io->pend_head = idx;
        else
                io->slots[io->pend_tail].next = idx;
        io->pend_tail = idx;
        io->n_pending++;
        pthread_cond_signal(&io->work_cond);
        pthread_mutex_unlock(&io->lock);
        return 0;
}

/* A slot for an op on a path; the path is copied so the caller's may go. */
static int slot_get_path(sk_io *io, uint64_t user_data, sk_io_op op, int dirfd, const char *path,
                         uint32_t *ret_idx) {
        uint32_t idx;
        int r = slot_get(io, user_data, op, dirfd, &idx);
        if (r < 0)
                return r;
        io->slots[idx].path = strdup(path);
        if (!io->slots[idx].path) {
                slot_put_back(io, idx);
                return -ENOMEM;
        }
        *ret_idx = idx;
        return 0;
}

int sk_io_openat(sk_io *io, uint64_t user_data, int dirfd, const char *path, int flags, mode_t mode) {
        uint32_t idx;
        if (!io || !path)
                return -EINVAL;
        int r = slot_get_path(io, user_data, SK_IO_OP_OPENAT, dirfd, path, &idx);
        if (r < 0)
                return r;
        io->slots[idx].flags = flags;
        io->slots[idx].mode = mode;
        return start(io, idx);
}

int sk_io_statx(sk_io *io, uint64_t user_data, int dirfd, const char *path, int flags, unsigned mask,
                struct statx *buf) {
        uint32_t idx;
        if (!io || !path || !buf)
                return -EINVAL;
        int r = slot_get_path(io, user_data, SK_IO_OP_STATX, dirfd, path, &idx);
        if (r < 0)
                return r;
        io->slots[idx].flags = flags;
        io->slots[idx].mask = mask;
        io->slots[idx].buf = buf;
        return start(io, idx);
}

static int submit_rw(sk_io *io, uint64_t user_data, sk_io_op op, int fd, void *buf, size_t len, uint64_t offset) {
        uint32_t idx;
        if (!io || (!buf && len > 0) || fd < 0)
                return -EINVAL;
        if (offset != SK_IO_OFFSET_CURRENT && (offset > INT64_MAX || len > INT64_MAX - offset))
                return -EINVAL;
        int r = slot_get(io, user_data, op, fd, &idx);
        if (r < 0)
                return r;
        io->slots[idx].buf = buf;
        io->slots[idx].len = len;
        io->slots[idx].offset = offset;
        if (len == 0) {
                /* Nothing to move; still one completion per op. */
                if (io->backend == SK_IO_THREADS)
                        pthread_mutex_lock(&io->lock);
                io->slots[idx].state = SLOT_RUNNING;
                finish(io, idx, 0);
                if (io->backend == SK_IO_THREADS)
                        pthread_mutex_unlock(&io->lock);
                return 0;
        }
        return start(io, idx);
}

int sk_io_read(sk_io *io, uint64_t user_data, int fd, void *buf, size_t len, uint64_t offset) {
        return submit_rw(io, user_data, SK_IO_OP_READ, fd, buf, len, offset);
}

int sk_io_write(sk_io *io, uint64_t user_data, int fd, const void *buf, size_t len, uint64_t offset) {
        return submit_rw(io, user_data, SK_IO_OP_WRITE, fd, (void *) buf, len, offset);
}

static int submit_fd_op(sk_io *io, uint64_t user_data, sk_io_op op, int fd, int flags, uint64_t offset,
                        uint64_t len) {
        uint32_t idx;
        if (!io || fd < 0)
                return -EINVAL;
        int r = slot_get(io, user_data, op, fd, &idx);
        if (r < 0)
                return r;
        io->slots[idx].flags = flags;
        io->slots[idx].offset = offset;
        io->slots[idx].len = len;
        return start(io, idx);
}

int sk_io_fallocate(sk_io *io, uint64_t user_data, int fd, int mode, uint64_t offset, uint64_t len) {
        if (offset > INT64_MAX || len > INT64_MAX)
                return -EINVAL;
        return submit_fd_op(io, user_data, SK_IO_OP_FALLOCATE, fd, mode, offset, len);
}

int sk_io_punch_hole(sk_io *io, uint64_t user_data, int fd, uint64_t offset, uint64_t len) {
        if (offset > INT64_MAX || len > INT64_MAX)
                return -EINVAL;
        return submit_fd_op(io, user_data, SK_IO_OP_PUNCH_HOLE, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            offset, len);
}

int sk_io_fsync(sk_io *io, uint64_t user_data, int fd, bool datasync) {
        return submit_fd_op(io, user_data, SK_IO_OP_FSYNC, fd, datasync ? 1 : 0, 0, 0);
}

int sk_io_close(sk_io *io, uint64_t user_data, int fd) {
        return submit_fd_op(io, user_data, SK_IO_OP_CLOSE, fd, 0, 0, 0);
}

int sk_io_submit(sk_io *io) {
        if (!io)
                return -EINVAL;
        if (io->backend != SK_IO_URING)
                return 0;
        return uring_flush(io);
}

int sk_io_reap(sk_io *io, sk_io_completion *out, size_t max, size_t wait_nr) {
        if (!io || (!out && max > 0))
                return -EINVAL;
        size_t want = MIN(wait_nr, max);
        if (io->backend == SK_IO_URING)
                return uring_reap(io, out, max, want);
        return threads_reap(io, out, max, want);
}

int sk_io_cancel(sk_io *io, uint64_t user_data) {
        int n = 0;
        if (!io)
                return -EINVAL;

        if (io->backend == SK_IO_URING) {
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

        pthread_mutex_lock(&io->lock);
        uint32_t prev = NO_SLOT;
        for (uint32_t i = io->pend_head; i != NO_SLOT;) {
                io_slot *s = &io->slots[i];
                uint32_t next = s->next;
                if (s->user_data == user_data) {
                        if (prev == NO_SLOT)
                                io->pend_head = next;
                        else
                                io->slots[prev].next = next;
                        if (io->pend_tail == i)
                                io->pend_tail = prev;
                        io->n_pending--;
                        s->next = NO_SLOT;
                        s->res = -ECANCELED;
                        push_done(io, i);
                        n++;
                } else
                        prev = i;
                i = next;
        }
        for (uint32_t i = 0; i < io->depth; i++) {
                io_slot *s = &io->slots[i];
                if (s->state != SLOT_RUNNING || s->user_data != user_data || s->canceled)
                        continue;
                __atomic_store_n(&s->canceled, 1, __ATOMIC_RELEASE);
                if (s->worker >= 0) {
                        uint64_t one = 1;
                        if (write(io->cancel_fd[s->worker], &one, sizeof(one)) < 0 && errno != EAGAIN) {
                                /* the worker still sees the flag between syscalls */
                        }
                }
                n++;
        }
        if (n > 0)
                pthread_cond_broadcast(&io->done_cond);
        pthread_mutex_unlock(&io->lock);
        return n;
}
