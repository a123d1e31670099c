/* ioprobe: measure the I/O engine's backends on small files and one big file.
 *
 *   ioprobe mksmall DIR N           create N files f00000.. of 1..16 KiB
 *   ioprobe mkbig FILE MIB          create one file of MIB MiB
 *   ioprobe small DIR N [opts]      statx+open+read+close every file
 *   ioprobe stat DIR N [opts]       statx every file (a no-change backup's metadata pass)
 *   ioprobe big FILE [opts]         read the file in order (4 x 1 MiB in flight)
 *   opts: --io=uring|threads|sync   (sync: plain syscalls, one thread)
 *         --cold                    drop the page cache first (root)
 *         --fixed                   registered buffers (big only)
 *         --verify                  checksum every byte of the big file
 *                                   (default: 64 bytes per chunk)
 *         --depth=N --chunk=KIB
 *
 * Prints one "result" line: backend, files or bytes, seconds, rate, and a
 * checksum of the content so runs can be compared. Test-only tool: it
 * prints, the library does not. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "io/ioengine.h"
#include "io/ioreader.h"

typedef struct opts {
        const char *io;
        bool cold, fixed, verify;
        unsigned depth;
        size_t chunk;
} opts;

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t mix(uint64_t h, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ull;
        return h;
}

static int drop_caches(void) {
        sync();
        int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "3\n", 2) != 2) {
                fprintf(stderr, "ioprobe: cannot drop caches: %s\n", strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

static int new_engine(const opts *o, sk_io **ret) {
        sk_io_backend b;
        if (sk_io_backend_from_string(o->io, &b) < 0) {
                fprintf(stderr, "ioprobe: bad --io=%s\n", o->io);
                return -EINVAL;
        }
        sk_io_options eo = { .backend = b, .queue_depth = o->depth, .threads = 4,
                             .register_buffers = o->fixed, .buffer_count = 5, .buffer_size = o->chunk };
        int r = sk_io_new(&eo, ret);
        if (r < 0)
                fprintf(stderr, "ioprobe: engine: %s\n", strerror(-r));
        else
                fprintf(stderr, "ioprobe: %s%s\n", sk_io_reason(*ret),
                        sk_io_buffers_registered(*ret) ? " (registered buffers)" : "");
        return r;
}

/* reap waits for at least one completion and puts their count into *k; the
 * first failed operation among them fails the probe (returned as -errno,
 * and named on stderr). */
static int reap(sk_io *io, sk_io_completion *c, size_t n, int *k) {
        *k = sk_io_reap(io, c, n, 1);
        if (*k < 0)
                return *k;
        for (int j = 0; j < *k; j++)
                if (c[j].res < 0) {
                        fprintf(stderr, "ioprobe: file %llu op %d: %s\n",
                                (unsigned long long) c[j].user_data, c[j].op, strerror((int) -c[j].res));
                        return (int) c[j].res;
                }
        return 0;
}

/* ---- small files --------------------------------------------------------- */

enum { SMALL_BUF = 65536 };

typedef struct sfile {
        struct statx stx;
        int fd;
        int buf;                /* buffer slot while in flight */
        bool stat_done, open_done;
} sfile;

/* statx of file i of a mksmall directory, its name left in name: as
 * statx(2), -1 and errno on failure. */
static int statx_nth(int dfd, unsigned i, char *name, size_t size, struct statx *stx) {
        snprintf(name, size, "f%05u", i);
        return statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, stx);
}

static int small_sync(int dfd, unsigned n, uint64_t *h) {
        uint8_t buf[SMALL_BUF];
        char name[32];
        for (unsigned i = 0; i < n; i++) {
                struct statx stx;
                if (statx_nth(dfd, i, name, sizeof(name), &stx) < 0)
                        return -errno;
                int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOATIME);
                if (fd < 0)
                        return -errno;
                ssize_t k = sk_pread_all(fd, buf, sizeof(buf), 0);
                close(fd);
                if (k < 0)
                        return (int) k;
                uint64_t one = mix(0, buf, (size_t) k);
                *h = mix(*h, (const uint8_t *) &one, 8);
        }
        return 0;
}

/* Streaming pipeline: up to depth/2 files in flight, each going statx+open
 * (together) -> read -> close. Tags are file numbers; the op says which step. */
