/* The I/O engine, every test run once per backend variant: io_uring,
 * io_uring with every optional op forced onto its synchronous path, and the
 * thread pool. Covers tag matching, many small files, short reads at EOF,
 * writes with fallocate and hole punching, error propagation, cancellation,
 * the in-flight bound, forced io_uring unavailability (seccomp) and ENOSPC
 * on a small tmpfs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "io/ioengine.h"
#include "tests/lib/testutil.h"

typedef struct variant {
        const char *name;
        sk_io_backend backend;
        unsigned sync_ops;
} variant;

#define OPTIONAL_OPS ((1u << SK_IO_OP_OPENAT) | (1u << SK_IO_OP_STATX) | (1u << SK_IO_OP_FALLOCATE) | \
                      (1u << SK_IO_OP_PUNCH_HOLE) | (1u << SK_IO_OP_FSYNC) | (1u << SK_IO_OP_CLOSE))

static variant v_uring = { "uring", SK_IO_URING, 0 };
static variant v_uring_sync = { "uring-sync-ops", SK_IO_URING, OPTIONAL_OPS };
static variant v_threads = { "threads", SK_IO_THREADS, 0 };

typedef struct fixture {
        char *dir;              /* first: an sk_test_fixture_new() fixture */
        const variant *v;
        int dfd;
        sk_io *io;
        char *mnt;              /* a tmpfs mounted by the test, unmounted even if it fails */
} fixture;

static int setup(void **state) {
        const variant *v = *state;
        fixture *f = sk_test_fixture_new(state, sizeof(*f), "sk-ioengine");
        f->v = v;
        print_message("variant: %s\n", f->v->name);
        f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return f->dfd < 0 ? -1 : 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        sk_io_free(f->io);
        if (f->mnt) {
                umount2(f->mnt, MNT_DETACH);
                free(f->mnt);
        }
        close(f->dfd);
        return sk_test_fixture_free(f);
}

/* Create the fixture's engine for its variant; skips if io_uring is
 * unavailable on this machine (never passes vacuously). */
static sk_io *engine(fixture *f, unsigned depth) {
        sk_io_options o = { .backend = f->v->backend, .queue_depth = depth, .threads = 4,
                            .uring_sync_ops = f->v->sync_ops };
        sk_io_free(f->io);
        f->io = NULL;
        int r = sk_io_new(&o, &f->io);
        if (r < 0 && f->v->backend == SK_IO_URING) {
                print_message("SKIP io_uring unavailable here: %s\n", strerror(-r));
                skip();
        }
        assert_int_equal(r, 0);
        assert_int_equal(sk_io_get_backend(f->io), f->v->backend);
        return f->io;
}

static uint8_t pat(unsigned file, uint64_t off) {
        return (uint8_t) (file * 131u + off * 7u + (off >> 9));
}

static void make_file(int dfd, const char *name, unsigned id, size_t size) {
        uint8_t *buf = malloc(size ? size : 1);
        assert_non_null(buf);
        for (size_t i = 0; i < size; i++)
                buf[i] = pat(id, i);
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(sk_write_all(fd, buf, size), 0);
        close(fd);
        free(buf);
}

static void check_pattern(const uint8_t *p, unsigned id, uint64_t off, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i] != pat(id, off + i))
                        fail_msg("file %u byte %llu: got %u want %u", id, (unsigned long long) (off + i), p[i],
                                 pat(id, off + i));
}

/* Reap exactly n completions (asserting the engine does not run dry). */
static void reap_n(sk_io *io, sk_io_completion *out, size_t n) {
        size_t got = 0;
        while (got < n) {
                int k = sk_io_reap(io, out + got, n - got, n - got);
                assert_true(k > 0);
                got += (size_t) k;
        }
}

/* ---- tags and completion matching -------------------------------------------- */

