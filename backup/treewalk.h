/* Iterative walk of a backup's trees, for every reader that descends them
 * (check, prune, ls, diff, stats, OCI export).
 *
 * DESIGN: a tree's depth is chosen by whoever wrote the repository, so no
 * reader may recurse over it. The walk keeps an explicit stack of directory
 * frames on the heap, each holding one decoded leaf blob (a split
 * directory's parts are loaded one at a time, so a huge directory costs one
 * part, <= 4 MiB encoded, not all of it). Depth is bounded by
 * SK_TREE_MAX_DEPTH: a deeper tree is malformed (-EBADMSG), reported like an
 * unreadable one. The caller drives it (sk_treewalk_step) and decides per
 * directory whether to descend (sk_treewalk_skip), which is how walks that
 * memoise tree ids (prune, check, stats) avoid revisiting shared subtrees. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"
#include "repo/tree.h"

typedef struct sk_treewalk sk_treewalk;

typedef enum sk_walk_event {
        SK_WALK_END = 0,
        SK_WALK_ENTRY,          /* an entry; a directory is entered next unless skipped */
        SK_WALK_LEAVE,          /* every entry of a directory entered was reported */
        SK_WALK_UNREADABLE,     /* a directory's tree could not be loaded (or is too deep) */
} sk_walk_event;

typedef struct sk_walk_item {
        sk_walk_event event;
        /* The entry (ENTRY), the directory left (LEAVE) or the one that could
         * not be loaded (UNREADABLE). Borrowed until the next step. The walk
         * starts with an ENTRY for the top directory itself: a DIR node named
         * "" at depth 0 whose subtree is the root id. */
        const sk_node *node;
        const char *path;       /* its path: prefix, then "/"-joined names; borrowed */
        size_t depth;           /* 0: the top directory, 1: its entries, ... */
        /* Two counters per directory for callers that sum up subtrees: acc is
         * the directory holding node (the top directory's for depth 0), sub
         * (LEAVE only) the directory left, whose sums are final then. */
        uint64_t *acc, *sub;
        int error;              /* UNREADABLE: -errno (-EBADMSG: malformed or too deep) */
        const char *detail;     /* UNREADABLE: names the tree blob; borrowed */
} sk_walk_item;

/* Walk the directory whose tree id is root. prefix (may be NULL) starts
 * every path. */
int sk_treewalk_new(sk_repo *repo, const uint8_t root[SK_TREE_ID_BYTES], const char *prefix, sk_treewalk **ret);
sk_treewalk *sk_treewalk_free(sk_treewalk *w);

/* Next event into *ret: depth-first, entries in name order. Returns 0 (with
 * SK_WALK_END when done) or -errno (-ENOMEM), after which the walk is
 * over. After UNREADABLE the walk goes on with the next sibling. */
int sk_treewalk_step(sk_treewalk *w, sk_walk_item *ret);

/* Do not enter the directory the last ENTRY reported (no LEAVE for it). */
void sk_treewalk_skip(sk_treewalk *w);
