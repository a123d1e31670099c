/* The backup run (see backup.h for the design). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "backup/backup.h"
#include "backup/backup-pool.h"
#include "repo/chunker.h"
#include "backup/engine-internal.h"
#include "backup/fsmeta.h"
#include "backup/hardlinks.h"
#include "backup/inspect.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "io/ioengine.h"
#include "io/ioreader.h"

#define READ_SIZE (2u << 20)
#define PROGRESS_BYTES (64u << 20)
/* How recent a lock refresh must be for the manifest PUT to rely on it. */
#define READ_DEPTH 2            /* reads in flight per large file */
#define IO_QUEUE_DEPTH 8
enum { IO_TAG_SMALL = 1, IO_TAG_READER = 2 };
#define PF_FILES 32                     /* small files read ahead at once (whole tree) */
#define PF_MAX_FILE (256u << 10)        /* files up to this size are read ahead whole */
#define PF_BYTES (8u << 20)             /* read-ahead data held at once */

enum { PF_OPENING = 1, PF_READING, PF_DONE };
typedef struct pf_slot {
        size_t entry;           /* index in the directory's names */
        int state;              /* PF_* */
        int fd;                 /* -1 until opened; owned until taken */
        int err;                /* first error, 0 if none */
        uint8_t *buf;
        size_t size;            /* bytes asked: st_size at the pre-open stat */
        size_t len;             /* bytes read */
} pf_slot;

/* A directory's read-ahead: a FIFO of slots in entry order. */
typedef struct pf_dir {
        pf_slot ring[PF_FILES];
        size_t head, count;
} pf_dir;

/* One directory being walked (see "the walk" below). */
typedef struct wframe {
        int fd;                 /* -1 while closed (an older frame of a deep walk) or lost */
        dev_t dev;              /* identity, checked when the fd is re-opened */
        ino_t ino;
        char **names;           /* entries, sorted, stat'ed up front */
        size_t n_names, next;   /* next: the entry the walk does next */
        struct stat *sts;
        int *errs;
        pf_dir *pf;             /* read-ahead; NULL until the first candidate */
        size_t pf_next;         /* next entry to consider for read-ahead */
        sk_dir *pdir;           /* this directory in the parent backup, or NULL */
        sk_tree_builder *b;     /* its entries done so far */
        sk_node node;           /* its own entry; subtree set when it is done */
        size_t path_old;        /* c->path length to restore when it is done */
} wframe;

/* Flags of every open of a file to back up. O_NONBLOCK: a FIFO (or a device)
 * swapped in for the regular file seen by the stat must not block the open,
 * which would hang the backup holding the repository lock; the type is then
 * checked on the descriptor (open_regular). */
#define OPEN_FILE_FLAGS (O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* fd was opened with OPEN_FILE_FLAGS: -EAGAIN if it is not a regular file
 * (anymore), else 0 with O_NONBLOCK cleared again. */
static int open_regular(int fd) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EAGAIN;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
                return negative_errno();
        return 0;
}

/* ---- the run ------------------------------------------------------------------- */

typedef struct bctx {
        sk_repo *repo;
        const sk_backup_options *o;
        sk_lock *lock;
        sk_chunker chunker;
        uint8_t *buf;
        size_t buf_cap;
        sk_io *io;              /* the walker's file reads */
        sk_io *pf_io;           /* read-ahead of small files */
        size_t pf_bytes, pf_files;
        sk_chunk_pool pool;
        sk_pathbuf path;
        sk_backup_summary sum;
        uint64_t bytes_read, warnings, tree_blobs_added, tree_bytes_added;
        uint64_t last_progress_bytes;
        sk_progress prog;
        sk_hl_map hl;
        size_t pdir_held;       /* footprint of the frames' parent listings */
        dev_t source_dev;
        /* Chunk list being built for the current file. */
        sk_chunk_ref *chunks;
        size_t n_chunks, cap_chunks;
} bctx;

static int64_t now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void problem(bctx *c, sk_problem_kind kind, int err, const char *detail) {
        if (kind == SK_PROBLEM_WARNING)
                c->warnings++;
        else
                c->sum.errors++;
        sk_engine_problem(c->o->problem, c->o->userdata, kind, err, NULL, c->path.p ?: "", NULL, NULL, detail);
}

static int tick(bctx *c, bool force) {
        /* The lock refreshes itself on a timer; this stops a backup whose
         * lock is known lost at once instead of at its next index write
         * (no I/O: a flag under a mutex). */
        if (c->lock && sk_lock_check(c->lock, false) < 0)
                return sk_repo_lock_check(c->repo, c->lock);
        if (!c->o->progress)
                return 0;
        if (!force && c->prog.bytes_done - c->last_progress_bytes < PROGRESS_BYTES)
                return 0;
        c->last_progress_bytes = c->prog.bytes_done;
        c->prog.current = c->path.p ?: "";
        return c->o->progress(&c->prog, c->o->userdata);
}

static int emit_chunk(bctx *c, const uint8_t *data, size_t len) {
        sk_blob_id id;
        int r = sk_repo_blob_id(c->repo, data, len, &id);
        if (r < 0)
                return r;
        if (c->n_chunks == c->cap_chunks) {
                size_t cap = c->cap_chunks ? c->cap_chunks * 2 : 16;
                sk_chunk_ref *n = realloc(c->chunks, cap * sizeof(sk_chunk_ref));
                if (!n)
                        return -ENOMEM;
                c->chunks = n;
                c->cap_chunks = cap;
        }
        memcpy(c->chunks[c->n_chunks].id, id.b, SK_TREE_ID_BYTES);
        c->chunks[c->n_chunks].len = (uint32_t) len;
        c->n_chunks++;
        r = sk_repo_has_blob(c->repo, SK_BLOB_DATA, &id);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        return sk_chunk_pool_submit(&c->pool, &id, data, len);
}