static void test_tags(void **state) {
        fixture *f = *state;
        enum { N = 16, LEN = 256 * 1024 };
        sk_io *io = engine(f, 32);
        make_file(f->dfd, "big", 5, (size_t) N * LEN);
        int fd = openat(f->dfd, "big", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t *buf = malloc((size_t) N * LEN);
        assert_non_null(buf);

        /* submitted back to front, tags encode the chunk */
        for (int i = N - 1; i >= 0; i--)
                assert_int_equal(sk_io_read(io, 1000 + (uint64_t) i, fd, buf + (size_t) i * LEN, LEN,
                                            (uint64_t) i * LEN), 0);
        assert_int_equal(sk_io_outstanding(io), N);
        sk_io_completion c[N];
        reap_n(io, c, N);
        bool seen[N] = { false };
        for (int i = 0; i < N; i++) {
                assert_int_equal(c[i].op, SK_IO_OP_READ);
                assert_int_equal(c[i].res, LEN);
                assert_int_equal(c[i].fd, fd);
                uint64_t k = c[i].user_data - 1000;
                assert_true(k < N);
                assert_false(seen[k]);
                seen[k] = true;
                assert_ptr_equal(c[i].buf, buf + k * LEN);
                assert_int_equal(c[i].offset, k * LEN);
                check_pattern(c[i].buf, 5, c[i].offset, LEN);
        }
        assert_int_equal(sk_io_outstanding(io), 0);
        /* an idle engine never blocks */
        assert_int_equal(sk_io_reap(io, c, N, 1), 0);
        free(buf);
        close(fd);
}

/* ---- many small files: open + statx + read in batches ------------------------- */

static size_t small_size(unsigned i) {
        return (i * 2654435761u) % 9000; /* 0..8999 bytes, some empty */
}

static void test_many_small_files(void **state) {
        fixture *f = *state;
        enum { NFILES = 2000, DEPTH = 64, BUFSZ = 16384 };
        sk_io *io = engine(f, DEPTH);
        char name[32];
        for (unsigned i = 0; i < NFILES; i++) {
                snprintf(name, sizeof(name), "f%05u", i);
                make_file(f->dfd, name, i, small_size(i));
        }
        int *fds = malloc(NFILES * sizeof(int));
        struct statx *stx = calloc(NFILES, sizeof(*stx));
        uint8_t *bufs = malloc((size_t) DEPTH * BUFSZ);
        assert_true(fds && stx && bufs);
        sk_io_completion c[2 * DEPTH];
        unsigned verified = 0;

        for (unsigned base = 0; base < NFILES; base += DEPTH / 2) {
                unsigned n = MIN(DEPTH / 2, NFILES - base);
                /* statx by path and open in one batch */
                for (unsigned j = 0; j < n; j++) {
                        snprintf(name, sizeof(name), "f%05u", base + j);
                        assert_int_equal(sk_io_statx(io, base + j, f->dfd, name, AT_SYMLINK_NOFOLLOW,
                                                     STATX_TYPE | STATX_SIZE, &stx[base + j]), 0);
                        assert_int_equal(sk_io_openat(io, base + j, f->dfd, name, O_RDONLY | O_CLOEXEC, 0), 0);
                }
                reap_n(io, c, 2 * n);
                for (unsigned j = 0; j < 2 * n; j++) {
                        unsigned id = (unsigned) c[j].user_data;
                        assert_true(id >= base && id < base + n);
                        assert_true(c[j].res >= 0);
                        switch (c[j].op) {
                        case SK_IO_OP_OPENAT:
                                fds[id] = (int) c[j].res;
                                break;
                        case SK_IO_OP_STATX:
                                assert_ptr_equal(c[j].buf, &stx[id]);
                                break;
                        default:
                                fail_msg("unexpected op %d", c[j].op);
                        }
                }
                /* read each whole file (buffer larger than any file) */
                for (unsigned j = 0; j < n; j++) {
                        assert_int_equal(stx[base + j].stx_size, small_size(base + j));
                        assert_true(S_ISREG(stx[base + j].stx_mode));
                        assert_int_equal(sk_io_read(io, base + j, fds[base + j], bufs + (size_t) j * BUFSZ, BUFSZ, 0),
                                         0);
                }
                reap_n(io, c, n);
                for (unsigned j = 0; j < n; j++) {
                        unsigned id = (unsigned) c[j].user_data;
                        assert_int_equal(c[j].op, SK_IO_OP_READ);
                        assert_int_equal(c[j].fd, fds[id]);
                        assert_int_equal(c[j].res, small_size(id));
                        check_pattern(c[j].buf, id, 0, small_size(id));
                        verified++;
                        assert_int_equal(sk_io_close(io, id, fds[id]), 0);
                }
                reap_n(io, c, n);
                for (unsigned j = 0; j < n; j++) {
                        assert_int_equal(c[j].op, SK_IO_OP_CLOSE);
                        assert_int_equal(c[j].res, 0);
                }
        }
        assert_int_equal(verified, NFILES);
        free(fds);
        free(stx);
        free(bufs);
}

/* ---- short reads at EOF ------------------------------------------------------------ */

static void test_short_read_eof(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f, 8);
        make_file(f->dfd, "small", 3, 1000);
        int fd = openat(f->dfd, "small", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t a[4096], b[4096], d[4096];
        assert_int_equal(sk_io_read(io, 1, fd, a, sizeof(a), 0), 0);
        assert_int_equal(sk_io_read(io, 2, fd, b, sizeof(b), 500), 0);
        assert_int_equal(sk_io_read(io, 3, fd, d, sizeof(d), 2000), 0);
        assert_int_equal(sk_io_read(io, 4, fd, d, 0, 0), 0);
        sk_io_completion c[4];
        reap_n(io, c, 4);
        for (int i = 0; i < 4; i++) {
                switch (c[i].user_data) {
                case 1:
                        assert_int_equal(c[i].res, 1000);
                        check_pattern(a, 3, 0, 1000);
                        break;
                case 2:
                        assert_int_equal(c[i].res, 500);
                        check_pattern(b, 3, 500, 500);
                        break;
                case 3:
                case 4:
                        assert_int_equal(c[i].res, 0);
                        break;
                default:
                        fail_msg("unexpected tag %llu", (unsigned long long) c[i].user_data);
                }
        }
        close(fd);
}

/* ---- writes across many files, fallocate, hole punching ----------------------------- */

static void test_write_fallocate_punch(void **state) {
        fixture *f = *state;
        enum { NF = 16, K = 64 * 1024, SIZE = 16 * K };
        sk_io *io = engine(f, 64);
        int fds[NF];
        char name[32];
        uint8_t *src = malloc((size_t) NF * 4 * K);
        assert_non_null(src);
        for (unsigned i = 0; i < NF; i++) {
                snprintf(name, sizeof(name), "w%02u", i);
                fds[i] = openat(f->dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                assert_true(fds[i] >= 0);
                for (size_t o = 0; o < 4 * K; o++)
                        src[(size_t) i * 4 * K + o] = pat(i, o);
        }
        sk_io_completion c[4 * NF];

        for (unsigned i = 0; i < NF; i++)
                assert_int_equal(sk_io_fallocate(io, i, fds[i], 0, 0, SIZE), 0);
        reap_n(io, c, NF);
        for (unsigned i = 0; i < NF; i++) {
                assert_int_equal(c[i].op, SK_IO_OP_FALLOCATE);
                if (c[i].res == -EOPNOTSUPP) {
                        print_message("SKIP filesystem of %s lacks fallocate\n", f->dir);
                        free(src);
                        skip();
                }
                assert_int_equal(c[i].res, 0);
        }
        /* data at [0, 4K) and [8K, 12K) in units of K, written in 2 pieces each */
        for (unsigned i = 0; i < NF; i++) {
                const uint8_t *p = src + (size_t) i * 4 * K;
                assert_int_equal(sk_io_write(io, i, fds[i], p, 4 * K, 0), 0);
                assert_int_equal(sk_io_write(io, i, fds[i], p, 4 * K, 8 * K), 0);
        }
        reap_n(io, c, 2 * NF);
        for (unsigned i = 0; i < 2 * NF; i++) {
                assert_int_equal(c[i].op, SK_IO_OP_WRITE);
                assert_int_equal(c[i].res, 4 * K);
        }
        /* punch the allocated-but-unwritten ranges back into holes */
        for (unsigned i = 0; i < NF; i++) {
                assert_int_equal(sk_io_punch_hole(io, i, fds[i], 4 * K, 4 * K), 0);
                assert_int_equal(sk_io_punch_hole(io, i, fds[i], 12 * K, 4 * K), 0);
        }
        reap_n(io, c, 2 * NF);
        for (unsigned i = 0; i < 2 * NF; i++) {
                assert_int_equal(c[i].op, SK_IO_OP_PUNCH_HOLE);
                if (c[i].res == -EOPNOTSUPP) {
                        print_message("SKIP filesystem of %s lacks hole punching\n", f->dir);
                        free(src);
                        skip();
                }
                assert_int_equal(c[i].res, 0);
        }
        for (unsigned i = 0; i < NF; i++)
                assert_int_equal(sk_io_fsync(io, i, fds[i], i % 2), 0);
        reap_n(io, c, NF);
        for (unsigned i = 0; i < NF; i++) {
                assert_int_equal(c[i].op, SK_IO_OP_FSYNC);
                assert_int_equal(c[i].res, 0);
        }

        uint8_t *back = malloc(SIZE);
        assert_non_null(back);
        for (unsigned i = 0; i < NF; i++) {
                struct stat st;
                assert_int_equal(fstat(fds[i], &st), 0);
                assert_int_equal(st.st_size, SIZE);
                assert_int_equal(lseek(fds[i], 0, SEEK_DATA), 0);
                assert_int_equal(lseek(fds[i], 0, SEEK_HOLE), 4 * K);
                assert_int_equal(lseek(fds[i], 4 * K, SEEK_DATA), 8 * K);
                assert_int_equal(lseek(fds[i], 8 * K, SEEK_HOLE), 12 * K);
                assert_int_equal(lseek(fds[i], 12 * K, SEEK_DATA), -1);
                assert_int_equal(errno, ENXIO);
                assert_int_equal(sk_pread_all(fds[i], back, SIZE, 0), SIZE);
                check_pattern(back, i, 0, 4 * K);
                check_pattern(back + 8 * K, i, 0, 4 * K);
                for (size_t o = 4 * K; o < 8 * K; o++)
                        assert_int_equal(back[o], 0);
                for (size_t o = 12 * K; o < SIZE; o++)
                        assert_int_equal(back[o], 0);
        }
        for (unsigned i = 0; i < NF; i++)
                assert_int_equal(sk_io_close(io, i, fds[i]), 0);
        reap_n(io, c, NF);
        for (unsigned i = 0; i < NF; i++)
                assert_int_equal(c[i].res, 0);
        free(back);
        free(src);
}

/* ---- error propagation ---------------------------------------------------------------- */

static void test_errors(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f, 16);
        struct statx stx;
        uint8_t buf[64];
        make_file(f->dfd, "ro", 1, 10);
        int ro = openat(f->dfd, "ro", O_RDONLY | O_CLOEXEC);
        assert_true(ro >= 0);
        int bad = dup(ro);
        assert_true(bad >= 0);
        close(bad); /* a closed fd number */

        assert_int_equal(sk_io_openat(io, 11, f->dfd, "missing", O_RDONLY | O_CLOEXEC, 0), 0);
        assert_int_equal(sk_io_statx(io, 12, f->dfd, "missing", 0, STATX_SIZE, &stx), 0);
        assert_int_equal(sk_io_read(io, 13, bad, buf, sizeof(buf), 0), 0);
        assert_int_equal(sk_io_write(io, 14, ro, buf, sizeof(buf), 0), 0);
        assert_int_equal(sk_io_fsync(io, 15, bad, false), 0);
        assert_int_equal(sk_io_read(io, 16, ro, buf, sizeof(buf), 0), 0); /* a good one among them */
        sk_io_completion c[6];
        reap_n(io, c, 6);
        for (int i = 0; i < 6; i++) {
                switch (c[i].user_data) {
                case 11:
                        assert_int_equal(c[i].op, SK_IO_OP_OPENAT);
                        assert_int_equal(c[i].res, -ENOENT);
                        break;
                case 12:
                        assert_int_equal(c[i].op, SK_IO_OP_STATX);
                        assert_int_equal(c[i].res, -ENOENT);
                        break;
                case 13:
                        assert_int_equal(c[i].op, SK_IO_OP_READ);
                        assert_int_equal(c[i].res, -EBADF);
                        break;
                case 14:
                        assert_int_equal(c[i].op, SK_IO_OP_WRITE);
                        assert_int_equal(c[i].res, -EBADF);
                        break;
                case 15:
                        assert_int_equal(c[i].op, SK_IO_OP_FSYNC);
                        assert_int_equal(c[i].res, -EBADF);
                        break;
                case 16:
                        assert_int_equal(c[i].res, 10);
                        break;
                default:
                        fail_msg("unexpected tag %llu", (unsigned long long) c[i].user_data);
                }
        }
        /* argument errors are synchronous and queue nothing */
        assert_int_equal(sk_io_read(io, 1, -1, buf, sizeof(buf), 0), -EINVAL);
        assert_int_equal(sk_io_openat(io, 1, f->dfd, NULL, 0, 0), -EINVAL);
        assert_int_equal(sk_io_outstanding(io), 0);
        close(ro);
}

/* ---- cancellation ----------------------------------------------------------------------- */

static void test_cancel(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f, 16);
        assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);
        /* O_RDWR: the open does not wait for a writer and reads never see EOF */
        int fifo = openat(f->dfd, "fifo", O_RDWR | O_CLOEXEC);
        assert_true(fifo >= 0);
        uint8_t buf[4][16];

        for (int i = 0; i < 3; i++)
                assert_int_equal(sk_io_read(io, 7, fifo, buf[i], sizeof(buf[i]), SK_IO_OFFSET_CURRENT), 0);
        assert_int_equal(sk_io_read(io, 8, fifo, buf[3], sizeof(buf[3]), SK_IO_OFFSET_CURRENT), 0);
        assert_int_equal(sk_io_submit(io) >= 0, true);
        sk_io_completion c[4];
        usleep(20 * 1000); /* let the reads block */
        assert_int_equal(sk_io_reap(io, c, 4, 0), 0);
        assert_int_equal(sk_io_outstanding(io), 4);

        assert_int_equal(sk_io_cancel(io, 7), 3);
        reap_n(io, c, 3);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(c[i].user_data, 7);
                assert_int_equal(c[i].op, SK_IO_OP_READ);
                assert_int_equal(c[i].res, -ECANCELED);
        }
        assert_int_equal(sk_io_outstanding(io), 1);
        assert_int_equal(sk_io_reap(io, c, 4, 0), 0);

        /* the other tag's read is still live: feed it data */
        assert_int_equal(write(fifo, "hello", 5), 5);
        reap_n(io, c, 1);
        assert_int_equal(c[0].user_data, 8);
        assert_int_equal(c[0].res, 5);
        assert_memory_equal(buf[3], "hello", 5);

        /* cancel-all, then the engine is still usable */
        assert_int_equal(sk_io_read(io, 9, fifo, buf[0], sizeof(buf[0]), SK_IO_OFFSET_CURRENT), 0);
        assert_int_equal(sk_io_read(io, 10, fifo, buf[1], sizeof(buf[1]), SK_IO_OFFSET_CURRENT), 0);
        assert_true(sk_io_submit(io) >= 0);
        usleep(10 * 1000);
        assert_int_equal(sk_io_cancel_all(io), 2);
        reap_n(io, c, 2);
        assert_int_equal(c[0].res, -ECANCELED);
        assert_int_equal(c[1].res, -ECANCELED);
        assert_int_equal(sk_io_outstanding(io), 0);
        assert_int_equal(sk_io_cancel(io, 12345), 0);

        make_file(f->dfd, "after", 2, 100);
        int fd = openat(f->dfd, "after", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t back[200];
        assert_int_equal(sk_io_read(io, 99, fd, back, sizeof(back), 0), 0);
        reap_n(io, c, 1);
        assert_int_equal(c[0].res, 100);
        check_pattern(back, 2, 0, 100);
        close(fd);

        /* freeing with a read still blocked must not hang or leak */
        assert_int_equal(sk_io_read(io, 1, fifo, buf[0], sizeof(buf[0]), SK_IO_OFFSET_CURRENT), 0);
        assert_true(sk_io_submit(io) >= 0);
        sk_io_free(f->io);
        f->io = NULL;
        close(fifo);
}

