/* The restore's worker pool: one file per job (see restore-pool.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/report.h"
#include "backup/fsmeta.h"
#include "backup/restore-pool.h"
#include "common/macro.h"
#include "repo/filehash.h"

/* ---- one file (runs in a worker) -------------------------------------------- */

static int open_target(int dirfd, const char *name, bool overwrite) {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST && overwrite) {
                if (unlinkat(dirfd, name, 0) < 0)
                        return negative_errno();
                fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        return fd < 0 ? negative_errno() : fd;
}

static void fetch_one(sk_repo *repo, sk_rfetch *f) {
        /* The reader names the type: a tree blob is never served as file
         * content (only the legacy cross-type copy of the same bytes is). */
        f->err = sk_repo_get_blob(repo, SK_BLOB_DATA, &f->id, &f->buf, &f->len);
        if (f->err < 0) {
                char hex[SK_BLOB_ID_HEX + 1];
                sk_hex(f->id.b, SK_BLOB_ID_SIZE, hex);
                f->detail = sk_engine_detail(repo, "blob %s", hex);
        }
}

static void pend_unlink(sk_rpool *p, sk_rfetch *f) {
        if (f->prev)
                f->prev->next = f->next;
        else
                p->pend_head = f->next;
        if (f->next)
                f->next->prev = f->prev;
        else
                p->pend_tail = f->prev;
        f->prev = f->next = NULL;
}

/* Queue a fetch for whichever worker gets to it first. wake: tell an idle
 * worker; not for the fetch the caller is about to wait for, which it then
 * makes itself (a file of one chunk, most small files, then costs no
 * hand-off to another thread and back). */
