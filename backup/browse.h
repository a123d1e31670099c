/* Browsing the backups of a repository: look up one entry, ls, diff and
 * stats. Nothing here takes a lock or writes.
 *
 * DESIGN: diff walks two trees side by side in name order and never descends
 * into a pair of subdirectories whose tree ids are equal (deterministic trees
 * make that "nothing changed below"), so diffing two backups of a mostly
 * unchanged tree costs only the changed paths. Backup ids are anything
 * sk_backup_resolve() (manifest.h) accepts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/engine.h"
#include "repo/tree.h"

/* Called per entry: path is the entry's path inside the backup (borrowed),
 * node its metadata (borrowed). Return < 0 to stop (returned by the caller). */
typedef int (*sk_ls_fn)(const char *path, const sk_node *node, void *userdata);

/* List the entry at `path` (reported first, unless path is "" or "/", the
 * root, which has no entry of its own) and, if it is a directory, its
 * children in name order; recursive lists everything below, depth-first.
 * -ENOENT if path is absent, -ENOTDIR if a middle component is not a
 * directory. */
int sk_ls(sk_repo *repo, const char *id, const char *path, bool recursive,
          sk_ls_fn fn, void *userdata);

/* Look up one entry by path. *ret is a deep copy (sk_node_clear() it). */
int sk_backup_lookup(sk_repo *repo, const char *id, const char *path, sk_node *ret);

typedef enum sk_diff_kind {
        SK_DIFF_ADDED,          /* only in the new backup (old == NULL) */
        SK_DIFF_REMOVED,        /* only in the old backup (new == NULL) */
        SK_DIFF_MODIFIED,       /* content (or type, or symlink target, or device) changed */
        SK_DIFF_METADATA,       /* same content; mode/owner/mtime/xattrs changed */
} sk_diff_kind;

/* Called per difference with borrowed path and nodes. For an added or removed
 * directory, its whole subtree is reported below it. Return < 0 to stop. */
typedef int (*sk_diff_fn)(sk_diff_kind kind, const char *path, const sk_node *old_node,
                          const sk_node *new_node, void *userdata);

typedef struct sk_diff_result {
        uint64_t added, removed, modified, metadata;
} sk_diff_result;

int sk_diff(sk_repo *repo, const char *old_id, const char *new_id, sk_diff_fn fn, void *userdata,
            sk_diff_result *ret_result);

typedef struct sk_stats {
        uint64_t backups;
        uint64_t files;         /* entries over all backups (non-dirs), counting each backup */
        uint64_t total_size;    /* sum of restore sizes of all backups */
        uint64_t trees;         /* unique tree blobs referenced */
        uint64_t blobs;         /* unique data blobs referenced */
        uint64_t unique_size;   /* plaintext bytes of unique data blobs referenced */
        uint64_t stored_size;   /* bytes of all packs in the repository */
        uint64_t packs;
        double dedup_ratio;     /* total_size / unique_size (0 if nothing) */
        double compression_ratio; /* plaintext of all indexed blobs / pack bytes */
} sk_stats;

/* Statistics over all backups (id == NULL) or one backup. Walks every tree. */
int sk_stats_compute(sk_repo *repo, const char *id, sk_progress_fn progress, void *userdata,
                     sk_stats *ret_stats);
