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

#include "backup/report.h"
#include "backup/dir.h"
#include "backup/held.h"
#include "backup/pathbuf.h"
#include "backup/fsmeta.h"
#include "backup/manifest.h"
#include "backup/pathnode.h"
#include "backup/restore-pool.h"
#include "backup/restore.h"
#include "common/fsutil.h"
#include "common/inomap.h"
#include "common/macro.h"
#include "io/ioengine.h"

/* A hardlink group's first member, the value of rctx.hl (keyed by the
 * group's recorded (dev, ino)). */
typedef struct hl_rec {
        sk_pathnode *dir;       /* where the first member is; NULL once known bad */
        char *name;             /* the first member's name in dir */
        uint8_t digest[SK_NODE_DIGEST_BYTES];   /* the first member's content (sk_node_content_digest) */
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
        bool drop_privs;        /* no devices, no setuid/setgid/capabilities */
        sk_rpool pool;
        sk_inomap *hl;          /* hardlink groups: (dev, ino) -> hl_rec; made on first use */
        int rootfd;
        sk_progress prog;
        sk_lock *lock;
        time_t last_refresh;
        /* Directories whose contents are done, waiting for their own
         * metadata (in completion order: children before parents), and the
         * listings whose nodes and fds jobs and those entries borrow. */
        struct pdir *pdirs;
        size_t n_pdirs, cap_pdirs;
        struct rframe *frames;  /* the walk's stack of open directories */
        size_t n_frames, cap_frames;
        sk_dir **dead;
        size_t n_dead, cap_dead;
        size_t held;            /* footprint of the listings in frames and dead */
        size_t held_max;        /* o->walk_memory_max or SK_WALK_HELD_MAX */
} rctx;

/* A restored directory waiting for its metadata. */
typedef struct pdir {
        int fd;                 /* owned */
        const sk_node *node;    /* borrowed from a listing in rctx.dead or still being walked */
        sk_pathnode *dir;       /* referenced: its path, for reports */
} pdir;

/* Directories restored between two applications of their metadata. Each
 * application drains the worker pool first (no file creation may touch a
 * directory's mtime afterwards); doing it per batch rather than per
 * directory keeps the pool busy across directory boundaries. Each holds its
 * directory's fd (metadata is applied through it, never by name). */
#define DIR_BATCH 128


/* ---- the walking thread ---------------------------------------------------------- */

static void report(rctx *c, sk_problem_kind k, int err, const char *path, const char *blob, const char *detail) {
        if (k == SK_PROBLEM_ERROR)
                c->res->errors++;
        else
                c->res->warnings++;
        sk_engine_problem(c->o->problem, c->o->userdata, k, err, c->id, path, NULL, blob, detail);
}

/* report() at dir/name (name NULL: dir itself), for paths remembered as
 * chains; without memory for the string the problem is still counted. */
