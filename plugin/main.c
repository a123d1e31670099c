/* Room plugin/: snapkeepd's shell, the only room that speaks gRPC: the
 * Snapshots and Control services, the server, the one errno-to-gRPC map
 * (status), the config file and main. It reads the environment and config and
 * logs; the rooms below it return -errno and details. Uses every room but cli/
 * (Makefile DEPS_plugin). */
/* snapkeepd: containerd's proxy snapshotter.
 *
 * DESIGN
 * main() reads the configuration, blocks SIGTERM/SIGINT before grpc_init()
 * (so gRPC's own threads inherit the mask and the signals reach only
 * sigwait() here), opens the snapshotter, starts the server and sleeps in
 * sigwait(). Stopping follows the order gRPC needs (server shutdown, wait for
 * its tag, queue shutdown, join, destroy), bounded in time: gRPC has been seen
 * to hang in grpc_shutdown() when a peer stopped reading, so a watchdog ends
 * the process if the whole stop takes longer than STOP_LIMIT_MS. Every
 * metadata change is already committed by then, so exiting is safe. The
 * watchdog names the stage it caught: once our own state is closed, only
 * gRPC's library clean-up is left (grpc_shutdown() waits up to 10 s for
 * transports of peers that are still going away), and cutting that short is
 * a clean stop, so it exits 0. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <systemd/sd-daemon.h>

#include "auto/policy.h"
#include "auto/scheduler.h"
#include "common/log.h"
#include "container/capture.h"
#include "plugin/autorepo.h"
#include "plugin/containerd.h"
#include "plugin/config.h"
#include "plugin/control_service.h"
#include "plugin/metrics.h"
#include "plugin/server.h"
#include "plugin/snapshots_service.h"
#include "repo/crypto.h"
#include "snapshot/snapshotter.h"

#ifndef SK_VERSION
#define SK_VERSION "0.1.0"
#endif

/* The server gets SERVER_STOP_MS to finish calls (half of it before running
 * calls are cancelled); the process exits at STOP_LIMIT_MS whatever happens. */
#define SERVER_STOP_MS 3000
#define STOP_LIMIT_MS 4500

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_snapshotter *, sk_snapshotter_free);

/* What the stop sequence is doing, for the watchdog's message. */
static _Atomic(const char *) stop_stage = "stopping the servers";
static atomic_bool state_closed;

static void set_stop_stage(const char *stage) {
        atomic_store(&stop_stage, stage);
        log_debug("stop: %s", stage);
}

static void *watchdog_main(void *userdata _unused_) {
        struct timespec t = { .tv_sec = STOP_LIMIT_MS / 1000, .tv_nsec = (STOP_LIMIT_MS % 1000) * 1000000L };
        while (nanosleep(&t, &t) < 0 && errno == EINTR)
                ;
        const char *stage = atomic_load(&stop_stage);
        if (atomic_load(&state_closed)) {
                log_warning("stopped; %s took longer than %d ms, not waiting for it", stage, STOP_LIMIT_MS);
                _exit(EXIT_SUCCESS);
        }
        log_error("stopping took longer than %d ms (stuck %s), exiting now", STOP_LIMIT_MS, stage);
        _exit(EXIT_FAILURE);
        return NULL;
}

/* The control API on the admin socket: its own server, so that long
 * backups never hold a worker containerd's calls need. */
static int start_admin(const sk_config *cfg, sk_snapshotter *snap, sk_capture *capture, sk_scheduler *sched,
                       sk_server **ret) {
        static sk_control_info info;
        sk_server *admin = NULL;
        sk_server_options opts = SK_SERVER_OPTIONS_INIT;
        opts.workers = 3;
        opts.armed_per_method = 2;
        opts.socket_mode = 0600;
        info = (sk_control_info) { .version = SK_VERSION, .root = cfg->root, .repo = cfg->repo,
                                   .automation = sched ? &cfg->automation : NULL, .scheduler = sched };
        int r = sk_server_new(&opts, &admin);
        if (r >= 0)
                r = sk_control_service_add(admin, snap, capture, &info);
        if (r >= 0)
                r = sk_server_listen_unix(admin, cfg->admin_socket);
        if (r >= 0)
                r = sk_server_start(admin);
        if (r < 0) {
                sk_server_free(admin);
                return log_error_errno(r, "cannot serve the control API on %s", cfg->admin_socket);
        }
        *ret = admin;
        return 0;
}

