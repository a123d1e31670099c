#include "plugin/server.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/log.h"
#include "plugin/pbcheck.h"
#include "plugin/socket.h"

/* Every completion-queue tag is one of these, embedded in its owner, so one
 * switch dispatches every event. */
typedef enum tag_op {
        TAG_REQUEST,  /* a requested call arrived (or was cancelled by shutdown) */
        TAG_SEND,     /* a send batch completed */
        TAG_CLOSE,    /* RECV_CLOSE_ON_SERVER completed: the call is over */
        TAG_SHUTDOWN, /* grpc_server_shutdown_and_notify finished */
} tag_op;

typedef struct sk_tag {
        tag_op op;
        sk_call *call; /* NULL for TAG_SHUTDOWN */
} sk_tag;

/* Unknown methods are rare (a newer client probing): two armed requests
 * answer them without ever queueing behind each other for long. */
#define GENERIC_ARMED 2

typedef struct registered_method {
        char *path; /* "/package.Service/Method" */
        void *handle;
        const ProtobufCMessageDescriptor *input;
        const ProtobufCMessageDescriptor *output;
        sk_method_fn fn;
        bool server_streaming;
        void *userdata;
} registered_method;

struct sk_server {
        sk_server_options opts;
        registered_method **methods;
        size_t n_methods;
        char *socket_path;

        grpc_server *server;
        grpc_completion_queue *cq;
        pthread_t *workers;
        size_t n_workers;

        /* Guards arming against shutdown: no request may start once
         * shutdown_and_notify was called. */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool shutting_down;
        bool shutdown_done;
        bool started;
        bool stopped; /* the queue is drained and the workers joined */
        sk_tag tag_shutdown;
};

struct sk_call {
        sk_server *server;
        registered_method *method; /* NULL: the generic (unknown-method) request */
        atomic_int refs;
        sk_tag tag_request, tag_send, tag_close;

        grpc_call *call;
        gpr_timespec deadline;
        grpc_metadata_array request_md;
        grpc_call_details details; /* generic requests only */
        grpc_byte_buffer *payload;
        sk_arena *arena;

        /* Serialized replies; out[n_sent - 1] is in flight while a send runs. */
        grpc_byte_buffer **out;
        size_t n_out, n_alloc, n_sent;
        bool initial_md_sent;
        bool status_sent;
        bool status_set;
        grpc_status_code status;
        grpc_slice status_details;

        int close_cancelled; /* RECV_CLOSE_ON_SERVER writes here */
        atomic_bool cancelled;
        struct timespec started;
};

/* --- calls ------------------------------------------------------------------ */

static sk_call *call_new(sk_server *s, registered_method *m) {
        sk_call *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->server = s;
        c->method = m;
        atomic_init(&c->refs, 1);
        atomic_init(&c->cancelled, false);
        c->tag_request = (sk_tag) { TAG_REQUEST, c };
        c->tag_send = (sk_tag) { TAG_SEND, c };
        c->tag_close = (sk_tag) { TAG_CLOSE, c };
        grpc_metadata_array_init(&c->request_md);
        grpc_call_details_init(&c->details);
        c->status_details = grpc_empty_slice();
        return c;
}

static void call_free(sk_call *c) {
        if (c->call)
                grpc_call_unref(c->call);
        grpc_metadata_array_destroy(&c->request_md);
        grpc_call_details_destroy(&c->details);
        if (c->payload)
                grpc_byte_buffer_destroy(c->payload);
        for (size_t i = 0; i < c->n_out; i++)
                if (c->out[i])
                        grpc_byte_buffer_destroy(c->out[i]);
        free(c->out);
        grpc_slice_unref(c->status_details);
        sk_arena_free(c->arena);
        free(c);
}

static void call_ref(sk_call *c) { atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed); }

static void call_unref(sk_call *c) {
        if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
                call_free(c);
}

