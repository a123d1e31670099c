/* Restore (see restore.h for the design).
 *
 * Threads: the walking thread creates directories and special files, and
 * hands each regular file to a small worker pool that fetches its blobs
 * (verified by the repository), writes the data extents, checks the content
 * hash and applies the file's metadata. Results come back to the walking
 * thread, which alone calls the progress and problem callbacks. Each worker
 * writes through its own sk_io engine (io_uring or threads): a chunk's write
 * is submitted and left in flight while the next chunk is fetched, decrypted
 * and decompressed, so the disk and the CPU work at once; a dense file is
 * fallocated first, so a full disk fails it before any data is written.
 * Directories' own metadata is applied in batches (DIR_BATCH), each after
 * the pool has drained, so no file creation can touch a directory's mtime
 * afterwards; draining per batch rather than per directory keeps the
 * workers busy across directory boundaries. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup/engine-internal.h"
#include "backup/fsmeta.h"
#include "backup/inspect.h"
#include "backup/restore.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "io/ioengine.h"

#define RESTORE_WORKERS 2
#define RESTORE_QUEUE 64

typedef struct rjob {
        int dirfd;              /* borrowed: the directory stays open until drained */
        const sk_node *node;    /* borrowed: its sk_dir lives until drained */
        char *path;             /* owned */
        unsigned flags;
        bool overwrite;
        /* results */
        int err;                /* data failure: file removed */
        int meta_err;           /* metadata failure: file kept */
        const char *meta_what;
        char *detail;
        char blob[SK_TREE_ID_BYTES * 2 + 1];
        uint64_t bytes;
        struct rjob *next;
} rjob;

/* One blob fetch of a file's prefetch window. The file's worker consumes
 * them in order; idle workers take pending ones, so a single large file is
 * decrypted and decompressed on every core. */
typedef struct rfetch {
        sk_blob_id id;
        int state;              /* FETCH_* */
        void *buf;
        size_t len;
        int err;
        char *detail;
        bool writing;           /* buf is in flight in a write: keep it until reaped */
        struct rfetch *prev, *next;     /* in the pool's pending list */
} rfetch;

enum { FETCH_IDLE, FETCH_PENDING, FETCH_TAKEN, FETCH_DONE };
#define FETCH_WINDOW 6

struct rpool;
typedef struct rworker_slot {
        struct rpool *p;
        sk_io *io;
} rworker_slot;

typedef struct rpool {
        pthread_mutex_t mu;
        pthread_cond_t cv_work, cv_done, cv_fetch;
        rfetch *pend_head, *pend_tail;
        rjob *queue_head, *queue_tail, *done_head, *done_tail;
        size_t queued, in_flight;       /* in_flight: queued + running */
        bool stop;
        pthread_t threads[RESTORE_WORKERS];
        rworker_slot slots[RESTORE_WORKERS];
        unsigned n_threads;
        sk_repo *repo;
} rpool;

typedef struct hl_rec {
        uint64_t dev, ino;
        char *path;             /* relative to target; NULL once known bad */
        bool used;
} hl_rec;

typedef struct rctx {
        sk_repo *repo;
        const sk_restore_options *o;
        sk_restore_result *res;
        char id[SK_BACKUP_ID_HEX + 1];
        char **incs;
        size_t n_incs, n_incs_alloc;
        sk_pathbuf path;
        unsigned flags;
        rpool pool;
        hl_rec *hl;
        size_t hl_cap, hl_n;
        int rootfd;
        sk_progress prog;
        sk_lock *lock;
        time_t last_refresh;
        /* Directories whose contents are done, waiting for their own
         * metadata (in completion order: children before parents), and the
         * listings whose nodes and fds jobs and those entries borrow. */
        struct pdir *pdirs;
        size_t n_pdirs, cap_pdirs;
        sk_dir **dead;
        size_t n_dead, cap_dead;
} rctx;

/* A restored directory waiting for its metadata. */
typedef struct pdir {
        int parent_fd;          /* owned (a dup) */
        int fd;                 /* owned */
        const sk_node *node;    /* borrowed from a listing in rctx.dead or still being walked */
        char *path;             /* owned */
} pdir;

/* Directories restored between two applications of their metadata. Each
 * application drains the worker pool first (no file creation may touch a
 * directory's mtime afterwards); doing it per batch rather than per
 * directory keeps the pool busy across directory boundaries. Each holds two
 * fds. */
