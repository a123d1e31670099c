/* Consistency = pause (private to auto/): the container's task is paused
 * through containerd (a callback the daemon provides: auto/ speaks no gRPC)
 * for at most the policy's pause_timeout while its writable layer is read.
 *
 * DESIGN
 * The task is written to the paused set (state.h) before it is paused and
 * removed only after it was resumed, so a daemon killed in between resumes
 * it at its next start (sk_pause_resume_leftovers, retried by the planner
 * while containerd cannot be reached). A guard thread resumes the task at
 * the deadline even if the backup is still reading: a paused container is
 * worse than a backup that is only crash-consistent, which is then said in
 * the log. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "auto/scheduler.h"
#include "auto/state.h"

typedef struct sk_pause_ctx {
        sk_task_pause_fn fn;
        void *userdata;
        sk_sched_db *db;
        sk_capture_log_fn log;
        void *log_userdata;
} sk_pause_ctx;

typedef struct sk_pause_guard sk_pause_guard;

/* One finished line to a capture log callback (NULL: nothing), for the
 * scheduler and the pauses alike. */
void sk_auto_log(sk_capture_log_fn fn, void *userdata, int level, const char *fmt, ...) _printf_(4, 5);

/* Pause the task of the container whose snapshot key is key ("ns/N/id").
 * 0: paused, *ret is the guard; -ENOENT: the container has no running task
 * (nothing to pause, *ret NULL); other -errno with *ret_error (owned): it
 * could not be paused (and is not). */
int sk_pause_begin(const sk_pause_ctx *c, const char *key, uint32_t timeout_s, sk_pause_guard **ret,
                   char **ret_error);

/* After the backup: resume the task (unless the guard already did), drop it
 * from the paused set, free g. Returns true if the deadline passed first. */
bool sk_pause_end(sk_pause_guard *g);

/* Resume every task of the paused set; returns how many are left (containerd
 * not reachable), >= 0. */
int sk_pause_resume_leftovers(const sk_pause_ctx *c);