/* ---- EAGAIN and short writes on a non-blocking pipe ------------------------------ */

typedef struct pipe_peer {
        int rfd, wfd;
        size_t drain;           /* bytes to read from rfd (after a pause) */
        uint8_t *got;
        size_t n_got;
} pipe_peer;

static void *peer_main(void *arg) {
        pipe_peer *p = arg;
        usleep(100 * 1000); /* long enough for a spinning retry loop to give up */
        if (p->drain == 0) {
                if (write(p->wfd, "hello", 5) != 5)
                        return NULL;
                return NULL;
        }
        while (p->n_got < p->drain) {
                struct pollfd pf = { .fd = p->rfd, .events = POLLIN };
                if (poll(&pf, 1, 5000) <= 0)
                        return NULL;
                ssize_t n = read(p->rfd, p->got + p->n_got, p->drain - p->n_got);
                if (n < 0 && errno == EAGAIN)
                        continue;
                if (n <= 0)
                        return NULL;
                p->n_got += (size_t) n;
        }
        return NULL;
}

static void test_eagain_short_write(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f, 8);
        int pfd[2];
        assert_int_equal(pipe2(pfd, O_NONBLOCK | O_CLOEXEC), 0);
        sk_io_completion c[2];
        pthread_t t;

        /* read: no data for 100 ms, reads return EAGAIN, the engine waits */
        pipe_peer p = { .rfd = pfd[0], .wfd = pfd[1] };
        uint8_t buf[64];
        assert_int_equal(pthread_create(&t, NULL, peer_main, &p), 0);
        assert_int_equal(sk_io_read(io, 1, pfd[0], buf, sizeof(buf), SK_IO_OFFSET_CURRENT), 0);
        reap_n(io, c, 1);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(c[0].user_data, 1);
        assert_int_equal(c[0].res, 5);
        assert_memory_equal(buf, "hello", 5);

        /* write: 1 MiB into a 64 KiB pipe, so the pipe takes it in short
         * writes separated by EAGAIN; all of it must arrive, in order */
        enum { LEN = 1024 * 1024 };
        uint8_t *src = malloc(LEN), *dst = malloc(LEN);
        assert_true(src && dst);
        for (size_t i = 0; i < LEN; i++)
                src[i] = pat(8, i);
        p = (pipe_peer) { .rfd = pfd[0], .wfd = pfd[1], .drain = LEN, .got = dst };
        assert_int_equal(pthread_create(&t, NULL, peer_main, &p), 0);
        assert_int_equal(sk_io_write(io, 2, pfd[1], src, LEN, SK_IO_OFFSET_CURRENT), 0);
        reap_n(io, c, 1);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(c[0].user_data, 2);
        assert_int_equal(c[0].res, LEN);
        assert_int_equal(p.n_got, LEN);
        check_pattern(dst, 8, 0, LEN);
        free(src);
        free(dst);
        close(pfd[0]);
        close(pfd[1]);
}

