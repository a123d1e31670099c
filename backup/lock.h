/* Repository locks (docs/FORMAT.md section 8).
 *
 * DESIGN: lock files are plain, randomly named objects under locks/. A request
 * writes its own file first and only then looks at the others, so two
 * conflicting requests can never both succeed, on any backend that lists
 * what was written before (the local directory; S3 is read-after-write
 * consistent). No compare-and-swap is needed. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct sk_backend;
typedef struct sk_lock sk_lock;

#define SK_LOCK_STALE_SECONDS (30 * 60)
#define SK_LOCK_REFRESH_SECONDS (5 * 60)

/* Take a lock on backend b (borrowed until sk_lock_release). wait_seconds 0:
 * fail at once with -EBUSY if a live conflicting lock exists; otherwise retry
 * (with jittered sleeps) until the timeout, then -EBUSY. *ret_holder (may be
 * NULL) receives, on -EBUSY only, an owned description of the blocking lock
 * ("exclusive lock 0123abcd… held by host h pid 42, refreshed 12s ago");
 * it is set to NULL on success. stale_seconds 0 = SK_LOCK_STALE_SECONDS. */
int sk_lock_acquire(struct sk_backend *b, bool exclusive, unsigned wait_seconds, unsigned stale_seconds,
                    sk_lock **ret, char **ret_holder);

/* Rewrite the lock's "time" to now. -ENOENT if our file was removed (lost). */
int sk_lock_refresh(sk_lock *lock);

/* The lock's id (16 hex digits), borrowed while the lock lives. */
const char *sk_lock_id(const sk_lock *lock);

/* Delete our lock file and free. Accepts NULL (returns 0). A lock file that is
 * already gone is not an error. */
int sk_lock_release(sk_lock *lock);

/* Remove stale locks; *ret_removed (may be NULL) counts them. */
int sk_lock_remove_stale(struct sk_backend *b, unsigned stale_seconds, unsigned *ret_removed);
