/* The scheduler's durable state: one sk_sched_state per source (a snapshot's
 * backend key), in an LMDB environment of its own under the daemon's root,
 * so that last start, last success, failures and the next run survive a
 * restart and kill -9 (every put is a committed, synced transaction).
 * Record layout, version 1, little-endian (see state.c). */
#pragma once

#include "auto/schedule.h"
#include "common/macro.h"

typedef struct sk_sched_db sk_sched_db;

/* Open (creating) the environment in directory dir (created 0700). */
int sk_sched_db_open(const char *dir, sk_sched_db **ret);
void sk_sched_db_free(sk_sched_db *db);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_sched_db *, sk_sched_db_free);

/* -ENOENT if the source has no record; -EBADMSG if its record is not ours. */
int sk_sched_db_get(sk_sched_db *db, const char *source, sk_sched_state *ret);
int sk_sched_db_put(sk_sched_db *db, const char *source, const sk_sched_state *s);
int sk_sched_db_delete(sk_sched_db *db, const char *source);

/* The paused set: tasks ("ns/id") paused for a consistent backup, written
 * before the pause and removed after the resume, so that a daemon killed in
 * between resumes them when it starts again. *ret is a NULL-terminated owned
 * array (free each and the array). */
int sk_sched_db_paused_put(sk_sched_db *db, const char *task);
int sk_sched_db_paused_delete(sk_sched_db *db, const char *task);
int sk_sched_db_paused_list(sk_sched_db *db, char ***ret, size_t *ret_n);

/* The hold set (snapkeep daemon pause/resume): "policy:NAME" and
 * "source:KEY" entries whose sources do not run on their schedule. */
int sk_sched_db_held_put(sk_sched_db *db, const char *what);
int sk_sched_db_held_delete(sk_sched_db *db, const char *what);
int sk_sched_db_held_list(sk_sched_db *db, char ***ret, size_t *ret_n);

/* Every record, in key order; a record that does not decode is skipped. fn
 * returning < 0 stops the walk with that value. */
typedef int (*sk_sched_db_fn)(const char *source, const sk_sched_state *s, void *userdata);
int sk_sched_db_foreach(sk_sched_db *db, sk_sched_db_fn fn, void *userdata);
