/* In-order large-file reader (see ioreader.h).
 *
 * DESIGN: chunk k of the range lives in buffer k % n_bufs, so a buffer is
 * reused only once the chunk before it in that buffer was delivered and
 * released; that makes in-order delivery a matter of looking at one buffer.
 * A completion is matched to its chunk by its offset. */
#include "io/ioreader.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"

#define DEFAULT_CHUNK (1024u * 1024)
#define DEFAULT_DEPTH 4u

enum buf_state { BUF_FREE, BUF_INFLIGHT, BUF_READY, BUF_HELD };

typedef struct rbuf {
        enum buf_state state;
        uint64_t chunk;         /* chunk index it holds */
        int64_t res;            /* bytes or -errno */
        uint8_t *data;
} rbuf;

struct sk_io_reader {
        sk_io *io;
        int fd;
        uint64_t offset, length, tag;
        size_t chunk_size;
        unsigned n_bufs, inflight;
        rbuf *bufs;
        uint64_t next_submit;   /* next chunk to submit */
        uint64_t next_deliver;  /* next chunk to hand out */
        uint64_t n_chunks;      /* UINT64_MAX while the end is unknown */
        int error;              /* sticky */
};

int sk_io_reader_new(sk_io *io, int fd, uint64_t offset, uint64_t length, uint64_t tag,
                     const sk_io_reader_options *opts, sk_io_reader **ret) {
        sk_io_reader_options o = opts ? *opts : (sk_io_reader_options) { 0 };
        if (!io || fd < 0 || !ret || offset > INT64_MAX)
                return -EINVAL;
        if (o.chunk_size == 0)
                o.chunk_size = DEFAULT_CHUNK;
        if (o.depth == 0)
                o.depth = DEFAULT_DEPTH;
        if (o.depth > 1024 || o.chunk_size > (1u << 30))
                return -EINVAL;
        if (length == UINT64_MAX || length > (uint64_t) INT64_MAX - offset)
                length = (uint64_t) INT64_MAX - offset;

        sk_io_reader *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (sk_io_reader) {
                .io = io, .fd = fd, .offset = offset, .length = length, .tag = tag,
                .chunk_size = o.chunk_size, .n_bufs = o.depth + 1,
                .n_chunks = (length + o.chunk_size - 1) / o.chunk_size,
        };
        r->bufs = calloc(r->n_bufs, sizeof(*r->bufs));
        if (!r->bufs) {
                free(r);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < r->n_bufs; i++) {
                void *p = NULL;
                if (posix_memalign(&p, 4096, r->chunk_size) != 0) {
                        sk_io_reader_free(r);
                        return -ENOMEM;
                }
                r->bufs[i].data = p;
        }
        *ret = r;
        return 0;
}

static uint64_t chunk_len(const sk_io_reader *r, uint64_t k) {
        uint64_t start = k * r->chunk_size;
        return MIN((uint64_t) r->chunk_size, r->length - start);
}

/* Submit reads into free buffers, keeping at most depth in flight. */
static int pump(sk_io_reader *r) {
        while (r->error == 0 && r->next_submit < r->n_chunks && r->inflight < r->n_bufs - 1) {
                rbuf *b = &r->bufs[r->next_submit % r->n_bufs];
                if (b->state != BUF_FREE)
                        break;
                uint64_t k = r->next_submit;
                int q = sk_io_read(r->io, r->tag, r->fd, b->data, (size_t) chunk_len(r, k),
                                   r->offset + k * r->chunk_size);
                if (q == -EAGAIN)
                        break; /* engine full: next call tries again */
                if (q < 0)
                        return q;
                b->state = BUF_INFLIGHT;
                b->chunk = k;
                r->inflight++;
                r->next_submit++;
        }
        return 0;
}

