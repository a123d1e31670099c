/* The I/O engine's public API (see ioengine.h for the contract): options,
 * the choice of engine and the probe line that says why, the slot table every
 * operation holds from submission to reaping, and the submission functions.
 * The engines themselves are io-uring.c and io-threads.c, behind the ops
 * table of ioengine-internal.h, so this file holds no io_uring or pthread
 * code of its own. */
#include "io/ioengine-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macro.h"

#define DEFAULT_QUEUE_DEPTH 64u
#define MAX_QUEUE_DEPTH 4096u
#define DEFAULT_THREADS 4u
#define MAX_THREADS 256u
#define DEFAULT_BUFFER_SIZE (1024u * 1024)

/* ---- the slot table ------------------------------------------------------------- */

static void push_done(sk_io *io, uint32_t idx) {
        io->slots[idx].state = SLOT_DONE;
        io->done_ring[(io->done_head + io->done_len) % io->depth] = idx;
        io->done_len++;
}

void sk_io_finish(sk_io *io, uint32_t idx, int64_t res) {
        io->slots[idx].res = res;
        push_done(io, idx);
}

static uint32_t pop_done(sk_io *io) {
        uint32_t idx = io->done_ring[io->done_head];
        io->done_head = (io->done_head + 1) % io->depth;
        io->done_len--;
        return idx;
}

void sk_io_slot_put_back(sk_io *io, uint32_t idx) {
        free(io->slots[idx].path);
        io->slots[idx] = (io_slot) { .state = SLOT_FREE, .next = NO_SLOT, .worker = -1, .gen = io->slots[idx].gen };
        io->free_stack[io->n_free++] = idx;
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
        sk_io_slot_put_back(io, idx);
}

size_t sk_io_deliver_done(sk_io *io, sk_io_completion *out, size_t max) {
        size_t n = 0;
        while (n < max && io->done_len > 0)
                deliver(io, pop_done(io), &out[n++]);
        return n;
}

void sk_io_append_reason(sk_io *io, const char *fmt, ...) {
        size_t l = strlen(io->reason);
        va_list ap;
        va_start(ap, fmt);
        if (l < sizeof(io->reason))
                vsnprintf(io->reason + l, sizeof(io->reason) - l, fmt, ap);
        va_end(ap);
}

/* ---- public API ------------------------------------------------------------------------ */

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
                r = sk_io_uring_engine.setup(io, &o, why, sizeof(why));
                if (r < 0) {
                        sk_io_uring_engine.teardown(io);
                        if (o.backend == SK_IO_URING)
                                goto fail;
                        snprintf(io->reason, sizeof(io->reason), "io_uring unavailable (%s); using threads", why);
                } else {
                        io->engine = &sk_io_uring_engine;
                        io->backend = SK_IO_URING;
                        snprintf(io->reason, sizeof(io->reason), "io_uring");
                        bool any = false;
                        for (int op = SK_IO_OP_OPENAT; op < _SK_IO_OP_MAX; op++)
                                if (io->sync_ops & (1u << op)) {
                                        sk_io_append_reason(io, any ? ", %s" : " (%s", op_name((sk_io_op) op));
                                        any = true;
                                }
                        if (any)
                                sk_io_append_reason(io, " unsupported; done synchronously)");
                        if (io->pool) {
                                r = sk_io_uring_register_pool(io);
                                if (r < 0)
                                        goto fail;
                        }
                }
        } else
                snprintf(io->reason, sizeof(io->reason), "threads (selected by option)");

        if (io->backend != SK_IO_URING) {
                /* Set before setup: a partial setup is undone by sk_io_free(). */
                io->engine = &sk_io_threads_engine;
                io->backend = SK_IO_THREADS;
                r = sk_io_threads_engine.setup(io, &o, NULL, 0);
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
        if (io->slots && io->engine) {
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
        if (io->engine)
                io->engine->teardown(io);
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

/* Take a slot for a new op; the caller fills it and calls the engine's start(). */
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

/* A slot for an op on a path; the path is copied so the caller's may go. */
static int slot_get_path(sk_io *io, uint64_t user_data, sk_io_op op, int dirfd, const char *path,
                         uint32_t *ret_idx) {
        uint32_t idx;
        int r = slot_get(io, user_data, op, dirfd, &idx);
        if (r < 0)
                return r;
        io->slots[idx].path = strdup(path);
        if (!io->slots[idx].path) {
                sk_io_slot_put_back(io, idx);
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
        return io->engine->start(io, idx);
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
        return io->engine->start(io, idx);
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
                io->engine->complete_now(io, idx, 0);
                return 0;
        }
        return io->engine->start(io, idx);
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
        return io->engine->start(io, idx);
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
        return io->engine->flush(io);
}

int sk_io_reap(sk_io *io, sk_io_completion *out, size_t max, size_t wait_nr) {
        if (!io || (!out && max > 0))
                return -EINVAL;
        size_t want = MIN(wait_nr, max);
        return io->engine->reap(io, out, max, want);
}

int sk_io_cancel(sk_io *io, uint64_t user_data) {
        if (!io)
                return -EINVAL;
        return io->engine->cancel(io, user_data);
}
