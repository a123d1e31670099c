/* CPU pacing of background work (pace.h). The node's load comes from
 * /proc/stat's first line, less this process's own CPU time, sampled at most
 * every SK_PACE_SAMPLE_MS by whichever paced thread comes first; the bucket
 * is shared by all paced threads, so their sum stays near the share. */
#include "common/pace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/foreground.h"

static atomic_uint busy_share = 100;
static atomic_uint holds;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
        int64_t at_ns, node_ns, self_ns; /* the last sample; at_ns 0: none yet */
        bool busy;
        sk_cpu_bucket bucket;
} st;
/* This thread's CPU time at its last pacing point: 0 in a new thread (its
 * CPU time counts from its start), RESTART after sk_pace_thread_restart. */
#define RESTART (-1)
static _Thread_local int64_t thread_cpu_at;

static int64_t clock_ns(clockid_t c) {
        struct timespec ts;
        if (clock_gettime(c, &ts) < 0)
                return 0;
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sk_pace_set_busy_share(unsigned percent) {
        atomic_store(&busy_share, percent < 1 ? 1 : percent > 100 ? 100 : percent);
}

int64_t sk_cpu_bucket_charge(sk_cpu_bucket *b, int64_t now_ns, int64_t used_ns, unsigned share) {
        if (share >= 100 || share == 0)
                return 0;
        if (b->at_ns && now_ns > b->at_ns)
                b->level_ns -= (now_ns - b->at_ns) / 100 * share;
        if (b->level_ns < 0)
                b->level_ns = 0;
        b->at_ns = now_ns;
        b->level_ns += used_ns > 0 ? used_ns : 0;
        const int64_t burst = (int64_t) SK_PACE_BURST_MS * 1000000;
        if (b->level_ns <= burst)
                return 0;
        /* What lies above the burst drains at share% of a core. */
        return (b->level_ns - burst) / share * 100;
}

bool sk_pace_node_busy(unsigned ncpu, int64_t others_ns, int64_t wall_ns) {
        if (ncpu == 0 || wall_ns <= 0)
                return false;
        double others = (double) (others_ns > 0 ? others_ns : 0) / (double) wall_ns;
        return others >= SK_PACE_MIN_OTHERS && (double) ncpu - others < SK_PACE_FREE_CORES;
}

void sk_pace_thread_restart(void) {
        thread_cpu_at = RESTART;
}

void sk_pace_hold(bool on) {
        if (on)
                atomic_fetch_add(&holds, 1);
        else
                atomic_fetch_sub(&holds, 1);
}

/* All CPUs' busy time from /proc/stat (user nice system idle iowait irq
 * softirq steal ...: all but idle and iowait; guest time is inside user). */
static int node_busy_ns(int64_t *ret) {
        char buf[512];
        int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = '\0';
        unsigned long long v[8];
        if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]) != 8)
                return -EIO;
        unsigned long long ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        long hz = sysconf(_SC_CLK_TCK);
        *ret = (int64_t) (ticks * (1000000000ULL / (unsigned long long) (hz > 0 ? hz : 100)));
        return 0;
}

/* Under mu. */
static void sample(int64_t now) {
        if (st.at_ns && now - st.at_ns < (int64_t) SK_PACE_SAMPLE_MS * 1000000)
                return;
        int64_t node, self = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        if (node_busy_ns(&node) < 0) {
                st.busy = false; /* no /proc: never pace (and retry only at the next sample) */
                st.at_ns = now;
                st.node_ns = 0;
                return;
        }
        /* A sample long ago (no paced work since) says nothing about now:
         * this one is a new baseline, and the busy flag stands until the next. */
        if (st.at_ns && st.node_ns && now - st.at_ns <= 4 * (int64_t) SK_PACE_SAMPLE_MS * 1000000) {
                long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
                st.busy = sk_pace_node_busy(ncpu > 0 ? (unsigned) ncpu : 1, (node - st.node_ns) - (self - st.self_ns),
                                            now - st.at_ns);
        }
        st.at_ns = now;
        st.node_ns = node;
        st.self_ns = self;
}

unsigned sk_pace_background(void) {
        unsigned share = atomic_load(&busy_share);
        int policy = sched_getscheduler(0);
        if (share >= 100 || atomic_load(&holds) > 0 || sk_foreground_here() || policy < 0 ||
            (policy & ~SCHED_RESET_ON_FORK) != SCHED_IDLE || !sk_thread_io_idle()) {
                /* What this thread does meanwhile is not paced work. */
                thread_cpu_at = RESTART;
                return 0;
        }
        int64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        int64_t used = thread_cpu_at == RESTART ? 0 : cpu - thread_cpu_at;
        thread_cpu_at = cpu;

        pthread_mutex_lock(&mu);
        int64_t now = clock_ns(CLOCK_MONOTONIC); /* under mu: the bucket's time never goes back */
        sample(now);
        int64_t wait = st.busy ? sk_cpu_bucket_charge(&st.bucket, now, used, share) : 0;
        if (!st.busy)
                st.bucket = (sk_cpu_bucket) {};
        pthread_mutex_unlock(&mu);

        if (wait <= 0)
                return 0;
        if (wait > (int64_t) SK_PACE_MAX_SLEEP_MS * 1000000)
                wait = (int64_t) SK_PACE_MAX_SLEEP_MS * 1000000;
        nanosleep(&(struct timespec) { wait / 1000000000, wait % 1000000000 }, NULL);
        /* The sleep is not work: the next charge starts from here. */
        thread_cpu_at = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        return (unsigned) (wait / 1000000);
}