static int small_engine(sk_io *io, int dfd, unsigned n, uint64_t *h) {
        unsigned active_max = sk_io_queue_depth(io) / 2, active = 0, next = 0, done = 0;
        sfile *f = calloc(n, sizeof(*f));
        uint8_t *bufs = malloc((size_t) active_max * SMALL_BUF);
        int *free_bufs = malloc(active_max * sizeof(int));
        uint64_t *sums = calloc(n, sizeof(uint64_t));
        unsigned n_free = active_max;
        sk_io_completion c[64];
        char name[32];
        int r = 0;
        if (!f || !bufs || !free_bufs || !sums)
                return -ENOMEM;
        for (unsigned i = 0; i < active_max; i++)
                free_bufs[i] = (int) i;
        while (done < n) {
                while (next < n && active < active_max && sk_io_outstanding(io) + 2 <= sk_io_queue_depth(io)) {
                        snprintf(name, sizeof(name), "f%05u", next);
                        f[next].buf = free_bufs[--n_free];
                        if ((r = sk_io_statx(io, next, dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS,
                                             &f[next].stx)) < 0 ||
                            (r = sk_io_openat(io, next, dfd, name, O_RDONLY | O_CLOEXEC | O_NOATIME, 0)) < 0)
                                goto out;
                        active++;
                        next++;
                }
                int k;
                if ((r = reap(io, c, ARRAY_SIZE(c), &k)) < 0)
                        goto out;
                for (int j = 0; j < k; j++) {
                        sfile *s = &f[c[j].user_data];
                        switch (c[j].op) {
                        case SK_IO_OP_STATX:
                        case SK_IO_OP_OPENAT:
                                if (c[j].op == SK_IO_OP_STATX)
                                        s->stat_done = true;
                                else {
                                        s->open_done = true;
                                        s->fd = (int) c[j].res;
                                }
                                if (s->stat_done && s->open_done) {
                                        size_t len = MIN((size_t) s->stx.stx_size, (size_t) SMALL_BUF);
                                        r = sk_io_read(io, c[j].user_data, s->fd,
                                                       bufs + (size_t) s->buf * SMALL_BUF, len ? len : 1, 0);
                                        if (r < 0)
                                                goto out;
                                }
                                break;
                        case SK_IO_OP_READ:
                                sums[c[j].user_data] = mix(0, c[j].buf, (size_t) c[j].res);
                                free_bufs[n_free++] = s->buf;
                                r = sk_io_close(io, c[j].user_data, s->fd);
                                if (r < 0)
                                        goto out;
                                break;
                        case SK_IO_OP_CLOSE:
                                active--;
                                done++;
                                break;
                        default:
                                fprintf(stderr, "ioprobe: unexpected op %d\n", c[j].op);
                                r = -EPROTO;
                                goto out;
                        }
                }
        }
        for (unsigned i = 0; i < n; i++)
                *h = mix(*h, (const uint8_t *) &sums[i], 8);
out:
        free(f);
        free(bufs);
        free(free_bufs);
        free(sums);
        return r;
}

static int stat_sync(int dfd, unsigned n, uint64_t *h) {
        char name[32];
        for (unsigned i = 0; i < n; i++) {
                struct statx stx;
                if (statx_nth(dfd, i, name, sizeof(name), &stx) < 0)
                        return -errno;
                *h = mix(*h, (const uint8_t *) &stx.stx_size, 8);
        }
        return 0;
}

/* statx only, keeping the engine full. */
static int stat_engine(sk_io *io, int dfd, unsigned n, uint64_t *h) {
        struct statx *stx = calloc(n, sizeof(*stx));
        unsigned next = 0, done = 0;
        sk_io_completion c[64];
        char name[32];
        int r = 0;
        if (!stx)
                return -ENOMEM;
        while (done < n) {
                while (next < n) {
                        snprintf(name, sizeof(name), "f%05u", next);
                        r = sk_io_statx(io, next, dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx[next]);
                        if (r == -EAGAIN)
                                break;
                        if (r < 0)
                                goto out;
                        next++;
                }
                int k;
                if ((r = reap(io, c, ARRAY_SIZE(c), &k)) < 0)
                        goto out;
                done += (unsigned) k;
        }
        for (unsigned i = 0; i < n; i++)
                *h = mix(*h, (const uint8_t *) &stx[i].stx_size, 8);
        r = 0;
out:
        free(stx);
        return r;
}

/* ---- big file ------------------------------------------------------------------ */

static int big_engine(sk_io *io, int fd, const opts *o, uint64_t *bytes, uint64_t *h) {
        sk_io_reader *rd = NULL;
        sk_io_reader_options ro = { .chunk_size = o->chunk, .depth = 4 };
        int r = sk_io_reader_new(io, fd, 0, UINT64_MAX, 1, &ro, &rd);
        if (r < 0)
                return r;
        const void *data;
        size_t len;
        uint64_t off;
        while ((r = sk_io_reader_step(rd, &data, &len, &off)) == SK_IO_READER_DATA) {
                /* without --verify only sample, to keep hashing out of the figure */
                *h = mix(*h, data, o->verify ? len : MIN(len, (size_t) 64));
                *bytes += len;
        }
        sk_io_reader_free(rd);
        return r;
}

