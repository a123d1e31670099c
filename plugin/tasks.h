/* snapkeepd as a client of containerd's Tasks API: pause and resume a
 * container's task (policy consistency = pause), over containerd's own
 * socket, with the namespace in the "containerd-namespace" header as every
 * containerd client sends it. One channel, opened at start; calls are
 * serialised (rare, and each bounded by a deadline). */
#pragma once

#include <stdbool.h>

/* Open the channel to containerd's socket (nothing connects yet). */
int sk_tasks_open(const char *containerd_socket);
void sk_tasks_close(void);

/* sk_task_pause_fn of auto/scheduler.h: pause (or resume) the task of
 * container id in namespace ns. -ENOENT: the container has no task (not
 * running: nothing to pause); -ENOTCONN: containerd is not reachable; other
 * -errno with *ret_error (owned) naming the cause. */
int sk_tasks_pause(const char *ns, const char *id, bool pause, char **ret_error, void *userdata);