static void report_at(rctx *c, sk_problem_kind k, int err, const sk_pathnode *dir, const char *name,
                      const char *blob, const char *detail) {
        _cleanup_free_ char *path = sk_pathnode_join(dir, name);
        report(c, k, err, path ?: "(path not known: out of memory)", blob, detail);
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

/* The record of group (dev, ino), or NULL if there is none (insert: made
 * empty; NULL then means out of memory). */
static hl_rec *hl_lookup(rctx *c, uint64_t dev, uint64_t ino, bool insert) {
        if (!insert)
                return sk_inomap_find(c->hl, dev, ino);
        if (!c->hl && sk_inomap_new(sizeof(hl_rec), 0, &c->hl) < 0)
                return NULL;
        void *h = NULL;
        return sk_inomap_get(c->hl, dev, ino, &h) < 0 ? NULL : h;
}

/* The first member of h's group is gone (it failed): the next member
 * becomes the first. */
static void hl_forget(hl_rec *h) {
        sk_pathnode_unref(TAKE_PTR(h->dir));
        free(TAKE_PTR(h->name));
}

/* Remember n, in dir, as h's first member. */
static int hl_remember(hl_rec *h, sk_pathnode *dir, const sk_node *n) {
        int r = sk_node_content_digest(n, h->digest);
        if (r < 0)
                return r;
        h->name = strdup(n->name);
        if (!h->name)
                return -ENOMEM;
        h->dir = sk_pathnode_ref(dir);
        return 0;
}

/* n, in dir, was remembered as its hardlink group's first member but was
 * not created: the next member becomes the first, so that no member is
 * linked to whatever else holds that path (a file already in the target). */
static void hl_not_created(rctx *c, sk_pathnode *dir, const sk_node *n) {
        if (n->nlink <= 1)
                return;
        hl_rec *h = hl_lookup(c, n->dev, n->ino, false);
        if (h && h->dir == dir && strcmp(h->name, n->name) == 0)
                hl_forget(h);
}

/* Handle finished jobs (main thread only). */
static void reap(rctx *c, sk_rjob *list) {
        while (list) {
                sk_rjob *j = list;
                list = j->next;
                if (j->err) {
                        report_at(c, SK_PROBLEM_ERROR, j->err, j->dir, j->node->name, j->blob[0] ? j->blob : NULL,
                                  j->detail);
                        hl_not_created(c, j->dir, j->node);
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
                                report_at(c, (j->meta_err == -EPERM || j->meta_err == -EOPNOTSUPP) ? SK_PROBLEM_WARNING
                                                                                                     : SK_PROBLEM_ERROR,
                                          j->meta_err, j->dir, j->node->name, NULL, d);
                                free(d);
                        }
                }
                free(j->detail);
                sk_pathnode_unref(j->dir);
                free(j);
        }
}

static sk_rjob *take_done(sk_rpool *p) {
        sk_rjob *l = p->done_head;
        p->done_head = p->done_tail = NULL;
        return l;
}

