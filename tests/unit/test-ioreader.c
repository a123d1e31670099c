/* The in-order large-file reader, on each backend: chunks arrive in file
 * order and cover the range exactly, whatever order the reads complete in
 * (forced by feeding completions back to front), end of file in the middle
 * of or exactly at a chunk boundary, a range in the middle of a file, read
 * errors and cancellation. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "io/ioengine.h"
#include "io/ioreader.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
        char *dir;              /* first: an sk_test_fixture_new() fixture */
        sk_io_backend backend;
        int dfd;
        sk_io *io;
} fixture;

static sk_io_backend b_uring = SK_IO_URING, b_threads = SK_IO_THREADS;

static int setup(void **state) {
        sk_io_backend backend = *(sk_io_backend *) *state;
        fixture *f = sk_test_fixture_new(state, sizeof(*f), "sk-ioreader");
        f->backend = backend;
        print_message("backend: %s\n", sk_io_backend_name(f->backend));
        f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->dfd < 0)
                return -1;
        sk_io_options o = { .backend = f->backend, .queue_depth = 32, .threads = 4 };
        if (sk_io_new(&o, &f->io) < 0)
                f->io = NULL;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        sk_io_free(f->io);
        close(f->dfd);
        return sk_test_fixture_free(f);
}

static sk_io *engine(fixture *f) {
        if (!f->io) {
                print_message("SKIP %s backend unavailable here\n", sk_io_backend_name(f->backend));
                skip();
        }
        return f->io;
}

static uint8_t pat(uint64_t off) {
        return (uint8_t) (off * 13u + (off >> 12) * 7u + (off >> 20));
}

static int make_file(fixture *f, const char *name, size_t size) {
        uint8_t *buf = malloc(size ? size : 1);
        assert_non_null(buf);
        for (size_t i = 0; i < size; i++)
                buf[i] = pat(i);
        int fd = openat(f->dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(sk_write_all(fd, buf, size), 0);
        free(buf);
        return fd;
}

static void check_chunk(const uint8_t *p, uint64_t off, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i] != pat(off + i))
                        fail_msg("byte %llu: got %u want %u", (unsigned long long) (off + i), p[i], pat(off + i));
}

/* Read the whole range with step() and check order, coverage and content. */
static void read_all(sk_io_reader *r, uint64_t offset, uint64_t expect_len, size_t chunk) {
        uint64_t next = offset;
        const void *data;
        size_t len;
        uint64_t off;
        int q;
        while ((q = sk_io_reader_step(r, &data, &len, &off)) == SK_IO_READER_DATA) {
                assert_int_equal(off, next);
                assert_true(len > 0 && len <= chunk);
                if (off + len < offset + expect_len)
                        assert_int_equal(len, chunk); /* only the last may be short */
                check_chunk(data, off, len);
                next += len;
        }
        assert_int_equal(q, SK_IO_READER_FINISHED);
        assert_int_equal(next, offset + expect_len);
        assert_int_equal(sk_io_reader_inflight(r), 0);
        /* finished stays finished */
        assert_int_equal(sk_io_reader_next(r, &data, &len, &off), SK_IO_READER_FINISHED);
}

static void test_in_order(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f);
        const size_t size = 8u * 1024 * 1024 + 12345;
        int fd = make_file(f, "big", size);
        sk_io_reader_options o = { .chunk_size = 1024 * 1024, .depth = 4 };
        sk_io_reader *r = NULL;
        assert_int_equal(sk_io_reader_new(io, fd, 0, UINT64_MAX, 77, &o, &r), 0);
        read_all(r, 0, size, o.chunk_size);
        sk_io_reader_free(r);

        /* a range in the middle, small odd chunks, deep queue */
        o = (sk_io_reader_options) { .chunk_size = 65536 + 4096, .depth = 16 };
        assert_int_equal(sk_io_reader_new(io, fd, 100000, 2u * 1024 * 1024 + 7, 78, &o, &r), 0);
        read_all(r, 100000, 2u * 1024 * 1024 + 7, o.chunk_size);
        sk_io_reader_free(r);
        assert_int_equal(sk_io_outstanding(io), 0);
        close(fd);
}

static void test_eof(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f);
        sk_io_reader_options o = { .chunk_size = 1024 * 1024, .depth = 4 };
        sk_io_reader *r = NULL;

        /* EOF exactly at a chunk boundary, length unknown */
        int fd = make_file(f, "three", 3u * 1024 * 1024);
        assert_int_equal(sk_io_reader_new(io, fd, 0, UINT64_MAX, 1, &o, &r), 0);
        read_all(r, 0, 3u * 1024 * 1024, o.chunk_size);
        sk_io_reader_free(r);
        close(fd);

        /* the file is shorter than the caller thought (it shrank) */
        fd = make_file(f, "short", 2u * 1024 * 1024 + 512 * 1024);
        assert_int_equal(sk_io_reader_new(io, fd, 0, 10u * 1024 * 1024, 2, &o, &r), 0);
        read_all(r, 0, 2u * 1024 * 1024 + 512 * 1024, o.chunk_size);
        sk_io_reader_free(r);

        /* empty range and empty file */
        assert_int_equal(sk_io_reader_new(io, fd, 0, 0, 3, &o, &r), 0);
        read_all(r, 0, 0, o.chunk_size);
        sk_io_reader_free(r);
        close(fd);
        fd = make_file(f, "empty", 0);
        assert_int_equal(sk_io_reader_new(io, fd, 0, UINT64_MAX, 4, &o, &r), 0);
        read_all(r, 0, 0, o.chunk_size);
        sk_io_reader_free(r);
        close(fd);
        assert_int_equal(sk_io_outstanding(io), 0);
}

