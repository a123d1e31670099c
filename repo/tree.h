/* Tree and manifest codec: the deterministic, chunked description of a backup.
 *
 * DESIGN (full spec in docs/FORMAT-tree.md): every directory is one tree blob
 * (or, for a huge directory, a "split" tree blob listing part blobs), holding
 * its entries sorted by name bytes with all their metadata, the chunk ids of
 * each file's data extents and the tree id of each subdirectory. Encoding is
 * fixed-width little-endian and canonical: the same directory state gives the
 * same bytes, hence the same blob id, so unchanged subtrees dedup and diff can
 * skip them by id. A backup manifest (object backups/<id>) names the root tree.
 * Decoders check magic, version, every length and canonical order, and reject
 * anything else with -EBADMSG (unknown version: -EPROTONOSUPPORT); they are
 * fuzzed (tests/fuzz/fuzz-tree.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>


#define SK_TREE_ID_BYTES 32     /* = blob id size of the repository */
/* Deepest tree level a backup may hold (FORMAT-tree.md "Nesting"): the root
 * tree is level 0, the tree of a directory listed in a level-n tree is level
 * n+1. Writers refuse to go deeper (the directory is stored empty, with an
 * error), readers reject deeper trees (-EBADMSG). Walks use explicit stacks,
 * so this bounds their memory, not C stack. */
#define SK_TREE_MAX_DEPTH 131072u
/* Decoded listings a walk may hold at once along one path (sk_tree_footprint
 * summed over its stack). The depth bound alone does not bound memory: a
 * repository writer can name the same big part of a split directory at
 * every level of a deep chain, so a few MiB stored cost depth x MiB decoded.
 * A walk that would exceed this reports the directory it was entering as
 * unreadable (-E2BIG) and goes on with its siblings. Trees that real
 * filesystems produce stay far below it. */
#define SK_WALK_HELD_MAX ((size_t) 512 << 20)
#define SK_CONTENT_HASH_BYTES 32

typedef enum sk_node_type {
        SK_NODE_FILE = 1,
        SK_NODE_DIR = 2,
        SK_NODE_SYMLINK = 3,
        SK_NODE_CHR = 4,        /* overlayfs whiteouts are SK_NODE_CHR 0:0 */
        SK_NODE_BLK = 5,
        SK_NODE_FIFO = 6,
        SK_NODE_SOCKET = 7,     /* recorded with metadata; restore skips it with a warning */
} sk_node_type;

/* One xattr: name is NUL-terminated, value is raw bytes (may be empty). */
typedef struct sk_xattr {
        char *name;
        uint8_t *value;
        uint32_t value_len;
} sk_xattr;

/* A content chunk: blob id (type data) and plaintext length. */
typedef struct sk_chunk_ref {
        uint8_t id[SK_TREE_ID_BYTES];
        uint32_t len;
} sk_chunk_ref;

/* A data extent of a (possibly sparse) file: [offset, offset+length) holds the
 * concatenation of chunks[first_chunk .. first_chunk+n_chunks). Everything
 * outside the extents is a hole. Extents are sorted and do not overlap. */
typedef struct sk_extent {
        uint64_t offset;
        uint64_t length;
        uint32_t first_chunk;
        uint32_t n_chunks;
} sk_extent;

/* One directory entry with everything the backup keeps about it. A node owns
 * all its pointers (release with sk_node_clear()). dev, ino and ctime are kept
 * only to detect unchanged files in the next backup; they are never restored.
 * Hardlinks: every member of a group is stored in full (same content, same
 * chunks), and members are recognised by equal (dev, ino) with nlink > 1;
 * restore links later members to the first one it created. */
typedef struct sk_node {
        char *name;             /* one path component, raw bytes, NUL-terminated */
        sk_node_type type;
        uint32_t mode;          /* permission bits incl. setuid/setgid/sticky (07777) */
        uint32_t uid, gid;
        struct timespec mtime, atime, ctime;
        uint64_t dev, ino;
        uint32_t nlink;
        uint32_t rdev_major, rdev_minor;        /* CHR/BLK */
        uint64_t size;          /* FILE: logical size; SYMLINK: target length */
        char *target;           /* SYMLINK: raw target bytes, NUL-terminated */
        sk_xattr *xattrs;       /* sorted by name bytes, names unique */
        size_t n_xattrs;
        uint8_t content_hash[SK_CONTENT_HASH_BYTES];    /* FILE: see FORMAT-tree.md */
        uint8_t hash_rule;      /* FILE: content_hash's rule (SK_FILEHASH_RULE_*; 0 means 1);
                                 * decode sets it from the tree blob's version */
        sk_extent *extents;     /* FILE */
        size_t n_extents;
        sk_chunk_ref *chunks;   /* FILE */
        size_t n_chunks;
        uint8_t subtree[SK_TREE_ID_BYTES];      /* DIR: tree id of its contents */
} sk_node;