/* Wait until every job finished and reap them. */
static int drain(rctx *c) {
        sk_rpool *p = &c->pool;
        pthread_mutex_lock(&p->mu);
        while (p->in_flight > 0)
                pthread_cond_wait(&p->cv_done, &p->mu);
        sk_rjob *l = take_done(p);
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

static int submit(rctx *c, int dirfd, sk_pathnode *dir, const sk_node *node) {
        sk_rpool *p = &c->pool;
        hint_packs(c, node);
        sk_rjob *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->dirfd = dirfd;
        j->node = node;
        j->flags = c->flags;
        j->overwrite = c->o->overwrite;
        j->dir = sk_pathnode_ref(dir);
        pthread_mutex_lock(&p->mu);
        /* A full queue: wait until the workers have taken half of it, not
         * for every job (a wake-up each, for a thread that queues one job
         * and sleeps again). The workers wake this thread only then. */
        if (p->queued >= RESTORE_QUEUE)
                while (p->queued > RESTORE_QUEUE / 2)
                        pthread_cond_wait(&p->cv_done, &p->mu);
        if (p->queue_tail)
                p->queue_tail->next = j;
        else
                p->queue_head = j;
        p->queue_tail = j;
        p->queued++;
        p->in_flight++;
        pthread_cond_signal(&p->cv_work);
        sk_rjob *l = take_done(p);
        pthread_mutex_unlock(&p->mu);
        reap(c, l);
        return 0;
}

/* Is a (al bytes) at or below b (bl bytes)? Lengths are passed: paths
 * grow with the depth, which the backup sets. */
static bool under(const char *a, size_t al, const char *b, size_t bl) {
        return bl == 0 || (al >= bl && memcmp(a, b, bl) == 0 && (al == bl || a[bl] == '/'));
}

/* Device nodes grant access to whatever they name: restored only with
 * privileges kept. Overlayfs whiteouts (char 0:0) name nothing and are
 * always restored, or deleted files would come back in the merged view. */
static bool skip_device(rctx *c, const sk_node *n) {
        if (!c->drop_privs || (n->type != SK_NODE_CHR && n->type != SK_NODE_BLK))
                return false;
        return !(n->type == SK_NODE_CHR && n->rdev_major == 0 && n->rdev_minor == 0);
}

/* Before a full restore: name every data blob it will read, so that each
 * pack is fetched in one request covering all of its blobs that are needed
 * (sk_repo_read_ahead_plan). Walking the trees twice costs little: they are
 * few and sit in tree packs that the read-ahead holds. A tree that cannot
 * be read (or lies deeper than SK_RESTORE_MAX_DEPTH) is left for the
 * restore itself to report. The stack is explicit: the data sets the depth. */
static int plan_tree(rctx *c, const uint8_t tree[SK_TREE_ID_BYTES]) {
        typedef struct { sk_dir *d; size_t next; } pframe;
        pframe *st = NULL;
        size_t n = 0, cap = 0, held = 0;
        int r = 0;
        const uint8_t *id = tree;
        for (;;) {
                if (id) {
                        sk_dir *d = NULL;
                        if (n <= SK_RESTORE_MAX_DEPTH && sk_dir_load(c->repo, id, &d, NULL) >= 0 &&
                            sk_held_add_max(&held, d->footprint, c->held_max) < 0)
                                d = sk_dir_free(d); /* left for the restore to report */
                        if (d) {
                                if (n == cap) {
                                        size_t nc = cap ? cap * 2 : 64;
                                        pframe *ns = realloc(st, nc * sizeof(*st));
                                        if (!ns) {
                                                held -= d->footprint;
                                                sk_dir_free(d);
                                                r = -ENOMEM;
                                                break;
                                        }
                                        st = ns;
                                        cap = nc;
                                }
                                st[n++] = (pframe) { d, 0 };
                        }
                        id = NULL;
                }
                if (n == 0)
                        break;
                pframe *f = &st[n - 1];
                if (f->next == f->d->n) {
                        held -= f->d->footprint;
                        sk_dir_free(f->d);
                        n--;
                        continue;
                }
                const sk_node *e = &f->d->entries[f->next++];
                for (size_t k = 0; k < e->n_chunks && r >= 0; k++) {
                        sk_blob_id bid;
                        memcpy(bid.b, e->chunks[k].id, SK_TREE_ID_BYTES);
                        r = sk_repo_read_ahead_plan(c->repo, SK_BLOB_DATA, &bid);
                }
                if (r < 0)
                        break;
                if (e->type == SK_NODE_DIR)
                        id = e->subtree;
        }
        while (n > 0)
                sk_dir_free(st[--n].d);
        free(st);
        return r;
}

/* Returns 1 if n was created, 0 if not (the problem is reported). */
static int restore_special(rctx *c, int dirfd, const sk_node *n) {
        if (skip_device(c, n)) {
                report(c, SK_PROBLEM_WARNING, -EPERM, c->path.p, NULL,
                       "device node not restored (privileges are not restored: see --keep-privileges)");
                return 0;
        }
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
        return 1;
}

/* n (in dir, open as dirfd) is a member of a hardlink group: link it to
 * the group's first member (*ret_done), or remember it as the first. */
static int restore_hardlink(rctx *c, int dirfd, sk_pathnode *dir, const sk_node *n, bool *ret_done) {
        hl_rec *h = hl_lookup(c, n->dev, n->ino, false);
        *ret_done = false;
        if (!h || !h->dir) {
                h = hl_lookup(c, n->dev, n->ino, true);
                if (!h)
                        return -ENOMEM;
                return h->dir ? 0 : hl_remember(h, dir, n); /* caller restores the content */
        }
        /* The first member may still be in flight, or may have failed. */
        int r = drain(c);
        if (r < 0)
                return r;
        if (!h->dir)
                return hl_remember(h, dir, n);
        /* Members are stored in full: one whose content differs from the
         * first's (a damaged or crafted tree) is restored on its own, and
         * checked like any file, rather than linked to other content. */
        uint8_t digest[SK_NODE_DIGEST_BYTES];
        r = sk_node_content_digest(n, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, h->digest, sizeof(digest)) != 0) {
                _cleanup_free_ char *first = sk_pathnode_join(h->dir, h->name);
                char *d = NULL;
                if (asprintf(&d, "hardlinked to %s in the backup, but stored with other content: restored as a "
                                 "separate file", first ?: "its first member") < 0)
                        d = NULL;
                report(c, SK_PROBLEM_WARNING, -EBADMSG, c->path.p, NULL, d);
                free(d);
                return 0;
        }
        int pfd = sk_pathnode_open(c->rootfd, h->dir);
        if (pfd >= 0) {
                /* pfd is O_PATH: linkat() takes it as a directory. */
                r = linkat(pfd, h->name, dirfd, n->name, 0) < 0 ? negative_errno() : 0;
                if (r == -EEXIST && c->o->overwrite && unlinkat(dirfd, n->name, 0) >= 0)
                        r = linkat(pfd, h->name, dirfd, n->name, 0) < 0 ? negative_errno() : 0;
                close(pfd);
        } else
                r = pfd;
        if (r < 0) {
                _cleanup_free_ char *first = sk_pathnode_join(h->dir, h->name);
                char *d = NULL;
                if (asprintf(&d, "cannot link to %s: %s", first ?: "its first member", strerror(-r)) < 0)
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

/* Free a listing counted in c->held. */
static void listing_free(rctx *c, sk_dir *d) {
        if (d)
                c->held -= d->footprint;
        sk_dir_free(d);
}

/* Drain the pool, then apply the metadata of every directory waiting for it
 * (children before parents, as they finished) and free the listings. */
static int flush_dirs(rctx *c) {
        int r = drain(c);
        for (size_t i = 0; i < c->n_pdirs; i++) {
                pdir *pd = &c->pdirs[i];
                const char *what = NULL;
                int q = sk_fsmeta_apply(-1, pd->node->name, pd->fd, pd->node, c->flags, &what);
                if (q < 0) {
                        char *d = NULL;
                        if (asprintf(&d, "metadata not restored (%s): %s", what ?: "?", strerror(-q)) < 0)
                                d = NULL;
                        report_at(c, (q == -EPERM || q == -EOPNOTSUPP) ? SK_PROBLEM_WARNING : SK_PROBLEM_ERROR, q,
                                  pd->dir, NULL, NULL, d);
                        free(d);
                }
                c->res->dirs++;
                c->prog.files_done++;
                close(pd->fd);
                sk_pathnode_unref(pd->dir);
        }
        c->n_pdirs = 0;
        for (size_t i = 0; i < c->n_dead; i++)
                listing_free(c, c->dead[i]);
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
                        listing_free(c, d);
                        return r < 0 ? r : -ENOMEM;
                }
                c->dead = nd;
                c->cap_dead = cap;
        }
        c->dead[c->n_dead++] = d;
        return 0;
}