static int grpc_call_error_to_errno(grpc_call_error e) {
        switch (e) {
        case GRPC_CALL_OK:
                return 0;
        case GRPC_CALL_ERROR_ALREADY_FINISHED:
        case GRPC_CALL_ERROR_NOT_ON_SERVER:
        case GRPC_CALL_ERROR_NOT_ON_CLIENT:
        case GRPC_CALL_ERROR_INVALID_FLAGS:
        case GRPC_CALL_ERROR_INVALID_MESSAGE:
        case GRPC_CALL_ERROR_PAYLOAD_TYPE_MISMATCH:
        case GRPC_CALL_ERROR_INVALID_METADATA:
                return -EINVAL;
        case GRPC_CALL_ERROR_TOO_MANY_OPERATIONS:
                return -EBUSY;
        default:
                return -EIO;
        }
}

sk_arena *sk_call_arena(sk_call *c) { return c->arena; }

const char *sk_call_method(const sk_call *c) { return c->method ? c->method->path : "(unknown)"; }

bool sk_call_cancelled(const sk_call *c) { return atomic_load(&((sk_call *) c)->cancelled); }

int sk_call_send(sk_call *c, const ProtobufCMessage *msg) {
        if (!c->method || msg->descriptor != c->method->output)
                return -EINVAL;
        if (c->n_out == c->n_alloc) {
                size_t n = c->n_alloc ? c->n_alloc * 2 : 4;
                grpc_byte_buffer **out = realloc(c->out, n * sizeof(*out));
                if (!out)
                        return -ENOMEM;
                c->out = out;
                c->n_alloc = n;
        }
        size_t len = protobuf_c_message_get_packed_size(msg);
        /* Packed into our own slice: a short one is inline, so its bytes live
         * in this variable, which the byte buffer then copies. */
        grpc_slice slice = grpc_slice_malloc(len);
        size_t packed = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
        if (packed != len) {
                grpc_slice_unref(slice);
                return -EIO;
        }
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        if (!bb)
                return -ENOMEM;
        c->out[c->n_out++] = bb;
        return 0;
}

static void call_set_status(sk_call *c, grpc_status_code code, const char *msg) {
        grpc_slice_unref(c->status_details);
        c->status_details = grpc_slice_from_copied_string(msg);
        c->status = code;
        c->status_set = true;
}

int sk_call_error(sk_call *c, grpc_status_code code, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        call_set_status(c, code == GRPC_STATUS_OK ? GRPC_STATUS_UNKNOWN : code, buf);
        return -EIO;
}

/* --- arming ------------------------------------------------------------------ */

/* Keep one more call requested for m (NULL: the generic request). */
static int arm(sk_server *s, registered_method *m) {
        sk_call *c = call_new(s, m);
        if (!c)
                return log_error_errno(-ENOMEM, "cannot arm a call for %s", m ? m->path : "unknown methods");

        grpc_call_error e;
        pthread_mutex_lock(&s->lock);
        if (s->shutting_down) {
                pthread_mutex_unlock(&s->lock);
                call_free(c);
                return 0;
        }
        if (m)
                e = grpc_server_request_registered_call(s->server, m->handle, &c->call, &c->deadline,
                                                        &c->request_md, &c->payload, s->cq, s->cq,
                                                        &c->tag_request);
        else
                e = grpc_server_request_call(s->server, &c->call, &c->details, &c->request_md, s->cq, s->cq,
                                             &c->tag_request);
        pthread_mutex_unlock(&s->lock);
        if (e != GRPC_CALL_OK) {
                call_free(c);
                return log_error_errno(grpc_call_error_to_errno(e), "cannot request a call for %s (%s)",
                                       m ? m->path : "unknown methods", grpc_call_error_to_string(e));
        }
        return 0;
}

/* --- sending ---------------------------------------------------------------- */

/* Start the next send batch: initial metadata once, then one reply; the last
 * reply travels with the status. Takes a reference for the batch. */
