#include "plugin/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <microhttpd.h>

#include "common/log.h"
#include "common/macro.h"

static char *fmt(const char *f, ...) _printf_(1, 2);
static char *fmt(const char *f, ...) {
        char *s = NULL;
        va_list ap;
        va_start(ap, f);
        int n = vasprintf(&s, f, ap);
        va_end(ap);
        return n < 0 ? NULL : s;
}

/* --- the gRPC families --------------------------------------------------------- */

/* Request latency buckets: a Stat is tens of microseconds, a Commit a few
 * fsyncs (milliseconds), a Prepare that restores a backup seconds or more. */
static const double rpc_buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                      5,      10,      30,     60,    300 };

/* The gRPC code names of grpc-go's codes.Code.String(), which containerd's
 * errors and Prometheus' grpc_* conventions use. */
static const char *code_name(grpc_status_code c) {
        static const char *const names[] = {
                "OK",           "Canceled",   "Unknown",            "InvalidArgument", "DeadlineExceeded",
                "NotFound",     "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
                "Aborted",      "OutOfRange", "Unimplemented",      "Internal",        "Unavailable",
                "DataLoss",     "Unauthenticated",
        };
        return (unsigned) c < ARRAY_SIZE(names) ? names[c] : "Unknown";
}

/* The Snapshots API's methods: a call to anything else counts as "unknown",
 * so a client cannot grow the label set. */
static const char *const methods[] = { "Prepare", "View",   "Mounts", "Commit",  "Remove",
                                       "Stat",    "Update", "List",   "Usage",   "Cleanup" };

static const char *method_label(const char *method) {
        for (size_t i = 0; method && i < ARRAY_SIZE(methods); i++)
                if (strcmp(methods[i], method) == 0)
                        return methods[i];
        return "unknown";
}

/* Static handles: one daemon per process. */
static struct {
        sk_metric *info, *total, *seconds;
} fam;

#define DEF(field, ...) { offsetof(typeof(fam), field), __VA_ARGS__ }
static const sk_metric_def defs[] = {
        DEF(info, "snapkeep_build_info", "snapkeepd's version and the gRPC core it runs on; always 1.",
            SK_METRIC_GAUGE, { "version", "grpc_version", NULL }),
        DEF(total, "snapkeep_snapshot_rpcs_total",
            "Calls of containerd's Snapshots API served, by method and gRPC status code.", SK_METRIC_COUNTER,
            { "method", "code", NULL }),
        DEF(seconds, "snapkeep_snapshot_rpc_duration_seconds",
            "Time from a Snapshots API call's arrival to its status, by method and code.", SK_METRIC_HISTOGRAM,
            { "method", "code", NULL }, rpc_buckets, ARRAY_SIZE(rpc_buckets)),
};

int sk_daemon_metrics_init(sk_metrics *m, const char *version) {
        int r = sk_metrics_add_defs(m, defs, ARRAY_SIZE(defs), &fam);
        if (r < 0)
                return r;
        sk_metric_set(fam.info, (const char *[]) { version, grpc_version_string() }, 1);
        /* The common outcomes exist at 0 from the start. */
        for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
                sk_metric_touch(fam.total, (const char *[]) { methods[i], "OK" });
        return 0;
}

void sk_daemon_metrics_observe_rpc(const char *method, grpc_status_code code, double seconds, void *userdata) {
        (void) userdata;
        const char *v[] = { method_label(method), code_name(code) };
        sk_metric_add(fam.total, v, 1);
        sk_metric_observe(fam.seconds, v, seconds);
}

/* --- the address ---------------------------------------------------------------- */

#define ADDRESS_MAX 256

/* Split address into host (NULL: any) and port. */
static int split_address(const char *address, char host[ADDRESS_MAX], char port[8], const char **why) {
        const char *colon;
        size_t hl;
        if (!address || strlen(address) >= ADDRESS_MAX) {
                *why = "must be HOST:PORT, [IPV6]:PORT or :PORT";
                return -EINVAL;
        }
        if (address[0] == '[') {
                const char *end = strchr(address, ']');
                if (!end || end[1] != ':') {
                        *why = "has an unclosed [ or no :PORT after ]";
                        return -EINVAL;
                }
                hl = (size_t) (end - address - 1);
                memcpy(host, address + 1, hl);
                colon = end + 1;
        } else {
                colon = strrchr(address, ':');
                if (!colon || memchr(address, ':', (size_t) (colon - address))) {
                        *why = "must be HOST:PORT, [IPV6]:PORT or :PORT";
                        return -EINVAL;
                }
                hl = (size_t) (colon - address);
                memcpy(host, address, hl);
        }
        host[hl] = '\0';
        char *end;
        errno = 0;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end || colon[1] == '-' || colon[1] == '+' || p < 1 || p > 65535) {
                *why = "has a port that is not a number from 1 to 65535";
                return -EINVAL;
        }
        snprintf(port, 8, "%lu", p);
        return 0;
}

