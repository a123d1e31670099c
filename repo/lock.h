/* Repository locks (docs/FORMAT.md section 8).
 *
 * DESIGN: lock files are plain, randomly named objects under locks/. A request
 * writes its own file first and only then looks at the others, so two
 * conflicting requests can never both succeed, on any backend that lists
 * what was written before (the local directory; S3 is read-after-write
 * consistent). No compare-and-swap is needed.
 *
 * A lock can be lost while its holder still runs: the holder was stopped or
 * suspended longer than the stale time, a clock jumped, or someone deleted the
 * file. Losing it must never go unnoticed, so:
 * - a thread of the lock object refreshes it on a timer (not when the caller
 *   happens to make progress);
 * - whoever removes somebody else's lock first writes a tombstone
 *   lockgone/<id>, and a refresh never recreates a lock that has one (it
 *   re-checks after its write and deletes what it wrote);
 * - the holder counts its lock lost when the file is gone, a tombstone names
 *   it, or its last successful refresh is older than half the stale time by
 *   CLOCK_BOOTTIME (which counts suspend): others could already judge it
 *   stale. Loss is sticky.
 * Writers ask sk_lock_check() before and after every write that references
 * data (index files, manifests; repo.c does this for them). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct sk_backend;
typedef struct sk_lock sk_lock;

#define SK_LOCK_STALE_SECONDS (30 * 60)
#define SK_LOCK_REFRESH_SECONDS (5 * 60)
/* Tombstones older than this are removed by prune (sk_lock_remove_tombstones):
 * a holder stopped for longer than a day has long seen its lock as lost by the
 * freshness rule anyway. */
#define SK_LOCK_TOMBSTONE_SECONDS (24 * 60 * 60)

/* The refresh interval used for a stale time: a sixth of it, at most
 * SK_LOCK_REFRESH_SECONDS, at least 1 s; so two refreshes may fail (a slow or
 * flaky store) before the half-stale-time freshness limit is reached. */
unsigned sk_lock_refresh_interval(unsigned stale_seconds);

/* Take a lock on backend b (borrowed until sk_lock_release). wait_seconds 0:
 * fail at once with -EBUSY if a live conflicting lock exists; otherwise retry
 * (with jittered sleeps) until the timeout, then -EBUSY. Stale locks met on
 * the way are tombstoned and removed. *ret_holder (may be NULL) receives, on
 * -EBUSY only, an owned description of the blocking lock ("exclusive lock
 * 0123abcd… held by host h pid 42, refreshed 12s ago"); it is set to NULL on
 * success. stale_seconds 0 = SK_LOCK_STALE_SECONDS. On success a thread
 * refreshes the lock every sk_lock_refresh_interval(stale_seconds). */
int sk_lock_acquire(struct sk_backend *b, bool exclusive, unsigned wait_seconds, unsigned stale_seconds,
                    sk_lock **ret, char **ret_holder);

/* Rewrite the lock's "time" to now (the timer does this by itself; this is for
 * callers that want it at once). -ESTALE if the lock is lost (see top); other
 * errors are storage errors (the lock may still be fine). Thread-safe. */
int sk_lock_refresh(sk_lock *lock);

/* 0 if the lock is still ours, -ESTALE if it is lost (sticky; see top). With
 * remote, also looks at storage (lock file present, no tombstone): two HEAD
 * requests; a storage error is returned as is. Without, only the sticky flag
 * and the freshness rule are checked (no I/O). Thread-safe. */
int sk_lock_check(sk_lock *lock, bool remote);

/* Why the lock was lost ("removed as stale by host h pid 7 ..."), "" while
 * it is not. Borrowed while the lock lives; it does not change once set. */
const char *sk_lock_lost_reason(sk_lock *lock);

/* The lock's id (16 hex digits), borrowed while the lock lives. */
const char *sk_lock_id(const sk_lock *lock);

/* fn(lock, userdata) is called by sk_lock_release before the lock goes (one
 * hook per lock; NULL removes it): lets a repository stop guarding its writes
 * with a lock that no longer exists. */
typedef void (*sk_lock_release_fn)(sk_lock *lock, void *userdata);
void sk_lock_on_release(sk_lock *lock, sk_lock_release_fn fn, void *userdata);

/* Stop the refresh thread, delete our lock file and free. Accepts NULL
 * (returns 0). A lock file that is already gone is not an error. */
int sk_lock_release(sk_lock *lock);

/* Remove stale locks (tombstone first); *ret_removed (may be NULL) counts
 * them. */
int sk_lock_remove_stale(struct sk_backend *b, unsigned stale_seconds, unsigned *ret_removed);

/* Remove tombstones written more than max_age seconds ago (by their "time"
 * line; unreadable ones are left alone). *ret_removed may be NULL. */
int sk_lock_remove_tombstones(struct sk_backend *b, uint64_t max_age, unsigned *ret_removed);