static void start_send(sk_call *c) {
        grpc_op ops[3];
        size_t n = 0;

        memset(ops, 0, sizeof(ops));
        if (!c->initial_md_sent) {
                ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
                ops[n].data.send_initial_metadata.count = 0;
                n++;
                c->initial_md_sent = true;
        }
        if (c->n_sent < c->n_out) {
                ops[n].op = GRPC_OP_SEND_MESSAGE;
                ops[n].data.send_message.send_message = c->out[c->n_sent++];
                n++;
        }
        if (c->n_sent == c->n_out) {
                ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
                ops[n].data.send_status_from_server.trailing_metadata_count = 0;
                ops[n].data.send_status_from_server.status = c->status;
                ops[n].data.send_status_from_server.status_details = &c->status_details;
                n++;
                c->status_sent = true;
        }

        call_ref(c);
        grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag_send, NULL);
        if (e != GRPC_CALL_OK) {
                log_error("%s: cannot start send batch: %s", sk_call_method(c), grpc_call_error_to_string(e));
                call_unref(c);
        }
}

static void on_send(sk_call *c, bool ok) {
        /* The buffer that was in flight has been consumed by gRPC. */
        if (c->n_sent > 0 && c->out[c->n_sent - 1]) {
                grpc_byte_buffer_destroy(c->out[c->n_sent - 1]);
                c->out[c->n_sent - 1] = NULL;
        }
        if (!ok)
                log_debug("%s: send failed, client gone after %zu of %zu replies", sk_call_method(c), c->n_sent,
                          c->n_out);
        else if (!c->status_sent && !atomic_load(&c->cancelled))
                start_send(c);
        call_unref(c);
}

static void on_close(sk_call *c, bool ok _unused_) {
        /* RECV_CLOSE_ON_SERVER always succeeds; only the out-value tells. */
        if (c->close_cancelled) {
                atomic_store(&c->cancelled, true);
                log_debug("%s: cancelled by the client", sk_call_method(c));
        }
        call_unref(c);
}

/* --- handling ------------------------------------------------------------------ */

static int64_t elapsed_us(const struct timespec *since) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - since->tv_sec) * 1000000 + (now.tv_nsec - since->tv_nsec) / 1000;
}

static void handle_unknown(sk_call *c) {
        char *method = grpc_slice_to_c_string(c->details.method);
        log_debug("unknown method %s", method ? method : "?");
        sk_call_error(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method %s", method ? method : "");
        gpr_free(method);
}

static void handle_method(sk_call *c) {
        registered_method *m = c->method;
        ProtobufCAllocator alloc;

        c->arena = sk_arena_new();
        if (!c->arena) {
                sk_call_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                return;
        }
        if (!c->payload) {
                sk_call_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s: missing request message", m->path);
                return;
        }

        grpc_byte_buffer_reader reader;
        if (!grpc_byte_buffer_reader_init(&reader, c->payload)) {
                sk_call_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s: cannot decompress the request", m->path);
                return;
        }
        /* Buffers may hold several slices: read them into one. */
        grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
        const char *field = NULL;
        if (!sk_pb_wire_strings_valid(m->input, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice), &field)) {
                grpc_slice_unref(slice);
                sk_call_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                              "%s: string field %s is not valid UTF-8 or contains a NUL byte", m->path, field);
                return;
        }
        sk_arena_protobuf_allocator(c->arena, &alloc);
        ProtobufCMessage *req =
                protobuf_c_message_unpack(m->input, &alloc, GRPC_SLICE_LENGTH(slice), GRPC_SLICE_START_PTR(slice));
        grpc_slice_unref(slice);
        if (!req) {
                sk_call_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s: malformed %s message", m->path, m->input->name);
                return;
        }

        int r = m->fn(c, req, m->userdata);
        if (r < 0) {
                if (!c->status_set) {
                        char buf[256];
                        snprintf(buf, sizeof(buf), "%s: %s", m->path, strerror(-r));
                        /* UNKNOWN, not the errno map: a plain -errno here is an
                         * internal failure, and a stray -EEXIST or -ENOENT must not
                         * reach containerd as "already exists" or "not found". */
                        call_set_status(c, GRPC_STATUS_UNKNOWN, buf);
                }
        } else if (!m->server_streaming && c->n_out != 1) {
                log_error("%s: handler queued %zu replies instead of one", m->path, c->n_out);
                sk_call_error(c, GRPC_STATUS_INTERNAL, "%s: internal error", m->path);
        } else
                c->status = GRPC_STATUS_OK;

        if (c->status_set) {
                /* An error carries no replies, only the status. */
                for (size_t i = 0; i < c->n_out; i++)
                        grpc_byte_buffer_destroy(c->out[i]);
                c->n_out = 0;
        }
}