int sk_metrics_address_check(const char *address, const char **why) {
        char host[ADDRESS_MAX], port[8];
        return split_address(address, host, port, why);
}

/* A listening TCP socket on address; -errno with *ret_error set. */
static int listen_on(const char *address, char **ret_error) {
        char host[ADDRESS_MAX], port[8];
        const char *why = NULL;
        int r = split_address(address, host, port, &why);
        if (r < 0) {
                *ret_error = fmt("metrics address %s %s", address, why);
                return r;
        }
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai = NULL;
        r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
        if (r != 0) {
                *ret_error = fmt("metrics address %s: %s", address, gai_strerror(r));
                return -EINVAL;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
                r = negative_errno();
                *ret_error = r == -EADDRINUSE
                                     ? fmt("metrics address %s is in use by another program", address)
                                     : fmt("cannot listen on metrics address %s: %s", address,
                                                        strerror(-r));
                if (fd >= 0)
                        close(fd);
                freeaddrinfo(ai);
                return r;
        }
        freeaddrinfo(ai);
        return fd;
}

/* --- HTTP ----------------------------------------------------------------------- */

struct sk_metrics_server {
        struct MHD_Daemon *d;
        sk_metrics *m;
        sk_live_fn live;
        sk_ready_fn ready;
        void *userdata;
        int fd;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body, size_t len) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body);
                return MHD_NO;
        }
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        enum MHD_Result ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg) {
        char *body = fmt("%s\n", msg);
        if (!body)
                return MHD_NO;
        return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
        (void) version, (void) upload_data, (void) con_cls;
        sk_metrics_server *s = cls;
        if (*upload_data_size) /* a body we do not want: drop it */
                *upload_data_size = 0;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD");
        if (strcmp(url, "/metrics") == 0) {
                char *body = NULL;
                size_t len = 0;
                if (sk_metrics_render(s->m, &body, &len) < 0)
                        return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
                return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len);
        }
        bool is_live = strcmp(url, "/livez") == 0 || strcmp(url, "/healthz") == 0;
        if (is_live || strcmp(url, "/readyz") == 0) {
                char why[256] = "";
                int r = s->live(why, sizeof(why), s->userdata);
                if (r >= 0 && !is_live)
                        r = s->ready(why, sizeof(why), s->userdata);
                return text(conn, r >= 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, r >= 0 ? "ok" : why);
        }
        return text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /livez or /readyz");
}

/* libmicrohttpd's own messages; its format strings are its own. */
static void mhd_log(void *cls, const char *fmt, va_list ap) _printf_(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap) {
        (void) cls;
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = '\0';
        /* Debug only: a peer over its connection limit is reported here,
         * and a hostile one must not be able to flood the log. */
        log_debug("metrics endpoint: %s", buf);
}

int sk_metrics_server_start(const char *address, sk_metrics *m, sk_live_fn live, sk_ready_fn ready,
                            void *userdata, sk_metrics_server **ret, char **ret_error) {
        *ret_error = NULL;
        sk_metrics_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (sk_metrics_server) { .m = m, .live = live, .ready = ready, .userdata = userdata };
        s->fd = listen_on(address, ret_error);
        if (s->fd < 0) {
                int r = s->fd;
                free(s);
                return r;
        }
        /* A scrape or a probe is small and quick. One client may hold a few
         * connections only, so that one slow or hostile peer cannot take
         * every slot and fail the kubelet's probes; idle ones go after 5 s. */
        s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, s,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, s->fd,
                                MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 4u,
                                MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
        if (!s->d) {
                *ret_error = fmt("cannot start the metrics endpoint on %s", address);
                close(s->fd);
                free(s);
                return -EIO;
        }
        *ret = s;
        return 0;
}

void sk_metrics_server_stop(sk_metrics_server *s) {
        if (!s)
                return;
        MHD_stop_daemon(s->d); /* closes the listening socket too, though we made it */
        free(s);
}
