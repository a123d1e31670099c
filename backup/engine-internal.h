/* Helpers shared by the engine's .c files (backup, restore, inspect, check,
 * forget, prune). Not for cli/ or plugin/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/engine.h"
#include "repo/repo.h"
#include "repo/tree.h"

#define SK_PROGRAM_VERSION "snapkeep 0.1"
#define SK_BACKUPS_DIR "backups"

/* A whole directory: the entries of its leaf, or of all parts of a split
 * tree, in name order. Owns its entries. */
typedef struct sk_dir {
        sk_node *entries;
        size_t n;
        size_t footprint;       /* sk_tree_footprint of its blobs, summed */
} sk_dir;

sk_dir *sk_dir_free(sk_dir *d);
/* Count footprint bytes more in *held, a walk's listings held along one
 * path: -E2BIG (nothing counted) if that would pass SK_WALK_HELD_MAX. */
int sk_held_add(size_t *held, size_t footprint);
/* The same against max instead of SK_WALK_HELD_MAX. */
int sk_held_add_max(size_t *held, size_t footprint, size_t max);
/* The detail of a walk stopped by SK_WALK_HELD_MAX (caller frees; NULL without memory). */
char *sk_engine_held_detail(void);
char *sk_engine_held_detail_max(size_t max);
/* Load and decode one tree blob (leaf or split; parts not followed). On
 * failure *ret_detail (may be NULL) receives an owned message naming it. */
int sk_tree_blob_load(sk_repo *repo, const uint8_t id[SK_TREE_ID_BYTES], sk_tree **ret, char **ret_detail);
/* Load and decode tree id (following split parts). On failure *ret_detail
 * (may be NULL) receives an owned message naming the tree blob and the
 * repository's detail. */
int sk_dir_load(sk_repo *repo, const uint8_t id[SK_TREE_ID_BYTES], sk_dir **ret, char **ret_detail);
/* Binary search by name; borrowed pointer or NULL. */
const sk_node *sk_dir_find(const sk_dir *d, const char *name);

/* Repair of repositories written before blob types were part of blob
 * identity (FORMAT.md section 6): when (id, type) is missing but a blob of the
 * other type has that id, store its bytes (the same bytes: the id is their
 * HMAC) as a blob of type (a tree must decode first). 1 if stored, 0 if there
 * was nothing to repair, or -errno. The new blob is durable after the next
 * sk_repo_flush(). */
int sk_engine_store_as(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]);
/* 1 if (id, type) is missing and only the other type's blob has that id. */
int sk_engine_is_legacy(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]);

/* sk_tree_store_fn over sk_repo_put_blob(SK_BLOB_TREE); userdata is the repo. */
int sk_engine_store_tree(const void *buf, size_t len, uint8_t ret_id[SK_TREE_ID_BYTES], void *userdata);

/* Split a backup path into normalized components: leading, trailing and
 * repeated '/' dropped; "." components dropped; ".." is -EINVAL. The result
 * is an owned string with components joined by single '/' ("" for root). */
int sk_path_normalize(const char *path, char **ret);

/* Look up path (normalized) below root tree id; deep copy into *ret. A path
 * of "" gives a synthetic DIR node named "" whose subtree is root. */
int sk_tree_lookup(sk_repo *repo, const uint8_t root[SK_TREE_ID_BYTES], const char *path, sk_node *ret);

/* Grow-able byte path used while walking; never passed to syscalls. */
typedef struct sk_pathbuf {
        char *p;
        size_t len, cap;
} sk_pathbuf;
/* Append "/name" (or "name" at the root); returns the old length to restore. */
int sk_pathbuf_push(sk_pathbuf *b, const char *name, size_t *ret_old);
void sk_pathbuf_pop(sk_pathbuf *b, size_t old);

/* The repository's last error detail copied (owned), or NULL on OOM. */
char *sk_engine_detail(sk_repo *repo, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report a problem (no-op if fn is NULL). */
void sk_engine_problem(sk_problem_fn fn, void *ud, sk_problem_kind kind, int error, const char *backup_id,
                       const char *path, const char *pack, const char *blob, const char *detail);

/* Collect every manifest id (hex) under backups/. Owned array of owned
 * strings; free with sk_strv_free. */
int sk_backup_ids(sk_repo *repo, char ***ret, size_t *ret_n);
void sk_strv_free(char **v, size_t n);

/* A hash map from 32-byte ids (uniformly random: blob ids) to two u64s. */
typedef struct sk_idmap_entry {
        uint8_t id[32];
        uint64_t a, b;
        bool used;
} sk_idmap_entry;

typedef struct sk_idmap {
        sk_idmap_entry *e;
        size_t cap, n;
} sk_idmap;

/* Find or insert id. *ret points at the entry (valid until the next insert);
 * returns 1 if inserted (a = b = 0), 0 if it was there. */
int sk_idmap_get(sk_idmap *m, const uint8_t id[32], sk_idmap_entry **ret);
sk_idmap_entry *sk_idmap_find(const sk_idmap *m, const uint8_t id[32]);
void sk_idmap_done(sk_idmap *m);

/* Find or add the record of pack name (hex) in a growable array of records of
 * item_size bytes whose first member is char name[SK_PACK_NAME_HEX + 1]; ids
 * maps a pack's id to its index + 1 (check and prune both keep such a table).
 * A new record is zeroed with its name set. The returned pointer is valid
 * until the next insert. NULL on a malformed name or out of memory. */
void *sk_pack_table_get(void **items, size_t *n, size_t *cap, size_t item_size, sk_idmap *ids, const char *name);
