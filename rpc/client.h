/* Room rpc/: the one gRPC client of the shells (cli/ and plugin/), on gRPC's
 * C core over a unix socket: snapkeep's CLI talks to snapkeepd's admin
 * socket with it, and snapkeepd talks to containerd's socket (the Tasks API,
 * to pause a task around a consistent backup). Unary and server-streaming
 * calls, optional request metadata (containerd wants its namespace in the
 * "containerd-namespace" header), an optional deadline. It is a library:
 * it prints nothing and reports gRPC's status and message to the caller.
 * Uses proto (for protobuf-c's message type) and common (Makefile DEPS_rpc). */
#pragma once

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "common/macro.h"

typedef struct sk_rpc sk_rpc;

/* A channel to the gRPC server on unix socket path. Nothing connects until
 * the first call. */
int sk_rpc_open(const char *socket_path, sk_rpc **ret);
void sk_rpc_close(sk_rpc *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_rpc *, sk_rpc_close);

typedef struct sk_rpc_metadata {
        const char *key; /* lowercase, as gRPC requires */
        const char *value;
} sk_rpc_metadata;

/* Called for every reply (one for a unary call), unpacked as the call's
 * reply type; a return < 0 stops reading and the call ends with
 * GRPC_STATUS_DATA_LOSS unless the server failed first. */
typedef int (*sk_rpc_reply_fn)(const ProtobufCMessage *reply, void *userdata);

/* Call method ("/package.Service/Method") with req and metadata md[0..n_md),
 * within timeout_ms (0: no deadline). Returns the call's gRPC status;
 * *ret_details (if not NULL; owned) gets its message. A reply that does not
 * unpack as out_desc is GRPC_STATUS_DATA_LOSS. */
grpc_status_code sk_rpc_call(sk_rpc *r, const char *method, const sk_rpc_metadata *md, size_t n_md,
                             unsigned timeout_ms, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *out_desc, sk_rpc_reply_fn fn, void *userdata,
                             char **ret_details);