/* The repository's storage settings: the config file first, then the
 * environment (the library never reads the environment itself). */
static const char *daemon_store_setting(const char *name, void *userdata) {
        const char *v = sk_config_store_setting(userdata, name);
        return v ? v : getenv(name);
}

/* container/ is a library and never prints: its lines come here. */
_Static_assert((int) SK_CAPTURE_LOG_ERROR == SK_LOG_ERROR && (int) SK_CAPTURE_LOG_WARNING == SK_LOG_WARN &&
                       (int) SK_CAPTURE_LOG_INFO == SK_LOG_INFO && (int) SK_CAPTURE_LOG_DEBUG == SK_LOG_DEBUG,
               "capture log levels are common/log.h's");
static void capture_log(int level, const char *message, void *userdata) {
        (void) userdata;
        (void) sk_log_full(level, 0, "%s", message);
}

/* Automatic backups: one line per policy, so the log says what will run. */
static int start_scheduler(const sk_config *cfg, sk_snapshotter *snap, sk_capture *capture, sk_metrics *metrics,
                           sk_scheduler **ret) {
        const sk_automation *a = &cfg->automation;
        if (!a->enabled) {
                log_info("automatic backups are off ([automation] enabled = false)");
                return 0;
        }
        _cleanup_free_ char *state_dir = NULL;
        char host[256] = "";
        int r;
        if (asprintf(&state_dir, "%s/automation", cfg->root) < 0)
                return log_error_errno(-ENOMEM, "out of memory");
        (void) gethostname(host, sizeof(host) - 1);
        char node_id[33];
        r = sk_node_id(cfg->root, node_id);
        if (r < 0)
                return r;
        sk_scheduler_options so = {
                .automation = a, .state_dir = state_dir, .node = host, .node_id = node_id, .log = capture_log,
                .pause_task = sk_tasks_pause, .metrics = metrics, .identify = sk_containerd_identify,
        };
        r = sk_scheduler_new(snap, capture, &so, ret);
        if (r < 0)
                return log_error_errno(r, "cannot start automatic backups (state in %s)", state_dir);
        for (size_t i = 0; i < a->n_policies; i++) {
                const sk_policy *p = &a->policies[i];
                char keep[160];
                sk_policy_retention_text(p, keep, sizeof(keep));
                log_info("backup policy %s%s: %s%s, %s; %s", p->name, a->builtin ? " (built-in)" : "",
                         p->kinds == SK_SOURCE_LAYER ? "layers" : p->kinds == SK_SOURCE_CONTAINER ? "containers"
                                                                                              : "containers and layers",
                         p->n_namespaces ? " in chosen namespaces" : "", p->when, keep);
        }
        return 0;
}

/* --- the metrics endpoint's probes ------------------------------------------------- */

typedef struct probe_ctx {
        const sk_config *cfg;
        _Atomic(sk_capture *) capture; /* set once made */
} probe_ctx;

/* Live: the snapshots socket takes a connection (what containerd needs). */
static int probe_live(char *why, size_t n, void *userdata) {
        const probe_ctx *p = userdata;
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", p->cfg->socket);
        /* Non-blocking: the HTTP thread must never wait here. A full listen
         * backlog (EAGAIN) is a busy server, which is still alive. */
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0 && errno != EAGAIN)) {
                int r = negative_errno();
                snprintf(why, n, "snapshots socket %s does not accept connections: %s", p->cfg->socket, strerror(-r));
                return r;
        }
        return 0;
}

/* Ready: live, and the repository open (its last open did not fail). */
static int probe_ready(char *why, size_t n, void *userdata) {
        probe_ctx *p = userdata;
        sk_capture *c = atomic_load(&p->capture);
        if (!c) {
                snprintf(why, n, "starting: the repository is not set up yet");
                return -EAGAIN;
        }
        sk_capture_status st;
        sk_capture_get_status(c, &st);
        if (!st.repo_open) {
                snprintf(why, n, "repository %s is not open%s%s", p->cfg->repo, st.repo_error[0] ? ": " : "",
                         st.repo_error);
                return -ENOMEDIUM;
        }
        return 0;
}