static void fetch_submit(sk_rpool *p, sk_rfetch *f, const uint8_t id[SK_TREE_ID_BYTES], bool wake) {
        memset(f, 0, sizeof(*f));
        memcpy(f->id.b, id, SK_TREE_ID_BYTES);
        pthread_mutex_lock(&p->mu);
        f->state = FETCH_PENDING;
        f->prev = p->pend_tail;
        if (p->pend_tail)
                p->pend_tail->next = f;
        else
                p->pend_head = f;
        p->pend_tail = f;
        f->owner_only = !wake;
        if (wake)
                pthread_cond_signal(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
}

/* Take pending f off the list and fetch it; called and returns with p->mu held. */
static void fetch_pending(sk_rpool *p, sk_rfetch *f) {
        pend_unlink(p, f);
        f->state = FETCH_TAKEN;
        pthread_mutex_unlock(&p->mu);
        fetch_one(p->repo, f);
        pthread_mutex_lock(&p->mu);
        f->state = FETCH_DONE;
}

/* The first pending fetch another worker may take: not one its owner is
 * about to make itself (other workers would take that one first, the list
 * being in order, and leave the owner waiting for it). Called with p->mu
 * held; the list holds at most FETCH_WINDOW per worker. */
static sk_rfetch *helper_fetch(sk_rpool *p) {
        for (sk_rfetch *f = p->pend_head; f; f = f->next)
                if (!f->owner_only)
                        return f;
        return NULL;
}

/* Wait for f (fetching it ourselves if nobody has started). */
static void fetch_wait(sk_rpool *p, sk_rfetch *f) {
        pthread_mutex_lock(&p->mu);
        if (f->state == FETCH_PENDING)
                fetch_pending(p, f);
        while (f->state != FETCH_DONE)
                pthread_cond_wait(&p->cv_fetch, &p->mu);
        pthread_mutex_unlock(&p->mu);
}

static void fetch_release(sk_rfetch *f) {
        free(f->buf);
        free(f->detail);
        memset(f, 0, sizeof(*f));
}

/* Reap write completions until `until` is no longer being written (NULL:
 * until no write is in flight). The first write error goes to *werr. A
 * completion's user_data is its chunk's index in the file. */
static int wait_writes(sk_io *io, sk_rfetch *win, sk_rfetch *until, int *werr) {
        while (until ? until->writing : sk_io_outstanding(io) > 0) {
                sk_io_completion cq[FETCH_WINDOW];
                int n = sk_io_reap(io, cq, ARRAY_SIZE(cq), 1);
                if (n < 0)
                        return n;
                if (n == 0)
                        return -EPROTO;
                for (int i = 0; i < n; i++) {
                        sk_rfetch *f = &win[cq[i].user_data % FETCH_WINDOW];
                        if (cq[i].op != SK_IO_OP_WRITE || !f->writing || cq[i].buf != f->buf)
                                return -EPROTO; /* a completion we never asked for */
                        if (cq[i].res < 0 && *werr == 0)
                                *werr = (int) cq[i].res;
                        fetch_release(f);
                }
        }
        return 0;
}

static void run_job(sk_rpool *p, sk_io *io, sk_rjob *j) {
        const sk_node *n = j->node;
        sk_filehash *fh = NULL;
        sk_rfetch win[FETCH_WINDOW];
        size_t next = 0, k = 0;
        int werr = 0;
        int fd = open_target(j->dirfd, n->name, j->overwrite);
        int r = 0;
        memset(win, 0, sizeof(win));
        if (fd < 0) {
                j->err = fd;
                if (asprintf(&j->detail, "cannot create file: %s", strerror(-fd)) < 0)
                        j->detail = NULL;
                return;
        }
        bool dense = n->size > 0 && n->n_extents == 1 && n->extents[0].offset == 0 && n->extents[0].length == n->size;
        /* A sparse file gets its size now: its holes are never written. A
         * dense one gets it from its fallocate, or else from its data, which
         * reaches its end. */
        if (n->size > 0 && !dense && ftruncate(fd, (off_t) n->size) < 0) {
                r = negative_errno();
                if (asprintf(&j->detail, "ftruncate: %s", strerror(-r)) < 0)
                        j->detail = NULL;
                goto fail;
        }
        /* A dense file gets its blocks up front: fewer extents, and a full
         * disk shows here, before any data is written. Sparse files are
         * not fallocated: that would fill their holes. This thread makes the
         * call itself: through the engine it went to a thread of the
         * engine's (io_uring runs every fallocate in a worker), one more
         * hand-off for every file. */
        if (dense) {
                /* interrupted (a signal, tmpfs): again, as the engines did */
                do
                        r = fallocate(fd, 0, 0, (off_t) n->size) < 0 ? negative_errno() : 0;
                while (r == -EINTR);
                if (r < 0 && r != -EOPNOTSUPP && r != -ENOSYS) {
                        if (asprintf(&j->detail, "fallocate: %s", strerror(-r)) < 0)
                                j->detail = NULL;
                        goto fail;
                }
                r = 0;
        }
        r = sk_filehash_new(sk_node_hash_rule(n), &fh);
        if (r < 0)
                goto fail;
        for (size_t e = 0; e < n->n_extents; e++) {
                const sk_extent *x = &n->extents[e];
                uint64_t off = x->offset;
                for (uint32_t c = 0; c < x->n_chunks; c++, k++) {
                        const sk_chunk_ref *cr = &n->chunks[k];
                        /* Keep the window full: chunks k .. k+WINDOW-1 requested,
                         * each slot's earlier write finished before it is reused. */
                        for (; next < n->n_chunks && next < k + FETCH_WINDOW; next++) {
                                sk_rfetch *s = &win[next % FETCH_WINDOW];
                                r = wait_writes(io, win, s, &werr);
                                if (r >= 0 && werr < 0)
                                        r = werr;
                                if (r < 0)
                                        goto write_fail;
                                fetch_submit(p, s, n->chunks[next].id, next != k);
                        }
                        sk_rfetch *f = &win[k % FETCH_WINDOW];
                        fetch_wait(p, f);
                        if (f->err < 0 || f->len != cr->len) {
                                sk_hex(cr->id, SK_TREE_ID_BYTES, j->blob);
                                if (f->err >= 0) {
                                        r = -EBADMSG;
                                        if (asprintf(&j->detail, "blob %s has length %zu, tree says %u", j->blob,
                                                     f->len, cr->len) < 0)
                                                j->detail = NULL;
                                } else {
                                        r = f->err;
                                        j->detail = TAKE_PTR(f->detail);
                                }
                                fetch_release(f);
                                k++;
                                goto fail;
                        }
                        /* The hash reads the buffer while the write is in flight: both only read it.
                         * Rule 2 hashes the id instead, which the read checked against these bytes. */
                        r = sk_filehash_update(fh, f->buf, f->len);
                        if (r >= 0)
                                r = sk_filehash_chunk(fh, f->id.b, (uint32_t) f->len);
                        if (r < 0) {
                                fetch_release(f);
                                k++;
                                goto fail;
                        }
                        r = sk_io_write(io, k, fd, f->buf, f->len, off);
                        if (r == -EAGAIN) { /* engine full: let the earlier writes finish */
                                r = wait_writes(io, win, NULL, &werr);
                                if (r >= 0)
                                        r = sk_io_write(io, k, fd, f->buf, f->len, off);
                        }
                        off += f->len;
                        j->bytes += f->len;
                        if (r < 0) {
                                fetch_release(f);
                                k++;
                                goto write_fail;
                        }
                        f->writing = true;
                }
                r = sk_filehash_extent(fh, x->offset, x->length);
                if (r < 0)
                        goto fail;
        }
        r = wait_writes(io, win, NULL, &werr);
        if (r >= 0 && werr < 0)
                r = werr;
        if (r < 0)
                goto write_fail;
        r = sk_filehash_verify(fh, n->size, n->content_hash);
        if (r == -EBADMSG) {
                if (asprintf(&j->detail, "content hash mismatch: restored data differs from the backed-up file") < 0)
                        j->detail = NULL;
                goto fail;
        }
        if (r < 0)
                goto fail;
        sk_filehash_free(fh);
        j->meta_err = sk_fsmeta_apply(j->dirfd, n->name, fd, n, j->flags, &j->meta_what);
        if (close(fd) < 0) {
                /* A failed close can mean lost data (NFS, quota): a data
                 * error, whatever happened to the metadata (a restore without
                 * root cannot set owners, and that must not hide it). */
                j->err = negative_errno();
                j->meta_err = 0;
                unlinkat(j->dirfd, n->name, 0);
                if (asprintf(&j->detail, "close: %s", strerror(-j->err)) < 0)
                        j->detail = NULL;
        }
        return;
write_fail:
        if (asprintf(&j->detail, "write: %s", strerror(-r)) < 0)
                j->detail = NULL;
fail:
        /* Writes in flight and requests still in the window must be finished
         * before their memory goes. */
        (void) wait_writes(io, win, NULL, &werr);
        for (; k < next; k++) {
                sk_rfetch *f = &win[k % FETCH_WINDOW];
                pthread_mutex_lock(&p->mu);
                if (f->state == FETCH_PENDING) {
                        pend_unlink(p, f);
                        f->state = FETCH_DONE;
                }
                while (f->state != FETCH_DONE)
                        pthread_cond_wait(&p->cv_fetch, &p->mu);
                pthread_mutex_unlock(&p->mu);
                fetch_release(f);
        }
        sk_filehash_free(fh);
        close(fd);
        (void) unlinkat(j->dirfd, n->name, 0);
        j->err = r < 0 ? r : -EIO;
}

void *sk_rpool_worker(void *arg) {
        sk_rworker_slot *slot = arg;
        sk_rpool *p = slot->p;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                /* Fetches first: they finish files already started (bounded memory). */
                sk_rfetch *f = helper_fetch(p);
                if (f) {
                        fetch_pending(p, f);
                        pthread_cond_broadcast(&p->cv_fetch);
                        continue;
                }
                if (p->queue_head) {
                        sk_rjob *j = p->queue_head;
                        p->queue_head = j->next;
                        if (!p->queue_head)
                                p->queue_tail = NULL;
                        p->queued--;
                        pthread_mutex_unlock(&p->mu);
                        j->next = NULL;
                        run_job(p, slot->io, j);
                        pthread_mutex_lock(&p->mu);
                        if (p->done_tail)
                                p->done_tail->next = j;
                        else
                                p->done_head = j;
                        p->done_tail = j;
                        p->in_flight--;
                        /* the walking thread waits for one of these two (restore.c) */
                        if (p->queued <= RESTORE_QUEUE / 2 || p->in_flight == 0)
                                pthread_cond_broadcast(&p->cv_done);
                        continue;
                }
                if (p->stop)
                        break;
                pthread_cond_wait(&p->cv_work, &p->mu);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}