static void le64(uint8_t b[8], uint64_t v) {
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
}

/* One read of len bytes at off through the engine, waited for (the walker
 * has the engine alone). Returns bytes read (< len only at end of file). */
static ssize_t io_pread(bctx *c, int fd, void *buf, size_t len, uint64_t off) {
        sk_io_completion cq;
        int r = sk_io_read(c->io, IO_TAG_SMALL, fd, buf, len, off);
        if (r < 0)
                return r;
        r = sk_io_reap(c->io, &cq, 1, 1);
        if (r < 0)
                return r;
        if (r != 1 || cq.user_data != IO_TAG_SMALL || cq.op != SK_IO_OP_READ)
                return -EPROTO;
        return (ssize_t) cq.res;
}

/* Hash and chunk n new bytes at c->buf + *fill (the chunker's unconsumed
 * data starts at *start). Cut chunks go to the pool. */
static int feed(bctx *c, EVP_MD_CTX *md, size_t *start, size_t *fill, size_t n) {
        if (EVP_DigestUpdate(md, c->buf + *fill, n) != 1)
                return -EIO;
        c->bytes_read += n;
        c->prog.bytes_done += n;
        size_t p = *fill;
        *fill += n;
        while (p < *fill) {
                size_t k = sk_chunker_scan(&c->chunker, c->buf + p, *fill - p);
                if (k == SK_CHUNKER_NO_CUT)
                        break;
                p += k;
                int r = emit_chunk(c, c->buf + *start, p - *start);
                if (r < 0)
                        return r;
                *start = p;
        }
        return tick(c, false);
}

/* Read [off, off+len) and chunk it. *ret_got < len if the file shrank. Read
 * errors are returned as -errno (the caller reports them per file).
 *
 * An extent that fits one read (every small file) is one engine read straight
 * into the chunk buffer. Larger ones go through an sk_io_reader, which keeps
 * READ_DEPTH reads in flight while this thread hashes and chunks, in file
 * order as the chunker and the content hash need; its data is copied into the
 * chunk buffer because a chunk may span two reads. */
static int read_extent(bctx *c, int fd, const uint8_t *pre, EVP_MD_CTX *md, uint64_t off, uint64_t len,
                       sk_extent *ret_ext, uint64_t *ret_got) {
        size_t start = 0, fill = 0;
        uint64_t got = 0;
        uint32_t first = (uint32_t) c->n_chunks;
        sk_io_reader *rd = NULL;
        int r;

        sk_chunker_reset(&c->chunker);
        if (len <= READ_SIZE) {
                ssize_t n = (ssize_t) len;
                if (pre)
                        memcpy(c->buf, pre, (size_t) len);
                else
                        n = io_pread(c, fd, c->buf, (size_t) len, off);
                if (n < 0)
                        return (int) n;
                got = (uint64_t) n;
                if (n > 0) {
                        r = feed(c, md, &start, &fill, (size_t) n);
                        if (r < 0)
                                return r;
                }
        } else {
                sk_io_reader_options ro = { .chunk_size = READ_SIZE, .depth = READ_DEPTH };
                r = sk_io_reader_new(c->io, fd, off, len, IO_TAG_READER, &ro, &rd);
                if (r < 0)
                        return r;
                for (;;) {
                        const void *data;
                        size_t n;
                        uint64_t at;
                        r = sk_io_reader_step(rd, &data, &n, &at);
                        if (r < 0)
                                goto out;
                        if (r == SK_IO_READER_FINISHED)
                                break;
                        /* Unconsumed data is < chunker.max, so READ_SIZE always fits after it. */
                        if (c->buf_cap - fill < n) {
                                memmove(c->buf, c->buf + start, fill - start);
                                fill -= start;
                                start = 0;
                        }
                        memcpy(c->buf + fill, data, n);
                        got += n;
                        r = feed(c, md, &start, &fill, n);
                        if (r < 0)
                                goto out;
                }
        }
        if (fill > start) {
                r = emit_chunk(c, c->buf + start, fill - start);
                if (r < 0)
                        goto out;
        }
        if (got > 0) { /* an extent that turned out empty is not stored, so not hashed */
                uint8_t tail[16];
                le64(tail, off);
                le64(tail + 8, got);
                if (EVP_DigestUpdate(md, tail, sizeof(tail)) != 1) {
                        r = -EIO;
                        goto out;
                }
        }
        *ret_ext = (sk_extent) { .offset = off, .length = got, .first_chunk = first,
                                 .n_chunks = (uint32_t) (c->n_chunks - first) };
        *ret_got = got;
        r = 0;
out:
        sk_io_reader_free(rd);
        return r;
}

/* Errors the walker reports per entry and survives (the source's problem,
 * not the repository's). */
static bool is_entry_error(int r) {
        return r == -EACCES || r == -EPERM || r == -ENOENT || r == -EIO || r == -ENOTDIR || r == -ELOOP ||
               r == -ENXIO || r == -ESTALE || r == -EINVAL || r == -ENAMETOOLONG || r == -EOVERFLOW;
}

