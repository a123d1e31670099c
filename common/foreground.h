/* Foreground work and the background writes that give way to it.
 *
 * Why: on a virtual disk (and on many real ones) every fsync ends in a cache
 * flush that must first make durable whatever any process wrote before it.
 * A scheduled backup streaming packs to a repository on the node's own disk
 * therefore makes each durable commit of a snapshot operation (snapkeepd's
 * LMDB, then containerd's bolt) wait behind megabytes of backup data. The
 * kernel's idle I/O class cannot see that cost: the data was written long
 * before the flush. So snapkeepd marks the operations containerd waits on,
 * and a thread in the idle I/O class (a scheduled backup: auto/scheduler.c
 * sets it) waits before each slice it writes to local disk until none has
 * run for SK_FOREGROUND_QUIET_MS, at most a given bound, so that the backup
 * still progresses under a constant stream of operations.
 *
 * Process-wide and lock-free; nothing here prints or fails. */
#pragma once

#include <stdbool.h>

#define SK_FOREGROUND_QUIET_MS 20

/* Around one foreground operation (nests; any thread). */
void sk_foreground_enter(void);
void sk_foreground_leave(void);

/* In a thread of the idle I/O class: wait while foreground operations run or
 * one ended less than SK_FOREGROUND_QUIET_MS ago, for at most max_ms.
 * Returns the milliseconds waited (0 at once in any other thread, and in a
 * thread that is itself inside a foreground operation). */
unsigned sk_foreground_give_way(unsigned max_ms);

/* Whether the calling thread is in the idle I/O class, and whether it is
 * inside a foreground operation of its own (never held back, even in a
 * daemon run wholly in the idle classes). */
bool sk_thread_io_idle(void);
bool sk_foreground_here(void);
