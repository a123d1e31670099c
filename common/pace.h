/* CPU pacing of background work while the node is busy.
 *
 * Why: a scheduled backup runs in SCHED_IDLE, so it never takes a core that
 * another thread wants. But on a node whose other work leaves about one core
 * idle, a backup that fills that core still slows the busy containers by
 * 6-17% (bench/auto.sh): the cores share caches, memory bandwidth and, on
 * many virtual machines, a physical core. Only leaving that core mostly idle
 * helps. So while the rest of the node leaves fewer than SK_PACE_FREE_CORES
 * cores idle, the threads of a scheduled backup (SCHED_IDLE and the idle I/O
 * class, auto/scheduler-run.c) together use at most a configured share of
 * one core, by sleeping at points of their work; on a quiet node they run
 * unpaced. A paused container's backup and maintenance leave the idle I/O
 * class for their duration and are not paced.
 *
 * Process-wide; nothing here prints or fails. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The node counts as busy below this many idle cores (others' use), once
 * the others use at least SK_PACE_MIN_OTHERS cores (so that a node of one or
 * two cores with nothing else running is not "busy"). */
#define SK_PACE_FREE_CORES 1.5
#define SK_PACE_MIN_OTHERS 0.5
/* How often the node's load is sampled, and the longest single sleep (so a
 * paced thread still notices a cancellation soon). */
#define SK_PACE_SAMPLE_MS 250
#define SK_PACE_MAX_SLEEP_MS 200

/* The share of one core (percent, 1..100) the paced threads may use while
 * the node is busy; 100 turns pacing off (the default until set). */
void sk_pace_set_busy_share(unsigned percent);

/* At a point of a thread's work (a chunk, a slice): if the thread is in
 * SCHED_IDLE and the idle I/O class and the node is busy, sleep as long as
 * keeps all such threads near the share (each sleep is at most
 * SK_PACE_MAX_SLEEP_MS, so work of more than that between two points, or
 * many threads at a tiny share, can exceed it: the share is a target, not a
 * hard cap). Returns the milliseconds slept. */
unsigned sk_pace_background(void);

/* This thread's work so far is not to be charged (a run starts, or the
 * thread leaves the idle classes for a while): the next pacing point
 * charges only what follows. */
void sk_pace_thread_restart(void);

/* While held (nests; any thread), nothing is paced: a container's task is
 * paused for a backup, or maintenance holds the repository's exclusive lock,
 * and a paced backup of another worker might be what they wait for. */
void sk_pace_hold(bool on);

/* The parts, exposed for tests. A leaky bucket of CPU time that drains at
 * share percent of one core: charge used_ns at now_ns (monotonic) and get
 * the nanoseconds to sleep (0 while within a burst of SK_PACE_BURST_MS). */
#define SK_PACE_BURST_MS 20
typedef struct sk_cpu_bucket {
        int64_t level_ns, at_ns;
} sk_cpu_bucket;
int64_t sk_cpu_bucket_charge(sk_cpu_bucket *b, int64_t now_ns, int64_t used_ns, unsigned share);

/* Whether ncpu cores are busy: the others used others_ns of CPU time in
 * wall_ns, at least SK_PACE_MIN_OTHERS cores and leaving fewer than
 * SK_PACE_FREE_CORES idle. */
bool sk_pace_node_busy(unsigned ncpu, int64_t others_ns, int64_t wall_ns);