static int run(const sk_config *cfg, const sigset_t *stop_signals) {
        /* First declared, so freed last: every room below records into it. */
        _cleanup_(sk_metrics_freep) sk_metrics *metrics = NULL;
        _cleanup_(sk_snapshotter_freep) sk_snapshotter *snap = NULL;
        _cleanup_(sk_capture_freep) sk_capture *capture = NULL;
        /* After capture: freed (its running backups finished) before it. */
        _cleanup_(sk_scheduler_freep) sk_scheduler *sched = NULL;
        sk_server *server = NULL, *admin = NULL;
        /* Stopped before anything it probes is freed. */
        _cleanup_(sk_metrics_server_stopp) sk_metrics_server *mserver = NULL;
        int r, sig;

        r = sk_metrics_new(&metrics);
        if (r >= 0)
                r = sk_daemon_metrics_init(metrics, SK_VERSION);
        if (r < 0)
                return log_error_errno(r, "cannot set up metrics");
        /* First, so that an address in use stops the daemon before it
         * touches anything; the probes answer 503 until there is something
         * to serve. */
        static probe_ctx probes;
        probes.cfg = cfg;
        if (cfg->metrics_address) {
                _cleanup_free_ char *merr = NULL;
                r = sk_metrics_server_start(cfg->metrics_address, metrics, probe_live, probe_ready, &probes, &mserver,
                                            &merr);
                if (r < 0) {
                        log_error("%s", merr ? merr : strerror(-r));
                        return r;
                }
                log_info("metrics on http://%s/metrics (liveness /livez, readiness /readyz)", cfg->metrics_address);
        }

        r = sk_snapshotter_open(cfg->root, NULL, &snap);
        if (r == -EBUSY)
                return log_error_errno(r, "root %s is in use by another snapkeepd (it holds %s/lock); "
                                          "give each snapkeepd its own --root", cfg->root, cfg->root);
        if (r < 0)
                return log_error_errno(r, "cannot open snapshotter root %s", cfg->root);

        /* Pauses (automation) and Kubernetes identities (every backup). */
        r = sk_containerd_open(cfg->containerd_socket);
        if (r < 0)
                return log_error_errno(r, "cannot set up a client for containerd's socket %s", cfg->containerd_socket);
        sk_capture_options copts = {
                .repo_url = cfg->repo,
                .password_file = cfg->password_file,
                .key_file = cfg->key_file,
                .remote_layers = cfg->remote_layers,
                .max_restores = cfg->restores,
                .store = { .setting = daemon_store_setting, .userdata = (void *) cfg },
                .log = capture_log,
                .metrics = metrics,
                .identify = sk_containerd_identify,
                .image = sk_containerd_image,
        };
        r = sk_capture_new(snap, &copts, &capture);
        if (r < 0)
                return log_error_errno(r, "cannot set up backups");
        atomic_store(&probes.capture, capture);
        /* Before serving: a restore interrupted by a crash must not be visible. */
        r = sk_capture_sweep(capture);
        if (r < 0)
                log_warning_errno(r, "cannot look for interrupted restores");
        if (cfg->repo_auto)
                (void) sk_autorepo_ensure(cfg->repo, cfg->key_file, &copts.store);
        (void) sk_capture_open_repo(capture);
        r = start_scheduler(cfg, snap, capture, metrics, &sched);
        if (r < 0)
                return r;
        sk_snapshots_service_set_capture(capture, cfg->restore_selectors);
        sk_snapshots_service_set_automation(&cfg->automation, sched);
        r = start_admin(cfg, snap, capture, sched, &admin);
        if (r < 0)
                return r;

        sk_server_options opts = SK_SERVER_OPTIONS_INIT;
        /* A restore holds its worker until the data is in place: give each
         * restore slot a worker of its own, so `workers` stay free for the
         * calls containerd makes meanwhile. */
        opts.workers = cfg->workers + cfg->restores;
        opts.observe = sk_daemon_metrics_observe_rpc;
        r = sk_server_new(&opts, &server);
        if (r < 0)
                return log_error_errno(r, "cannot create server");
        r = sk_snapshots_service_add(server, snap);
        if (r < 0) {
                sk_server_free(server);
                return log_error_errno(r, "cannot register the snapshots service");
        }
        r = sk_server_listen_unix(server, cfg->socket);
        if (r >= 0)
                r = sk_server_start(server);
        if (r < 0) {
                sk_server_free(server);
                (void) sk_server_stop(admin, SERVER_STOP_MS);
                sk_server_free(admin);
                if (r == -EADDRINUSE)
                        return log_error_errno(r, "another server is listening on %s", cfg->socket);
                if (r == -EEXIST)
                        return log_error_errno(r, "%s exists and is not a socket", cfg->socket);
                return log_error_errno(r, "cannot serve on %s", cfg->socket);
        }
        log_info("snapkeepd %s serving %s on %s with %u workers + %u for restores (gRPC %s); control API on %s; "
                 "repository %s%s",
                 SK_VERSION, cfg->root, cfg->socket, cfg->workers, cfg->restores, grpc_version_string(),
                 cfg->admin_socket, cfg->repo,
                 cfg->remote_layers ? ", remote layers on" : "");
        /* Both sockets listen and their workers run: a call made now is
         * served. Only now may systemd (Type=notify) start what is ordered
         * after us, containerd first. Without $NOTIFY_SOCKET this does nothing. */
        r = sd_notifyf(0, "READY=1\nSTATUS=serving %s on %s", cfg->root, cfg->socket);
        if (r < 0)
                log_warning_errno(r, "cannot tell the service manager that snapkeepd is ready");

        for (;;) {
                r = sigwait(stop_signals, &sig);
                if (r == 0)
                        break;
                if (r != EINTR)
                        return log_error_errno(-r, "sigwait");
        }
        log_info("received %s, stopping", strsignal(sig));
        (void) sd_notify(0, "STOPPING=1");
        if (sched)
                sk_scheduler_stop(sched); /* no new scheduled runs */

        pthread_t watchdog;
        r = -pthread_create(&watchdog, NULL, watchdog_main, NULL);
        if (r < 0)
                log_warning_errno(r, "cannot start the stop watchdog");
        else
                pthread_detach(watchdog);

        set_stop_stage("stopping the metrics endpoint");
        sk_metrics_server_stop(TAKE_PTR(mserver));
        set_stop_stage("stopping the control API");
        r = sk_server_stop(admin, SERVER_STOP_MS / 2);
        if (r >= 0) {
                set_stop_stage("stopping the snapshots service");
                r = sk_server_stop(server, SERVER_STOP_MS / 2);
        }
        if (r < 0) {
                /* Handlers may still run on gRPC's threads: freeing the
                 * snapshotter under them would be worse than leaving now. */
                log_error_errno(r, "server did not stop cleanly, exiting");
                _exit(EXIT_FAILURE);
        }
        set_stop_stage("destroying the servers");
        sk_server_free(server);
        sk_server_free(admin);
        unlink(cfg->socket);
        unlink(cfg->admin_socket);
        /* The calls had their grace; what still runs (scheduled backups,
         * maintenance) ends at its next progress point instead of holding the
         * stop up to its limit. */
        if (capture)
                sk_capture_cancel(capture);
        set_stop_stage("waiting for running automatic backups, closing the snapshotter and repository");
        return 0;
}