/* ---- EINTR: signals while a read waits ------------------------------------------ */

static volatile sig_atomic_t signal_hits;

static void on_usr1(int sig) {
        (void) sig;
        signal_hits++;
}

typedef struct signaller {
        int wfd;
} signaller;

static void *signaller_main(void *arg) {
        signaller *sg = arg;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* so the signals hit the engine's threads */
        for (int i = 0; i < 50; i++) {
                kill(getpid(), SIGUSR1);
                usleep(2000);
        }
        if (write(sg->wfd, "after", 5) != 5)
                return NULL;
        return NULL;
}

static void test_eintr(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f, 8);
        if (f->v->backend == SK_IO_THREADS) {
                /* one worker, so the process-directed signals can only land on it */
                sk_io_free(f->io);
                sk_io_options o = { .backend = SK_IO_THREADS, .threads = 1 };
                assert_int_equal(sk_io_new(&o, &f->io), 0);
                io = f->io;
        }
        struct sigaction sa = { .sa_handler = on_usr1 }, old;
        sigemptyset(&sa.sa_mask); /* no SA_RESTART: blocked calls fail with EINTR */
        assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
        signal_hits = 0;
        assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);
        int fifo = openat(f->dfd, "fifo", O_RDWR | O_CLOEXEC);
        assert_true(fifo >= 0);
        uint8_t buf[16];
        assert_int_equal(sk_io_read(io, 3, fifo, buf, sizeof(buf), SK_IO_OFFSET_CURRENT), 0);
        signaller sg = { .wfd = fifo };
        pthread_t t;
        /* io_uring: the signals interrupt our wait in io_uring_enter. threads:
         * block them here so they land on the workers (which started with
         * them unblocked) and interrupt their poll/read. */
        sigset_t set, oldset;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        if (f->v->backend == SK_IO_THREADS)
                assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, &oldset), 0);
        assert_int_equal(pthread_create(&t, NULL, signaller_main, &sg), 0);
        sk_io_completion c;
        reap_n(io, &c, 1);
        assert_int_equal(pthread_join(t, NULL), 0);
        if (f->v->backend == SK_IO_THREADS)
                assert_int_equal(pthread_sigmask(SIG_SETMASK, &oldset, NULL), 0);
        assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
        assert_true(signal_hits > 0);
        assert_int_equal(c.user_data, 3);
        assert_int_equal(c.res, 5);
        assert_memory_equal(buf, "after", 5);
        close(fifo);
}