static void on_request(sk_call *c, bool ok) {
        sk_server *s = c->server;

        if (!ok || !c->call) {
                /* Shutdown cancelled the request before any call arrived. */
                call_unref(c);
                return;
        }
        /* Replace this armed slot before doing the work. */
        (void) arm(s, c->method);
        clock_gettime(CLOCK_MONOTONIC, &c->started);

        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &c->close_cancelled;
        call_ref(c);
        grpc_call_error e = grpc_call_start_batch(c->call, &op, 1, &c->tag_close, NULL);
        if (e != GRPC_CALL_OK) {
                log_error("%s: cannot watch for cancellation: %s", sk_call_method(c), grpc_call_error_to_string(e));
                call_unref(c);
        }

        if (c->method)
                handle_method(c);
        else
                handle_unknown(c);

        if (sk_log_max_level >= SK_LOG_DEBUG) {
                char *details = grpc_slice_to_c_string(c->status_details);
                log_debug("%s: status %d%s%s, %zu replies, %lld us", sk_call_method(c), (int) c->status,
                          details && *details ? ": " : "", details ? details : "", c->n_out,
                          (long long) elapsed_us(&c->started));
                gpr_free(details);
        } else if (c->status == GRPC_STATUS_UNKNOWN || c->status == GRPC_STATUS_INTERNAL) {
                char *details = grpc_slice_to_c_string(c->status_details);
                log_warning("%s failed: %s", sk_call_method(c), details ? details : "");
                gpr_free(details);
        }

        if (s->opts.observe) {
                const char *name = c->method ? strrchr(c->method->path, '/') + 1 : NULL;
                s->opts.observe(name, c->status, (double) elapsed_us(&c->started) / 1e6, s->opts.observe_userdata);
        }
        if (!atomic_load(&c->cancelled))
                start_send(c);
        call_unref(c);
}

/* --- workers ------------------------------------------------------------------ */

static void *worker_main(void *userdata) {
        sk_server *s = userdata;

        for (;;) {
                grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
                if (ev.type == GRPC_QUEUE_SHUTDOWN)
                        break;
                if (ev.type != GRPC_OP_COMPLETE)
                        continue;
                sk_tag *tag = ev.tag;
                switch (tag->op) {
                case TAG_REQUEST:
                        on_request(tag->call, ev.success);
                        break;
                case TAG_SEND:
                        on_send(tag->call, ev.success);
                        break;
                case TAG_CLOSE:
                        on_close(tag->call, ev.success);
                        break;
                case TAG_SHUTDOWN:
                        pthread_mutex_lock(&s->lock);
                        s->shutdown_done = true;
                        pthread_cond_broadcast(&s->cond);
                        pthread_mutex_unlock(&s->lock);
                        break;
                default:
                        log_error("completion queue: unknown tag op %d (%p)", (int) tag->op, (void *) tag);
                        break;
                }
        }
        return NULL;
}

/* --- server ------------------------------------------------------------------ */