int main(int argc, char *argv[]) {
        sk_config cfg;
        sk_config_action action;
        char *error = NULL;
        sigset_t stop_signals;
        int r;

        (void) sk_crypto_use_huge_pages();     /* first: see repo/crypto.h */
        sk_log_set_ident("snapkeepd");
        r = sk_config_from_args(argc, argv, &cfg, &action, &error);
        if (r < 0) {
                if (error)
                        log_error("%s", error);
                else
                        log_error_errno(r, "cannot read the configuration");
                fprintf(stderr, "Try '%s --help'.\n", argv[0]);
                free(error);
                return 2;
        }
        if (action == SK_CONFIG_HELP) {
                sk_config_print_help(stdout, argv[0]);
                sk_config_clear(&cfg);
                return 0;
        }
        if (action == SK_CONFIG_VERSION) {
                printf("snapkeepd %s\n", SK_VERSION);
                sk_config_clear(&cfg);
                return 0;
        }
        sk_log_set_level(cfg.log_level);
        if (cfg.config_path)
                log_debug("read configuration from %s", cfg.config_path);

        /* Before grpc_init(): threads created from now on inherit the mask. */
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        r = -pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
        if (r < 0) {
                sk_config_clear(&cfg);
                return log_error_errno(r, "cannot block signals"), 1;
        }
        /* A client that disconnects must not kill us with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);

        grpc_init();
        r = run(&cfg, &stop_signals);
        sk_containerd_close(); /* after run(): the scheduler and captures that used it are gone */
        if (r >= 0) {
                atomic_store(&state_closed, true);
                set_stop_stage("gRPC's library clean-up");
                grpc_shutdown();
                log_info("stopped");
        }
        sk_config_clear(&cfg);
        return r < 0 ? 1 : 0;
}
