/* A backup run: the walk over each source and the driver, sk_backup_run()
 * (see backup.h for the design, backup-internal.h for the other pieces). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup-internal.h"
#include "backup/report.h"
#include "backup/fsmeta.h"
#include "backup/held.h"
#include "backup/manifest.h"
#include "common/fsutil.h"
#include "common/macro.h"

static int64_t now_mono(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
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
        sk_readahead_finish(c, f->pf);
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
        r = sk_dir_names_fresh(fd, true, &f->names, &f->n_names);  /* fd: just opened (backup_entry) */
        if (r < 0) {
                if (!sk_backup_is_entry_error(r))
                        goto fail;
                sk_backup_problem(c, SK_PROBLEM_ERROR, r, "cannot read directory; stored as empty");
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
                r = sk_backup_file(c, dirfd, name, st, pnode, pf, &n);
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
                        sk_backup_problem(c, SK_PROBLEM_ERROR, -ELOOP, d);
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
                        sk_backup_problem(c, SK_PROBLEM_WARNING, 0, "socket recorded; restore will skip it");
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
                r = sk_backup_tick(c, true);
        if (r < 0) {
                sk_node_clear(&n);
                return r;
        }
        *ret = n;
        return 0;
entry_fail:
        sk_node_clear(&n);
        if (sk_backup_is_entry_error(r) || r == -EOPNOTSUPP) {
                sk_backup_problem_errno(c, r, "entry");
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
                sk_backup_problem(c, SK_PROBLEM_ERROR, -ESTALE,
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
        r = sk_backup_tick(c, true);
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
                sk_readahead_top_up(c, f, i);
                r = sk_pathbuf_push(&c->path, f->names[i], &old);
                if (r < 0)
                        return r;
                if (f->errs[i] < 0) {
                        r = f->errs[i];
                        if (r == -ENOENT) /* vanished since readdir: not an error */
                                sk_backup_problem(c, SK_PROBLEM_WARNING, r, "vanished during backup");
                        else if (sk_backup_is_entry_error(r))
                                sk_backup_problem(c, SK_PROBLEM_ERROR, r, "cannot stat entry");
                        else
                                return r;
                        sk_pathbuf_pop(&c->path, old);
                        continue;
                }
                sk_node node = {};
                pf_slot *slot = sk_readahead_take(c, f->pf, i);
                r = backup_entry(c, s, f->fd, f->names[i], f->names[i], &f->sts[i],
                                 f->pdir ? sk_dir_find(f->pdir, f->names[i]) : NULL, slot, &node);
                /* The stack may have grown (and moved): entry i's frame is below a pushed one. */
                f = &s->f[s->n - (r == 2 ? 2 : 1)];
                if (slot)
                        sk_readahead_pop(c, f->pf);
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
        int64_t t0 = now_mono();
        int r;

        if (!o || o->n_sources < 1)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = sk_backup_fill_manifest(o, m);
        if (r < 0)
                goto out;

        r = sk_repo_lock(repo, false, o->lock_wait_seconds, &c.lock);
        if (r < 0)
                goto out;

        r = sk_backup_pick_parent(&c, m, &parent);
        if (r < 0)
                goto out;
        if (parent) {
                m->has_parent = true;
                memcpy(m->parent_id, parent->id, sizeof(m->parent_id));
                if (sk_dir_load(repo, parent->root, &proot, NULL) < 0)
                        proot = NULL;
        }

        sk_repo_config cfg;
        r = sk_repo_get_config(repo, &cfg);
        c.hash_rule = cfg.version >= 2 ? SK_FILEHASH_RULE_CHUNKS : SK_FILEHASH_RULE_DATA;
        if (r >= 0)
                r = sk_repo_chunker_init(repo, &c.chunker);
        if (r >= 0)
                r = sk_filehash_new(c.hash_rule, &c.fh);
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
                r = sk_backup_root_name(names, i, m->sources[i], &names[i]);
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

        /* FORMAT.md 9a point 6: the manifest, like the index files before it,
         * is written only under a lock known to be ours just before and just
         * after the write (sk_repo_put_object checks the lock sk_repo_lock
         * took); a lost lock fails the backup with -ESTALE and no manifest. */
        r = sk_backup_store(repo, m);
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
        if (r < 0)
                sk_chunk_pool_cancel(&c.pool);
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
        sk_filehash_free(c.fh);
        sk_io_free(c.pf_io);
        sk_io_free(c.io);
        free(c.buf);
        free(c.path.p);
        return r;
}

