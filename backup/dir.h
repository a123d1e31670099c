/* A backup's directories as the engine reads them: one tree blob loaded and
 * decoded, a whole directory (a leaf, or all parts of a split tree) joined
 * into one listing in name order, a name found in it, and a path looked up
 * below a root tree. Shared by backup (the parent backup), restore, browse
 * and the tree walk; room-internal (not for cli/ or plugin/). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "repo/tree.h"

/* A whole directory: the entries of its leaf, or of all parts of a split
 * tree, in name order. Owns its entries. */
typedef struct sk_dir {
        sk_node *entries;
        size_t n;
        size_t footprint;       /* sk_tree_footprint of its blobs, summed */
} sk_dir;

/* Frees d; returns NULL (for d = sk_dir_free(d)). */
sk_dir *sk_dir_free(sk_dir *d);
/* Load and decode one tree blob (leaf or split; parts not followed). On
 * failure *ret_detail (may be NULL) receives an owned message naming it. */
int sk_tree_blob_load(sk_repo *repo, const uint8_t id[SK_TREE_ID_BYTES], sk_tree **ret, char **ret_detail);
/* sk_tree_store_fn over sk_repo_put_blob(SK_BLOB_TREE); userdata is the repo. */
int sk_tree_blob_store(const void *buf, size_t len, uint8_t ret_id[SK_TREE_ID_BYTES], void *userdata);
/* Load and decode tree id (following split parts). On failure *ret_detail
 * (may be NULL) receives an owned message naming the tree blob and the
 * repository's detail. */
int sk_dir_load(sk_repo *repo, const uint8_t id[SK_TREE_ID_BYTES], sk_dir **ret, char **ret_detail);
/* Binary search by name; borrowed pointer or NULL. */
const sk_node *sk_dir_find(const sk_dir *d, const char *name);

/* Split a backup path into normalized components: leading, trailing and
 * repeated '/' dropped; "." components dropped; ".." is -EINVAL. The result
 * is an owned string with components joined by single '/' ("" for root). */
int sk_path_normalize(const char *path, char **ret);

/* Look up path (normalized) below root tree id; deep copy into *ret. A path
 * of "" gives a synthetic DIR node named "" whose subtree is root. */
int sk_tree_lookup(sk_repo *repo, const uint8_t root[SK_TREE_ID_BYTES], const char *path, sk_node *ret);
