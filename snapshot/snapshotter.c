/* The snapshotter's write side: open and recovery, prepare/view and their
 * mounts, commit, remove, and the snapshot directories' life cycle (cleanup).
 * Stat, Update, Usage and the List walk are in snapshotter-info.c.
 *
 * DESIGN (see also snapshotter.h)
 * Every operation is one LMDB transaction (metastore.h). Directory changes that
 * belong to an operation happen while its write transaction is open, so they
 * are serialised with every other writer and with cleanup():
 *
 *   create:  mkdir snapshots/new-<id>/{fs,work}; rename new-<id> -> <id>
 *            (RENAME_NOREPLACE); commit. Commit failure renames back and
 *            removes the directory.
 *   remove:  delete the record; rename <id> -> rm-<id>; commit; rm -rf rm-<id>.
 *            Commit failure renames back.
 *
 * So after kill -9 at any point a record always has its <id> directory, except
 * in one window of remove (renamed, not committed): open() renames such an
 * rm-<id> (and, after a power loss, a new-<id>) back when the record exists and
 * <id> does not. Every other directory without a record is garbage that
 * cleanup() removes: it renames them to unique trash-* names under the writer
 * lock (so no concurrent create can reuse the name) and deletes them after.
 *
 * Usage of an active snapshot is computed outside any transaction (it walks the
 * whole upper directory); commit re-checks under the writer lock that the key
 * still names the same id.
 *
 * Labels with an empty value are never stored (as containerd's boltutil); a
 * later duplicate key in an input array wins. */
#include "snapshot/snapshotter-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "snapshot/mounts.h"

/* containerd's overlayfs snapshotter refuses nothing deeper, but a loop in a
 * corrupt database must not spin forever. */
#define MAX_CHAIN 4096

static void strv_freep(char ***p) {
        if (!*p)
                return;
        for (char **i = *p; *i; i++)
                free(*i);
        free(*p);
}

