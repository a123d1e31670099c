/* The snapshot metadata store: LMDB tables behind transaction handles.
 * Internal to snapshot/ (plugin/ uses snapshotter.h only).
 *
 * Tables (one LMDB environment, four named databases):
 *   "snapshots"  key string           -> record (see metastore.c for the layout)
 *   "ids"        id (u64 big-endian)  -> key string
 *   "children"   parent id + child id (u64 big-endian each) -> child key
 *   "meta"       "next-id" -> u64 little-endian; "version" -> u32 little-endian
 * Big-endian id keys keep LMDB's byte order equal to numeric order, which lets a
 * range seek on the parent's 8-byte prefix answer "has children?". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "snapshot/snapshotter.h"

typedef struct sk_metastore sk_metastore;
typedef struct sk_mtxn sk_mtxn;

/* A decoded record. Strings and the label array's strings point into the LMDB
 * map and stay valid only until the transaction ends or (in a write
 * transaction) the next write; labels itself is owned (sk_record_clear). */
typedef struct sk_record {
        uint64_t id;
        sk_kind kind;
        const char *parent; /* NULL when there is none */
        sk_label *labels;   /* key/value point into the map; cast away const only to share sk_label */
        size_t n_labels;
        struct timespec created;
        struct timespec updated;
        sk_usage usage;
} sk_record;

/* Open (creating) the environment in directory dir (which must exist). */
int sk_metastore_open(const char *dir, size_t map_size, sk_metastore **ret);
void sk_metastore_free(sk_metastore *m);
/* Largest key LMDB accepts, in bytes. */
size_t sk_metastore_max_key(const sk_metastore *m);

/* Transactions. A write transaction serialises against every other writer of
 * the environment (LMDB's writer lock); read transactions never block. A
 * transaction is used by one thread at a time. abort accepts NULL. */
int sk_mtxn_begin(sk_metastore *m, bool write, sk_mtxn **ret);
int sk_mtxn_commit(sk_mtxn *t); /* frees t, even on failure */
void sk_mtxn_abort(sk_mtxn *t);

int sk_mtxn_get(sk_mtxn *t, const char *key, sk_record *ret); /* -ENOENT */
bool sk_mtxn_exists(sk_mtxn *t, const char *key);
/* Store rec under key; overwrite=false fails with -EEXIST if key exists. */
int sk_mtxn_put(sk_mtxn *t, const char *key, const sk_record *rec, bool overwrite);
int sk_mtxn_del(sk_mtxn *t, const char *key);

/* Allocate the next id (starting at 1); consumed only if t commits. */
int sk_mtxn_next_id(sk_mtxn *t, uint64_t *ret);
int sk_mtxn_id_put(sk_mtxn *t, uint64_t id, const char *key);
int sk_mtxn_id_del(sk_mtxn *t, uint64_t id);
/* Whether id belongs to a record (>0 yes, 0 no, <0 error). */
int sk_mtxn_id_exists(sk_mtxn *t, uint64_t id);

int sk_mtxn_child_put(sk_mtxn *t, uint64_t parent, uint64_t child, const char *child_key);
int sk_mtxn_child_del(sk_mtxn *t, uint64_t parent, uint64_t child);
/* >0 if parent has at least one child, 0 if none, <0 error. */
int sk_mtxn_has_children(sk_mtxn *t, uint64_t parent);

/* Call fn for each record in key order; rec is borrowed for the call. A
 * negative return from fn stops the iteration and is returned. */
typedef int (*sk_mtxn_foreach_fn)(const char *key, const sk_record *rec, void *userdata);
int sk_mtxn_foreach(sk_mtxn *t, sk_mtxn_foreach_fn fn, void *userdata);

void sk_record_clear(sk_record *rec);
