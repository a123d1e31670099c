/* An in-order reader of one large file over the I/O engine.
 *
 * DESIGN: the reader keeps `depth` chunk reads in flight on an sk_io and
 * hands the chunks to the caller strictly in file order, whatever order the
 * reads complete in. It never reaps by itself, so one engine can serve many
 * readers and other work at once: the caller's loop reaps, gives every
 * completion whose user_data is the reader's tag to sk_io_reader_complete(),
 * and calls sk_io_reader_next() until it returns SK_IO_READER_FINISHED.
 * sk_io_reader_step() wraps that loop for an engine the reader has alone.
 *
 * Ordering guarantee: successive SK_IO_READER_DATA results cover
 * [offset, offset + length) contiguously, in increasing offset order, each
 * chunk chunk_size bytes except the last; if the file is shorter than
 * asked, the data simply ends at end of file (the last chunk is short and
 * nothing follows it). A read error is returned by the next() call that
 * would have delivered that chunk, never before earlier chunks.
 *
 * Memory: depth + 1 buffers of chunk_size (one may be held by the caller). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "io/ioengine.h"

typedef struct sk_io_reader sk_io_reader;

typedef struct sk_io_reader_options {
        size_t chunk_size;      /* 0 = 1 MiB */
        unsigned depth;         /* reads in flight; 0 = 4 */
} sk_io_reader_options;

enum {
        SK_IO_READER_FINISHED = 0,      /* everything delivered, no read in flight */
        SK_IO_READER_DATA = 1,          /* a chunk was delivered */
        SK_IO_READER_WAIT = 2,          /* the next chunk is in flight: reap and feed */
};

/* Read [offset, offset + length) of fd (length UINT64_MAX: to end of
 * file). Every read carries user_data tag. fd is borrowed and must stay open
 * until the reader is freed. opts may be NULL. *ret owned:
 * sk_io_reader_free(). -EINVAL, -ENOMEM. */
int sk_io_reader_new(sk_io *io, int fd, uint64_t offset, uint64_t length, uint64_t tag,
                     const sk_io_reader_options *opts, sk_io_reader **ret);

/* Give the reader one of its completions (user_data == its tag). -EINVAL if
 * the completion is not one of its reads. */
int sk_io_reader_complete(sk_io_reader *r, const sk_io_completion *c);

/* Returns SK_IO_READER_DATA with *ret_data (borrowed until the next call to
 * next/step/free), *ret_len > 0 and *ret_offset set; SK_IO_READER_WAIT when
 * the next chunk has not completed; SK_IO_READER_FINISHED at the end; or the
 * -errno of the chunk's read (sticky: later calls return it again). Also
 * submits new reads as buffers free up; an engine that is full (-EAGAIN) is
 * retried on the next call. */
int sk_io_reader_next(sk_io_reader *r, const void **ret_data, size_t *ret_len, uint64_t *ret_offset);

/* For an engine the reader has alone: next(), reaping and feeding while it
 * says WAIT. Never returns SK_IO_READER_WAIT. A completion with another tag
 * is -EPROTO (it would be lost). */
int sk_io_reader_step(sk_io_reader *r, const void **ret_data, size_t *ret_len, uint64_t *ret_offset);

/* Reads submitted and not yet fed back. */
unsigned sk_io_reader_inflight(const sk_io_reader *r);

/* Ask the engine to cancel the reader's reads; next() then returns
 * -ECANCELED. Their completions must still be fed back (or, with step(),
 * are drained by sk_io_reader_free()). */
int sk_io_reader_cancel(sk_io_reader *r);

/* Frees the reader. If reads are still in flight, cancels them and reaps
 * until they are back, which is only safe when the engine serves this reader
 * alone; a shared engine's caller must drain first (inflight == 0). Accepts
 * NULL. */
void sk_io_reader_free(sk_io_reader *r);