/* ---- bounded in-flight --------------------------------------------------------------------- */

static void test_bounded(void **state) {
        fixture *f = *state;
        enum { DEPTH = 4 };
        sk_io *io = engine(f, DEPTH);
        assert_int_equal(sk_io_queue_depth(io), DEPTH);
        assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);
        int fifo = openat(f->dfd, "fifo", O_RDWR | O_CLOEXEC);
        assert_true(fifo >= 0);
        uint8_t buf[DEPTH + 1][8];
        struct statx stx;

        for (int i = 0; i < DEPTH; i++)
                assert_int_equal(sk_io_read(io, (uint64_t) i, fifo, buf[i], 8, SK_IO_OFFSET_CURRENT), 0);
        /* full: every kind of submission is refused and nothing is queued */
        assert_int_equal(sk_io_read(io, 100, fifo, buf[DEPTH], 8, SK_IO_OFFSET_CURRENT), -EAGAIN);
        assert_int_equal(sk_io_openat(io, 101, f->dfd, "fifo", O_RDONLY, 0), -EAGAIN);
        assert_int_equal(sk_io_statx(io, 102, f->dfd, "fifo", 0, STATX_SIZE, &stx), -EAGAIN);
        assert_int_equal(sk_io_close(io, 103, 0), -EAGAIN);
        assert_int_equal(sk_io_outstanding(io), DEPTH);

        /* one completes -> exactly one slot frees up */
        assert_int_equal(write(fifo, "x", 1), 1);
        sk_io_completion c[DEPTH];
        reap_n(io, c, 1);
        assert_int_equal(c[0].res, 1);
        assert_int_equal(sk_io_outstanding(io), DEPTH - 1);
        assert_int_equal(sk_io_statx(io, 102, f->dfd, "fifo", 0, STATX_TYPE, &stx), 0);
        assert_int_equal(sk_io_read(io, 100, fifo, buf[DEPTH], 8, SK_IO_OFFSET_CURRENT), -EAGAIN);
        reap_n(io, c, 1);
        assert_int_equal(c[0].user_data, 102);
        assert_int_equal(c[0].res, 0);
        assert_true(S_ISFIFO(stx.stx_mode));

        assert_int_equal(sk_io_cancel_all(io), DEPTH - 1);
        reap_n(io, c, DEPTH - 1);
        for (int i = 0; i < DEPTH - 1; i++)
                assert_int_equal(c[i].res, -ECANCELED);
        assert_int_equal(sk_io_outstanding(io), 0);

        /* many rounds through a small queue: nothing lost, nothing overflows */
        make_file(f->dfd, "data", 4, 4096);
        int fd = openat(f->dfd, "data", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t small[DEPTH][512];
        unsigned submitted = 0, completed = 0, refused = 0;
        /* one more buffer than the depth, so the engine (not the test) is
         * what refuses the extra submission */
        uint8_t *spare[DEPTH + 1];
        unsigned n_spare = 0;
        for (int i = 0; i < DEPTH; i++)
                spare[n_spare++] = small[i];
        uint8_t extra[512];
        spare[n_spare++] = extra;
        while (completed < 1000) {
                while (submitted < 1000 && n_spare > 0) {
                        int r = sk_io_read(io, submitted, fd, spare[n_spare - 1], 512, (submitted % 8) * 512);
                        if (r == -EAGAIN) {
                                refused++;
                                break;
                        }
                        assert_int_equal(r, 0);
                        n_spare--;
                        submitted++;
                }
                int n = sk_io_reap(io, c, DEPTH, 1);
                assert_true(n > 0);
                for (int i = 0; i < n; i++) {
                        assert_int_equal(c[i].res, 512);
                        check_pattern(c[i].buf, 4, (c[i].user_data % 8) * 512, 512);
                        spare[n_spare++] = c[i].buf;
                }
                completed += (unsigned) n;
                assert_true(sk_io_outstanding(io) <= DEPTH);
        }
        assert_true(refused > 0);
        close(fd);
        close(fifo);
}