/* Take what reader r has ready, in order from *next on (checked); true
 * once it is finished. */
static bool drain(sk_io_reader *r, uint64_t *next) {
        const void *data;
        size_t len;
        uint64_t off;
        int q;
        while ((q = sk_io_reader_next(r, &data, &len, &off)) != SK_IO_READER_WAIT) {
                if (q == SK_IO_READER_FINISHED)
                        return true;
                assert_int_equal(q, SK_IO_READER_DATA);
                assert_int_equal(off, *next);
                check_chunk(data, off, len);
                *next += len;
        }
        return false;
}

/* The caller owns the loop: two readers and unrelated ops share the engine,
 * and completions are fed back to front so the reader must reorder. */
static void test_shared_engine_reversed(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f);
        enum { CH = 256 * 1024, DEPTH = 4 };
        const size_t size = 11u * CH + 99;
        int fd = make_file(f, "shared", size);
        sk_io_reader_options o = { .chunk_size = CH, .depth = DEPTH };
        sk_io_reader *ra = NULL, *rb = NULL;
        assert_int_equal(sk_io_reader_new(io, fd, 0, UINT64_MAX, 0xA, &o, &ra), 0);
        assert_int_equal(sk_io_reader_new(io, fd, 5u * CH, UINT64_MAX, 0xB, &o, &rb), 0);
        uint64_t next_a = 0, next_b = 5u * CH;
        bool done_a = false, done_b = false;
        unsigned other = 0, reversed_batches = 0;
        struct statx stx;

        while (!done_a || !done_b) {
                done_a = done_a || drain(ra, &next_a);
                done_b = done_b || drain(rb, &next_b);
                if (done_a && done_b)
                        break;
                assert_int_equal(sk_io_statx(io, 0xC, f->dfd, "shared", 0, STATX_SIZE, &stx), 0);
                /* wait for everything outstanding, then feed back to front */
                sk_io_completion c[64];
                size_t want = sk_io_outstanding(io), got = 0;
                while (got < want) {
                        int n = sk_io_reap(io, c + got, ARRAY_SIZE(c) - got, want - got);
                        assert_true(n > 0);
                        got += (size_t) n;
                }
                if (got > 2)
                        reversed_batches++;
                for (size_t i = got; i-- > 0;) {
                        switch (c[i].user_data) {
                        case 0xA:
                                assert_int_equal(sk_io_reader_complete(ra, &c[i]), 0);
                                break;
                        case 0xB:
                                assert_int_equal(sk_io_reader_complete(rb, &c[i]), 0);
                                break;
                        case 0xC:
                                assert_int_equal(c[i].res, 0);
                                assert_int_equal(stx.stx_size, size);
                                other++;
                                break;
                        default:
                                fail_msg("unexpected tag %llu", (unsigned long long) c[i].user_data);
                        }
                }
        }
        assert_int_equal(next_a, size);
        assert_int_equal(next_b, size);
        assert_true(other > 0);
        assert_true(reversed_batches > 0);
        /* a completion that is not the reader's is refused */
        sk_io_completion foreign = { .user_data = 0xA, .op = SK_IO_OP_READ, .offset = 0 };
        assert_int_equal(sk_io_reader_complete(ra, &foreign), -EINVAL);
        sk_io_reader_free(ra);
        sk_io_reader_free(rb);
        close(fd);
}

static void test_error_and_cancel(void **state) {
        fixture *f = *state;
        sk_io *io = engine(f);
        sk_io_reader_options o = { .chunk_size = 64 * 1024, .depth = 4 };
        sk_io_reader *r = NULL;
        const void *data;
        size_t len;
        uint64_t off;

        int fd = make_file(f, "data", 1024 * 1024);
        close(fd);
        /* write-only fd: every read fails with EBADF, reported in order and sticky */
        int wfd = openat(f->dfd, "data", O_WRONLY | O_CLOEXEC);
        assert_true(wfd >= 0);
        assert_int_equal(sk_io_reader_new(io, wfd, 0, UINT64_MAX, 5, &o, &r), 0);
        assert_int_equal(sk_io_reader_step(r, &data, &len, &off), -EBADF);
        assert_int_equal(sk_io_reader_next(r, &data, &len, &off), -EBADF);
        sk_io_reader_free(r); /* drains the reads still in flight */
        assert_int_equal(sk_io_outstanding(io), 0);
        close(wfd);

        /* cancel after the first chunk: next() reports -ECANCELED */
        fd = openat(f->dfd, "data", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(sk_io_reader_new(io, fd, 0, UINT64_MAX, 6, &o, &r), 0);
        assert_int_equal(sk_io_reader_step(r, &data, &len, &off), SK_IO_READER_DATA);
        assert_int_equal(off, 0);
        check_chunk(data, 0, len);
        assert_true(sk_io_reader_cancel(r) >= 0);
        assert_int_equal(sk_io_reader_step(r, &data, &len, &off), -ECANCELED);
        sk_io_reader_free(r);
        assert_int_equal(sk_io_outstanding(io), 0);
        close(fd);

        assert_int_equal(sk_io_reader_new(io, -1, 0, 1, 7, &o, &r), -EINVAL);
}

#define PER_BACKEND(t) \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &b_uring), \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &b_threads)

SK_TEST_MAIN(PER_BACKEND(test_in_order), PER_BACKEND(test_eof), PER_BACKEND(test_shared_engine_reversed),
             PER_BACKEND(test_error_and_cancel))