/* pre: the whole file's data, already read (read-ahead), or NULL. */
static int read_content(bctx *c, int fd, const uint8_t *pre, const struct stat *st, sk_node *n) {
        _cleanup_free_ sk_extent *ext = NULL;
        size_t n_ext = 0, cap_ext = 0;
        uint64_t size = (uint64_t) st->st_size, off = 0;
        bool dense = pre || (uint64_t) st->st_blocks * 512 >= size;
        int r = 0;

        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(md);
                return -EIO;
        }
        c->n_chunks = 0;
        if (!pre)
                (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        while (off < size) {
                off_t d, h;
                if (dense) {
                        d = (off_t) off;
                        h = (off_t) size;
                } else {
                        d = lseek(fd, (off_t) off, SEEK_DATA);
                        if (d < 0) {
                                if (errno == ENXIO)
                                        break; /* only a hole remains */
                                if (errno == EINVAL || errno == EOPNOTSUPP) {
                                        dense = true;
                                        continue;
                                }
                                r = negative_errno();
                                goto out;
                        }
                        if ((uint64_t) d >= size)
                                break;
                        h = lseek(fd, d, SEEK_HOLE);
                        if (h < 0 || (uint64_t) h > size)
                                h = (off_t) size;
                }
                if (n_ext == cap_ext) {
                        cap_ext = cap_ext ? cap_ext * 2 : 4;
                        sk_extent *ne = realloc(ext, cap_ext * sizeof(sk_extent));
                        if (!ne) {
                                r = -ENOMEM;
                                goto out;
                        }
                        ext = ne;
                }
                uint64_t got = 0;
                r = read_extent(c, fd, pre, md, (uint64_t) d, (uint64_t) (h - d), &ext[n_ext], &got);
                if (r < 0)
                        goto out;
                if (got > 0)
                        n_ext++;
                if (got < (uint64_t) (h - d)) {
                        size = (uint64_t) d + got;
                        problem(c, SK_PROBLEM_WARNING, -EAGAIN, "file shrank while it was read");
                        break;
                }
                off = (uint64_t) h;
        }
        uint8_t tail[8];
        unsigned int hl = 0;
        le64(tail, size);
        if (EVP_DigestUpdate(md, tail, 8) != 1 || EVP_DigestFinal_ex(md, n->content_hash, &hl) != 1) {
                r = -EIO;
                goto out;
        }
        n->size = size;
        n->n_extents = n_ext;
        n->extents = TAKE_PTR(ext);
        if (c->n_chunks) {
                n->chunks = malloc(c->n_chunks * sizeof(sk_chunk_ref));
                if (!n->chunks) {
                        r = -ENOMEM;
                        goto out;
                }
                memcpy(n->chunks, c->chunks, c->n_chunks * sizeof(sk_chunk_ref));
        }
        n->n_chunks = c->n_chunks;
out:
        EVP_MD_CTX_free(md);
        return r;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool unchanged(bctx *c, const sk_node *p, const struct stat *st) {
        if (!p || c->o->force_read || p->type != SK_NODE_FILE)
                return false;
        if (p->size != (uint64_t) st->st_size || !ts_eq(&p->mtime, &st->st_mtim) || !ts_eq(&p->ctime, &st->st_ctim) ||
            p->dev != (uint64_t) st->st_dev || p->ino != (uint64_t) st->st_ino)
                return false;
        /* Reuse only chunks the index still has (a damaged repo must not propagate). */
        for (size_t i = 0; i < p->n_chunks; i++) {
                sk_blob_id id;
                memcpy(id.b, p->chunks[i].id, SK_TREE_ID_BYTES);
                if (sk_repo_has_blob(c->repo, SK_BLOB_DATA, &id) != 1)
                        return false;
        }
        return true;
}

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
                int r = open_regular(s->fd);
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
               !unchanged(c, pnode, st);
}

/* Start read-ahead for the directory's next candidates after entry `cur`
 * (the one the walker is at), within the budget. */