/* A named FIFO (which refuses RWF_NOWAIT, unlike a pipe(2) pipe) read by
 * several stream reads at once: each byte goes to exactly one, none blocks
 * where cancellation cannot reach it, and with the writer gone a read sees
 * EOF (0) instead of waiting or spinning. */
static void test_fifo_streams(void **state) {
        fixture *f = *state;
        enum { READERS = 3 };
        sk_io *io = engine(f, 8);
        assert_int_equal(mkfifoat(f->dfd, "np", 0600), 0);
        int rd = openat(f->dfd, "np", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        assert_true(rd >= 0);
        int wr = openat(f->dfd, "np", O_WRONLY | O_CLOEXEC);
        assert_true(wr >= 0);
        assert_int_equal(fcntl(rd, F_SETFL, fcntl(rd, F_GETFL) & ~O_NONBLOCK), 0);
        uint8_t buf[READERS][8];
        for (int i = 0; i < READERS; i++)
                assert_int_equal(sk_io_read(io, (uint64_t) i, rd, buf[i], 8, SK_IO_OFFSET_CURRENT), 0);
        usleep(20000); /* let every reader wait */
        assert_int_equal(write(wr, "a", 1), 1);
        sk_io_completion c[READERS];
        reap_n(io, c, 1);
        assert_int_equal(c[0].res, 1);
        assert_int_equal(((uint8_t *) c[0].buf)[0], 'a');
        assert_int_equal(write(wr, "b", 1), 1);
        reap_n(io, c, 1);
        assert_int_equal(c[0].res, 1);
        assert_int_equal(((uint8_t *) c[0].buf)[0], 'b');
        /* the readers still waiting can be cancelled */
        assert_int_equal(sk_io_read(io, 7, rd, buf[0], 8, SK_IO_OFFSET_CURRENT), 0);
        assert_int_equal(sk_io_outstanding(io), 2);
        usleep(20000);
        assert_int_equal(sk_io_cancel_all(io), 2);
        reap_n(io, c, 2);
        assert_int_equal(c[0].res, -ECANCELED);
        assert_int_equal(c[1].res, -ECANCELED);
        /* with the writer gone a waiting read ends with EOF, and so does a new one */
        assert_int_equal(sk_io_read(io, 8, rd, buf[0], 8, SK_IO_OFFSET_CURRENT), 0);
        usleep(20000);
        close(wr);
        reap_n(io, c, 1);
        assert_int_equal(c[0].res, 0);
        assert_int_equal(sk_io_read(io, 9, rd, buf[0], 8, SK_IO_OFFSET_CURRENT), 0);
        reap_n(io, c, 1);
        assert_int_equal(c[0].res, 0);
        close(rd);
}

/* ---- registered buffers --------------------------------------------------------------------- */

static void test_registered_buffers(void **state) {
        fixture *f = *state;
        sk_io_options o = { .backend = f->v->backend, .queue_depth = 8, .uring_sync_ops = f->v->sync_ops,
                            .register_buffers = true, .buffer_count = 4, .buffer_size = 128 * 1024 };
        int r = sk_io_new(&o, &f->io);
        if (r < 0 && f->v->backend == SK_IO_URING)
                skip();
        assert_int_equal(r, 0);
        assert_int_equal(sk_io_buffers_registered(f->io), f->v->backend == SK_IO_URING);
        assert_int_equal(sk_io_buffer_size(f->io), 128 * 1024);
        assert_null(sk_io_buffer(f->io, 4));
        make_file(f->dfd, "reg", 9, 4 * 128 * 1024 + 100);
        int fd = openat(f->dfd, "reg", O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        for (unsigned i = 0; i < 4; i++) {
                uint8_t *b = sk_io_buffer(f->io, i);
                assert_non_null(b);
                assert_int_equal((uintptr_t) b % 4096, 0);
                assert_int_equal(sk_io_read(f->io, i, fd, b, 128 * 1024, (uint64_t) i * 128 * 1024), 0);
        }
        sk_io_completion c[4];
        reap_n(f->io, c, 4);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(c[i].res, 128 * 1024);
                check_pattern(c[i].buf, 9, c[i].offset, 128 * 1024);
        }
        /* a write from a registered buffer, half of it */
        uint8_t *b0 = sk_io_buffer(f->io, 0);
        assert_int_equal(sk_io_write(f->io, 50, fd, b0 + 1000, 5000, 600000), 0);
        reap_n(f->io, c, 1);
        assert_int_equal(c[0].res, 5000);
        uint8_t back[5000];
        assert_int_equal(sk_pread_all(fd, back, sizeof(back), 600000), 5000);
        check_pattern(back, 9, 1000, 5000);
        close(fd);
}

/* ---- backend selection ------------------------------------------------------------------------ */

static void test_forced_threads(void **state) {
        (void) state;
        sk_io *io = NULL;
        sk_io_backend b;
        assert_int_equal(sk_io_backend_from_string("threads", &b), 0);
        sk_io_options o = { .backend = b };
        assert_int_equal(sk_io_new(&o, &io), 0);
        assert_int_equal(sk_io_get_backend(io), SK_IO_THREADS);
        assert_non_null(strstr(sk_io_reason(io), "option"));
        sk_io_free(io);
        assert_int_equal(sk_io_backend_from_string("uring", &b), 0);
        assert_int_equal(b, SK_IO_URING);
        assert_int_equal(sk_io_backend_from_string("auto", &b), 0);
        assert_int_equal(b, SK_IO_AUTO);
        assert_int_equal(sk_io_backend_from_string("io_uring", &b), -EINVAL);
        o = (sk_io_options) { .queue_depth = 5000 };
        assert_int_equal(sk_io_new(&o, &io), -EINVAL);

        /* auto on this machine: uring if the kernel lets us, and it says so */
        o = (sk_io_options) { .backend = SK_IO_AUTO };
        assert_int_equal(sk_io_new(&o, &io), 0);
        print_message("auto: %s\n", sk_io_reason(io));
        if (sk_io_get_backend(io) == SK_IO_URING)
                assert_string_equal(sk_io_reason(io), "io_uring");
        else
                assert_non_null(strstr(sk_io_reason(io), "using threads"));
        sk_io_free(io);

        o = (sk_io_options) { .backend = SK_IO_URING, .uring_sync_ops = 1u << SK_IO_OP_STATX };
        if (sk_io_new(&o, &io) == 0) {
                assert_non_null(strstr(sk_io_reason(io), "statx unsupported"));
                sk_io_free(io);
        }
}

#if defined(__x86_64__)
#define SK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef SK_AUDIT_ARCH
/* In a child: make io_uring_setup fail with EPERM as a seccomp sandbox
 * would, then check what the engine picks. Returns 0 or a failing line. */
static int seccomp_child(const char *dir) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SK_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ARRAY_SIZE(filter), .filter = filter };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return __LINE__;
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return __LINE__;

        sk_io *io = NULL;
        sk_io_options o = { .backend = SK_IO_URING };
        if (sk_io_new(&o, &io) != -EPERM)
                return __LINE__;
        o.backend = SK_IO_AUTO;
        if (sk_io_new(&o, &io) < 0)
                return __LINE__;
        if (sk_io_get_backend(io) != SK_IO_THREADS)
                return __LINE__;
        const char *why = sk_io_reason(io);
        fprintf(stderr, "reason under seccomp: %s\n", why);
        if (!strstr(why, "io_uring_setup") || !strstr(why, strerror(EPERM)) || !strstr(why, "using threads"))
                return __LINE__;
        /* and the fallback works */
        char path[4096];
        snprintf(path, sizeof(path), "%s/seccomp-file", dir);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return __LINE__;
        char buf[6] = "";
        sk_io_completion c;
        if (sk_io_write(io, 1, fd, "fallbk", 6, 0) < 0 || sk_io_reap(io, &c, 1, 1) != 1 || c.res != 6)
                return __LINE__;
        if (sk_io_read(io, 2, fd, buf, 6, 0) < 0 || sk_io_reap(io, &c, 1, 1) != 1 || c.res != 6 ||
            memcmp(buf, "fallbk", 6) != 0)
                return __LINE__;
        close(fd);
        sk_io_free(io);
        return 0;
}
#endif

