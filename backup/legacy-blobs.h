/* Repair of repositories written before blob types were part of blob
 * identity (FORMAT.md section 6): a tree or data blob may be stored only
 * under the other type. check reports such blobs, prune re-stores them. */
#pragma once

#include <stdint.h>

#include "repo/repo.h"
#include "repo/tree.h"

/* When (id, type) is missing but a blob of the other type has that id, store
 * its bytes (the same bytes: the id is their HMAC) as a blob of type (a tree
 * must decode first). 1 if stored, 0 if there was nothing to repair, or
 * -errno. The new blob is durable after the next sk_repo_flush(). */
int sk_legacy_blob_repair(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]);
/* 1 if (id, type) is missing and only the other type's blob has that id. */
int sk_legacy_blob_is(sk_repo *repo, sk_blob_type type, const uint8_t id[SK_TREE_ID_BYTES]);