static void pf_top_up(bctx *c, wframe *f, size_t cur) {
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

/* The slot for entry i, waited for, or NULL if i was not read ahead. */
static pf_slot *pf_take(bctx *c, pf_dir *d, size_t i) {
        if (!d || d->count == 0 || d->ring[d->head].entry != i)
                return NULL;
        pf_slot *s = &d->ring[d->head];
        if (pf_wait(c, s) < 0) {
                s->err = -EIO;
                return s;
        }
        return s;
}

static void pf_pop(bctx *c, pf_dir *d) {
        pf_release(c, &d->ring[d->head]);
        d->head = (d->head + 1) % PF_FILES;
        d->count--;
}

/* Wait for the directory's outstanding read-ahead and drop it. */
static void pf_finish(bctx *c, pf_dir *d) {
        while (d && d->count > 0) {
                pf_slot *s = &d->ring[d->head];
                if (pf_wait(c, s) < 0) {
                        /* The engine broke: cancel, and leak rather than free a buffer in flight. */
                        (void) sk_io_cancel_all(c->pf_io);
                        return;
                }
                pf_pop(c, d);
        }
}

/* 0: *ret filled; 1: entry skipped (problem reported); < 0: fatal. pf: the
 * file's read-ahead slot or NULL; its fd is taken over. */
static int backup_file(bctx *c, int dirfd, const char *name, const struct stat *st, const sk_node *pnode,
                       pf_slot *pf, sk_node *ret) {
        sk_node n = {};
        _cleanup_close_ int fd = -1;
        int r;

        if (unchanged(c, pnode, st)) {
                r = sk_fsmeta_capture_unchanged(name, st, pnode, &n);
                if (r >= 0)
                        r = sk_node_copy_content(&n, pnode);
                if (r < 0)
                        goto fail;
                c->sum.files_unmodified++;
                goto done;
        }
        const sk_node *hl = st->st_nlink > 1 ? sk_hl_find(&c->hl, st->st_dev, st->st_ino) : NULL;
        if (hl) {
                r = sk_fsmeta_capture(dirfd, name, -1, st, &n);
                if (r >= 0)
                        r = sk_node_copy_content(&n, hl);
                if (r < 0)
                        goto fail;
                if (pnode)
                        c->sum.files_changed++;
                else
                        c->sum.files_new++;
                goto done;
        }

        const uint8_t *pre = NULL;
        if (pf && pf->err == 0 && pf->fd >= 0) {
                fd = pf->fd;
                pf->fd = -1;
                pre = pf->buf;
        } else {
                fd = openat(dirfd, name, OPEN_FILE_FLAGS | O_NOATIME);
                if (fd < 0 && errno == EPERM)
                        fd = openat(dirfd, name, OPEN_FILE_FLAGS);
                if (fd < 0) {
                        r = negative_errno();
                        goto fail;
                }
                r = open_regular(fd);
                if (r < 0)
                        goto fail;
        }
        struct stat st2;
        if (fstat(fd, &st2) < 0) {
                r = negative_errno();
                goto fail;
        }
        /* Read-ahead data counts only if nothing changed between the stat
         * before its open and now (which is after its read). */
        if (pre && (pf->len != (size_t) st2.st_size || pf->size != (size_t) st2.st_size ||
                    st2.st_ino != st->st_ino || !ts_eq(&st2.st_mtim, &st->st_mtim) ||
                    !ts_eq(&st2.st_ctim, &st->st_ctim)))
                pre = NULL;
        r = sk_fsmeta_capture(dirfd, name, fd, &st2, &n);
        if (r < 0)
                goto fail;
        r = read_content(c, fd, pre, &st2, &n);
        if (r < 0)
                goto fail;
        struct stat st3;
        if (fstat(fd, &st3) >= 0 && (!ts_eq(&st3.st_mtim, &st2.st_mtim) || st3.st_size != st2.st_size))
                problem(c, SK_PROBLEM_WARNING, -EAGAIN, "file changed while it was read");
        if (pnode && pnode->type == SK_NODE_FILE)
                c->sum.files_changed++;
        else
                c->sum.files_new++;
done:
        if (n.nlink > 1) {
                r = sk_hl_put(&c->hl, &n);
                if (r < 0)
                        goto fail;
        }
        c->sum.bytes += n.size;
        *ret = n;
        return 0;
fail:
        sk_node_clear(&n);
        if (r == -EAGAIN) {
                /* Like a file that vanished (a warning too): what is there now
                 * was not there at the stat, and opening it could block. */
                problem(c, SK_PROBLEM_WARNING, r, "file replaced by a non-regular file during backup; skipped");
                return 1;
        }
        if (is_entry_error(r)) {
                char *d = NULL;
                if (asprintf(&d, "cannot back up file: %s", strerror(-r)) < 0)
                        d = NULL;
                problem(c, SK_PROBLEM_ERROR, r, d);
                free(d);
                return 1;
        }
        return r;
}

/* ---- the walk --------------------------------------------------------------------
 *
 * Depth-first over an explicit stack of directory frames on the heap: a deep
 * tree costs memory (a few hundred bytes a level), never C stack, which a
 * container could otherwise exhaust in snapkeepd. A directory deeper than the
 * format allows (SK_TREE_MAX_DEPTH) is recorded empty with a named error.
 *
 * Descriptors stay bounded too: only the WALK_FDS newest frames keep their
 * directory open. An older one is closed (its read-ahead finished first, as
 * that opens files relative to it) when a deeper frame opens, and re-opened
 * as ".." of its child when the walk climbs back to it; its (dev, ino) must be
 * the recorded ones. If the directory was moved meanwhile, the rest of it is
 * not backed up and that is reported. */

#define WALK_FDS 16

typedef struct wstack {
        wframe *f;
        size_t n, cap;
        size_t lowest_open;     /* frames below this one have their fd closed */
} wstack;

static int store_tree(const void *buf, size_t len, uint8_t ret_id[SK_TREE_ID_BYTES], void *userdata) {
        bctx *c = userdata;
        sk_blob_id id;
        bool was_new = false;
        int r = sk_repo_put_blob(c->repo, SK_BLOB_TREE, buf, len, &id, &was_new);
        if (r < 0)
                return r;
        if (was_new) {
                c->tree_blobs_added++;
                c->tree_bytes_added += len;
        }
        memcpy(ret_id, id.b, SK_TREE_ID_BYTES);
        return 0;
}

/* Close a frame's directory; its read-ahead opens files relative to it. */
static void frame_close(bctx *c, wframe *f) {
        pf_finish(c, f->pf);
        if (f->fd >= 0)
                close(f->fd);
        f->fd = -1;
}

static void frame_free(bctx *c, wframe *f) {
        frame_close(c, f);
        free(f->pf);
        sk_strv_free(f->names, f->n_names);
        free(f->sts);
        free(f->errs);
        if (f->pdir)
                c->pdir_held -= f->pdir->footprint;
        sk_dir_free(f->pdir);
        sk_tree_builder_free(f->b);
        sk_node_clear(&f->node);
        memset(f, 0, sizeof(*f));
}

static void wstack_free(bctx *c, wstack *s) {
        while (s->n > 0)
                frame_free(c, &s->f[--s->n]);
        free(s->f);
}

/* Push the frame of directory fd (taken over) whose entry is *node (taken
 * over): read and stat its entries. */
static int push_dir(bctx *c, wstack *s, int fd, const struct stat *st, sk_node *node, const sk_node *pnode) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                wframe *nf = realloc(s->f, cap * sizeof(*nf));
                if (!nf) {
                        close(fd);
                        sk_node_clear(node);
                        return -ENOMEM;
                }
                s->f = nf;
                s->cap = cap;
        }
        wframe *f = &s->f[s->n];
        *f = (wframe) { .fd = fd, .dev = st->st_dev, .ino = st->st_ino, .node = *node };
        memset(node, 0, sizeof(*node));
        if (pnode && pnode->type == SK_NODE_DIR && sk_dir_load(c->repo, pnode->subtree, &f->pdir, NULL) < 0)
                f->pdir = NULL; /* unreadable parent tree: just read everything */
        /* The parent backup's listings only spare reads: past SK_WALK_HELD_MAX
         * along the path (a parent repeating a listing down a deep chain),
         * this directory is read as if new rather than held. */
        if (f->pdir && sk_held_add(&c->pdir_held, f->pdir->footprint) < 0)
                f->pdir = sk_dir_free(f->pdir);
        int r = sk_tree_builder_new(&f->b);
        if (r < 0)
                goto fail;
        r = sk_dir_names(fd, true, &f->names, &f->n_names);
        if (r < 0) {
                if (!is_entry_error(r))
                        goto fail;
                problem(c, SK_PROBLEM_ERROR, r, "cannot read directory; stored as empty");
                f->names = NULL;
                f->n_names = 0;
        }
        /* Stat every entry first: that says which small files to read ahead. */
        f->sts = malloc(MAX(f->n_names, (size_t) 1) * sizeof(*f->sts));
        f->errs = calloc(MAX(f->n_names, (size_t) 1), sizeof(*f->errs));
        if (!f->sts || !f->errs) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < f->n_names; i++)
                if (fstatat(fd, f->names[i], &f->sts[i], AT_SYMLINK_NOFOLLOW) < 0)
                        f->errs[i] = negative_errno();
        s->n++;
        if (s->n - s->lowest_open > WALK_FDS)
                frame_close(c, &s->f[s->lowest_open++]);
        return 0;
