/* containerd.services.snapshots.v1.Snapshots on top of an sk_snapshotter.
 *
 * DESIGN
 * The handlers are thin: they check what containerd's own service would
 * reject before it reaches the snapshotter (empty keys, a missing info),
 * convert protobuf <-> sk_* structs inside the call's arena, call the
 * snapshotter and map its -errno to the gRPC codes containerd reads, with
 * sk_status_from_errno() (plugin/status.h), the daemon's one errno-to-gRPC
 * map. Keys are opaque strings that
 * include the namespace ("default/12/k1"); they are passed through untouched.
 *
 * List walks the snapshotter in one read transaction, filters with
 * sk_filter_*, and queues a ListSnapshotsResponse every SK_LIST_BATCH infos
 * (or ~1 MiB); the server streams the queue one message at a time. Every Info
 * carries kind and both timestamps, with nanoseconds. */
#pragma once

#include "plugin/server.h"
#include "snapshot/snapshotter.h"

/* Infos per List message, and the size at which a batch is cut earlier. */
#define SK_LIST_BATCH 100
#define SK_LIST_BATCH_BYTES (1024 * 1024)

struct sk_capture;

/* Let Prepare restore through capture (borrowed; one per process; NULL turns
 * it off): a request labelled containerd.io/snapshot/snapkeep.restore=<id>
 * rehydrates that container backup into the new snapshot (FAILED_PRECONDITION
 * when the image's chain differs); one labelled containerd.io/snapshot.ref
 * may be answered ALREADY_EXISTS after the layer was rehydrated from the
 * repository (the remote-snapshotter protocol). allowed_selectors
 * (SK_RESTORE_ALLOW_* of labelpolicy.h) says which selectors besides a full
 * backup id a restore label may use. Call before serving.
 *
 * Whatever capture is, every RPC refuses (INVALID_ARGUMENT) labels only the
 * daemon sets and more than SK_LABELS_MAX labels, and Prepare refuses a
 * restore label on an unpack key or with a selector not allowed. */
void sk_snapshots_service_set_capture(struct sk_capture *capture, unsigned allowed_selectors);

/* Automatic backups: Prepare, Commit and Update refuse (INVALID_ARGUMENT) a
 * policy label naming no configured policy, and a Commit wakes the
 * scheduler (on_commit policies). Either may be NULL. Call before serving. */
struct sk_automation;
struct sk_scheduler;
void sk_snapshots_service_set_automation(const struct sk_automation *automation, struct sk_scheduler *scheduler);

/* Serve the Snapshots service from snap (borrowed; must outlive server). */
int sk_snapshots_service_add(sk_server *server, sk_snapshotter *snap);
