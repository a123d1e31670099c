/* Room snapshot/: containerd's snapshot semantics on disk: the snapshotter
 * (this file; stat/update/usage in snapshotter-info.c), its LMDB metadata
 * (metastore), mounts, List filters and disk usage. Knows nothing of gRPC or
 * repositories. Uses common/ only (Makefile DEPS_snapshot). */
/* The snapshotter: containerd's snapshot semantics over an overlay layout.
 *
 * DESIGN
 * Metadata lives in one LMDB environment under <root>/metadata/; every call is
 * one write (or read) transaction. Each snapshot has a numeric id allocated from
 * a counter in the database; keys are opaque strings and never become paths.
 * Data lives in <root>/snapshots/<id>/{fs,work}. A new snapshot directory is
 * built as <root>/snapshots/new-<id> and renamed to <id> just before the write
 * transaction commits, so after a crash either the record and the directory both
 * exist, or a leftover directory without a record remains; cleanup() removes
 * those. Semantics follow containerd's overlayfs snapshotter (1.6).
 *
 * The object is safe to call from several threads at once: LMDB serialises
 * writers and readers never block.
 *
 * Errors: -ENOENT (NotFound), -EEXIST (AlreadyExists), -EINVAL
 * (InvalidArgument), -EBUSY (FailedPrecondition: "cannot remove snapshot with
 * child"), -EPERM (FailedPrecondition on a wrong kind), other -errno
 * (Unknown/Internal). The gRPC mapping lives in plugin/. Per operation, checked
 * in this order (containerd 1.6 overlayfs/storage order):
 *   prepare/view: empty or over-long key, a label over max_label_bytes -> -EINVAL;
 *                 parent missing -> -ENOENT; parent not committed -> -EINVAL;
 *                 key exists -> -EEXIST.
 *   mounts:       empty key -> -EINVAL; missing -> -ENOENT; committed -> -EPERM.
 *   commit:       empty name/key, over-long name, big label -> -EINVAL; key
 *                 missing -> -ENOENT; name exists -> -EEXIST; key not active
 *                 (view or committed) -> -EPERM.
 *   remove:       empty key -> -EINVAL; missing -> -ENOENT; has children -> -EBUSY.
 *   stat/usage:   empty key -> -EINVAL; missing -> -ENOENT.
 *   update:       empty name, big label, a path other than "labels"/"labels.K"
 *                 -> -EINVAL; missing -> -ENOENT.
 * Any operation may also fail with -ENOMEM, -ENOSPC (LMDB map full), -EIO or
 * the -errno of a filesystem call. -EBADMSG means a record failed to decode.
 *
 * Durability: a kill -9 at any point loses nothing committed. The environment
 * runs with MDB_NOMETASYNC, so after a power failure the last transaction may
 * be lost (never the database's consistency); open() and cleanup() reconcile
 * the directories with whatever the database holds.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct sk_snapshotter sk_snapshotter;

/* Same values as containerd.services.snapshots.v1.Kind. */
typedef enum sk_kind {
        SK_KIND_UNKNOWN = 0,
        SK_KIND_VIEW = 1,
        SK_KIND_ACTIVE = 2,
        SK_KIND_COMMITTED = 3,
} sk_kind;

typedef struct sk_label {
        char *key;
        char *value;
} sk_label;

/* A snapshot's info. Every string is owned by the struct; free with
 * sk_info_clear(). */
typedef struct sk_info {
        char *name;
        char *parent; /* NULL when there is none */
        sk_kind kind;
        sk_label *labels;
        size_t n_labels;
        struct timespec created;
        struct timespec updated;
} sk_info;

typedef struct sk_mount {
        char *type;    /* "overlay" or "bind" */
        char *source;
        char **options;
        size_t n_options;
} sk_mount;

/* An owned array of mounts; free with sk_mounts_free(). */
typedef struct sk_mounts {
        sk_mount *mounts;
        size_t n_mounts;
} sk_mounts;

typedef struct sk_usage {
        int64_t size;   /* bytes: st_blocks * 512 of unique inodes */
        int64_t inodes;
} sk_usage;

typedef struct sk_snapshotter_options {
        /* Upper bound on a label key + value in bytes (default 4096). */
        size_t max_label_bytes;
        /* LMDB map size in bytes (default 1 GiB). */
        size_t map_size;
} sk_snapshotter_options;