/* Free everything a node owns and zero it. Accepts a zeroed node. */
void sk_node_clear(sk_node *n);
/* Deep copy. */
int sk_node_copy(const sk_node *src, sk_node *ret);
/* Deep-copy src's xattrs into dst, which has none. On -ENOMEM dst holds a
 * partial copy that sk_node_clear frees. */
int sk_node_copy_xattrs(const sk_node *src, sk_node *dst);
/* True if the restorable state differs (type, mode, owner, mtime, size,
 * content, target, rdev, xattrs). ctime, atime, dev, ino, nlink ignored. */
bool sk_node_meta_equal(const sk_node *a, const sk_node *b);
/* The rule n's content_hash follows (repo/filehash.h): hash_rule, with 0
 * (a node made by hand) counting as rule 1. */
int sk_node_hash_rule(const sk_node *n);
/* A digest of what a hardlink's members must share: type, size and, by
 * type, the content hash and its rule, the symlink target or the device
 * numbers. A restore links a member to its group's first only when the two
 * are equal, so a tree cannot make a link stand for content other than its
 * own (every member of a group is stored in full). 0 or -ENOMEM. */
#define SK_NODE_DIGEST_BYTES 32
int sk_node_content_digest(const sk_node *n, uint8_t out[SK_NODE_DIGEST_BYTES]);
/* The one-letter type used by ls: '-', 'd', 'l', 'c', 'b', 'p', 's'. */
char sk_node_type_char(sk_node_type t);

/* ---- trees ---------------------------------------------------------------- */

typedef struct sk_tree sk_tree;

/* Parse one tree blob (plaintext). *ret_tree is owned (sk_tree_free()).
 * -EBADMSG: malformed or non-canonical; -EPROTONOSUPPORT: unknown version. */
int sk_tree_decode(const void *buf, size_t len, sk_tree **ret_tree);
sk_tree *sk_tree_free(sk_tree *t);

/* A leaf tree holds entries; a split tree (huge directory) holds the ids of
 * its part trees, each a leaf, whose entries concatenated are the directory. */
bool sk_tree_is_split(const sk_tree *t);
/* Memory the decoded tree holds, about (what SK_WALK_HELD_MAX counts). */
size_t sk_tree_footprint(const sk_tree *t);
size_t sk_tree_n_entries(const sk_tree *t);
/* Borrowed, valid until sk_tree_free(). Sorted by name bytes. */
const sk_node *sk_tree_entry(const sk_tree *t, size_t i);
size_t sk_tree_n_parts(const sk_tree *t);
const uint8_t *sk_tree_part(const sk_tree *t, size_t i);

/* Stores one encoded tree blob and returns its id (the repository's
 * put-blob of type tree). */
typedef int (*sk_tree_store_fn)(const void *buf, size_t len, uint8_t ret_id[SK_TREE_ID_BYTES], void *userdata);

typedef struct sk_tree_builder sk_tree_builder;

int sk_tree_builder_new(sk_tree_builder **ret);
sk_tree_builder *sk_tree_builder_free(sk_tree_builder *b);
/* Add an entry. Ownership of everything *n points to moves into the builder
 * and *n is zeroed (also on failure). Entries may come in any order; a
 * duplicate name fails at finish with -EEXIST. */
int sk_tree_builder_add(sk_tree_builder *b, sk_node *n);
/* Sort, encode (splitting huge directories at content-defined points), store
 * every blob through store and return the directory's tree id. The builder is
 * empty afterwards and may be reused. */
int sk_tree_builder_finish(sk_tree_builder *b, sk_tree_store_fn store, void *userdata,
                           uint8_t ret_id[SK_TREE_ID_BYTES]);
/* Encode a single leaf blob of the given sorted entries (tests, fuzz seeds). */
int sk_tree_encode_leaf(const sk_node *entries, size_t n, void **ret_buf, size_t *ret_len);

/* Hex helpers (lowercase). out must hold 2*len+1 bytes. */
void sk_hex(const uint8_t *in, size_t len, char *out);
int sk_unhex(const char *in, uint8_t *out, size_t len);