/* Report tree id's listing as unreadable (r) at the current path; frees detail. */
static void report_listing(rctx *c, const uint8_t id[SK_TREE_ID_BYTES], int r, char *detail) {
        char hex[SK_TREE_ID_BYTES * 2 + 1];
        sk_hex(id, SK_TREE_ID_BYTES, hex);
        report(c, SK_PROBLEM_ERROR, r, c->path.p ?: "", hex,
               detail ?: "directory listing unreadable; its contents are not restored");
        free(detail);
}

/* A directory being walked. The walk keeps these on an explicit stack
 * (rctx.frames) rather than recursing: the backup sets the depth. */
typedef struct rframe {
        sk_dir *d;              /* owned; NULL: its listing was unreadable (reported) */
        size_t next;            /* next entry of d */
        int fd;                 /* owned (frame 0: rootfd, borrowed); -1 while closed (FD_WINDOW) */
        const sk_node *node;    /* its entry in the parent's listing; NULL for frame 0 */
        size_t path_old;        /* c->path's length before this directory's name */
        sk_pathnode *pn;        /* referenced: its path, kept by what outlives the frame */
        bool all;               /* everything below is selected */
        dev_t dev;              /* identity, checked when fd is reopened */
        ino_t ino;
} rframe;

/* Frames deeper than this many below the top have their fd closed, so fd
 * use does not grow with depth; a frame's fd is reopened as ".." of its
 * child's when the walk climbs back to it. */