fail:
        frame_free(c, f);
        return r;
}

/* Give n the name it has in the tree (a source's differs from its own). */
static int set_tree_name(sk_node *n, const char *tree_name) {
        if (strcmp(n->name, tree_name) == 0)
                return 0;
        char *tn = strdup(tree_name);
        if (!tn)
                return -ENOMEM;
        free(n->name);
        n->name = tn;
        return 0;
}

/* One entry (file, dir, special) in dirfd. tree_name: the name it gets in
 * the tree. 0: *ret filled; 1: skipped (reported); 2: a directory whose
 * frame was pushed on s (its node comes out when the frame is done); < 0
 * fatal. */
static int backup_entry(bctx *c, wstack *s, int dirfd, const char *name, const char *tree_name,
                        const struct stat *st, const sk_node *pnode, pf_slot *pf, sk_node *ret) {
        sk_node n = {};
        int r, t = sk_fsmeta_type(st->st_mode);

        if (t == SK_NODE_FILE) {
                r = backup_file(c, dirfd, name, st, pnode, pf, &n);
        } else if (t == SK_NODE_DIR) {
                _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                struct stat st2;
                if (fd < 0 || fstat(fd, &st2) < 0) {
                        r = negative_errno();
                        goto entry_fail;
                }
                r = sk_fsmeta_capture(dirfd, name, fd, &st2, &n);
                if (r < 0)
                        goto entry_fail;
                r = set_tree_name(&n, tree_name);
                if (r < 0) {
                        sk_node_clear(&n);
                        return r;
                }
                bool mount = c->o->one_file_system && st2.st_dev != c->source_dev;
                /* The stack holds the directories of levels 1..s->n below the root tree. */
                if (!mount && s->n + 1 > SK_TREE_MAX_DEPTH) {
                        char *d = NULL;
                        if (asprintf(&d, "directory nested deeper than %u levels: stored as empty",
                                     (unsigned) SK_TREE_MAX_DEPTH) < 0)
                                d = NULL;
                        problem(c, SK_PROBLEM_ERROR, -ELOOP, d);
                        free(d);
                }
                if (mount || s->n + 1 > SK_TREE_MAX_DEPTH) {
                        /* A mount point (one_file_system) is recorded, not entered. */
                        sk_tree_builder *eb = NULL;
                        r = sk_tree_builder_new(&eb);
                        if (r >= 0)
                                r = sk_tree_builder_finish(eb, store_tree, c, n.subtree);
                        sk_tree_builder_free(eb);
                        if (r < 0) {
                                sk_node_clear(&n);
                                return r;
                        }
                        c->sum.dirs++;
                } else {
                        r = push_dir(c, s, TAKE_FD(fd), &st2, &n, pnode);
                        return r < 0 ? r : 2;
                }
        } else if (t > 0) {
                r = sk_fsmeta_capture(dirfd, name, -1, st, &n);
                if (r < 0)
                        goto entry_fail;
                if (t == SK_NODE_SOCKET)
                        problem(c, SK_PROBLEM_WARNING, 0, "socket recorded; restore will skip it");
        } else {
                r = t;
                goto entry_fail;
        }
        if (r != 0) {
                sk_node_clear(&n);
                return r;
        }
        if (t != SK_NODE_DIR)
                c->sum.files++;
        c->prog.files_done++;
        r = set_tree_name(&n, tree_name);
        if (r >= 0)
                r = tick(c, true);
        if (r < 0) {
                sk_node_clear(&n);
                return r;
        }
        *ret = n;
        return 0;
entry_fail:
        sk_node_clear(&n);
        if (is_entry_error(r) || r == -EOPNOTSUPP) {
                char *d = NULL;
                if (asprintf(&d, "cannot back up entry: %s", strerror(-r)) < 0)
                        d = NULL;
                problem(c, SK_PROBLEM_ERROR, r, d);
                free(d);
                return 1;
        }
        return r;
}

