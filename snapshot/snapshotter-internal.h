/* Private to snapshot/: the sk_snapshotter object as snapshotter.c (open,
 * create, commit, remove and the directory life cycle) and snapshotter-info.c
 * (stat, update, usage, walk) both see it, and the few helpers they share. Not
 * a public header: nothing outside snapshot/ may include it. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/macro.h"
#include "snapshot/metastore.h"
#include "snapshot/snapshotter.h"

struct sk_snapshotter {
        char *root;
        int snapshots_fd;
        int lock_fd; /* <root>/lock, flock()ed: one process per root */
        sk_metastore *ms;
        size_t max_label_bytes;
        bool index_off;
        atomic_uint_fast64_t trash_seq;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_mtxn *, sk_mtxn_abort)
#define _cleanup_txn_ _cleanup_(sk_mtxn_abortp)

static inline struct timespec now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return ts;
}

/* Begin a transaction (write: the writer's) and read key's record into
 * *ret_rec, which the caller clears while the transaction is open. An empty
 * key is -EINVAL. On failure nothing is left open. */
int sk_snap_get(sk_snapshotter *s, const char *key, bool write, sk_mtxn **ret_t, sk_record *ret_rec);
/* -EINVAL for a label without key or value, or over max_label_bytes. */
int sk_snap_check_label(sk_snapshotter *s, const sk_label *l);
/* key's record without its strings (parent and labels empty), read in a
 * short read transaction of its own. An empty key is -EINVAL. */
int sk_snap_lookup(sk_snapshotter *s, const char *key, sk_record *ret);
/* key's id and usage now: the stored figure, or for an active snapshot a walk
 * of its upper directory, done outside any transaction (it can be long). */
int sk_snap_usage_now(sk_snapshotter *s, const char *key, uint64_t *ret_id, sk_usage *ret);