int sk_server_new(const sk_server_options *opts, sk_server **ret) {
        sk_server_options o = SK_SERVER_OPTIONS_INIT;
        if (opts)
                o = *opts;
        if (o.workers < 1 || o.armed_per_method < 1)
                return -EINVAL;

        sk_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->opts = o;
        s->tag_shutdown = (sk_tag) { TAG_SHUTDOWN, NULL };
        pthread_mutex_init(&s->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
        *ret = s;
        return 0;
}

int sk_server_add_service(sk_server *s, const ProtobufCServiceDescriptor *service, const sk_method *methods,
                          size_t n_methods, void *userdata) {
        if (s->started)
                return -EBUSY;
        for (size_t i = 0; i < n_methods; i++) {
                const ProtobufCMethodDescriptor *md = NULL;
                for (unsigned j = 0; j < service->n_methods; j++)
                        if (strcmp(service->methods[j].name, methods[i].name) == 0)
                                md = &service->methods[j];
                if (!md || !methods[i].fn)
                        return -EINVAL;

                registered_method *m = calloc(1, sizeof(*m));
                if (!m)
                        return -ENOMEM;
                if (asprintf(&m->path, "/%s/%s", service->name, md->name) < 0) {
                        free(m);
                        return -ENOMEM;
                }
                m->input = md->input;
                m->output = md->output;
                m->fn = methods[i].fn;
                m->server_streaming = methods[i].server_streaming;
                m->userdata = userdata;

                registered_method **a = realloc(s->methods, (s->n_methods + 1) * sizeof(*a));
                if (!a) {
                        free(m->path);
                        free(m);
                        return -ENOMEM;
                }
                s->methods = a;
                s->methods[s->n_methods++] = m;
        }
        return 0;
}

int sk_server_listen_unix(sk_server *s, const char *path) {
        if (s->started)
                return -EBUSY;
        if (!path || path[0] != '/')
                return -EINVAL;
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        free(s->socket_path);
        s->socket_path = p;
        return 0;
}

/* Tear down what start() built before the server ever ran. */
static void destroy_unstarted(sk_server *s) {
        if (s->server)
                grpc_server_destroy(s->server);
        s->server = NULL;
        if (s->cq) {
                grpc_completion_queue_shutdown(s->cq);
                while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
                       GRPC_QUEUE_SHUTDOWN)
                        ;
                grpc_completion_queue_destroy(s->cq);
        }
        s->cq = NULL;
}

int sk_server_start(sk_server *s) {
        int r;

        if (s->started)
                return -EBUSY;
        if (!s->socket_path)
                return -EDESTADDRREQ;

        r = sk_socket_prepare(s->socket_path);
        if (r < 0)
                return r;

        s->cq = grpc_completion_queue_create_for_next(NULL);
        s->server = grpc_server_create(NULL, NULL);
        if (!s->cq || !s->server) {
                destroy_unstarted(s);
                return log_error_errno(-ENOMEM, "cannot create the gRPC server");
        }
        grpc_server_register_completion_queue(s->server, s->cq, NULL);

        for (size_t i = 0; i < s->n_methods; i++) {
                registered_method *m = s->methods[i];
                m->handle = grpc_server_register_method(s->server, m->path, NULL,
                                                        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
                if (!m->handle) {
                        destroy_unstarted(s);
                        return log_error_errno(-EINVAL, "cannot register method %s", m->path);
                }
        }

        char *addr;
        if (asprintf(&addr, "unix:%s", s->socket_path) < 0) {
                destroy_unstarted(s);
                return -ENOMEM;
        }
        grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
        /* The socket is born with its final mode: no window in which others may connect. */
        mode_t mode = s->opts.socket_mode ? (mode_t) (s->opts.socket_mode & 0777) : 0660;
        mode_t old_umask = umask(~mode & 0777);
        int port = grpc_server_add_http2_port(s->server, addr, creds);
        umask(old_umask);
        grpc_server_credentials_release(creds);
        free(addr);
        if (port == 0) {
                destroy_unstarted(s);
                return -EADDRNOTAVAIL; /* gRPC logged why */
        }
        if (chmod(s->socket_path, mode) < 0)
                log_warning_errno(negative_errno(), "cannot chmod %s", s->socket_path);

        grpc_server_start(s->server);
        s->started = true;

        s->workers = calloc(s->opts.workers, sizeof(pthread_t));
        if (!s->workers) {
                r = -ENOMEM;
                goto fail;
        }
        for (unsigned i = 0; i < s->opts.workers; i++) {
                r = -pthread_create(&s->workers[i], NULL, worker_main, s);
                if (r < 0) {
                        log_error_errno(r, "cannot start worker thread");
                        goto fail;
                }
                s->n_workers++;
        }

        for (size_t i = 0; i < s->n_methods; i++)
                for (unsigned k = 0; k < s->opts.armed_per_method; k++) {
                        r = arm(s, s->methods[i]);
                        if (r < 0)
                                goto fail;
                }
        for (unsigned k = 0; k < GENERIC_ARMED; k++) {
                r = arm(s, NULL);
                if (r < 0)
                        goto fail;
        }
        return 0;

fail:
        (void) sk_server_stop(s, 2000);
        return r;
}

/* Wait until the shutdown tag arrived or deadline passed. */
static bool wait_shutdown(sk_server *s, const struct timespec *deadline) {
        pthread_mutex_lock(&s->lock);
        while (!s->shutdown_done)
                if (pthread_cond_timedwait(&s->cond, &s->lock, deadline) == ETIMEDOUT)
                        break;
        bool done = s->shutdown_done;
        pthread_mutex_unlock(&s->lock);
        return done;
}

static struct timespec deadline_after(unsigned ms) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_sec += ms / 1000;
        t.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
        }
        return t;
}