/* Climbing back from the top frame to its parent, whose fd was closed:
 * re-open the parent as ".." of the top one and check it is the same
 * directory. If not (it was moved), the parent stays closed: its remaining
 * entries are skipped, reported here. */
static void reopen_parent(bctx *c, wstack *s) {
        wframe *f = &s->f[s->n - 1], *p = &s->f[s->n - 2];
        struct stat st;
        int fd = f->fd < 0 ? -1 : openat(f->fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino) {
                p->fd = fd;
                s->lowest_open = s->n - 2;
                return;
        }
        if (fd >= 0)
                close(fd);
        if (p->next < p->n_names)
                problem(c, SK_PROBLEM_ERROR, -ESTALE,
                        "directory moved during backup: its remaining entries are not backed up");
}

/* The top frame is done: store its tree and hand its node to the parent's
 * builder, or to *ret if it was the bottom one. */
static int pop_dir(bctx *c, wstack *s, sk_node *ret) {
        wframe *f = &s->f[s->n - 1];
        int r = sk_tree_builder_finish(f->b, store_tree, c, f->node.subtree);
        if (r < 0)
                return r;
        sk_node n = f->node;
        memset(&f->node, 0, sizeof(f->node));
        c->sum.dirs++;
        sk_pathbuf_pop(&c->path, f->path_old);
        if (s->n > 1 && s->f[s->n - 2].fd < 0)
                reopen_parent(c, s);
        frame_free(c, f);
        s->n--;
        c->prog.files_done++;
        r = tick(c, true);
        if (r < 0) {
                sk_node_clear(&n);
                return r;
        }
        if (s->n == 0) {
                *ret = n;
                return 0;
        }
        return sk_tree_builder_add(s->f[s->n - 1].b, &n);
}

