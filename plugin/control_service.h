/* snapkeep.control.v1.Control (proto/control.proto) on top of sk_capture.
 *
 * DESIGN
 * Served by its own sk_server on the admin socket (mode 0600), so a long
 * Backup call occupies an admin worker and never one of the workers that
 * answer containerd. Handlers translate requests into sk_capture calls and
 * -errno into gRPC codes with the capture's message. Events is a poll: it
 * sends the events after `since` that the capture's ring still holds, waiting
 * up to wait_ms (capped) for the first one, then ends. */
#pragma once

#include "auto/policy.h"
#include "auto/scheduler.h"
#include "container/capture.h"
#include "plugin/server.h"

typedef struct sk_control_info {
        const char *version;
        const char *root;
        const char *repo;
        const sk_automation *automation; /* the policies; NULL: automation off */
        sk_scheduler *scheduler;         /* NULL: automation off */
} sk_control_info;

/* Longest wait an Events call may ask for. */
#define SK_CONTROL_EVENTS_MAX_WAIT_MS 2000

/* Serve the Control service. snap, capture and info (with its strings) are
 * borrowed and must outlive the server. */
int sk_control_service_add(sk_server *server, sk_snapshotter *snap, sk_capture *capture, const sk_control_info *info);
