/* When a source (one snapshot under one policy) runs next: pure arithmetic
 * over the policy and the source's recorded state, so that it is tested
 * without clocks or threads.
 *
 * DESIGN
 * The bugs users report against other schedulers (double runs after a
 * restart, a burst of runs to "catch up" every missed slot, a failing job
 * retried in a tight loop, a new schedule firing at once) all come from
 * computing the next run from the wall clock of *now*. Here it is computed
 * only from the last start:
 *   - interval: last start + interval;
 *   - times of day and cron: the first calendar slot whose time, plus the
 *     source's jitter, is strictly after the last start;
 *   - the earliest of these wins;
 *   - after a failure, a retry at last start + retry_min * 2^(failures-1)
 *     (at most retry_max) if that comes before the regular next run.
 * A source never run counts from when it was first seen, so a new policy or
 * a new container runs at its next slot, not at once. A next run in the
 * past is due now; running it moves the last start to now, so however many
 * slots were missed (the daemon was down), they are caught up exactly once.
 * Two nodes sharing a repository start calendar slots apart by their jitter:
 * a fixed offset in [0, jitter) per (node, source), the same after every
 * restart, so that a restart does not move a source's slot. */
#pragma once

#include <stdint.h>

#include "auto/policy.h"

/* The recorded state of one source: survives restarts (state.h). */
typedef struct sk_sched_state {
        char policy[SK_POLICY_NAME_MAX + 1]; /* the policy that ran it last */
        int64_t first_seen;       /* unix seconds */
        int64_t last_start;       /* 0: never started */
        int64_t last_end;
        int64_t last_success;     /* 0: never succeeded */
        int64_t next_run;         /* as computed after the last change (for status) */
        uint32_t failures;        /* consecutive failed runs */
        uint32_t runs;            /* runs started, ever */
        int32_t last_errno;       /* 0 or the last run's -errno */
        char last_error[256];     /* the last failure's message, "" after a success */
        char last_backup[65];     /* the last successful run's backup id */
} sk_sched_state;

/* The fixed jitter offset of (node, source) in [0, jitter) seconds. */
uint32_t sk_sched_jitter(const char *node, const char *source, uint32_t jitter);

/* The next run of a source under p with state s (s->first_seen set), with
 * the given jitter offset and retry bounds. Always > s->last_start. A policy
 * with no clock (on_commit only) returns INT64_MAX. */
int64_t sk_sched_next(const sk_policy *p, const sk_sched_state *s, uint32_t jitter_offset, uint32_t retry_min,
                      uint32_t retry_max);