/* Walk until the stack is empty; the bottom directory's node goes to *ret. */
static int walk(bctx *c, wstack *s, sk_node *ret) {
        int r;
        while (s->n > 0) {
                wframe *f = &s->f[s->n - 1];
                /* fd < 0 on the top frame: lost (reopen_parent), nothing more to read. */
                if (f->fd < 0 || f->next == f->n_names) {
                        r = pop_dir(c, s, ret);
                        if (r < 0)
                                return r;
                        continue;
                }
                size_t i = f->next++, old;
                pf_top_up(c, f, i);
                r = sk_pathbuf_push(&c->path, f->names[i], &old);
                if (r < 0)
                        return r;
                if (f->errs[i] < 0) {
                        r = f->errs[i];
                        if (r == -ENOENT) /* vanished since readdir: not an error */
                                problem(c, SK_PROBLEM_WARNING, r, "vanished during backup");
                        else if (is_entry_error(r))
                                problem(c, SK_PROBLEM_ERROR, r, "cannot stat entry");
                        else
                                return r;
                        sk_pathbuf_pop(&c->path, old);
                        continue;
                }
                sk_node node = {};
                pf_slot *slot = pf_take(c, f->pf, i);
                r = backup_entry(c, s, f->fd, f->names[i], f->names[i], &f->sts[i],
                                 f->pdir ? sk_dir_find(f->pdir, f->names[i]) : NULL, slot, &node);
                /* The stack may have grown (and moved): entry i's frame is below a pushed one. */
                f = &s->f[s->n - (r == 2 ? 2 : 1)];
                if (slot)
                        pf_pop(c, f->pf);
                if (r == 2) {
                        s->f[s->n - 1].path_old = old;
                        continue;
                }
                sk_pathbuf_pop(&c->path, old);
                if (r < 0)
                        return r;
                if (r == 0) {
                        r = sk_tree_builder_add(f->b, &node);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Absolute, lexically normalized source path ("/" stays "/"). */
static int source_abs(const char *src, char **ret) {
        _cleanup_free_ char *joined = NULL;
        if (!*src)
                return -EINVAL;
        if (src[0] != '/') {
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                if (!cwd)
                        return negative_errno();
                if (asprintf(&joined, "%s/%s", cwd, src) < 0)
                        return -ENOMEM;
        } else if (!(joined = strdup(src)))
                return -ENOMEM;
        char *out = malloc(strlen(joined) + 2);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        for (const char *p = joined; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t l = (size_t) (e - p);
                if (l == 1 && p[0] == '.') {
                } else if (l == 2 && p[0] == '.' && p[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        out[o++] = '/';
                        memcpy(out + o, p, l);
                        o += l;
                }
                p = e;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = 0;
        *ret = out;
        return 0;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Same set of sources (order-insensitive). */
static bool same_sources(char **a, size_t na, char **b, size_t nb) {
        if (na != nb)
                return false;
        char **sa = malloc(na * sizeof(char *)), **sb = malloc(nb * sizeof(char *));
        bool eq = sa && sb;
        if (eq) {
                memcpy(sa, a, na * sizeof(char *));
                memcpy(sb, b, nb * sizeof(char *));
                qsort(sa, na, sizeof(char *), str_cmp);
                qsort(sb, nb, sizeof(char *), str_cmp);
                for (size_t i = 0; i < na && eq; i++)
                        eq = strcmp(sa[i], sb[i]) == 0;
        }
        free(sa);
        free(sb);
        return eq;
}

static int pick_parent(bctx *c, sk_manifest *m, sk_manifest **ret) {
        if (c->o->no_parent) {
                *ret = NULL;
                return 0;
        }
        if (c->o->parent)
                return sk_backup_load(c->repo, c->o->parent, ret);
        sk_manifest **list = NULL;
        size_t n = 0;
        int r = sk_backup_list(c->repo, NULL, NULL, &list, &n);
        if (r < 0)
                return r;
        *ret = NULL;
        for (size_t i = n; i-- > 0;)
                if (strcmp(list[i]->hostname, m->hostname) == 0 &&
                    same_sources(list[i]->sources, list[i]->n_sources, m->sources, m->n_sources)) {
                        *ret = list[i];
                        list[i] = NULL;
                        break;
                }
        for (size_t i = 0; i < n; i++)
                sk_manifest_free(list[i]);
        free(list);
        return 0;
}

static int fill_manifest(const sk_backup_options *o, sk_manifest *m) {
        int r;
        uint8_t id[SK_BACKUP_ID_BYTES];
        if (RAND_bytes(id, sizeof(id)) != 1)
                return -EIO;
        sk_hex(id, sizeof(id), m->id);
        clock_gettime(CLOCK_REALTIME, &m->time);
        if (o->hostname)
                m->hostname = strdup(o->hostname);
        else {
                char h[HOST_NAME_MAX + 1] = {};
                if (gethostname(h, sizeof(h) - 1) < 0)
                        strcpy(h, "unknown");
                m->hostname = strdup(h);
        }
        m->program_version = strdup(SK_PROGRAM_VERSION);
        if (!m->hostname || !m->program_version)
                return -ENOMEM;
        if (o->n_sources < 1)
                return -EINVAL;
        m->sources = calloc(o->n_sources, sizeof(char *));
        if (!m->sources)
                return -ENOMEM;
        for (size_t i = 0; i < o->n_sources; i++) {
                r = source_abs(o->sources[i], &m->sources[i]);
                if (r < 0)
                        return r;
                m->n_sources = i + 1;
        }
        if (o->n_tags) {
                m->tags = calloc(o->n_tags, sizeof(char *));
                if (!m->tags)
                        return -ENOMEM;
                for (size_t i = 0; i < o->n_tags; i++) {
                        size_t l = strlen(o->tags[i]);
                        if (l < 1 || l > 255)
                                return -EINVAL;
                        if (!(m->tags[m->n_tags++] = strdup(o->tags[i])))
                                return -ENOMEM;
                }
                qsort(m->tags, m->n_tags, sizeof(char *), str_cmp);
                size_t w = 0;
                for (size_t i = 0; i < m->n_tags; i++) {
                        if (w > 0 && strcmp(m->tags[w - 1], m->tags[i]) == 0) {
                                free(m->tags[i]);
                                continue;
                        }
                        m->tags[w++] = m->tags[i];
                }
                m->n_tags = w;
        }
        return 0;
}

/* Root tree names: last component, "root" for "/", "~N" on clashes. */
static int root_name(char **names, size_t i, const char *src, char **ret) {
        const char *base = strrchr(src, '/');
        base = base ? base + 1 : src;
        if (!*base)
                base = "root";
        for (unsigned k = 1;; k++) {
                char *cand = NULL;
                if (k == 1 ? !(cand = strdup(base)) : asprintf(&cand, "%s~%u", base, k) < 0)
                        return -ENOMEM;
                bool clash = false;
                for (size_t j = 0; j < i && !clash; j++)
                        clash = strcmp(names[j], cand) == 0;
                if (!clash) {
                        *ret = cand;
                        return 0;
                }
                free(cand);
        }
}

static int backup_source(bctx *c, const char *src, const char *tree_name, const sk_dir *proot, sk_node *ret) {
        _cleanup_close_ int pfd = -1;
        const char *name;
        _cleanup_free_ char *dir = NULL;
        if (strcmp(src, "/") == 0) {
                pfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                name = ".";
        } else {
                const char *slash = strrchr(src, '/');
                dir = strndup(src, slash == src ? 1 : (size_t) (slash - src));
                if (!dir)
                        return -ENOMEM;
                name = slash + 1;
                pfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        if (pfd < 0)
                return negative_errno();
        struct stat st;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        c->source_dev = st.st_dev;
        size_t old;
        wstack s = {};
        int r = sk_pathbuf_push(&c->path, tree_name, &old);
        if (r < 0)
                return r;
        r = backup_entry(c, &s, pfd, name, tree_name, &st, proot ? sk_dir_find(proot, tree_name) : NULL, NULL, ret);
        if (r == 2) {
                s.f[0].path_old = old;
                r = walk(c, &s, ret);
        }
        wstack_free(c, &s);
        sk_pathbuf_pop(&c->path, old);
        if (r == 1)
                return -EIO; /* a source itself failed: reported already */
        return r;
}

int sk_backup_run(sk_repo *repo, const sk_backup_options *o, sk_backup_result *ret_result) {
        bctx c = { .repo = repo, .o = o, .prog.phase = SK_PHASE_BACKUP };
        sk_manifest *m = NULL, *parent = NULL;
        sk_dir *proot = NULL;
        sk_tree_builder *b = NULL;
        char **names = NULL;
        size_t n_names = 0;
        sk_repo_stats before = {}, after = {};
        _cleanup_free_ void *mbuf = NULL;
        int64_t t0 = now_mono();
        int r;

        if (!o || o->n_sources < 1)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = fill_manifest(o, m);
        if (r < 0)
                goto out;

        r = sk_repo_lock(repo, false, o->lock_wait_seconds, &c.lock);
        if (r < 0)
                goto out;

        r = pick_parent(&c, m, &parent);
        if (r < 0)
                goto out;
        if (parent) {
                m->has_parent = true;
                memcpy(m->parent_id, parent->id, sizeof(m->parent_id));
                if (sk_dir_load(repo, parent->root, &proot, NULL) < 0)
                        proot = NULL;
        }

        r = sk_repo_chunker_init(repo, &c.chunker);
        if (r < 0)
                goto out;
        c.buf_cap = (size_t) c.chunker.max + READ_SIZE;
        c.buf = malloc(c.buf_cap);
        if (!c.buf) {
                r = -ENOMEM;
                goto out;
        }
        r = sk_io_new(&(sk_io_options) { .backend = o->io_backend, .queue_depth = IO_QUEUE_DEPTH, .threads = 2 },
                      &c.io);
        if (r >= 0)
                r = sk_io_new(&(sk_io_options) { .backend = o->io_backend, .queue_depth = PF_FILES, .threads = 4 },
                              &c.pf_io);
        if (r < 0) {
                sk_engine_problem(o->problem, o->userdata, SK_PROBLEM_ERROR, r, NULL, NULL, NULL, NULL,
                                  "cannot start the I/O engine");
                goto out;
        }
        (void) sk_repo_get_stats(repo, &before);
        r = sk_chunk_pool_start(&c.pool, repo, o->workers ? o->workers : 2);
        if (r < 0)
                goto out;

        r = sk_tree_builder_new(&b);
        if (r < 0)
                goto out;
        names = calloc(m->n_sources, sizeof(char *));
        if (!names) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < m->n_sources; i++) {
                r = root_name(names, i, m->sources[i], &names[i]);
                if (r < 0)
                        goto out;
                n_names = i + 1;
                sk_node node = {};
                r = backup_source(&c, m->sources[i], names[i], proot, &node);
                if (r < 0) {
                        if (r != -EIO && r != -ENOMEM && r != -ECANCELED)
                                sk_engine_problem(o->problem, o->userdata, SK_PROBLEM_ERROR, r, NULL,
                                                  m->sources[i], NULL, NULL, "cannot back up source");
                        goto out;
                }
                r = sk_tree_builder_add(b, &node);
                if (r < 0)
                        goto out;
        }
        r = sk_tree_builder_finish(b, store_tree, &c, m->root);
        if (r < 0)
                goto out;
        r = sk_chunk_pool_drain(&c.pool);
        if (r < 0)
                goto out;
        r = sk_repo_flush(repo);
        if (r < 0)
                goto out;
        (void) sk_repo_get_stats(repo, &after);

        m->summary = c.sum;
        m->summary.added_bytes = c.pool.added_bytes + c.tree_bytes_added;
        m->summary.added_stored = after.blob_stored_bytes > before.blob_stored_bytes
                                          ? after.blob_stored_bytes - before.blob_stored_bytes : 0;
        m->summary.duration_ns = now_mono() - t0;

        size_t mlen;
        r = sk_manifest_encode(m, &mbuf, &mlen);
        if (r < 0)
                goto out;
        /* FORMAT.md 9a point 6: the manifest, like the index files before it,
         * is written only under a lock known to be ours just before and just
         * after the write (sk_repo_put_object checks the lock sk_repo_lock
         * took); a lost lock fails the backup with -ESTALE and no manifest. */
        r = sk_repo_put_object(repo, SK_BACKUPS_DIR, m->id, mbuf, mlen);
        if (r < 0)
                goto out;

        sk_backup_result res = { .summary = m->summary, .bytes_read = c.bytes_read,
                                 .blobs_added = c.pool.blobs_added + c.tree_blobs_added, .warnings = c.warnings };
        memcpy(res.id, m->id, sizeof(res.id));
        if (m->has_parent)
                memcpy(res.parent_id, m->parent_id, sizeof(res.parent_id));
        *ret_result = res;
        r = 0;
out:
        if (r < 0 && c.pool.err_detail)
                sk_engine_problem(o->problem, o->userdata, SK_PROBLEM_ERROR, c.pool.err, NULL, NULL, NULL, NULL,
                                  c.pool.err_detail);
        sk_chunk_pool_stop(&c.pool);
        if (r < 0 && c.lock)
                (void) sk_repo_flush(repo); /* keep what was stored: the next backup dedups against it */
        sk_lock_release(c.lock);
        sk_tree_builder_free(b);
        sk_strv_free(names, n_names);
        sk_dir_free(proot);
        sk_manifest_free(parent);
        sk_manifest_free(m);
        sk_hl_free(&c.hl);
        free(c.chunks);
        sk_io_free(c.pf_io);
        sk_io_free(c.io);
        free(c.buf);
        free(c.path.p);
        return r;
}