#define SK_SNAPSHOTTER_OPTIONS_INIT { .max_label_bytes = 4096, .map_size = (size_t) 1 << 30 }

/* Open (creating if needed) a snapshotter rooted at root. root is created with
 * mode 0700. opts may be NULL for defaults. One process at a time: -EBUSY
 * while another holds root/lock (an flock the kernel drops when it dies). */
int sk_snapshotter_open(const char *root, const sk_snapshotter_options *opts, sk_snapshotter **ret);
void sk_snapshotter_free(sk_snapshotter *s);

/* The root directory (borrowed, valid while s lives). */
const char *sk_snapshotter_root(const sk_snapshotter *s);

/* Create an active (prepare) or view snapshot on top of parent (NULL or "" for
 * none) and return the mounts for it (*ret owned by the caller). labels are
 * copied; labels with an empty value are not stored; for a duplicated key the
 * last one wins. */
int sk_snapshotter_prepare(sk_snapshotter *s, const char *key, const char *parent, const sk_label *labels,
                           size_t n_labels, sk_mounts *ret);
int sk_snapshotter_view(sk_snapshotter *s, const char *key, const char *parent, const sk_label *labels,
                        size_t n_labels, sk_mounts *ret);

/* Mounts of an existing active or view snapshot; -ENOENT if missing,
 * -EPERM (FailedPrecondition) for a committed one, as containerd's
 * storage.GetSnapshot. */
int sk_snapshotter_mounts(sk_snapshotter *s, const char *key, sk_mounts *ret);

/* Commit active snapshot key as name. The new snapshot gets exactly labels
 * (Commit replaces labels) and new created/updated times; it keeps the id and
 * data directory. Usage is computed here (outside the write lock) and stored.
 * A view cannot be committed (-EPERM). */
int sk_snapshotter_commit(sk_snapshotter *s, const char *name, const char *key, const sk_label *labels,
                          size_t n_labels);

/* Remove a snapshot; one with children fails with -EBUSY. The directory is
 * renamed out of the way inside the transaction and deleted after commit. */
int sk_snapshotter_remove(sk_snapshotter *s, const char *key);

int sk_snapshotter_stat(sk_snapshotter *s, const char *key, sk_info *ret);

/* Update labels of snapshot info->name. paths are field-mask paths: "labels"
 * replaces all labels, "labels.K" sets or (with an empty value) deletes one;
 * n_paths == 0 means "labels". Any other path is -EINVAL. Returns the updated
 * info in ret. */
int sk_snapshotter_update(sk_snapshotter *s, const sk_info *info, const char *const *paths, size_t n_paths,
                          sk_info *ret);
/* The same, except that a "labels" replacement keeps the stored labels named
 * in keep[0..n_keep) (info's own labels still override them), in the same
 * transaction: a client replacing every label (containerd does on each
 * Update) must not drop the ones only the daemon sets. */
int sk_snapshotter_update_keep(sk_snapshotter *s, const sk_info *info, const char *const *paths, size_t n_paths,
                               const char *const *keep, size_t n_keep, sk_info *ret);

/* Usage: stored at commit for committed snapshots, computed now for active. */
int sk_snapshotter_usage(sk_snapshotter *s, const char *key, sk_usage *ret);

/* Call fn for every snapshot (in key order) from one read transaction. info is
 * borrowed for the duration of the call (its strings point into the database
 * map: do not modify them). A negative return from fn stops the walk and is
 * returned. fn may call other sk_snapshotter functions; a long walk keeps old
 * database pages alive, so collect and return rather than block in fn. */
typedef int (*sk_walk_fn)(const sk_info *info, void *userdata);
int sk_snapshotter_walk(sk_snapshotter *s, sk_walk_fn fn, void *userdata);

/* Remove directories under snapshots/ that no record refers to (leftovers of a
 * crash or of remove: new-*, rm-*, unknown ids, anything else). Returns the
 * number removed. */
int sk_snapshotter_cleanup(sk_snapshotter *s);

/* Resolve a key to its numeric id and data directory "<root>/snapshots/<id>"
 * (for the backup integration). *ret_dir is owned by the caller. */
int sk_snapshotter_dir(sk_snapshotter *s, const char *key, uint64_t *ret_id, char **ret_dir);

void sk_info_clear(sk_info *info);
void sk_mounts_free(sk_mounts *m);
