/* The thread-pool I/O engine: the same operations as io_uring, run with
 * plain syscalls on a fixed set of worker threads. It is what runs where
 * io_uring is missing or refused (old kernels, kernel.io_uring_disabled,
 * seccomp) or when --io=threads asks for it; its synchronous core
 * (sk_io_sync_exec) also serves the io_uring engine for the ops the kernel
 * lacks, so there is one implementation of each syscall's retry rules.
 *
 * DESIGN: slots go on a pending list that workers pop under one mutex; the
 * worker runs sk_io_sync_exec and pushes the slot to the finished FIFO. A
 * stream read (SK_IO_OFFSET_CURRENT) may block forever, so a worker polls
 * the fd together with its own eventfd, which sk_io_cancel() pokes. Positioned
 * I/O on regular files is never interrupted: it finishes quickly anyway. */
#include "io/ioengine-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/macro.h"

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

int64_t sk_io_sync_exec(sk_io *io, io_slot *s, int worker) {
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

                int64_t res = sk_io_sync_exec(io, s, w);

                pthread_mutex_lock(&io->lock);
                s->worker = -1;
                io->n_running--;
                sk_io_finish(io, idx, res);
                pthread_cond_broadcast(&io->done_cond);
        }
        pthread_mutex_unlock(&io->lock);
        return NULL;
}

static int threads_setup(sk_io *io, const sk_io_options *o, char *why _unused_, size_t why_len _unused_) {
        unsigned n = o->threads;
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
                n += sk_io_deliver_done(io, out + n, max - n);
                if (n >= want || n == max || io->n_pending + io->n_running == 0)
                        break;
                pthread_cond_wait(&io->done_cond, &io->lock);
        }
        pthread_mutex_unlock(&io->lock);
        return (int) n;
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

static int threads_start(sk_io *io, uint32_t idx) {
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

static void threads_complete_now(sk_io *io, uint32_t idx, int64_t res) {
        pthread_mutex_lock(&io->lock);
        io->slots[idx].state = SLOT_RUNNING;
        sk_io_finish(io, idx, res);
        pthread_mutex_unlock(&io->lock);
}

/* Workers start work at submission: nothing is ever queued. */
static int threads_flush(sk_io *io _unused_) {
        return 0;
}

static int threads_cancel(sk_io *io, uint64_t user_data) {
        int n = 0;

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
                        sk_io_finish(io, i, -ECANCELED);
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

const sk_io_engine sk_io_threads_engine = {
        .setup = threads_setup,
        .teardown = threads_teardown,
        .start = threads_start,
        .complete_now = threads_complete_now,
        .flush = threads_flush,
        .reap = threads_reap,
        .cancel = threads_cancel,
};