static int big_sync(int fd, const opts *o, uint64_t *bytes, uint64_t *h) {
        uint8_t *buf = malloc(o->chunk);
        if (!buf)
                return -ENOMEM;
        uint64_t off = 0;
        for (;;) {
                ssize_t k = sk_pread_all(fd, buf, o->chunk, (off_t) off);
                if (k < 0) {
                        free(buf);
                        return (int) k;
                }
                if (k == 0)
                        break;
                *h = mix(*h, buf, o->verify ? (size_t) k : MIN((size_t) k, (size_t) 64));
                off += (uint64_t) k;
        }
        *bytes = off;
        free(buf);
        return 0;
}

/* ---- main ------------------------------------------------------------------------ */

static int mkfiles(const char *dir, unsigned n) {
        if (sk_mkdir_p(dir, 0755) < 0)
                return 1;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return 1;
        uint8_t buf[16384];
        char name[32];
        for (unsigned i = 0; i < n; i++) {
                size_t len = 1024 + (i * 2654435761u) % 15360;
                for (size_t j = 0; j < len; j++)
                        buf[j] = (uint8_t) (i + j * 7);
                snprintf(name, sizeof(name), "f%05u", i);
                if (sk_write_file_atomic(dfd, name, buf, len, 0644) < 0)
                        return 1;
        }
        close(dfd);
        return 0;
}

static int mkbig(const char *path, unsigned mib) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return 1;
        uint8_t *buf = malloc(1 << 20);
        if (!buf)
                return 1;
        for (unsigned m = 0; m < mib; m++) {
                for (size_t j = 0; j < (1u << 20); j++)
                        buf[j] = (uint8_t) (m * 31 + j * 13 + (j >> 10));
                if (sk_write_all(fd, buf, 1 << 20) < 0)
                        return 1;
        }
        free(buf);
        return fsync(fd) < 0 || close(fd) < 0;
}

int main(int argc, char **argv) {
        opts o = { .io = "auto", .depth = 64, .chunk = 1024 * 1024 };
        if (argc < 3) {
                fprintf(stderr, "usage: ioprobe mksmall|mkbig|small|stat|big PATH [N|MIB] [opts]\n");
                return 2;
        }
        for (int i = 3; i < argc; i++) {
                if (strncmp(argv[i], "--io=", 5) == 0)
                        o.io = argv[i] + 5;
                else if (strcmp(argv[i], "--cold") == 0)
                        o.cold = true;
                else if (strcmp(argv[i], "--fixed") == 0)
                        o.fixed = true;
                else if (strcmp(argv[i], "--verify") == 0)
                        o.verify = true;
                else if (strncmp(argv[i], "--depth=", 8) == 0)
                        o.depth = (unsigned) atoi(argv[i] + 8);
                else if (strncmp(argv[i], "--chunk=", 8) == 0)
                        o.chunk = (size_t) atoi(argv[i] + 8) * 1024;
        }
        if (strcmp(argv[1], "mksmall") == 0)
                return argc > 3 ? mkfiles(argv[2], (unsigned) atoi(argv[3])) : 2;
        if (strcmp(argv[1], "mkbig") == 0)
                return argc > 3 ? mkbig(argv[2], (unsigned) atoi(argv[3])) : 2;

        bool sync_mode = strcmp(o.io, "sync") == 0;
        sk_io *io = NULL;
        if (!sync_mode && new_engine(&o, &io) < 0)
                return 1;
        if (o.cold && drop_caches() < 0)
                return 77;
        uint64_t h = 0xcbf29ce484222325ull, bytes = 0;
        unsigned n = 0;
        int r;
        double t0 = now();
        bool stat_only = strcmp(argv[1], "stat") == 0;
        if ((stat_only || strcmp(argv[1], "small") == 0) && argc > 3) {
                n = (unsigned) atoi(argv[3]);
                int dfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return 1;
                if (stat_only)
                        r = sync_mode ? stat_sync(dfd, n, &h) : stat_engine(io, dfd, n, &h);
                else
                        r = sync_mode ? small_sync(dfd, n, &h) : small_engine(io, dfd, n, &h);
                close(dfd);
        } else if (strcmp(argv[1], "big") == 0) {
                int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return 1;
                r = sync_mode ? big_sync(fd, &o, &bytes, &h) : big_engine(io, fd, &o, &bytes, &h);
                close(fd);
        } else
                return 2;
        double dt = now() - t0;
        sk_io_free(io);
        if (r < 0) {
                fprintf(stderr, "ioprobe: %s\n", strerror(-r));
                return 1;
        }
        if (n)
                printf("result %s %s %s files=%u seconds=%.4f files/s=%.0f sum=%016llx\n", o.io, argv[1],
                       o.cold ? "cold" : "warm", n, dt, n / dt, (unsigned long long) h);
        else
                printf("result %s big %s%s bytes=%llu seconds=%.3f MiB/s=%.1f sum=%016llx\n", o.io,
                       o.cold ? "cold" : "warm", o.fixed ? " fixed" : "", (unsigned long long) bytes, dt,
                       (double) bytes / dt / 1048576.0, (unsigned long long) h);
        return 0;
}