#define FD_WINDOW 32

/* Close fds of frames that fell out of the window. Jobs borrow the fd of
 * the directory they write into: drain them first. */
static int bound_fds(rctx *c) {
        if (c->n_frames <= FD_WINDOW + 1)
                return 0;
        rframe *f = &c->frames[c->n_frames - 1 - FD_WINDOW];
        if (f->fd < 0 || f == &c->frames[0])
                return 0;
        int r = drain(c);
        if (r < 0)
                return r;
        close(f->fd);
        f->fd = -1;
        return 0;
}

/* Give parent (whose fd was closed) its fd back, from child_fd's "..",
 * checking it is the same directory: one moved meanwhile is not followed. */
static int reopen_parent(rctx *c, rframe *parent, int child_fd) {
        int fd = openat(child_fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        struct stat st;
        if (fstat(fd, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
                close(fd);
                report(c, SK_PROBLEM_ERROR, -ESTALE, c->path.p, NULL, "a directory was moved during the restore");
                return -ESTALE;
        }
        parent->fd = fd;
        return 0;
}

/* Create (or reuse) directory n in dirfd and push its frame. Problems with
 * this directory alone are reported and skip it (returns 0). */
static int enter_dir(rctx *c, int dirfd, const sk_node *n, size_t path_old, bool all) {
        int r;
        if (c->n_frames > SK_RESTORE_MAX_DEPTH) { /* n's tree would be level n_frames */
                char *d = NULL;
                if (asprintf(&d, "tree nested deeper than %u levels: not restored below", SK_RESTORE_MAX_DEPTH) < 0)
                        d = NULL;
                report(c, SK_PROBLEM_ERROR, -EBADMSG, c->path.p, NULL, d);
                free(d);
                return 0;
        }
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
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = negative_errno();
                report(c, SK_PROBLEM_ERROR, r, c->path.p, NULL, "cannot open created directory");
                return 0;
        }
        sk_dir *d = NULL;
        char *detail = NULL;
        r = sk_dir_load(c->repo, n->subtree, &d, &detail);
        if (r == -ENOMEM) {
                free(detail);
                return r;
        }
        /* Listings of finished directories wait for the next batch: free
         * them first, so that only the path's own listings count. */
        if (r >= 0 && sk_held_add_max(&(size_t) { c->held }, d->footprint, c->held_max) < 0 && c->n_dead > 0) {
                r = flush_dirs(c);
                if (r < 0) {
                        sk_dir_free(d);
                        return r;
                }
        }
        if (r >= 0 && (r = sk_held_add_max(&c->held, d->footprint, c->held_max)) < 0) {
                d = sk_dir_free(d);
                detail = sk_held_detail_max(c->held_max);
        }
        if (r < 0) {
                /* Its own metadata is still applied: it stays as an empty directory. */
                report_listing(c, n->subtree, r, detail);
                d = NULL;
        }
        sk_pathnode *pn = NULL;
        r = sk_pathnode_new(c->frames[c->n_frames - 1].pn, n->name, &pn);
        if (r >= 0 && c->n_frames == c->cap_frames) {
                size_t cap = c->cap_frames ? c->cap_frames * 2 : 64;
                rframe *nf = realloc(c->frames, cap * sizeof(rframe));
                if (nf) {
                        c->frames = nf;
                        c->cap_frames = cap;
                } else
                        r = -ENOMEM;
        }
        if (r < 0) {
                sk_pathnode_unref(pn);
                listing_free(c, d);
                return r;
        }
        c->frames[c->n_frames++] = (rframe) { .d = d, .fd = TAKE_FD(fd), .node = n, .path_old = path_old,
                                              .pn = pn, .all = all, .dev = st.st_dev, .ino = st.st_ino };
        return bound_fds(c);
}

/* The top frame's entries are all done: its directory waits for its own
 * metadata (times last) until the next batch, after the pool has drained. */
static int leave_dir(rctx *c) {
        rframe *f = &c->frames[c->n_frames - 1];
        rframe *parent = &c->frames[c->n_frames - 2];
        int r = 0;
        if (parent->fd < 0)
                r = reopen_parent(c, parent, f->fd);
        if (r >= 0 && c->n_pdirs == c->cap_pdirs) {
                size_t cap = c->cap_pdirs ? c->cap_pdirs * 2 : 16;
                pdir *np = realloc(c->pdirs, cap * sizeof(pdir));
                if (!np)
                        r = -ENOMEM;
                else {
                        c->pdirs = np;
                        c->cap_pdirs = cap;
                }
        }
        if (r < 0)
                return r; /* the frame (and f->fd) is released by walk_abort() */
        c->pdirs[c->n_pdirs++] = (pdir) { .fd = f->fd, .node = f->node, .dir = TAKE_PTR(f->pn) };
        f->fd = -1; /* owned by the list now */
        sk_pathbuf_pop(&c->path, f->path_old);
        c->n_frames--;
        /* Jobs and the waiting directory borrow the listing's nodes. */
        r = f->d ? defer_free(c, f->d) : 0;
        if (r >= 0 && c->n_pdirs >= DIR_BATCH)
                r = flush_dirs(c);
        return r;
}

/* A fatal error: jobs borrow the frames' fds and waiting directories their
 * listings; release the fds after the jobs and keep the listings for the
 * final flush. */
static void walk_abort(rctx *c) {
        (void) drain(c);
        for (size_t i = c->n_frames; i-- > 0;) {
                rframe *f = &c->frames[i];
                if (i > 0 && f->fd >= 0)
                        close(f->fd);
                sk_pathnode_unref(f->pn);
                if (f->d)
                        (void) defer_free(c, f->d); /* on failure it flushed and freed it */
        }
        c->n_frames = 0;
}

/* Restore every selected entry of the backup's root tree into rootfd. */
static int restore_walk(rctx *c, const uint8_t root[SK_TREE_ID_BYTES], bool all) {
        sk_dir *d = NULL;
        char *detail = NULL;
        int r = sk_dir_load(c->repo, root, &d, &detail);
        if (r < 0) {
                if (r == -ENOMEM) {
                        free(detail);
                        return r;
                }
                report_listing(c, root, r, detail);
                return 0;
        }
        c->frames = calloc(64, sizeof(rframe));
        if (!c->frames) {
                sk_dir_free(d);
                return -ENOMEM;
        }
        c->cap_frames = 64;
        r = sk_pathnode_new(NULL, "", &c->frames[0].pn);
        if (r < 0) {
                sk_dir_free(d);
                return r;
        }
        /* The root listing is held whatever its size: without it there is nothing to do. */
        c->held += d->footprint;
        c->frames[0].d = d;
        c->frames[0].fd = c->rootfd;
        c->frames[0].all = all;
        c->n_frames = 1;
        while (r >= 0 && c->n_frames > 0) {
                rframe *f = &c->frames[c->n_frames - 1];
                if (!f->d || f->next == f->d->n) {
                        if (c->n_frames == 1) {
                                r = defer_free(c, f->d);
                                sk_pathnode_unref(f->pn);
                                c->n_frames = 0;
                        } else
                                r = leave_dir(c);
                        continue;
                }
                const sk_node *n = &f->d->entries[f->next++];
                int dirfd = f->fd;
                sk_pathnode *dir = f->pn; /* f moves when frames grow */
                size_t old;
                r = sk_pathbuf_push(&c->path, n->name, &old);
                if (r < 0)
                        break;
                bool sel = f->all;
                bool anc = false;
                for (size_t k = 0; k < c->n_incs && !sel; k++) {
                        size_t il = strlen(c->incs[k]);
                        if (under(c->path.p, c->path.len, c->incs[k], il))
                                sel = true;
                        else if (under(c->incs[k], il, c->path.p, c->path.len))
                                anc = true;
                }
                if (!sel && !anc) {
                        sk_pathbuf_pop(&c->path, old);
                        continue;
                }
                switch (n->type) {
                case SK_NODE_DIR:
                        r = enter_dir(c, dirfd, n, old, sel);
                        break;
                case SK_NODE_FILE: {
                        if (anc)
                                break; /* an include names something below a file: nothing */
                        bool done = false;
                        if (n->nlink > 1)
                                r = restore_hardlink(c, dirfd, dir, n, &done);
                        if (r >= 0 && !done)
                                r = submit(c, dirfd, dir, n);
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
                        if (n->nlink > 1 && !skip_device(c, n))
                                r = restore_hardlink(c, dirfd, dir, n, &done);
                        if (r >= 0 && !done) {
                                r = restore_special(c, dirfd, n);
                                if (r == 0)
                                        hl_not_created(c, dir, n);
                                r = r < 0 ? r : 0;
                        }
                        break;
                }
                }
                /* A directory entered keeps its name on the path until it is left. */
                if (!(n->type == SK_NODE_DIR && c->n_frames > 0 && c->frames[c->n_frames - 1].node == n))
                        sk_pathbuf_pop(&c->path, old);
                if (r >= 0 && (c->prog.files_done & 255) == 0)
                        r = progress(c);
        }
        if (r < 0)
                walk_abort(c);
        return r;
}

int sk_restore_run(sk_repo *repo, const char *id, const sk_restore_options *o, sk_restore_result *result) {
        rctx c = { .repo = repo, .o = o, .res = result, .rootfd = -1, .prog.phase = SK_PHASE_RESTORE,
                   .held_max = o->walk_memory_max ? o->walk_memory_max : SK_WALK_HELD_MAX };
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
        /* Privileges (devices, setuid/setgid, capabilities) are the
         * backup's to grant only where every entry gets back the owner it
         * was backed up with: root restoring owners. */
        c.drop_privs = o->privileges == SK_RESTORE_PRIV_DROP ||
                       (o->privileges == SK_RESTORE_PRIV_AUTO && c.flags & SK_APPLY_NO_OWNER);
        if (c.drop_privs)
                c.flags |= SK_APPLY_NO_PRIVS;

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
        /* A symlink planted at the target's name is not followed. */
        c.rootfd = open(o->target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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
                sk_rworker_slot *slot = &c.pool.slots[i];
                slot->p = &c.pool;
                /* Queue depth: every chunk of a window in a write, and spare. */
                io_err = sk_io_new(&(sk_io_options) { .backend = o->io_backend, .queue_depth = FETCH_WINDOW + 2,
                                                      .threads = 1 },
                                   &slot->io);
                if (io_err < 0)
                        break;
                if (pthread_create(&c.pool.threads[i], NULL, sk_rpool_worker, slot) != 0) {
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
                        r = restore_walk(&c, m->root, c.n_incs == 0);
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
        size_t it = 0;
        for (hl_rec *h; (h = sk_inomap_next(c.hl, &it));)
                hl_forget(h);
        sk_inomap_free(c.hl);
        free(c.pdirs); /* empty: flush_dirs() ran after the walk */
        free(c.frames); /* empty: the walk pops or aborts every frame */
        free(c.dead);
        sk_strv_free(c.incs, c.n_incs_alloc);
        free(c.path.p);
        sk_manifest_free(m);
        sk_repo_read_ahead_end(repo);
        sk_lock_release(lock);
        return r;
}