int sk_server_stop(sk_server *s, unsigned timeout_ms) {
        if (!s || !s->started || s->stopped)
                return 0;

        pthread_mutex_lock(&s->lock);
        bool first = !s->shutting_down;
        s->shutting_down = true;
        if (first)
                grpc_server_shutdown_and_notify(s->server, s->cq, &s->tag_shutdown);
        pthread_mutex_unlock(&s->lock);

        if (s->n_workers == 0) {
                /* start() failed before any worker ran: drain the tag here. */
                grpc_event ev;
                do
                        ev = grpc_completion_queue_next(s->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                                           gpr_time_from_millis(timeout_ms,
                                                                                                GPR_TIMESPAN)),
                                                        NULL);
                while (ev.type == GRPC_OP_COMPLETE && ev.tag != &s->tag_shutdown);
                if (ev.type != GRPC_OP_COMPLETE)
                        return -ETIMEDOUT;
                s->shutdown_done = true;
        } else {
                struct timespec half = deadline_after(timeout_ms / 2), full = deadline_after(timeout_ms);
                if (!wait_shutdown(s, &half)) {
                        /* A stream whose reader stopped, or a slow handler:
                         * cancel what is left rather than wait for it. */
                        log_warning("calls still running after %u ms, cancelling them", timeout_ms / 2);
                        grpc_server_cancel_all_calls(s->server);
                        if (!wait_shutdown(s, &full))
                                return log_error_errno(-ETIMEDOUT, "gRPC server did not shut down in %u ms",
                                                       timeout_ms);
                }
        }

        grpc_completion_queue_shutdown(s->cq);
        for (size_t i = 0; i < s->n_workers; i++)
                pthread_join(s->workers[i], NULL);
        s->n_workers = 0;
        s->stopped = true;
        return 0;
}

void sk_server_free(sk_server *s) {
        if (!s)
                return;
        if (s->started && !s->stopped) {
                /* Still running, or gRPC did not stop in time: freeing would
                 * pull memory from under live threads, so leak instead. */
                log_error("sk_server_free on a server that is not stopped; leaking it");
                return;
        }
        if (s->server)
                grpc_server_destroy(s->server);
        if (s->cq)
                grpc_completion_queue_destroy(s->cq);
        for (size_t i = 0; i < s->n_methods; i++) {
                free(s->methods[i]->path);
                free(s->methods[i]);
        }
        free(s->methods);
        free(s->workers);
        free(s->socket_path);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
}