#define DIR_BATCH 128

static void le64(uint8_t b[8], uint64_t v) {
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
}

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

static void fetch_one(sk_repo *repo, rfetch *f) {
        f->err = sk_repo_get_blob(repo, SK_BLOB_DATA, &f->id, &f->buf, &f->len);
        if (f->err < 0) {
                char hex[SK_BLOB_ID_HEX + 1];
                sk_hex(f->id.b, SK_BLOB_ID_SIZE, hex);
                f->detail = sk_engine_detail(repo, "blob %s", hex);
        }
}

static void pend_unlink(rpool *p, rfetch *f) {
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

static void fetch_submit(rpool *p, rfetch *f, const uint8_t id[SK_TREE_ID_BYTES]) {
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
        pthread_cond_signal(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
}

/* Wait for f (fetching it ourselves if nobody has started). */
static void fetch_wait(rpool *p, rfetch *f) {
        pthread_mutex_lock(&p->mu);
        if (f->state == FETCH_PENDING) {
                pend_unlink(p, f);
                f->state = FETCH_TAKEN;
                pthread_mutex_unlock(&p->mu);
                fetch_one(p->repo, f);
                pthread_mutex_lock(&p->mu);
                f->state = FETCH_DONE;
        }
        while (f->state != FETCH_DONE)
                pthread_cond_wait(&p->cv_fetch, &p->mu);
        pthread_mutex_unlock(&p->mu);
}

static void fetch_release(rfetch *f) {
        free(f->buf);
        free(f->detail);
        memset(f, 0, sizeof(*f));
}

/* Reap write completions until `until` is no longer being written (NULL:
 * until no write is in flight). The first write error goes to *werr. A
 * completion's user_data is its chunk's index in the file. */
static int wait_writes(sk_io *io, rfetch *win, rfetch *until, int *werr) {
        while (until ? until->writing : sk_io_outstanding(io) > 0) {
                sk_io_completion cq[FETCH_WINDOW];
                int n = sk_io_reap(io, cq, ARRAY_SIZE(cq), 1);
                if (n < 0)
                        return n;
                if (n == 0)
                        return -EPROTO;
                for (int i = 0; i < n; i++) {
                        rfetch *f = &win[cq[i].user_data % FETCH_WINDOW];
                        if (cq[i].op != SK_IO_OP_WRITE || !f->writing || cq[i].buf != f->buf)
                                return -EPROTO; /* a completion we never asked for */
                        if (cq[i].res < 0 && *werr == 0)
                                *werr = (int) cq[i].res;
                        fetch_release(f);
                }
        }
        return 0;
}

/* fallocate through the engine, waited for. */
static int io_fallocate(sk_io *io, int fd, uint64_t len) {
        sk_io_completion cq;
        int r = sk_io_fallocate(io, UINT64_MAX, fd, 0, 0, len);
        if (r < 0)
                return r;
        r = sk_io_reap(io, &cq, 1, 1);
        if (r < 0)
                return r;
        if (r != 1 || cq.op != SK_IO_OP_FALLOCATE)
                return -EPROTO;
        return (int) cq.res;
}

static void run_job(rpool *p, sk_io *io, rjob *j) {
        const sk_node *n = j->node;
        EVP_MD_CTX *md = NULL;
        rfetch win[FETCH_WINDOW];
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
        if (n->size > 0 && ftruncate(fd, (off_t) n->size) < 0) {
                r = negative_errno();
                if (asprintf(&j->detail, "ftruncate: %s", strerror(-r)) < 0)
                        j->detail = NULL;
                goto fail;
        }
        /* A dense file gets its blocks up front: fewer extents, and a full
         * disk shows here, before any data is written. Sparse files are
         * not fallocated: that would fill their holes. */
        if (n->size > 0 && n->n_extents == 1 && n->extents[0].offset == 0 && n->extents[0].length == n->size) {
                r = io_fallocate(io, fd, n->size);
                if (r < 0 && r != -EOPNOTSUPP && r != -ENOSYS) {
                        if (asprintf(&j->detail, "fallocate: %s", strerror(-r)) < 0)
                                j->detail = NULL;
                        goto fail;
                }
                r = 0;
        }
        md = EVP_MD_CTX_new();
        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t e = 0; e < n->n_extents; e++) {
                const sk_extent *x = &n->extents[e];
                uint64_t off = x->offset;
                for (uint32_t c = 0; c < x->n_chunks; c++, k++) {
                        const sk_chunk_ref *cr = &n->chunks[k];
                        /* Keep the window full: chunks k .. k+WINDOW-1 requested,
                         * each slot's earlier write finished before it is reused. */
                        for (; next < n->n_chunks && next < k + FETCH_WINDOW; next++) {
                                rfetch *s = &win[next % FETCH_WINDOW];
                                r = wait_writes(io, win, s, &werr);
                                if (r >= 0 && werr < 0)
                                        r = werr;
                                if (r < 0)
                                        goto write_fail;
                                fetch_submit(p, s, n->chunks[next].id);
                        }
                        rfetch *f = &win[k % FETCH_WINDOW];
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
                        /* The hash reads the buffer while the write is in flight: both only read it. */
                        if (EVP_DigestUpdate(md, f->buf, f->len) != 1) {
                                fetch_release(f);
                                k++;
                                r = -EIO;
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
                uint8_t tail[16];
                le64(tail, x->offset);
                le64(tail + 8, x->length);
                if (EVP_DigestUpdate(md, tail, sizeof(tail)) != 1) {
                        r = -EIO;
                        goto fail;
                }
        }
        r = wait_writes(io, win, NULL, &werr);
        if (r >= 0 && werr < 0)
                r = werr;
        if (r < 0)
                goto write_fail;
        uint8_t tail[8], h[32];
        unsigned int hl = 0;
        le64(tail, n->size);
        if (EVP_DigestUpdate(md, tail, 8) != 1 || EVP_DigestFinal_ex(md, h, &hl) != 1) {
                r = -EIO;
                goto fail;
        }
        if (memcmp(h, n->content_hash, sizeof(h)) != 0) {
                r = -EBADMSG;
                if (asprintf(&j->detail, "content hash mismatch: restored data differs from the backed-up file") < 0)
                        j->detail = NULL;
                goto fail;
        }
        EVP_MD_CTX_free(md);
        j->meta_err = sk_fsmeta_apply(j->dirfd, n->name, fd, n, j->flags, &j->meta_what);
        if (close(fd) < 0 && !j->meta_err) {
                /* A failed close can mean lost data (NFS, quota): treat as a data error. */
                j->err = negative_errno();
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
                rfetch *f = &win[k % FETCH_WINDOW];
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
        EVP_MD_CTX_free(md);
        close(fd);
        (void) unlinkat(j->dirfd, n->name, 0);
        j->err = r < 0 ? r : -EIO;
}

static void *rworker(void *arg) {
        rworker_slot *slot = arg;
        rpool *p = slot->p;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                /* Fetches first: they finish files already started (bounded memory). */
                if (p->pend_head) {
                        rfetch *f = p->pend_head;
                        pend_unlink(p, f);
                        f->state = FETCH_TAKEN;
                        pthread_mutex_unlock(&p->mu);
                        fetch_one(p->repo, f);
                        pthread_mutex_lock(&p->mu);
                        f->state = FETCH_DONE;
                        pthread_cond_broadcast(&p->cv_fetch);
                        continue;
                }
                if (p->queue_head) {
                        rjob *j = p->queue_head;
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

/* ---- the walking thread ---------------------------------------------------------- */

static void report(rctx *c, sk_problem_kind k, int err, const char *path, const char *blob, const char *detail) {
        if (k == SK_PROBLEM_ERROR)
                c->res->errors++;
        else
                c->res->warnings++;
        sk_engine_problem(c->o->problem, c->o->userdata, k, err, c->id, path, NULL, blob, detail);
}

static int progress(rctx *c) {
        time_t now = time(NULL);
        /* The lock refreshes itself on a timer (also inside one long file);
         * this only stops early once it is known lost (no I/O). */
        if (c->lock && now - c->last_refresh >= 60) {
                if (sk_lock_check(c->lock, false) < 0)
                        return sk_repo_lock_check(c->repo, c->lock);
                c->last_refresh = now;
        }
        if (!c->o->progress)
                return 0;
        c->prog.current = c->path.p ?: "";
        return c->o->progress(&c->prog, c->o->userdata);
}

static hl_rec *hl_lookup(rctx *c, uint64_t dev, uint64_t ino, bool insert) {
        if (insert && (c->hl_n + 1) * 2 > c->hl_cap) {
                size_t cap = c->hl_cap ? c->hl_cap * 2 : 64;
                hl_rec *n = calloc(cap, sizeof(hl_rec));
                if (!n)
                        return NULL;
                for (size_t i = 0; i < c->hl_cap; i++)
                        if (c->hl[i].used) {
                                size_t s = (size_t) ((c->hl[i].dev * 31 + c->hl[i].ino) * 0x9e3779b97f4a7c15ULL) & (cap - 1);
                                while (n[s].used)
                                        s = (s + 1) & (cap - 1);
                                n[s] = c->hl[i];
                        }
                free(c->hl);
                c->hl = n;
                c->hl_cap = cap;
        }
        if (!c->hl_cap)
                return NULL;
        size_t s = (size_t) ((dev * 31 + ino) * 0x9e3779b97f4a7c15ULL) & (c->hl_cap - 1);
        while (c->hl[s].used && (c->hl[s].dev != dev || c->hl[s].ino != ino))
                s = (s + 1) & (c->hl_cap - 1);
        if (c->hl[s].used)
                return &c->hl[s];
        if (!insert)
                return NULL;
        c->hl[s] = (hl_rec) { .dev = dev, .ino = ino, .used = true };
        c->hl_n++;
        return &c->hl[s];
}

/* Handle finished jobs (main thread only). */
static void reap(rctx *c, rjob *list) {
        while (list) {
                rjob *j = list;
                list = j->next;
                if (j->err) {
                        report(c, SK_PROBLEM_ERROR, j->err, j->path, j->blob[0] ? j->blob : NULL, j->detail);
                        if (j->node->nlink > 1) {
                                hl_rec *h = hl_lookup(c, j->node->dev, j->node->ino, false);
                                if (h && h->path && strcmp(h->path, j->path) == 0) {
                                        free(h->path);
                                        h->path = NULL;
                                }
                        }
                } else {
                        c->res->files++;
                        c->res->bytes += j->bytes;
                        c->prog.files_done++;
                        c->prog.bytes_done += j->bytes;
                        if (j->meta_err) {
                                char *d = NULL;
                                if (asprintf(&d, "metadata not restored (%s): %s", j->meta_what ?: "?",
                                             strerror(-j->meta_err)) < 0)
                                        d = NULL;
                                report(c, (j->meta_err == -EPERM || j->meta_err == -EOPNOTSUPP) ? SK_PROBLEM_WARNING
                                                                                                  : SK_PROBLEM_ERROR,
                                       j->meta_err, j->path, NULL, d);
                                free(d);
                        }
                }
                free(j->detail);
                free(j->path);
                free(j);
        }
}

static rjob *take_done(rpool *p) {
        rjob *l = p->done_head;
        p->done_head = p->done_tail = NULL;
        return l;
}

/* Wait until every job finished and reap them. */
static int drain(rctx *c) {
        rpool *p = &c->pool;
        pthread_mutex_lock(&p->mu);
        while (p->in_flight > 0)
                pthread_cond_wait(&p->cv_done, &p->mu);
        rjob *l = take_done(p);
        pthread_mutex_unlock(&p->mu);
        reap(c, l);
        return progress(c);
}

/* Load the packs of a file about to be queued while the workers are still
 * busy with earlier files: on S3 a pack's fetch is a round trip the workers
 * would otherwise all wait for when they reach it. A blob whose span is
 * cached already costs an index lookup. */
static void hint_packs(rctx *c, const sk_node *node) {
        for (size_t i = 0; i < node->n_chunks; i++) {
                sk_blob_id id;
                memcpy(id.b, node->chunks[i].id, SK_TREE_ID_BYTES);
                sk_repo_read_ahead_hint(c->repo, SK_BLOB_DATA, &id);
        }
}

static int submit(rctx *c, int dirfd, const sk_node *node) {
        rpool *p = &c->pool;
        hint_packs(c, node);
        rjob *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->dirfd = dirfd;
        j->node = node;
        j->flags = c->flags;
        j->overwrite = c->o->overwrite;
        j->path = strdup(c->path.p);
        if (!j->path) {
                free(j);
                return -ENOMEM;
        }
        pthread_mutex_lock(&p->mu);
        while (p->queued >= RESTORE_QUEUE)
                pthread_cond_wait(&p->cv_done, &p->mu);
        if (p->queue_tail)
                p->queue_tail->next = j;
        else
                p->queue_head = j;
        p->queue_tail = j;
        p->queued++;
        p->in_flight++;
        pthread_cond_signal(&p->cv_work);
        rjob *l = take_done(p);
        pthread_mutex_unlock(&p->mu);
        reap(c, l);
        return 0;
}

/* Open the directory holding relative path rel (below rootfd) without ever
 * passing a long path to the kernel; *ret_base points into rel. */
static int open_parent(int rootfd, const char *rel, const char **ret_base) {
        int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        const char *p = rel;
        for (;;) {
                const char *slash = strchr(p, '/');
                if (!slash)
                        break;
                _cleanup_free_ char *comp = strndup(p, (size_t) (slash - p));
                if (!comp) {
                        close(fd);
                        return -ENOMEM;
                }
                int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int r = negative_errno();
                close(fd);
                if (nfd < 0)
                        return r;
                fd = nfd;
                p = slash + 1;
        }
        *ret_base = p;
        return fd;
}

static bool under(const char *path, const char *inc) {
        size_t l = strlen(inc);
        return l == 0 || (strncmp(path, inc, l) == 0 && (path[l] == 0 || path[l] == '/'));
}

static int restore_tree(rctx *c, int dirfd, const uint8_t tree[SK_TREE_ID_BYTES], bool all);

/* Before a full restore: name every data blob it will read, so that each
 * pack is fetched in one request covering all of its blobs that are needed
 * (sk_repo_read_ahead_plan). Walking the trees twice costs little: they are
 * few and sit in tree packs that the read-ahead holds. A tree that cannot
 * be read is left for the restore itself to report. */
static int plan_tree(rctx *c, const uint8_t tree[SK_TREE_ID_BYTES]) {
        sk_dir *d = NULL;
        if (sk_dir_load(c->repo, tree, &d, NULL) < 0)
                return 0;
        int r = 0;
        for (size_t i = 0; i < d->n && r >= 0; i++) {
                const sk_node *n = &d->entries[i];
                if (n->type == SK_NODE_DIR)
                        r = plan_tree(c, n->subtree);
                for (size_t k = 0; k < n->n_chunks && r >= 0; k++) {
                        sk_blob_id id;
                        memcpy(id.b, n->chunks[k].id, SK_TREE_ID_BYTES);
                        r = sk_repo_read_ahead_plan(c->repo, SK_BLOB_DATA, &id);
                }
        }
        sk_dir_free(d);
        return r;
}

static int restore_special(rctx *c, int dirfd, const sk_node *n) {
        int r = sk_fsmeta_create_special(dirfd, n->name, n);
        if (r == -EEXIST && c->o->overwrite) {
                if (unlinkat(dirfd, n->name, 0) < 0)
                        r = negative_errno();
                else
                        r = sk_fsmeta_create_special(dirfd, n->name, n);
        }
        if (r < 0) {
                char *d = NULL;
                if (asprintf(&d, "cannot create %s: %s", n->type == SK_NODE_SYMLINK ? "symlink" : "device node",
                             strerror(-r)) < 0)
                        d = NULL;
                report(c, SK_PROBLEM_ERROR, r, c->path.p, NULL, d);
                free(d);
                return 0;
        }
        const char *what = NULL;
        r = sk_fsmeta_apply(dirfd, n->name, -1, n, c->flags, &what);
        if (r < 0) {
                char *d = NULL;
                if (asprintf(&d, "metadata not restored (%s): %s", what ?: "?", strerror(-r)) < 0)
                        d = NULL;
                report(c, (r == -EPERM || r == -EOPNOTSUPP) ? SK_PROBLEM_WARNING : SK_PROBLEM_ERROR, r, c->path.p,
                       NULL, d);
                free(d);
        }
        c->res->files++;
        c->prog.files_done++;
        return 0;
}

static int restore_hardlink(rctx *c, int dirfd, const sk_node *n, bool *ret_done) {
        hl_rec *h = hl_lookup(c, n->dev, n->ino, false);
        *ret_done = false;
        if (!h || !h->path) {
                h = hl_lookup(c, n->dev, n->ino, true);
                if (!h)
                        return -ENOMEM;
                if (!h->path && !(h->path = strdup(c->path.p)))
                        return -ENOMEM;
                return 0; /* first member: caller restores the content */
        }
        /* The first member may still be in flight, or may have failed. */
        int r = drain(c);
        if (r < 0)
                return r;
        if (!h->path) {
                h->path = strdup(c->path.p);
                return h->path ? 0 : -ENOMEM;
        }
        const char *base;
        int pfd = open_parent(c->rootfd, h->path, &base);
        if (pfd >= 0) {
                r = linkat(pfd, base, dirfd, n->name, 0) < 0 ? negative_errno() : 0;
                if (r == -EEXIST && c->o->overwrite && unlinkat(dirfd, n->name, 0) >= 0)
                        r = linkat(pfd, base, dirfd, n->name, 0) < 0 ? negative_errno() : 0;
                close(pfd);
        } else
                r = pfd;
        if (r < 0) {
                char *d = NULL;
                if (asprintf(&d, "cannot link to %s: %s", h->path, strerror(-r)) < 0)
                        d = NULL;
                report(c, SK_PROBLEM_ERROR, r, c->path.p, NULL, d);
                free(d);
        } else {
                c->res->files++;
                c->prog.files_done++;
        }
        *ret_done = true;
        return 0;
}

/* Drain the pool, then apply the metadata of every directory waiting for it
 * (children before parents, as they finished) and free the listings. */
static int flush_dirs(rctx *c) {
        int r = drain(c);
        for (size_t i = 0; i < c->n_pdirs; i++) {
                pdir *pd = &c->pdirs[i];
                const char *what = NULL;
                int q = sk_fsmeta_apply(pd->parent_fd, pd->node->name, pd->fd, pd->node, c->flags, &what);
                if (q < 0) {
                        char *d = NULL;
                        if (asprintf(&d, "metadata not restored (%s): %s", what ?: "?", strerror(-q)) < 0)
                                d = NULL;
                        report(c, (q == -EPERM || q == -EOPNOTSUPP) ? SK_PROBLEM_WARNING : SK_PROBLEM_ERROR, q,
                               pd->path, NULL, d);
                        free(d);
                }
                c->res->dirs++;
                c->prog.files_done++;
                close(pd->fd);
                close(pd->parent_fd);
                free(pd->path);
        }
        c->n_pdirs = 0;
        for (size_t i = 0; i < c->n_dead; i++)
                sk_dir_free(c->dead[i]);
        c->n_dead = 0;
        return r;
}

/* A listing whose walk is over: jobs and waiting directories may still
 * borrow its nodes, so it lives until the next flush. */
static int defer_free(rctx *c, sk_dir *d) {
        if (c->n_dead == c->cap_dead) {
                size_t cap = c->cap_dead ? c->cap_dead * 2 : 16;
                sk_dir **nd = realloc(c->dead, cap * sizeof(sk_dir *));
                if (!nd) {
                        int r = flush_dirs(c);
                        sk_dir_free(d);
                        return r < 0 ? r : -ENOMEM;
                }
                c->dead = nd;
                c->cap_dead = cap;
        }
        c->dead[c->n_dead++] = d;
        return 0;
}

static int restore_dir_entry(rctx *c, int dirfd, const sk_node *n, bool all) {
        int r;
        if (mkdirat(dirfd, n->name, 0700) < 0) {
                r = negative_errno();
                struct stat st;
                if (r != -EEXIST || fstatat(dirfd, n->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
                        char *d = NULL;
                        if (asprintf(&d, "cannot create directory: %s", strerror(-r)) < 0)
                                d = NULL;
                        report(c, SK_PROBLEM_ERROR, r, c->path.p, NULL, d);
                        free(d);
                        return 0;
                }
        }
        _cleanup_close_ int fd = openat(dirfd, n->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = negative_errno();
                report(c, SK_PROBLEM_ERROR, r, c->path.p, NULL, "cannot open created directory");
                return 0;
        }
        r = restore_tree(c, fd, n->subtree, all);
        if (r < 0) {
                (void) drain(c); /* jobs in this directory borrow fd */
                return r;
        }
        /* Children are all created: the directory's own metadata (times
         * last) waits for the next batch, after the pool has drained. */
        if (c->n_pdirs == c->cap_pdirs) {
                size_t cap = c->cap_pdirs ? c->cap_pdirs * 2 : 16;
                pdir *np = realloc(c->pdirs, cap * sizeof(pdir));
                if (!np) {
                        (void) drain(c);
                        return -ENOMEM;
                }
                c->pdirs = np;
                c->cap_pdirs = cap;
        }
        pdir pd = { .parent_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3), .fd = fd, .node = n, .path = strdup(c->path.p) };
        if (pd.parent_fd < 0 || !pd.path) {
                r = pd.parent_fd < 0 ? negative_errno() : -ENOMEM;
                if (pd.parent_fd >= 0)
                        close(pd.parent_fd);
                free(pd.path);
                (void) drain(c);
                return r;
        }
        fd = -1; /* owned by the list now */
        c->pdirs[c->n_pdirs++] = pd;
        return c->n_pdirs >= DIR_BATCH ? flush_dirs(c) : 0;
}

static int restore_tree(rctx *c, int dirfd, const uint8_t tree[SK_TREE_ID_BYTES], bool all) {
        sk_dir *d = NULL;
        char *detail = NULL;
        int r = sk_dir_load(c->repo, tree, &d, &detail);
        if (r < 0) {
                if (r == -ENOMEM) {
                        free(detail);
                        return r;
                }
                char hex[SK_TREE_ID_BYTES * 2 + 1];
                sk_hex(tree, SK_TREE_ID_BYTES, hex);
                report(c, SK_PROBLEM_ERROR, r, c->path.p ?: "", hex,
                       detail ?: "directory listing unreadable; its contents are not restored");
                free(detail);
                return 0;
        }
        for (size_t i = 0; i < d->n && r >= 0; i++) {
                const sk_node *n = &d->entries[i];
                size_t old;
                r = sk_pathbuf_push(&c->path, n->name, &old);
                if (r < 0)
                        break;
                bool sel = all;
                bool anc = false;
                for (size_t k = 0; k < c->n_incs && !sel; k++) {
                        if (under(c->path.p, c->incs[k]))
                                sel = true;
                        else if (under(c->incs[k], c->path.p))
                                anc = true;
                }
                if (!sel && !anc) {
                        sk_pathbuf_pop(&c->path, old);
                        continue;
                }
                switch (n->type) {
                case SK_NODE_DIR:
                        r = restore_dir_entry(c, dirfd, n, sel);
                        break;
                case SK_NODE_FILE: {
                        if (anc)
                                break; /* an include names something below a file: nothing */
                        bool done = false;
                        if (n->nlink > 1)
                                r = restore_hardlink(c, dirfd, n, &done);
                        if (r >= 0 && !done)
                                r = submit(c, dirfd, n);
                        break;
                }
                case SK_NODE_SOCKET:
                        report(c, SK_PROBLEM_WARNING, -EOPNOTSUPP, c->path.p, NULL, "socket not restored");
                        break;
                default: {
                        if (anc)
                                break;
                        /* Symlinks, FIFOs and devices can be hardlinked too
                         * (overlay layers hold such groups): link them alike. */
                        bool done = false;
                        if (n->nlink > 1)
                                r = restore_hardlink(c, dirfd, n, &done);
                        if (r >= 0 && !done)
                                r = restore_special(c, dirfd, n);
                        break;
                }
                }
                sk_pathbuf_pop(&c->path, old);
                if (r >= 0 && (c->prog.files_done & 255) == 0)
                        r = progress(c);
        }
        /* The jobs borrow d's nodes: d lives until the next flush. */
        int r2 = defer_free(c, d);
        return r < 0 ? r : r2;
}

int sk_restore_run(sk_repo *repo, const char *id, const sk_restore_options *o, sk_restore_result *result) {
        rctx c = { .repo = repo, .o = o, .res = result, .rootfd = -1, .prog.phase = SK_PHASE_RESTORE };
        sk_manifest *m = NULL;
        sk_lock *lock = NULL;
        int r;

        memset(result, 0, sizeof(*result));
        if (!o || !o->target)
                return -EINVAL;
        /* A shared lock keeps prune from deleting packs under us. A repository
         * we may not write to (read-only medium) is restored without one. */
        r = sk_repo_lock(repo, false, o->lock_wait_seconds, &lock);
        if (r < 0 && r != -EROFS && r != -EACCES && r != -EPERM)
                return r;
        c.lock = lock;
        c.last_refresh = time(NULL);
        /* Files are restored in the order the backup stored them, so their
         * blobs come in pack order: read packs in large spans. */
        r = sk_repo_read_ahead_begin(repo);
        if (r < 0) {
                sk_lock_release(lock);
                return r;
        }
        r = sk_backup_load(repo, id, &m);
        if (r < 0) {
                sk_repo_read_ahead_end(repo);
                sk_lock_release(lock);
                return r;
        }
        memcpy(c.id, m->id, sizeof(c.id));
        if (!o->no_owner && geteuid() == 0)
                c.flags = 0;
        else
                c.flags = SK_APPLY_NO_OWNER;

        if (o->n_includes) {
                c.incs = calloc(o->n_includes, sizeof(char *));
                if (!c.incs) {
                        r = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < o->n_includes; i++) {
                        r = sk_path_normalize(o->includes[i], &c.incs[i]);
                        if (r < 0)
                                goto out;
                        c.n_incs = c.n_incs_alloc = i + 1;
                        sk_node probe = {};
                        r = sk_tree_lookup(repo, m->root, c.incs[i], &probe);
                        sk_node_clear(&probe);
                        if (r < 0)
                                goto out;
                        if (!*c.incs[i]) { /* "/" includes everything */
                                c.n_incs = 0;
                                break;
                        }
                }
        }

        if (mkdir(o->target, 0700) < 0 && errno != EEXIST) {
                r = negative_errno();
                goto out;
        }
        c.rootfd = open(o->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c.rootfd < 0) {
                r = negative_errno();
                goto out;
        }

        c.pool.repo = repo;
        pthread_mutex_init(&c.pool.mu, NULL);
        pthread_cond_init(&c.pool.cv_work, NULL);
        pthread_cond_init(&c.pool.cv_done, NULL);
        pthread_cond_init(&c.pool.cv_fetch, NULL);
        int io_err = 0;
        for (unsigned i = 0; i < RESTORE_WORKERS; i++) {
                rworker_slot *slot = &c.pool.slots[i];
                slot->p = &c.pool;
                /* Queue depth: every chunk of a window in a write, plus a fallocate. */
                io_err = sk_io_new(&(sk_io_options) { .backend = o->io_backend, .queue_depth = FETCH_WINDOW + 2,
                                                      .threads = 1 },
                                   &slot->io);
                if (io_err < 0)
                        break;
                if (pthread_create(&c.pool.threads[i], NULL, rworker, slot) != 0) {
                        sk_io_free(TAKE_PTR(slot->io));
                        break;
                }
                c.pool.n_threads++;
        }
        if (io_err < 0) {
                r = io_err;
                report(&c, SK_PROBLEM_ERROR, r, NULL, NULL, "cannot start the I/O engine");
        } else if (!c.pool.n_threads) {
                r = -EAGAIN;
        } else {
                r = sk_pathbuf_push(&c.path, "", &(size_t) { 0 });
                if (r >= 0 && c.n_incs == 0)
                        r = plan_tree(&c, m->root);
                if (r >= 0)
                        r = restore_tree(&c, c.rootfd, m->root, c.n_incs == 0);
                int r2 = flush_dirs(&c);
                if (r >= 0)
                        r = r2;
        }
        pthread_mutex_lock(&c.pool.mu);
        c.pool.stop = true;
        pthread_cond_broadcast(&c.pool.cv_work);
        pthread_mutex_unlock(&c.pool.mu);
        for (unsigned i = 0; i < c.pool.n_threads; i++)
                pthread_join(c.pool.threads[i], NULL);
        for (unsigned i = 0; i < RESTORE_WORKERS; i++)
                sk_io_free(c.pool.slots[i].io);
        reap(&c, take_done(&c.pool));
        pthread_mutex_destroy(&c.pool.mu);
        pthread_cond_destroy(&c.pool.cv_work);
        pthread_cond_destroy(&c.pool.cv_done);
        pthread_cond_destroy(&c.pool.cv_fetch);
        if (r >= 0 && result->errors > 0)
                r = -EIO;
        /* A restore whose lock was lost may have raced a prune: success only
         * with the lock still ours at the end; otherwise the error names the
         * lost lock rather than a pack that went missing. */
        if (lock && sk_lock_check(lock, r >= 0) == -ESTALE)
                r = sk_repo_lock_check(repo, lock);
out:
        if (c.rootfd >= 0)
                close(c.rootfd);
        for (size_t i = 0; i < c.hl_cap; i++)
                free(c.hl[i].path);
        free(c.hl);
        free(c.pdirs); /* empty: flush_dirs() ran after the walk */
        free(c.dead);
        sk_strv_free(c.incs, c.n_incs_alloc);
        free(c.path.p);
        sk_manifest_free(m);
        sk_repo_read_ahead_end(repo);
        sk_lock_release(lock);
        return r;
}
