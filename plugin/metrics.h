/* snapkeepd's metrics endpoint: Prometheus text format on an HTTP address of
 * the config's choosing ([snapkeepd] metrics_address, off by default), with
 * a liveness and a readiness answer beside it for Kubernetes' probes.
 *
 * DESIGN
 * The registry (common/metrics.h) is made at start whether or not the
 * endpoint is on, so that every room records unconditionally; the rooms
 * below register their own families (the scheduler's per policy, capture's
 * bytes and restores) and this file adds the gRPC ones and build info. HTTP
 * is libmicrohttpd's, with its own polling thread: a scrape never takes a
 * gRPC worker. The listening socket is made here, not by libmicrohttpd, so
 * that an address in use is reported as such ("metrics address
 * 127.0.0.1:9184 is in use") instead of as a failed start.
 *
 *   GET /metrics   the registry, text format 0.0.4
 *   GET /livez     200 while the snapshots socket accepts connections
 *   GET /readyz    200 when, besides, the repository is open and reachable;
 *                  503 with the reason otherwise
 * (/healthz is an alias of /livez.) Other paths are 404, other methods 405. */
#pragma once

#include <grpc/status.h>
#include <stddef.h>

#include "common/metrics.h"

typedef struct sk_metrics_server sk_metrics_server;

/* Readiness: 0 if ready, else -errno with a reason in why. */
typedef int (*sk_ready_fn)(char *why, size_t why_size, void *userdata);
/* Liveness: likewise. */
typedef int (*sk_live_fn)(char *why, size_t why_size, void *userdata);

/* The gRPC families (snapshot RPCs by method and code) and build info, in m. */
int sk_daemon_metrics_init(sk_metrics *m, const char *version);

/* An sk_server_options.observe for the snapshots server (userdata: m). */
void sk_daemon_metrics_observe_rpc(const char *method, grpc_status_code code, double seconds, void *userdata);

/* Parse "HOST:PORT", "[V6]:PORT" or ":PORT" (every address). -EINVAL with
 * why set if malformed. */
int sk_metrics_address_check(const char *address, const char **why);

/* Serve m on address. On failure *ret_error (malloc'ed) says why. */
int sk_metrics_server_start(const char *address, sk_metrics *m, sk_live_fn live, sk_ready_fn ready,
                            void *userdata, sk_metrics_server **ret, char **ret_error);
void sk_metrics_server_stop(sk_metrics_server *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_metrics_server *, sk_metrics_server_stop);
