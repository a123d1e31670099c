/* Reading one file for a backup run: change detection against the parent
 * backup's entry, hardlinks already read, reads through the I/O engine (one
 * read for a small extent, an sk_io_reader for a large one), the content hash
 * (repo/filehash.h) and the chunker feeding the chunk pool. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/backup-internal.h"
#include "backup/report.h"
#include "backup/fsmeta.h"
#include "common/macro.h"
#include "common/pace.h"
#include "io/ioreader.h"


int sk_backup_open_regular(int fd) {
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


void sk_backup_problem(bctx *c, sk_problem_kind kind, int err, const char *detail) {
        if (kind == SK_PROBLEM_WARNING)
                c->warnings++;
        else
                c->sum.errors++;
        sk_engine_problem(c->o->problem, c->o->userdata, kind, err, NULL, c->path.p ?: "", NULL, NULL, detail);
}

void sk_backup_problem_errno(bctx *c, int err, const char *what) {
        char *d = NULL;
        if (asprintf(&d, "cannot back up %s: %s", what, strerror(-err)) < 0)
                d = NULL;
        sk_backup_problem(c, SK_PROBLEM_ERROR, err, d);
        free(d);
}

int sk_backup_tick(bctx *c, bool force) {
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
        /* A scheduled backup on a busy node (common/pace.h): per chunk the
         * walker has read, chunked and is about to hash. */
        (void) sk_pace_background();
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
        r = sk_filehash_chunk(c->fh, id.b, (uint32_t) len);
        if (r < 0)
                return r;
        r = sk_repo_has_blob(c->repo, SK_BLOB_DATA, &id);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        return sk_chunk_pool_submit(&c->pool, &id, data, len);
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
static int feed(bctx *c, size_t *start, size_t *fill, size_t n) {
        int r = sk_filehash_update(c->fh, c->buf + *fill, n);
        if (r < 0)
                return r;
        c->bytes_read += n;
        c->prog.bytes_done += n;
        size_t p = *fill;
        *fill += n;
        while (p < *fill) {
                size_t k = sk_chunker_scan(&c->chunker, c->buf + p, *fill - p);
                if (k == SK_CHUNKER_NO_CUT)
                        break;
                p += k;
                r = emit_chunk(c, c->buf + *start, p - *start);
                if (r < 0)
                        return r;
                *start = p;
        }
        return sk_backup_tick(c, false);
}

/* Read [off, off+len) and chunk it. *ret_got < len if the file shrank. Read
 * errors are returned as -errno (the caller reports them per file).
 *
 * An extent that fits one read (every small file) is one engine read straight
 * into the chunk buffer. Larger ones go through an sk_io_reader, which keeps
 * READ_DEPTH reads in flight while this thread hashes and chunks, in file
 * order as the chunker and the content hash need; its data is copied into the
 * chunk buffer because a chunk may span two reads. */
static int read_extent(bctx *c, int fd, const uint8_t *pre, uint64_t off, uint64_t len,
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
                        r = feed(c, &start, &fill, (size_t) n);
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
                        r = feed(c, &start, &fill, n);
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
                r = sk_filehash_extent(c->fh, off, got);
                if (r < 0)
                        goto out;
        }
        *ret_ext = (sk_extent) { .offset = off, .length = got, .first_chunk = first,
                                 .n_chunks = (uint32_t) (c->n_chunks - first) };
        *ret_got = got;
        r = 0;
out:
        sk_io_reader_free(rd);
        return r;
}

bool sk_backup_is_entry_error(int r) {
        return r == -EACCES || r == -EPERM || r == -ENOENT || r == -EIO || r == -ENOTDIR || r == -ELOOP ||
               r == -ENXIO || r == -ESTALE || r == -EINVAL || r == -ENAMETOOLONG || r == -EOVERFLOW;
}

/* pre: the whole file's data, already read (read-ahead), or NULL. */
static int read_content(bctx *c, int fd, const uint8_t *pre, const struct stat *st, sk_node *n) {
        _cleanup_free_ sk_extent *ext = NULL;
        size_t n_ext = 0, cap_ext = 0;
        uint64_t size = (uint64_t) st->st_size, off = 0;
        bool dense = pre || (uint64_t) st->st_blocks * 512 >= size;
        int r = sk_filehash_reset(c->fh, c->hash_rule);
        if (r < 0)
                return r;
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
                r = read_extent(c, fd, pre, (uint64_t) d, (uint64_t) (h - d), &ext[n_ext], &got);
                if (r < 0)
                        goto out;
                if (got > 0)
                        n_ext++;
                if (got < (uint64_t) (h - d)) {
                        size = (uint64_t) d + got;
                        sk_backup_problem(c, SK_PROBLEM_WARNING, -EAGAIN, "file shrank while it was read");
                        break;
                }
                off = (uint64_t) h;
        }
        r = sk_filehash_final(c->fh, size, n->content_hash);
        if (r < 0)
                goto out;
        n->hash_rule = (uint8_t) c->hash_rule;
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
        return r;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool sk_backup_unchanged(bctx *c, const sk_node *p, const struct stat *st) {
        if (!p || c->o->force_read || p->type != SK_NODE_FILE)
                return false;
        if (p->size != (uint64_t) st->st_size || !ts_eq(&p->mtime, &st->st_mtim) || !ts_eq(&p->ctime, &st->st_ctim) ||
            p->dev != (uint64_t) st->st_dev || p->ino != (uint64_t) st->st_ino)
                return false;
        /* A parent whose hash follows the other rule (written by another
         * writer, or crafted) is read again: a directory holds one rule, and
         * the repository's version decides which. */
        if (sk_node_hash_rule(p) != c->hash_rule)
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

int sk_backup_file(bctx *c, int dirfd, const char *name, const struct stat *st, const sk_node *pnode,
                       pf_slot *pf, sk_node *ret) {
        sk_node n = {};
        _cleanup_close_ int fd = -1;
        int r;

        if (sk_backup_unchanged(c, pnode, st)) {
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
                r = sk_backup_open_regular(fd);
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
                sk_backup_problem(c, SK_PROBLEM_WARNING, -EAGAIN, "file changed while it was read");
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
                sk_backup_problem(c, SK_PROBLEM_WARNING, r, "file replaced by a non-regular file during backup; skipped");
                return 1;
        }
        if (sk_backup_is_entry_error(r)) {
                sk_backup_problem_errno(c, r, "file");
                return 1;
        }
        return r;
}
