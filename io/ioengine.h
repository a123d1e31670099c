/* Room io/: asynchronous file I/O, io_uring or a thread pool behind one API
 * (ioengine.c; engines in io-uring.c and io-threads.c), and a buffered reader
 * over it (ioreader). Knows nothing of repositories or containers. Uses
 * common/ only (Makefile DEPS_io). */
/* The I/O engine: asynchronous file syscalls on io_uring, with a thread pool
 * when io_uring is not there.
 *
 * DESIGN: the caller drives everything. It submits tagged operations
 * (sk_io_read(), sk_io_openat()...), then calls sk_io_reap() to collect
 * completions in batches and dispatches on (user_data, op) in one switch. No
 * callback ever runs on a hidden thread, so the caller's data needs no locks
 * and cancellation, progress and back-pressure stay in the caller's loop.
 *
 * A fixed table of `queue_depth` slots bounds the work: an operation holds a
 * slot from submission until its completion is reaped, so at most
 * queue_depth operations (and their buffers) are ever outstanding. When the
 * table is full a submission returns -EAGAIN and nothing is queued; the
 * caller reaps and tries again. Nothing allocates per operation except the
 * copy of a path.
 *
 * Each operation completes exactly once: success (>= 0), error (-errno),
 * or -ECANCELED. Short reads and writes are continued inside the engine
 * (resubmitting the remainder); -EINTR and -EAGAIN are retried; every other
 * error reaches the caller with the operation's tag.
 *
 * Backends: io_uring (liburing) issues every op the kernel's probe supports
 * and runs the others synchronously at submission (reported once in
 * sk_io_reason()). The thread backend runs the same syscalls on
 * `threads` workers. SK_IO_AUTO picks io_uring unless io_uring_setup fails
 * (-ENOSYS old kernel, -EPERM kernel.io_uring_disabled or seccomp) or the
 * probe lacks read, write or async-cancel.
 *
 * Registered buffers: with register_buffers the engine allocates
 * buffer_count buffers of buffer_size (sk_io_buffer()); a read or write whose
 * range lies inside one of them becomes READ_FIXED/WRITE_FIXED, which saves
 * the kernel pinning the pages on every op. Off by default because it does
 * not measurably help buffered I/O: reading a 256 MiB file with 4 x 1 MiB
 * in flight (tests/tools/ioprobe, kernel 6.18, 2-core VM, 5 runs, medians)
 * gave 1542 MiB/s cold and 7008 MiB/s warm with registered buffers against
 * 1608 and 7787 without, within the run-to-run noise; page pinning only
 * matters for O_DIRECT, which nothing here uses. Registered files are not
 * used either: nearly every op here targets a different, short-lived fd, and
 * registering it would cost one io_uring_register() syscall per file, more
 * than the fget/fput it saves.
 *
 * Thread safety: an sk_io is used by one thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct sk_io sk_io;

typedef enum sk_io_backend {
        SK_IO_AUTO = 0,
        SK_IO_URING,
        SK_IO_THREADS,
} sk_io_backend;

/* Operation kinds; every completion carries the kind it was submitted as. */
typedef enum sk_io_op {
        SK_IO_OP_OPENAT = 1,
        SK_IO_OP_STATX,
        SK_IO_OP_READ,
        SK_IO_OP_WRITE,
        SK_IO_OP_FALLOCATE,
        SK_IO_OP_PUNCH_HOLE,
        SK_IO_OP_FSYNC,
        SK_IO_OP_CLOSE,
        _SK_IO_OP_MAX,
} sk_io_op;

/* Read or write at the file's current position (pipes, sockets, FIFOs). */
#define SK_IO_OFFSET_CURRENT UINT64_MAX

typedef struct sk_io_options {
        sk_io_backend backend;          /* SK_IO_AUTO by default */
        unsigned queue_depth;           /* max operations outstanding; 0 = 64, max 4096 */
        unsigned threads;               /* thread backend workers; 0 = 4, max 256 */
        bool register_buffers;          /* see sk_io_buffer() */
        unsigned buffer_count;          /* 0 = queue_depth (only with register_buffers) */
        size_t buffer_size;             /* 0 = 1 MiB (only with register_buffers) */
        /* Testing: bit (1u << op) makes the io_uring backend treat op as
         * unsupported by the kernel, so its synchronous path runs. */
        unsigned uring_sync_ops;
} sk_io_options;

typedef struct sk_io_completion {
        uint64_t user_data;     /* the caller's tag, as submitted */
        sk_io_op op;            /* the kind, as submitted */
        int fd;                 /* fd (or dirfd for openat/statx) as submitted */
        /* >= 0 success: openat -> the new fd (owned by the caller); read ->
         * bytes read (less than asked only at end of file, or for a
         * SK_IO_OFFSET_CURRENT read: whatever the first non-empty read gave);
         * write -> all bytes asked; others -> 0. < 0: -errno, including
         * -ECANCELED after sk_io_cancel(). A read or write that fails after
         * transferring part of its data reports the error, not the count. */
        int64_t res;
        void *buf;              /* buffer (read/write) or struct statx * (statx) as submitted */
        uint64_t offset;        /* offset as submitted (read/write/fallocate/punch) */
} sk_io_completion;

