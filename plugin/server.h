/* The gRPC server: a completion-queue loop that turns protobuf-c service
 * descriptors into callable methods.
 *
 * DESIGN
 * One completion queue, served by N worker threads, carries every event. Each
 * method of a service added with sk_server_add_service() is pre-registered
 * with gRPC (its request arrives with the call) and has several calls armed
 * at all times; one generic request is armed too, so a method nobody
 * registered is answered UNIMPLEMENTED at once instead of hanging until a
 * deadline that containerd never sets.
 *
 * A call (sk_call) owns an arena, the request and the serialized replies. Its
 * tags (request, send, close) can complete on different threads, so it is
 * reference counted. The handler runs on the worker that received the call:
 * it unpacks nothing itself (the request is unpacked into the arena from the
 * method's input descriptor, and rejected as INVALID_ARGUMENT when malformed
 * or when a string is not UTF-8), queues replies with sk_call_send() and
 * returns; the server then sends them one SEND_MESSAGE at a time (gRPC allows
 * one outstanding per call), the last one together with the status. Replies
 * are serialized when queued, so a handler may free what it built; a stream
 * is held in memory until sent (List of 10k snapshots: a few MB). A
 * RECV_CLOSE_ON_SERVER on its own tag reports a client that went away; the
 * remaining replies are then dropped.
 *
 * The method table is generic on purpose: the Snapshots service
 * (snapshots_service.c) and the Control service on the admin socket
 * (control_service.c) each add their own descriptor the same way.
 *
 * Lifecycle: grpc_init() is the caller's (so that signals can be blocked
 * first); new -> add_service/listen_unix -> start -> stop -> free.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "common/macro.h"
#include "plugin/arena.h"

typedef struct sk_server sk_server;
typedef struct sk_call sk_call;

/* A method handler. request is the unpacked request (owned by the call's
 * arena, valid until the call ends). Return >= 0 after queueing the replies
 * with sk_call_send() (a unary method must queue exactly one), or a negative
 * errno: either from sk_call_error(), which sets the status (handlers map
 * errno with sk_status_from_errno(), plugin/status.h), or a plain -errno,
 * an internal failure, which the server reports as UNKNOWN with its
 * strerror text. */
typedef int (*sk_method_fn)(sk_call *call, const ProtobufCMessage *request, void *userdata);

typedef struct sk_method {
        const char *name; /* method name as in the service descriptor, e.g. "Stat" */
        sk_method_fn fn;
        bool server_streaming;
} sk_method;

typedef struct sk_server_options {
        unsigned workers;          /* completion-queue threads, >= 1 */
        unsigned armed_per_method; /* calls kept requested per method, >= 1 */
        unsigned socket_mode;      /* permission bits of the socket; 0 = 0660 (0600 for the admin socket) */
        /* Called once per finished call, on the worker that ran it: method
         * is the method's name ("Prepare"), or NULL for an unknown method;
         * seconds is from arrival to the status. NULL: nothing is called. */
        void (*observe)(const char *method, grpc_status_code code, double seconds, void *userdata);
        void *observe_userdata;
} sk_server_options;

#define SK_SERVER_OPTIONS_INIT { .workers = 2, .armed_per_method = 4 }

/* A server that does nothing yet. opts may be NULL for defaults. */
int sk_server_new(const sk_server_options *opts, sk_server **ret);

/* Serve methods[0..n) of service. Each name must exist in the descriptor
 * (-EINVAL otherwise); methods of the descriptor that are not listed answer
 * UNIMPLEMENTED. userdata is passed to every handler and must outlive the
 * server. Only before sk_server_start(). */
int sk_server_add_service(sk_server *s, const ProtobufCServiceDescriptor *service, const sk_method *methods,
                          size_t n_methods, void *userdata);

/* Listen on the unix socket path when started (copied). The parent directory
 * is created (0711, owned by the caller's uid) if missing; a stale socket left
 * by a previous run is replaced, but a socket a live server answers on is not
 * (-EADDRINUSE), nor is anything that is not a socket (-EEXIST). The socket
 * gets mode 0660, or opts.socket_mode. Only before sk_server_start(). */
int sk_server_listen_unix(sk_server *s, const char *path);

/* Bind, register everything with gRPC and start the workers. grpc_init()
 * must have been called. */
int sk_server_start(sk_server *s);

/* Stop accepting calls and wait for running ones, at most timeout_ms: after
 * half of it the remaining calls are cancelled. Returns -ETIMEDOUT if gRPC
 * still did not finish; the server must then not be freed (the process should
 * exit). Safe to call on a server that was never started. */
int sk_server_stop(sk_server *s, unsigned timeout_ms);

/* Free a server that is stopped or was never started; accepts NULL. */
void sk_server_free(sk_server *s);

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_server *, sk_server_free);

/* --- for handlers ------------------------------------------------------- */

/* The call's arena (borrowed; lives until the call ends). */
sk_arena *sk_call_arena(sk_call *c);

/* The full method path, e.g. "/containerd.services.snapshots.v1.Snapshots/Stat"
 * (borrowed; lives until the call ends). */
const char *sk_call_method(const sk_call *c);

/* Serialize msg (which must be of the method's output type, -EINVAL
 * otherwise) and queue it for sending. msg is not kept: it, and anything it
 * points to, may be freed as soon as this returns. */
int sk_call_send(sk_call *c, const ProtobufCMessage *msg);

/* Set the status the call ends with (code != OK) and return -EIO for the
 * handler to pass on. Queued replies are dropped. The message should name
 * what failed, e.g. the snapshot key. */
int sk_call_error(sk_call *c, grpc_status_code code, const char *fmt, ...) _printf_(3, 4);

/* Whether the client cancelled the call (seen through RECV_CLOSE_ON_SERVER). */
bool sk_call_cancelled(const sk_call *c);