int sk_io_reader_complete(sk_io_reader *r, const sk_io_completion *c) {
        if (!r || !c || c->user_data != r->tag || c->op != SK_IO_OP_READ || c->offset < r->offset)
                return -EINVAL;
        uint64_t k = (c->offset - r->offset) / r->chunk_size;
        rbuf *b = &r->bufs[k % r->n_bufs];
        if (b->state != BUF_INFLIGHT || b->chunk != k || c->buf != b->data)
                return -EINVAL;
        b->state = BUF_READY;
        b->res = c->res;
        r->inflight--;
        /* A short chunk is the end of the file: nothing after it exists. */
        if (c->res >= 0 && (uint64_t) c->res < chunk_len(r, k) && k + 1 < r->n_chunks)
                r->n_chunks = k + 1;
        return 0;
}

/* Drop chunks that were read past a newly found end of file. */
static void drop_beyond_end(sk_io_reader *r) {
        for (unsigned i = 0; i < r->n_bufs; i++)
                if (r->bufs[i].state == BUF_READY && r->bufs[i].chunk >= r->n_chunks)
                        r->bufs[i].state = BUF_FREE;
}

int sk_io_reader_next(sk_io_reader *r, const void **ret_data, size_t *ret_len, uint64_t *ret_offset) {
        if (!r || !ret_data || !ret_len || !ret_offset)
                return -EINVAL;
        for (unsigned i = 0; i < r->n_bufs; i++)
                if (r->bufs[i].state == BUF_HELD)
                        r->bufs[i].state = BUF_FREE;
        drop_beyond_end(r);
        if (r->error)
                return r->error;
        int q = pump(r);
        if (q < 0)
                return (r->error = q);

        if (r->next_deliver >= r->n_chunks)
                return r->inflight > 0 ? SK_IO_READER_WAIT : SK_IO_READER_FINISHED;
        rbuf *b = &r->bufs[r->next_deliver % r->n_bufs];
        if (b->state != BUF_READY || b->chunk != r->next_deliver)
                return SK_IO_READER_WAIT;
        if (b->res < 0) {
                b->state = BUF_FREE;
                return (r->error = (int) b->res);
        }
        if (b->res == 0) {
                /* end of file exactly at a chunk boundary */
                b->state = BUF_FREE;
                r->n_chunks = r->next_deliver;
                drop_beyond_end(r);
                return r->inflight > 0 ? SK_IO_READER_WAIT : SK_IO_READER_FINISHED;
        }
        b->state = BUF_HELD;
        *ret_data = b->data;
        *ret_len = (size_t) b->res;
        *ret_offset = r->offset + r->next_deliver * r->chunk_size;
        r->next_deliver++;
        return SK_IO_READER_DATA;
}

static int feed(sk_io_reader *r, size_t wait_nr) {
        sk_io_completion c[16];
        int n = sk_io_reap(r->io, c, ARRAY_SIZE(c), wait_nr);
        if (n < 0)
                return n;
        int bad = 0;
        for (int i = 0; i < n; i++)
                if (sk_io_reader_complete(r, &c[i]) < 0) {
                        if (c[i].op == SK_IO_OP_OPENAT && c[i].res >= 0)
                                close((int) c[i].res);
                        bad = -EPROTO;
                }
        return bad;
}

int sk_io_reader_step(sk_io_reader *r, const void **ret_data, size_t *ret_len, uint64_t *ret_offset) {
        for (;;) {
                int q = sk_io_reader_next(r, ret_data, ret_len, ret_offset);
                if (q != SK_IO_READER_WAIT)
                        return q;
                q = feed(r, 1);
                if (q < 0)
                        return q;
        }
}

unsigned sk_io_reader_inflight(const sk_io_reader *r) {
        return r ? r->inflight : 0;
}

int sk_io_reader_cancel(sk_io_reader *r) {
        if (!r)
                return -EINVAL;
        if (r->error == 0)
                r->error = -ECANCELED;
        return sk_io_cancel(r->io, r->tag);
}

void sk_io_reader_free(sk_io_reader *r) {
        if (!r)
                return;
        if (r->inflight > 0) {
                (void) sk_io_cancel(r->io, r->tag);
                while (r->inflight > 0 && sk_io_outstanding(r->io) > 0)
                        if (feed(r, 1) < 0 && sk_io_outstanding(r->io) == 0)
                                break;
        }
        if (r->bufs)
                for (unsigned i = 0; i < r->n_bufs; i++)
                        free(r->bufs[i].data);
        free(r->bufs);
        free(r);
}