static int parse_id(const char *s, uint64_t *ret) {
        if (*s < '1' || *s > '9')
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || *end != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A transaction for an operation on key: -EINVAL first for an empty key. */
static int begin_for(sk_snapshotter *s, const char *key, bool write, sk_mtxn **ret_t) {
        if (!key || !*key)
                return -EINVAL;
        return sk_mtxn_begin(s->ms, write, ret_t);
}

int sk_snap_get(sk_snapshotter *s, const char *key, bool write, sk_mtxn **ret_t, sk_record *ret_rec) {
        _cleanup_txn_ sk_mtxn *t = NULL;
        int r = begin_for(s, key, write, &t);
        if (r < 0)
                return r;
        r = sk_mtxn_get(t, key, ret_rec);
        if (r < 0)
                return r;
        *ret_t = TAKE_PTR(t);
        return 0;
}

/* key's record in transaction t without its strings (parent and labels
 * left empty): the part that outlives the transaction. */
static int peek(sk_mtxn *t, const char *key, sk_record *ret) {
        sk_record rec;
        int r = sk_mtxn_get(t, key, &rec);
        if (r < 0)
                return r;
        *ret = rec;
        ret->parent = NULL;
        ret->labels = NULL;
        ret->n_labels = 0;
        sk_record_clear(&rec);
        return 0;
}

int sk_snap_lookup(sk_snapshotter *s, const char *key, sk_record *ret) {
        _cleanup_txn_ sk_mtxn *t = NULL;
        int r = begin_for(s, key, false, &t);
        if (r < 0)
                return r;
        return peek(t, key, ret);
}

/* A copy of rec's parent key (NULL for none), and rec cleared either way:
 * the record's strings point into the map, the copy outlives the write. */
static int take_parent(sk_record *rec, char **ret) {
        char *parent = rec->parent ? strdup(rec->parent) : NULL;
        bool oom = rec->parent && !parent;
        sk_record_clear(rec);
        if (oom)
                return -ENOMEM;
        *ret = parent;
        return 0;
}

/* Directories open()/cleanup() may rename back into place. */
static int recover_dir(sk_snapshotter *s, sk_mtxn *t, const char *name) {
        const char *idstr = NULL;
        uint64_t id;
        char target[32];

        if (strncmp(name, "rm-", 3) == 0)
                idstr = name + 3;
        else if (strncmp(name, "new-", 4) == 0)
                idstr = name + 4;
        if (!idstr || parse_id(idstr, &id) < 0)
                return 0;
        int r = sk_mtxn_id_exists(t, id);
        if (r <= 0)
                return r;
        snprintf(target, sizeof(target), "%" PRIu64, id);
        if (faccessat(s->snapshots_fd, target, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        if (renameat2(s->snapshots_fd, name, s->snapshots_fd, target, RENAME_NOREPLACE) < 0)
                return negative_errno();
        return 1;
}

/* The names in the snapshots directory, read completely before anything is
 * renamed (a rename during readdir may or may not show up again). */
static int list_snapshot_dirs(sk_snapshotter *s, char ***ret, size_t *ret_n) {
        _cleanup_(strv_freep) char **names = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        int fd = openat(s->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        DIR *d = fdopendir(fd);
        if (!d) {
                r = negative_errno();
                close(fd);
                return r;
        }
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n + 2 > cap) {
                        cap = cap ? cap * 2 : 32;
                        char **nn = realloc(names, cap * sizeof(char *));
                        if (!nn) {
                                r = -ENOMEM;
                                break;
                        }
                        names = nn;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        break;
                }
                names[++n] = NULL;
        }
        if (r == 0 && errno != 0)
                r = negative_errno();
        closedir(d);
        if (r < 0)
                return r;
        if (!names) {
                names = calloc(1, sizeof(char *));
                if (!names)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

static int recover(sk_snapshotter *s) {
        _cleanup_txn_ sk_mtxn *t = NULL;
        _cleanup_(strv_freep) char **names = NULL;
        size_t n = 0;
        int r = sk_mtxn_begin(s->ms, true, &t);
        if (r < 0)
                return r;
        r = list_snapshot_dirs(s, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = recover_dir(s, t, names[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sk_snapshotter_open(const char *root, const sk_snapshotter_options *opts, sk_snapshotter **ret) {
        static const sk_snapshotter_options defaults = SK_SNAPSHOTTER_OPTIONS_INIT;
        _cleanup_free_ char *meta = NULL;
        int r;

        if (!root || !*root)
                return -EINVAL;
        if (!opts)
                opts = &defaults;

        sk_snapshotter *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->snapshots_fd = -1;
        s->lock_fd = -1;
        s->max_label_bytes = opts->max_label_bytes ? opts->max_label_bytes : defaults.max_label_bytes;

        r = sk_mkdir_p(root, 0700);
        if (r < 0)
                goto fail;
        /* Mount options need absolute paths whatever the caller passed. */
        s->root = realpath(root, NULL);
        if (!s->root) {
                r = negative_errno();
                goto fail;
        }
        if (asprintf(&meta, "%s/metadata", s->root) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        if (mkdir(meta, 0700) < 0 && errno != EEXIST) {
                r = negative_errno();
                goto fail;
        }
        int rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
                r = negative_errno();
                goto fail;
        }
        /* Two processes on one root would mount, recover and remove each
         * other's snapshots: the second one is refused. The kernel drops the
         * lock when the holder dies, kill -9 included. */
        s->lock_fd = openat(rootfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : negative_errno();
                close(rootfd);
                goto fail;
        }
        if (mkdirat(rootfd, "snapshots", 0700) < 0 && errno != EEXIST) {
                r = negative_errno();
                close(rootfd);
                goto fail;
        }
        s->snapshots_fd = openat(rootfd, "snapshots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = s->snapshots_fd < 0 ? negative_errno() : 0;
        close(rootfd);
        if (r < 0)
                goto fail;

        r = sk_metastore_open(meta, opts->map_size ? opts->map_size : defaults.map_size, &s->ms);
        if (r < 0)
                goto fail;
        s->index_off = sk_overlay_has_index_param();
        r = recover(s);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        sk_snapshotter_free(s);
        return r;
}

void sk_snapshotter_free(sk_snapshotter *s) {
        if (!s)
                return;
        sk_metastore_free(s->ms);
        if (s->snapshots_fd >= 0)
                close(s->snapshots_fd);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s->root);
        free(s);
}

const char *sk_snapshotter_root(const sk_snapshotter *s) { return s->root; }

static int check_key(sk_snapshotter *s, const char *key) {
        if (!key || !*key)
                return -EINVAL;
        if (strlen(key) > sk_metastore_max_key(s->ms))
                return -EINVAL;
        return 0;
}

int sk_snap_check_label(sk_snapshotter *s, const sk_label *l) {
        if (!l->key || !l->value)
                return -EINVAL;
        if (strlen(l->key) + strlen(l->value) > s->max_label_bytes)
                return -EINVAL;
        return 0;
}

/* The labels to store for an input array: validated, empty values dropped,
 * later duplicates win. The result borrows the strings of in. */
static int labels_normalize(sk_snapshotter *s, const sk_label *in, size_t n, sk_label **ret, size_t *ret_n) {
        sk_label *out = NULL;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                int r = sk_snap_check_label(s, &in[i]);
                if (r < 0)
                        return r;
        }
        if (n > 0) {
                out = calloc(n, sizeof(*out));
                if (!out)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                bool later = false;
                for (size_t j = i + 1; j < n && !later; j++)
                        later = strcmp(in[i].key, in[j].key) == 0;
                if (later || !*in[i].value)
                        continue;
                out[m++] = in[i];
        }
        *ret = out;
        *ret_n = m;
        return 0;
}

/* Ids of key's parent chain, nearest first. */
static int parent_chain(sk_mtxn *t, const char *parent, uint64_t **ret, size_t *ret_n) {
        _cleanup_free_ uint64_t *ids = NULL;
        _cleanup_free_ char *cur = NULL;
        size_t n = 0, cap = 0;

        if (parent) {
                cur = strdup(parent);
                if (!cur)
                        return -ENOMEM;
        }
        while (cur) {
                sk_record rec;
                int r = sk_mtxn_get(t, cur, &rec);
                if (r < 0)
                        return r;
                if (n == MAX_CHAIN) {
                        sk_record_clear(&rec);
                        return -ELOOP;
                }
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        uint64_t *nid = realloc(ids, cap * sizeof(*ids));
                        if (!nid) {
                                sk_record_clear(&rec);
                                return -ENOMEM;
                        }
                        ids = nid;
                }
                ids[n++] = rec.id;
                free(TAKE_PTR(cur));
                r = take_parent(&rec, &cur);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(ids);
        *ret_n = n;
        return 0;
}

/* Store rec (created and updated now) under key, which must not exist yet,
 * with its id -> key entry and, when parent_id is not 0, the parent's child
 * entry: every index a record has, in write transaction t. */
static int store_new(sk_mtxn *t, const char *key, sk_record *rec, uint64_t parent_id) {
        rec->created = rec->updated = now();
        int r = sk_mtxn_put(t, key, rec, false);
        if (r < 0)
                return r;
        r = sk_mtxn_id_put(t, rec->id, key);
        if (r < 0)
                return r;
        if (parent_id)
                return sk_mtxn_child_put(t, parent_id, rec->id, key);
        return 0;
}

static int make_snapshot_dir(sk_snapshotter *s, const char *tmp, sk_kind kind, uint64_t parent_id) {
        int r;
        /* A leftover of a transaction that never committed may hold this name. */
        r = sk_rm_rf_at(s->snapshots_fd, tmp);
        if (r < 0)
                return r;
        if (mkdirat(s->snapshots_fd, tmp, 0700) < 0)
                return negative_errno();
        _cleanup_close_ int fd = openat(s->snapshots_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        /* Explicit modes: the daemon's umask must not change what containerd's
         * testsuite (and runc) expect of a fresh rootfs. */
        if (mkdirat(fd, "fs", 0755) < 0 || fchmodat(fd, "fs", 0755, 0) < 0)
                return negative_errno();
        if (kind == SK_KIND_ACTIVE && (mkdirat(fd, "work", 0711) < 0 || fchmodat(fd, "work", 0711, 0) < 0))
                return negative_errno();
        if (parent_id) {
                char pfs[48];
                struct stat st;
                snprintf(pfs, sizeof(pfs), "%" PRIu64 "/fs", parent_id);
                if (fstatat(s->snapshots_fd, pfs, &st, 0) < 0)
                        return negative_errno();
                if (fchownat(fd, "fs", st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return negative_errno();
        }
        return 0;
}

static int create_snapshot(sk_snapshotter *s, sk_kind kind, const char *key, const char *parent,
                           const sk_label *labels, size_t n_labels, sk_mounts *ret) {
        _cleanup_free_ sk_label *lbl = NULL;
        _cleanup_free_ uint64_t *chain = NULL;
        _cleanup_txn_ sk_mtxn *t = NULL;
        size_t n_lbl = 0, n_chain = 0;
        sk_mounts mounts = {};
        char tmp[32], final[32];
        uint64_t id;
        bool renamed = false, made = false;
        int r;

        r = check_key(s, key);
        if (r < 0)
                return r;
        if (parent && !*parent)
                parent = NULL;
        r = labels_normalize(s, labels, n_labels, &lbl, &n_lbl);
        if (r < 0)
                return r;

        r = sk_mtxn_begin(s->ms, true, &t);
        if (r < 0)
                return r;
        if (parent) {
                sk_record prec;
                r = peek(t, parent, &prec);
                if (r < 0)
                        return r; /* -ENOENT: missing parent is NotFound */
                if (prec.kind != SK_KIND_COMMITTED)
                        return -EINVAL;
                r = parent_chain(t, parent, &chain, &n_chain);
                if (r < 0)
                        return r;
        }
        if (sk_mtxn_exists(t, key))
                return -EEXIST;

        r = sk_mtxn_next_id(t, &id);
        if (r < 0)
                return r;
        sk_record rec = {
                .id = id,
                .kind = kind,
                .parent = parent,
                .labels = lbl,
                .n_labels = n_lbl,
        };
        r = store_new(t, key, &rec, n_chain > 0 ? chain[0] : 0);
        if (r < 0)
                return r;
        r = sk_mounts_build(s->root, kind, id, chain, n_chain, s->index_off, &mounts);
        if (r < 0)
                return r;

        snprintf(tmp, sizeof(tmp), "new-%" PRIu64, id);
        snprintf(final, sizeof(final), "%" PRIu64, id);
        made = true;
        r = make_snapshot_dir(s, tmp, kind, n_chain > 0 ? chain[0] : 0);
        if (r < 0)
                goto fail;
        if (renameat2(s->snapshots_fd, tmp, s->snapshots_fd, final, RENAME_NOREPLACE) < 0) {
                /* <id> can only be a leftover of an uncommitted transaction. */
                if (errno != EEXIST) {
                        r = negative_errno();
                        goto fail;
                }
                r = sk_rm_rf_at(s->snapshots_fd, final);
                if (r < 0)
                        goto fail;
                if (renameat2(s->snapshots_fd, tmp, s->snapshots_fd, final, RENAME_NOREPLACE) < 0) {
                        r = negative_errno();
                        goto fail;
                }
        }
        renamed = true;
        r = sk_mtxn_commit(TAKE_PTR(t));
        if (r < 0)
                goto fail;
        *ret = mounts;
        return 0;
fail:
        if (renamed && renameat(s->snapshots_fd, final, s->snapshots_fd, tmp) < 0)
                (void) sk_rm_rf_at(s->snapshots_fd, final);
        if (made)
                (void) sk_rm_rf_at(s->snapshots_fd, tmp);
        sk_mounts_free(&mounts);
        return r;
}

int sk_snapshotter_prepare(sk_snapshotter *s, const char *key, const char *parent, const sk_label *labels,
                           size_t n_labels, sk_mounts *ret) {
        return create_snapshot(s, SK_KIND_ACTIVE, key, parent, labels, n_labels, ret);
}

int sk_snapshotter_view(sk_snapshotter *s, const char *key, const char *parent, const sk_label *labels,
                        size_t n_labels, sk_mounts *ret) {
        return create_snapshot(s, SK_KIND_VIEW, key, parent, labels, n_labels, ret);
}

int sk_snapshotter_mounts(sk_snapshotter *s, const char *key, sk_mounts *ret) {
        _cleanup_txn_ sk_mtxn *t = NULL;
        _cleanup_free_ uint64_t *chain = NULL;
        size_t n_chain = 0;
        sk_record rec;
        int r;

        r = sk_snap_get(s, key, false, &t, &rec);
        if (r < 0)
                return r;
        sk_kind kind = rec.kind;
        uint64_t id = rec.id;
        if (kind == SK_KIND_COMMITTED) {
                sk_record_clear(&rec);
                return -EPERM;
        }
        r = parent_chain(t, rec.parent, &chain, &n_chain);
        sk_record_clear(&rec);
        if (r < 0)
                return r;
        return sk_mounts_build(s->root, kind, id, chain, n_chain, s->index_off, ret);
}

int sk_snapshotter_commit(sk_snapshotter *s, const char *name, const char *key, const sk_label *labels,
                          size_t n_labels) {
        _cleanup_free_ sk_label *lbl = NULL;
        size_t n_lbl = 0;
        int r;

        r = check_key(s, name);
        if (r < 0)
                return r;
        if (!key || !*key)
                return -EINVAL;
        r = labels_normalize(s, labels, n_labels, &lbl, &n_lbl);
        if (r < 0)
                return r;

        /* A concurrent remove + prepare could give key a new id between the
         * usage walk and the write transaction; then walk again. */
        for (int attempt = 0; attempt < 3; attempt++) {
                _cleanup_txn_ sk_mtxn *t = NULL;
                sk_usage usage;
                uint64_t id;
                sk_record rec;

                r = sk_snap_usage_now(s, key, &id, &usage);
                if (r < 0)
                        return r;

                r = sk_snap_get(s, key, true, &t, &rec);
                if (r < 0)
                        return r;
                if (rec.id != id) {
                        sk_record_clear(&rec);
                        continue;
                }
                if (sk_mtxn_exists(t, name)) {
                        sk_record_clear(&rec);
                        return -EEXIST;
                }
                if (rec.kind != SK_KIND_ACTIVE) {
                        sk_record_clear(&rec);
                        return -EPERM;
                }
                _cleanup_free_ char *parent = NULL;
                r = take_parent(&rec, &parent);
                if (r < 0)
                        return r;

                sk_record prec = {};
                if (parent) {
                        r = peek(t, parent, &prec);
                        if (r < 0)
                                return r;
                }

                sk_record nrec = {
                        .id = id,
                        .kind = SK_KIND_COMMITTED,
                        .parent = parent,
                        .labels = lbl,
                        .n_labels = n_lbl,
                        .usage = usage,
                };
                r = sk_mtxn_del(t, key);
                if (r < 0)
                        return r;
                r = store_new(t, name, &nrec, prec.id);
                if (r < 0)
                        return r;
                return sk_mtxn_commit(TAKE_PTR(t));
        }
        return -EAGAIN;
}

int sk_snapshotter_remove(sk_snapshotter *s, const char *key) {
        _cleanup_txn_ sk_mtxn *t = NULL;
        char dir[32], rm[32];
        sk_record rec;
        int r;

        r = sk_snap_get(s, key, true, &t, &rec);
        if (r < 0)
                return r;
        uint64_t id = rec.id;
        _cleanup_free_ char *parent = NULL;
        r = take_parent(&rec, &parent);
        if (r < 0)
                return r;

        r = sk_mtxn_has_children(t, id);
        if (r < 0)
                return r;
        if (r > 0)
                return -EBUSY;
        if (parent) {
                sk_record prec;
                r = peek(t, parent, &prec);
                if (r == 0) {
                        r = sk_mtxn_child_del(t, prec.id, id);
                        if (r < 0)
                                return r;
                } else if (r != -ENOENT)
                        return r;
        }
        r = sk_mtxn_del(t, key);
        if (r < 0)
                return r;
        r = sk_mtxn_id_del(t, id);
        if (r < 0)
                return r;

        snprintf(dir, sizeof(dir), "%" PRIu64, id);
        snprintf(rm, sizeof(rm), "rm-%" PRIu64, id);
        r = sk_rm_rf_at(s->snapshots_fd, rm);
        if (r < 0)
                return r;
        bool renamed = true;
        if (renameat(s->snapshots_fd, dir, s->snapshots_fd, rm) < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                renamed = false; /* nothing on disk: the record alone goes */
        }
        r = sk_mtxn_commit(TAKE_PTR(t));
        if (r < 0) {
                if (renamed)
                        (void) renameat(s->snapshots_fd, rm, s->snapshots_fd, dir);
                return r;
        }
        /* The record is gone; a failure here leaves garbage for cleanup(). */
        if (renamed)
                (void) sk_rm_rf_at(s->snapshots_fd, rm);
        return 0;
}

int sk_snapshotter_cleanup(sk_snapshotter *s) {
        _cleanup_(strv_freep) char **names = NULL, **trash = NULL;
        size_t n_names = 0, n_trash = 0;
        int r;

        {
                _cleanup_txn_ sk_mtxn *t = NULL;
                /* The writer lock keeps creators (whose new-<id> is made under
                 * it) and removers out while we decide what is garbage. */
                r = sk_mtxn_begin(s->ms, true, &t);
                if (r < 0)
                        return r;
                r = list_snapshot_dirs(s, &names, &n_names);
                if (r < 0)
                        return r;
                trash = calloc(n_names + 1, sizeof(char *));
                if (!trash)
                        return -ENOMEM;
                for (size_t i = 0; i < n_names; i++) {
                        uint64_t id;
                        if (parse_id(names[i], &id) == 0) {
                                r = sk_mtxn_id_exists(t, id);
                                if (r < 0)
                                        break;
                                if (r > 0)
                                        continue;
                        } else {
                                r = recover_dir(s, t, names[i]);
                                if (r < 0)
                                        break;
                                if (r > 0)
                                        continue;
                        }
                        /* Move it to a name no create can ever choose; delete
                         * it after the writer lock is released. */
                        char name[64];
                        snprintf(name, sizeof(name), "trash-%ld-%" PRIuFAST64, (long) getpid(),
                                 atomic_fetch_add(&s->trash_seq, 1));
                        if (renameat2(s->snapshots_fd, names[i], s->snapshots_fd, name, RENAME_NOREPLACE) < 0) {
                                if (errno == ENOENT)
                                        continue;
                                r = negative_errno();
                                break;
                        }
                        char *nn = strdup(name);
                        if (!nn) {
                                r = -ENOMEM;
                                break;
                        }
                        trash[n_trash++] = nn;
                        r = 0;
                }
        }
        int removed = 0;
        for (size_t i = 0; i < n_trash; i++) {
                int q = sk_rm_rf_at(s->snapshots_fd, trash[i]);
                if (q < 0 && r >= 0)
                        r = q;
                else if (q >= 0)
                        removed++;
        }
        return r < 0 ? r : removed;
}

int sk_snapshotter_dir(sk_snapshotter *s, const char *key, uint64_t *ret_id, char **ret_dir) {
        sk_record rec;
        char *dir;
        int r = sk_snap_lookup(s, key, &rec);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/snapshots/%" PRIu64, s->root, rec.id) < 0)
                return -ENOMEM;
        *ret_id = rec.id;
        *ret_dir = dir;
        return 0;
}
