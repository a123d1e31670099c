/* The small-file read-ahead of a backup run (see the section comment
 * below and backup.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "backup/backup-internal.h"
#include "common/macro.h"

/* ---- read-ahead of small files --------------------------------------------------
 *
 * A directory's small files are opened and read whole through a second
 * engine (c->pf_io) ahead of the walker: up to PF_FILES opens and reads in
 * flight across the tree, PF_BYTES of data held at most. Cold, that keeps
 * the device busy with many requests instead of one file at a time; io_uring
 * does it from one thread, the thread backend with its pool. The walker then
 * takes each file's fd and data in directory order. The data is used only
 * when the file's fstat after the read still equals the stat taken before
 * the open (size, mtime, ctime), so a file that changed in between is read
 * again the ordinary way; any read-ahead error also falls back to that way,
 * which reports it. Each completion's user_data is its slot's address. */

static int pf_dispatch(bctx *c, const sk_io_completion *cq) {
        pf_slot *s = (pf_slot *) (uintptr_t) cq->user_data;
        switch (cq->op) {
        case SK_IO_OP_OPENAT:
                if (cq->res < 0) {
                        s->err = (int) cq->res;
                        s->state = PF_DONE;
                        break;
                }
                s->fd = (int) cq->res;
                /* Opened O_NONBLOCK (a FIFO swapped in since the stat must not
                 * block the engine): make sure it is still a regular file, and
                 * make reads blocking again (io_uring fails a read of an
                 * O_NONBLOCK file with EAGAIN instead of waiting for it). */
                int r = sk_backup_open_regular(s->fd);
                if (r >= 0)
                        r = sk_io_read(c->pf_io, cq->user_data, s->fd, s->buf, s->size, 0);
                if (r < 0) {
                        s->err = r;
                        s->state = PF_DONE;
                } else
                        s->state = PF_READING;
                break;
        case SK_IO_OP_READ:
                if (cq->res < 0)
                        s->err = (int) cq->res;
                else
                        s->len = (size_t) cq->res;
                s->state = PF_DONE;
                break;
        default:
                return -EPROTO; /* never submitted on this engine */
        }
        return 0;
}

static int pf_wait(bctx *c, pf_slot *s) {
        while (s->state != PF_DONE) {
                sk_io_completion cq[16];
                int n = sk_io_reap(c->pf_io, cq, ARRAY_SIZE(cq), 1);
                if (n < 0)
                        return n;
                if (n == 0)
                        return -EPROTO;
                for (int i = 0; i < n; i++) {
                        int r = pf_dispatch(c, &cq[i]);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Give back a slot the walker is done with (fd, if still held, is closed). */
static void pf_release(bctx *c, pf_slot *s) {
        if (s->fd >= 0)
                close(s->fd);
        free(s->buf);
        c->pf_bytes -= s->size;
        c->pf_files--;
        *s = (pf_slot) { .fd = -1 };
}

static bool pf_candidate(bctx *c, const struct stat *st, const sk_node *pnode) {
        return S_ISREG(st->st_mode) && st->st_size > 0 && (uint64_t) st->st_size <= PF_MAX_FILE &&
               (uint64_t) st->st_blocks * 512 >= (uint64_t) st->st_size && st->st_nlink == 1 &&
               !sk_backup_unchanged(c, pnode, st);
}

void sk_readahead_top_up(bctx *c, wframe *f, size_t cur) {
        pf_dir *d = f->pf;
        /* Entries the walker reached while the budget was spent are read by
         * the walker itself: reading them ahead now would be wasted. */
        size_t i = MAX(f->pf_next, cur);
        for (; i < f->n_names && c->pf_files < PF_FILES && (!d || d->count < PF_FILES); i++) {
                if (f->errs[i] || !pf_candidate(c, &f->sts[i], f->pdir ? sk_dir_find(f->pdir, f->names[i]) : NULL))
                        continue;
                size_t size = (size_t) f->sts[i].st_size;
                if (c->pf_bytes + size > PF_BYTES)
                        break;
                /* Allocated on the first candidate: a directory without small
                 * files (every level of a deep chain) costs nothing here. */
                if (!d && !(d = f->pf = calloc(1, sizeof(*d))))
                        break;
                pf_slot *s = &d->ring[(d->head + d->count) % PF_FILES];
                *s = (pf_slot) { .entry = i, .fd = -1, .size = size, .state = PF_OPENING };
                s->buf = malloc(size);
                if (!s->buf)
                        break; /* read-ahead is optional: the walker reads it itself */
                if (sk_io_openat(c->pf_io, (uint64_t) (uintptr_t) s, f->fd, f->names[i], OPEN_FILE_FLAGS | O_NOATIME,
                                 0) < 0) {
                        free(s->buf);
                        s->buf = NULL;
                        break;
                }
                c->pf_bytes += size;
                c->pf_files++;
                d->count++;
        }
        f->pf_next = i;
        if (d)
                (void) sk_io_submit(c->pf_io);
}

pf_slot *sk_readahead_take(bctx *c, pf_dir *d, size_t i) {
        if (!d || d->count == 0 || d->ring[d->head].entry != i)
                return NULL;
        pf_slot *s = &d->ring[d->head];
        if (pf_wait(c, s) < 0) {
                s->err = -EIO;
                return s;
        }
        return s;
}

void sk_readahead_pop(bctx *c, pf_dir *d) {
        pf_release(c, &d->ring[d->head]);
        d->head = (d->head + 1) % PF_FILES;
        d->count--;
}

void sk_readahead_finish(bctx *c, pf_dir *d) {
        while (d && d->count > 0) {
                pf_slot *s = &d->ring[d->head];
                if (pf_wait(c, s) < 0) {
                        /* The engine broke: cancel, and leak rather than free a buffer in flight. */
                        (void) sk_io_cancel_all(c->pf_io);
                        return;
                }
                sk_readahead_pop(c, d);
        }
}