/* Create an engine. opts may be NULL (all defaults). A forced backend that is
 * unavailable fails with its error (SK_IO_URING: -ENOSYS, -EPERM...); AUTO
 * then falls back to threads instead. -EINVAL for out-of-range options,
 * -ENOMEM. *ret is owned: sk_io_free(). */
int sk_io_new(const sk_io_options *opts, sk_io **ret);

/* Cancels everything outstanding, waits until no operation can touch a
 * caller buffer any more, discards the completions (fds opened by
 * not-yet-reaped openat completions are closed) and frees. An operation that
 * cannot be interrupted (a thread-backend openat of a FIFO without a writer)
 * makes this wait for it. Accepts NULL. */
void sk_io_free(sk_io *io);

/* The backend in use (never SK_IO_AUTO). */
sk_io_backend sk_io_get_backend(const sk_io *io);
/* "uring", "threads" or "auto". Static string. */
const char *sk_io_backend_name(sk_io_backend b);
/* Parse "uring" | "threads" | "auto" (a --io= switch); -EINVAL otherwise. */
int sk_io_backend_from_string(const char *s, sk_io_backend *ret);
/* One human-readable line saying which backend runs and why, for the caller
 * to log once, e.g. "io_uring unavailable (io_uring_setup: Operation not
 * permitted); using threads" or "io_uring (statx unsupported, done
 * synchronously)". Borrowed, valid until sk_io_free(). */
const char *sk_io_reason(const sk_io *io);
/* Whether registered buffers are in effect (io_uring only). */
bool sk_io_buffers_registered(const sk_io *io);
/* The queue depth actually used. */
unsigned sk_io_queue_depth(const sk_io *io);

/* Buffer i of the engine's buffer pool (register_buffers set), of
 * buffer_size bytes, 4096-aligned; NULL if out of range or no pool.
 * Borrowed, valid until sk_io_free(). Using it is optional: any buffer
 * works, these only go faster on io_uring. */
void *sk_io_buffer(sk_io *io, unsigned i);
size_t sk_io_buffer_size(const sk_io *io);

/* --- submission ---------------------------------------------------------------
 * Each returns 0 when the operation is queued (it then completes exactly once
 * through sk_io_reap()), -EAGAIN when queue_depth operations are outstanding
 * (nothing queued: reap first), -EINVAL for bad arguments, -ENOMEM. Buffers
 * (and the statx struct) are borrowed until the completion is reaped; paths
 * are copied. On io_uring, queued operations reach the kernel at the next
 * sk_io_submit() or sk_io_reap(). */

int sk_io_openat(sk_io *io, uint64_t user_data, int dirfd, const char *path, int flags, mode_t mode);
/* statx(2) into *buf; flags such as AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH. */
int sk_io_statx(sk_io *io, uint64_t user_data, int dirfd, const char *path, int flags, unsigned mask,
                struct statx *buf);
/* Read len bytes at offset (SK_IO_OFFSET_CURRENT: at the file position). */
int sk_io_read(sk_io *io, uint64_t user_data, int fd, void *buf, size_t len, uint64_t offset);
int sk_io_write(sk_io *io, uint64_t user_data, int fd, const void *buf, size_t len, uint64_t offset);
/* fallocate(2) with mode (0 = allocate and extend). */
int sk_io_fallocate(sk_io *io, uint64_t user_data, int fd, int mode, uint64_t offset, uint64_t len);
/* Deallocate [offset, offset+len) keeping the size (PUNCH_HOLE|KEEP_SIZE). */
int sk_io_punch_hole(sk_io *io, uint64_t user_data, int fd, uint64_t offset, uint64_t len);
/* fsync(2), or fdatasync(2) with datasync. */
int sk_io_fsync(sk_io *io, uint64_t user_data, int fd, bool datasync);
/* close(2): the fd is gone once submitted; do not use it again. */
int sk_io_close(sk_io *io, uint64_t user_data, int fd);

/* --- driving -------------------------------------------------------------------- */

/* Hand queued operations to the kernel (io_uring) without waiting; the
 * thread backend starts work at submission, so this is a no-op there.
 * Returns the number handed over, or -errno. */
int sk_io_submit(sk_io *io);

/* Submit what is queued, then collect up to max completions into out,
 * waiting until at least min(wait_nr, max) are collected or nothing is
 * outstanding any more (so it never blocks forever on an idle engine).
 * wait_nr 0 never blocks. Returns the number collected (the slots are free
 * again) or -errno; completions are in no particular order. */
int sk_io_reap(sk_io *io, sk_io_completion *out, size_t max, size_t wait_nr);

/* Operations submitted and not yet reaped. */
unsigned sk_io_outstanding(const sk_io *io);

/* Cancel every outstanding operation with this user_data (sk_io_cancel_all:
 * every one). Each still completes exactly once through sk_io_reap(): with
 * -ECANCELED, or with its real result if it had already finished. Returns the
 * number of operations asked to cancel. Blocking positioned I/O on regular
 * files usually cannot be interrupted and runs to completion. */
int sk_io_cancel(sk_io *io, uint64_t user_data);
int sk_io_cancel_all(sk_io *io);