static void test_seccomp_fallback(void **state) {
        fixture *f = *state;
#ifdef SK_AUDIT_ARCH
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(seccomp_child(f->dir));
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
                fail_msg("seccomp child failed at line %d", WEXITSTATUS(status));
#else
        (void) f;
        print_message("SKIP no seccomp arch constant for this architecture\n");
        skip();
#endif
}

/* ---- ENOSPC on a 2 MiB tmpfs ------------------------------------------------------------------ */

static void test_enospc(void **state) {
        fixture *f = *state;
        char mnt[4096];
        snprintf(mnt, sizeof(mnt), "%s/mnt", f->dir);
        assert_int_equal(mkdir(mnt, 0700), 0);
        if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m") < 0) {
                print_message("SKIP cannot mount tmpfs (%s)\n", strerror(errno));
                skip();
        }
        f->mnt = strdup(mnt);
        assert_non_null(f->mnt);
        sk_io *io = engine(f, 16);
        enum { MB = 1024 * 1024 };
        uint8_t *src = malloc(4 * MB);
        assert_non_null(src);
        memset(src, 0x5a, 4 * MB);
        int mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(mfd >= 0);

        /* one 4 MiB write: tmpfs takes what fits (a short write), the engine
         * continues, and the remainder fails with ENOSPC */
        int fd = openat(mfd, "big", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(sk_io_write(io, 42, fd, src, 4 * MB, 0), 0);
        sk_io_completion c[8];
        reap_n(io, c, 1);
        assert_int_equal(c[0].user_data, 42);
        assert_int_equal(c[0].op, SK_IO_OP_WRITE);
        assert_int_equal(c[0].res, -ENOSPC);
        assert_int_equal(ftruncate(fd, 0), 0);

        /* many files at once: some writes fit, the rest fail, each with its tag */
        int fds[4];
        for (int i = 0; i < 4; i++) {
                char name[16];
                snprintf(name, sizeof(name), "f%d", i);
                fds[i] = openat(mfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                assert_true(fds[i] >= 0);
                assert_int_equal(sk_io_write(io, 100 + (uint64_t) i, fds[i], src, MB, 0), 0);
        }
        assert_int_equal(sk_io_fallocate(io, 200, fd, 0, 0, 4 * MB), 0);
        reap_n(io, c, 5);
        int ok = 0, nospc = 0;
        for (int i = 0; i < 5; i++) {
                if (c[i].user_data == 200) {
                        assert_int_equal(c[i].op, SK_IO_OP_FALLOCATE);
                        assert_int_equal(c[i].res, -ENOSPC);
                        continue;
                }
                assert_true(c[i].user_data >= 100 && c[i].user_data < 104);
                if (c[i].res == MB)
                        ok++;
                else {
                        assert_int_equal(c[i].res, -ENOSPC);
                        nospc++;
                }
        }
        assert_int_equal(ok + nospc, 4);
        assert_true(nospc >= 2);
        for (int i = 0; i < 4; i++)
                close(fds[i]);
        close(fd);
        close(mfd);
        free(src);
        sk_io_free(f->io);
        f->io = NULL;
        assert_int_equal(umount2(mnt, 0), 0);
        free(f->mnt);
        f->mnt = NULL;
}

#define PER_VARIANT(t) \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &v_uring), \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &v_uring_sync), \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &v_threads)

SK_TEST_MAIN(PER_VARIANT(test_tags), PER_VARIANT(test_many_small_files), PER_VARIANT(test_short_read_eof),
             PER_VARIANT(test_write_fallocate_punch), PER_VARIANT(test_errors), PER_VARIANT(test_cancel),
             PER_VARIANT(test_eagain_short_write), PER_VARIANT(test_eintr), PER_VARIANT(test_bounded),
             PER_VARIANT(test_fifo_streams), PER_VARIANT(test_registered_buffers), PER_VARIANT(test_enospc),
             cmocka_unit_test_prestate_setup_teardown(test_forced_threads, setup, teardown, &v_threads),
             cmocka_unit_test_prestate_setup_teardown(test_seccomp_fallback, setup, teardown, &v_threads))
