/* Foreground marks and the idle class's wait (foreground.h). Two atomics: the
 * number of operations running and when the last one ended; the waiting side
 * polls them every 2 ms, which costs nothing next to the writes it delays. */
#include "common/foreground.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_WHO_PROCESS 1
#define POLL_NS 2000000L

static atomic_uint running;
static _Atomic int64_t last_end_ns;
/* This thread's own foreground calls: it never waits for itself (a restore
 * in Prepare writing its lock, in a daemon run wholly in the idle class). */
static _Thread_local unsigned depth;

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sk_foreground_enter(void) {
        depth++;
        atomic_fetch_add(&running, 1);
}

void sk_foreground_leave(void) {
        atomic_store(&last_end_ns, mono_ns());
        atomic_fetch_sub(&running, 1);
        depth--;
}

bool sk_foreground_here(void) {
        return depth > 0;
}

bool sk_thread_io_idle(void) {
        /* glibc has no wrapper; the calling thread's own priority (who = 0). */
        long p = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
        return p >= 0 && (p >> IOPRIO_CLASS_SHIFT) == IOPRIO_CLASS_IDLE;
}

static int busy(int64_t now) {
        int64_t last = atomic_load(&last_end_ns);
        return atomic_load(&running) > 0 || (last && now - last < (int64_t) SK_FOREGROUND_QUIET_MS * 1000000);
}

unsigned sk_foreground_give_way(unsigned max_ms) {
        int64_t start = mono_ns(), now = start;
        if (depth || !busy(now) || !sk_thread_io_idle())
                return 0;
        const int64_t limit = start + (int64_t) max_ms * 1000000;
        while (now < limit && busy(now)) {
                nanosleep(&(struct timespec) { 0, POLL_NS }, NULL);
                now = mono_ns();
        }
        return (unsigned) ((now - start) / 1000000);
}
