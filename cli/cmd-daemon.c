/* snapkeep backup --container/--snapshot/--all and snapkeep daemon: a
 * gRPC client of snapkeepd's admin socket; see daemon-client.h. */
#include "cli/daemon-client.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"
#include "control.pb-c.h"
#include "rpc/client.h"

#define PB(name) Snapkeep__Control__V1__##name
#define METHOD(name) "/snapkeep.control.v1.Control/" name

enum {
        OPT_ADMIN_SOCKET = SK_OPT_FIRST_COMMAND_OPTION + 100,
        OPT_CONTAINER,
        OPT_NAMESPACE,
        OPT_SNAPSHOT,
        OPT_ALL,
        OPT_TAG,
        OPT_TARGET,
        OPT_FOLLOW,
        OPT_SINCE,
};

/* Every call goes to the admin socket without metadata or deadline. */
#define rpc_call(r, method, req, desc, fn, ud, details) sk_rpc_call((r), (method), NULL, 0, 0, (req), (desc), (fn), (ud), (details))

/* s as sk_cli_put_name shows it (control bytes and bad UTF-8 as \xNN), in
 * a new string for a padded column; NULL when out of memory. */
static char *escaped(const char *s) {
        char *b = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&b, &n);
        if (!f)
                return NULL;
        sk_cli_put_name(f, s ? s : "");
        if (fclose(f) != 0) {
                free(b);
                return NULL;
        }
        return b;
}

static const char *admin_socket(const char *flag) {
        if (flag)
                return flag;
        const char *e = getenv("SNAPKEEP_ADMIN_SOCKET");
        return e && *e ? e : SK_CLI_DEFAULT_ADMIN_SOCKET;
}

static int exit_for_status(grpc_status_code s) {
        switch (s) {
        case GRPC_STATUS_OK: return SK_EXIT_OK;
        case GRPC_STATUS_NOT_FOUND: return SK_EXIT_NOT_FOUND;
        case GRPC_STATUS_INVALID_ARGUMENT: return SK_EXIT_USAGE;
        case GRPC_STATUS_DATA_LOSS: return SK_EXIT_INTEGRITY;
        default: return SK_EXIT_ERROR;
        }
}

static int report(sk_cli *cli, grpc_status_code s, char *details, const char *sock) {
        if (s == GRPC_STATUS_UNAVAILABLE && (!details || !*details || strstr(details, "connect")))
                fprintf(stderr, "%s %s: error: cannot reach snapkeepd's control API on %s (is snapkeepd running? "
                                "use --admin-socket or SNAPKEEP_ADMIN_SOCKET; it is root-only)\n",
                        cli->prog, cli->command, sock);
        else
                fprintf(stderr, "%s %s: error: %s\n", cli->prog, cli->command, details && *details ? details : "failed");
        free(details);
        return exit_for_status(s);
}

/* --- progress: a thread polls Events while Backup runs (stderr on a TTY) --- */

typedef struct progress_thread {
        const char *sock;
        uint64_t since;
        atomic_bool stop;
        pthread_t thread;
        bool started;
} progress_thread;

static int show_progress_event(const ProtobufCMessage *msg, void *userdata) {
        const PB(Event) *e = (const void *) msg;
        progress_thread *pt = userdata;
        if (e->seq > pt->since)
                pt->since = e->seq;
        if (strcmp(e->kind, "progress") == 0 || strcmp(e->kind, "backup-start") == 0) {
                char b1[32];
                _cleanup_free_ char *snap = escaped(e->snapshot);
                fprintf(stderr, "\r\033[K%.60s: %" PRIu64 " files, %s", snap ? snap : "?", e->files_done,
                        sk_cli_format_size(e->bytes_done, b1, sizeof(b1)));
                fflush(stderr);
        }
        return 0;
}

static void *progress_main(void *userdata) {
        progress_thread *pt = userdata;
        sk_rpc *r = NULL;
        if (sk_rpc_open(pt->sock, &r) >= 0) {
                while (!atomic_load(&pt->stop)) {
                        PB(EventsRequest) req = SNAPKEEP__CONTROL__V1__EVENTS_REQUEST__INIT;
                        req.since = pt->since;
                        req.wait_ms = 300;
                        char *details = NULL;
                        grpc_status_code s = rpc_call(r, METHOD("Events"), &req.base,
                                                      &snapkeep__control__v1__event__descriptor, show_progress_event, pt,
                                                      &details);
                        free(details);
                        if (s != GRPC_STATUS_OK)
                                break;
                }
        }
        sk_rpc_close(r);
        return NULL;
}

static int last_event_seq(const ProtobufCMessage *msg, void *userdata) {
        *(uint64_t *) userdata = ((const PB(StatusResponse) *) msg)->last_event;
        return 0;
}

static void progress_start(progress_thread *pt, sk_rpc *r, const char *sock) {
        PB(StatusRequest) req = SNAPKEEP__CONTROL__V1__STATUS_REQUEST__INIT;
        char *details = NULL;
        pt->sock = sock;
        if (rpc_call(r, METHOD("Status"), &req.base, &snapkeep__control__v1__status_response__descriptor,
                     last_event_seq, &pt->since, &details) == GRPC_STATUS_OK)
                pt->started = pthread_create(&pt->thread, NULL, progress_main, pt) == 0;
        free(details);
}

static void progress_stop(progress_thread *pt) {
        if (!pt->started)
                return;
        atomic_store(&pt->stop, true);
        pthread_join(pt->thread, NULL);
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
}

/* --- backup ------------------------------------------------------------------------- */

bool sk_container_backup_wanted(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0)
                        break;
                if (strcmp(argv[i], "--all") == 0 || strncmp(argv[i], "--container", 11) == 0 ||
                    strncmp(argv[i], "--snapshot", 10) == 0)
                        return true;
        }
        return false;
}

typedef struct backup_out {
        sk_cli *cli;
        int failures;
        uint64_t errors;
} backup_out;

static int print_backup(const ProtobufCMessage *msg, void *userdata) {
        const PB(BackupResponse) *resp = (const void *) msg;
        backup_out *o = userdata;
        sk_cli *cli = o->cli;
        const char *first_active = NULL;
        for (size_t i = 0; i < resp->n_results; i++) {
                const PB(BackupResult) *r = resp->results[i];
                if (r->error[0])
                        o->failures++;
                o->errors += r->errors;
                if (!first_active && !r->error[0] && strcmp(r->kind, "active") == 0)
                        first_active = r->backup_id;
        }
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_key(j, "results");
                sk_json_begin_array(j);
                for (size_t i = 0; i < resp->n_results; i++) {
                        const PB(BackupResult) *r = resp->results[i];
                        sk_json_begin_object(j);
                        sk_json_kv_str(j, "snapshot", r->snapshot);
                        sk_json_kv_str(j, "kind", r->kind);
                        sk_json_kv_str(j, "backup_id", r->backup_id);
                        sk_json_kv_str(j, "chain_id", r->chain_id);
                        sk_json_kv_u64(j, "layers_captured", r->layers_captured);
                        sk_json_kv_u64(j, "layers_reused", r->layers_reused);
                        sk_json_kv_u64(j, "bytes_read", r->bytes_read);
                        sk_json_kv_u64(j, "blobs_added", r->blobs_added);
                        sk_json_kv_u64(j, "errors", r->errors);
                        sk_json_kv_u64(j, "warnings", r->warnings);
                        sk_json_kv_double(j, "seconds", r->seconds);
                        if (r->error[0])
                                sk_json_kv_str(j, "error", r->error);
                        sk_json_end_object(j);
                }
                sk_json_end_array(j);
                if (first_active)
                        sk_json_kv_str(j, "backup_id", first_active);
                else if (resp->n_results == 1 && !resp->results[0]->error[0])
                        sk_json_kv_str(j, "backup_id", resp->results[0]->backup_id);
                sk_json_end_object(j);
                fputc('\n', stdout);
                return 0;
        }
        for (size_t i = 0; i < resp->n_results; i++) {
                const PB(BackupResult) *r = resp->results[i];
                char b1[32];
                _cleanup_free_ char *snap = escaped(r->snapshot), *err = escaped(r->error);
                if (!snap || !err)
                        return -ENOMEM;
                if (r->error[0]) {
                        fprintf(stderr, "%s backup: %s: %s\n", cli->prog, snap, err);
                        continue;
                }
                if (!cli->quiet) {
                        printf("%s (%s%s%s): backup %s\n", snap, r->kind, r->chain_id[0] ? " " : "", r->chain_id,
                               r->backup_id);
                        printf("  layers: %" PRIu64 " captured, %" PRIu64 " already in the repository; read %s, "
                               "%" PRIu64 " new blobs, %.2f s%s\n",
                               r->layers_captured, r->layers_reused, sk_cli_format_size(r->bytes_read, b1, sizeof(b1)),
                               r->blobs_added, r->seconds, r->errors ? "; SOME FILES FAILED (see snapkeepd's log)" : "");
                        if (r->warnings)
                                printf("  %" PRIu64 " warnings, e.g. files that changed while they were read: for a "
                                       "consistent backup pause the task (ctr task pause) first\n",
                                       r->warnings);
                } else
                        printf("%s\n", r->backup_id);
        }
        return 0;
}

/* Keep a unary reply past rpc_call (which frees what it passes to fn). */
static int keep_reply(const ProtobufCMessage *msg, void *userdata) {
        size_t len = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
                return -ENOMEM;
        protobuf_c_message_pack(msg, buf);
        *(ProtobufCMessage **) userdata = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
        free(buf);
        return *(ProtobufCMessage **) userdata ? 0 : -ENOMEM;
}

int sk_cmd_container_backup(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "container", required_argument, NULL, OPT_CONTAINER },
                { "namespace", required_argument, NULL, OPT_NAMESPACE },
                { "snapshot", required_argument, NULL, OPT_SNAPSHOT },
                { "all", no_argument, NULL, OPT_ALL },
                { "tag", required_argument, NULL, OPT_TAG },
                { "admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET },
                {}
        };
        static const char help[] =
                "Usage: snapkeep backup --container ID [--namespace NS] [OPTIONS]\n"
                "       snapkeep backup --snapshot KEY [OPTIONS]\n"
                "       snapkeep backup --all [OPTIONS]\n"
                "\n"
                "Back up live snapshots through snapkeepd (root only). A container's writable\n"
                "layer is captured as overlayfs stores it, and every image layer below it that\n"
                "the repository does not hold yet is captured once. --container resolves the\n"
                "snapshotter key NS/<n>/ID (namespace default: \"default\"); --snapshot takes a\n"
                "snapkeepd key as shown by `ctr snapshots` on snapkeepd's socket; --all covers\n"
                "every active snapshot and every layer not yet in the repository.\n"
                "\n"
                "  -t, --tag TAG           add a tag (repeatable)\n"
                "      --admin-socket P    snapkeepd control socket (default $SNAPKEEP_ADMIN_SOCKET,\n"
                "                          then " SK_CLI_DEFAULT_ADMIN_SOCKET ")\n"
                "      --json              print {\"results\":[...],\"backup_id\":ID}\n"
                "\n"
                "For a strictly consistent backup of a running container: `ctr task pause ID`,\n"
                "back up, `ctr task resume ID`. Otherwise a file that changes while it is read\n"
                "is reported as a warning.\n";
        const char *sock = NULL, *container = NULL, *ns = NULL, *snapshot = NULL;
        _cleanup_free_ char **tags = NULL;
        size_t n_tags = 0;
        bool all = false;
        int c;
        cli->command = "backup";
        while ((c = sk_cli_getopt(cli, argc, argv, "t:", opts, help)) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_CONTAINER: container = optarg; break;
                case OPT_NAMESPACE: ns = optarg; break;
                case OPT_SNAPSHOT: snapshot = optarg; break;
                case OPT_ALL: all = true; break;
                case 't':
                case OPT_TAG: {
                        char **nt = realloc(tags, (n_tags + 1) * sizeof(char *));
                        if (!nt)
                                return sk_cli_fail(cli, -ENOMEM, "out of memory");
                        tags = nt;
                        tags[n_tags++] = optarg;
                        break;
                }
                case OPT_ADMIN_SOCKET: sock = optarg; break;
                default: return SK_EXIT_USAGE;
                }
        }
        if (optind < argc)
                return sk_cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
        if ((container != NULL) + (snapshot != NULL) + all != 1)
                return sk_cli_usage_error(cli, "give exactly one of --container ID, --snapshot KEY, --all");
        if (ns && !container)
                return sk_cli_usage_error(cli, "--namespace goes with --container");
        sk_cli_setup(cli);
        sock = admin_socket(sock);

        PB(BackupRequest) req = SNAPKEEP__CONTROL__V1__BACKUP_REQUEST__INIT;
        req.container = (char *) (container ? container : "");
        req.namespace_ = (char *) (ns ? ns : "");
        req.snapshot = (char *) (snapshot ? snapshot : "");
        req.all = all;
        req.tags = tags;
        req.n_tags = n_tags;

        sk_rpc *r = NULL;
        if (sk_rpc_open(sock, &r) < 0) {
                sk_rpc_close(r);
                return sk_cli_fail(cli, -ENOMEM, "cannot set up gRPC");
        }
        backup_out o = { .cli = cli };
        char *details = NULL;
        progress_thread pt = {};
        if (cli->progress && !cli->json)
                progress_start(&pt, r, sock);
        PB(BackupResponse) *resp = NULL;
        grpc_status_code s = rpc_call(r, METHOD("Backup"), &req.base, &snapkeep__control__v1__backup_response__descriptor,
                                      keep_reply, &resp, &details);
        progress_stop(&pt);
        if (s == GRPC_STATUS_OK && resp)
                print_backup(&resp->base, &o);
        if (resp)
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        sk_rpc_close(r);
        if (s != GRPC_STATUS_OK)
                return report(cli, s, details, sock);
        free(details);
        if (o.failures)
                return SK_EXIT_ERROR;
        return o.errors ? SK_EXIT_INTEGRITY : SK_EXIT_OK;
}

/* --- daemon status | backups | events | restore --------------------------------------- */

static int print_status(const ProtobufCMessage *msg, void *userdata) {
        const PB(StatusResponse) *s = (const void *) msg;
        sk_cli *cli = userdata;
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "version", s->version);
                sk_json_kv_str(j, "root", s->root);
                sk_json_kv_str(j, "repo", s->repo);
                sk_json_kv_bool(j, "repo_open", s->repo_open);
                sk_json_kv_str(j, "repo_error", s->repo_error);
                sk_json_kv_bool(j, "remote_layers", s->remote_layers);
                sk_json_kv_u64(j, "snapshots", s->snapshots);
                sk_json_kv_u64(j, "backups_done", s->backups_done);
                sk_json_kv_u64(j, "restores_done", s->restores_done);
                sk_json_kv_u64(j, "layers_rehydrated", s->layers_rehydrated);
                sk_json_kv_u64(j, "last_event", s->last_event);
                sk_json_end_object(j);
                fputc('\n', stdout);
                return 0;
        }
        printf("snapkeepd %s\nroot: %s\nrepository: %s (%s%s%s)\nremote layers: %s\nsnapshots: %" PRIu64
               "\nbackups done: %" PRIu64 "\nrestores done: %" PRIu64 "\nlayers rehydrated: %" PRIu64 "\n",
               s->version, s->root, s->repo, s->repo_open ? "open" : "not open yet", s->repo_error[0] ? ": " : "",
               s->repo_error, s->remote_layers ? "on" : "off", s->snapshots, s->backups_done, s->restores_done,
               s->layers_rehydrated);
        return 0;
}

static int print_backups(const ProtobufCMessage *msg, void *userdata) {
        const PB(ListBackupsResponse) *resp = (const void *) msg;
        sk_cli *cli = userdata;
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_array(j);
                for (size_t i = 0; i < resp->n_backups; i++) {
                        const PB(BackupInfo) *b = resp->backups[i];
                        sk_json_begin_object(j);
                        sk_json_kv_str(j, "id", b->id);
                        sk_json_kv_i64(j, "time", b->time);
                        sk_json_kv_str(j, "kind", b->kind);
                        sk_json_kv_str(j, "snapshot", b->snapshot);
                        sk_json_kv_str(j, "chain_id", b->chain_id);
                        sk_json_kv_str(j, "hostname", b->hostname);
                        sk_json_key(j, "layers");
                        sk_json_begin_array(j);
                        for (size_t k = 0; k < b->n_layers; k++)
                                sk_json_string(j, b->layers[k]);
                        sk_json_end_array(j);
                        sk_json_end_object(j);
                }
                sk_json_end_array(j);
                fputc('\n', stdout);
                return 0;
        }
        printf("%-16s %-20s %-9s %6s  %s\n", "ID", "TIME", "KIND", "LAYERS", "SNAPSHOT");
        for (size_t i = 0; i < resp->n_backups; i++) {
                const PB(BackupInfo) *b = resp->backups[i];
                char when[32];
                time_t t = (time_t) b->time;
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
                _cleanup_free_ char *snap = escaped(b->snapshot);
                if (!snap)
                        return -ENOMEM;
                printf("%-16.16s %-20s %-9s %6zu  %s%s%s\n", b->id, when, b->kind, b->n_layers, snap,
                       b->chain_id[0] ? " " : "", b->chain_id);
        }
        return 0;
}

static void fmt_when(int64_t t, char buf[32]) {
        if (t == 0 || t == -1) {
                snprintf(buf, 32, "%s", t == 0 ? "-" : "none");
                return;
        }
        time_t tt = (time_t) t;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

static int print_schedule(const ProtobufCMessage *msg, void *userdata) {
        const PB(ScheduleResponse) *resp = (const void *) msg;
        sk_cli *cli = userdata;
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_bool(j, "enabled", resp->enabled);
                sk_json_kv_u64(j, "max_runs", resp->max_runs);
                sk_json_key(j, "policies");
                sk_json_begin_array(j);
                for (size_t i = 0; i < resp->n_policies; i++) {
                        const PB(PolicyInfo) *p = resp->policies[i];
                        sk_json_begin_object(j);
                        sk_json_kv_str(j, "name", p->name);
                        sk_json_kv_str(j, "kinds", p->kinds);
                        sk_json_kv_str(j, "schedule", p->schedule);
                        sk_json_kv_u64(j, "jitter", p->jitter);
                        sk_json_kv_str(j, "retention", p->retention);
                        sk_json_kv_u64(j, "sources", p->sources);
                        sk_json_kv_bool(j, "builtin", p->builtin);
                        sk_json_end_object(j);
                }
                sk_json_end_array(j);
                sk_json_key(j, "sources");
                sk_json_begin_array(j);
                for (size_t i = 0; i < resp->n_sources; i++) {
                        const PB(SourceInfo) *x = resp->sources[i];
                        sk_json_begin_object(j);
                        sk_json_kv_str(j, "source", x->source);
                        sk_json_kv_str(j, "policy", x->policy);
                        sk_json_kv_str(j, "kind", x->kind);
                        sk_json_kv_str(j, "state", x->state);
                        sk_json_kv_i64(j, "next_run", x->next_run);
                        sk_json_kv_i64(j, "last_start", x->last_start);
                        sk_json_kv_i64(j, "last_success", x->last_success);
                        sk_json_kv_u64(j, "failures", x->failures);
                        sk_json_kv_u64(j, "runs", x->runs);
                        sk_json_kv_str(j, "last_error", x->last_error);
                        sk_json_kv_str(j, "last_backup", x->last_backup);
                        sk_json_end_object(j);
                }
                sk_json_end_array(j);
                sk_json_end_object(j);
                fputc('\n', stdout);
                return 0;
        }
        if (!resp->enabled) {
                printf("automatic backups are off ([automation] enabled = false)\n");
                return 0;
        }
        printf("%-16s %-18s %-24s %7s  %s\n", "POLICY", "KINDS", "SCHEDULE", "SOURCES", "RETENTION");
        for (size_t i = 0; i < resp->n_policies; i++) {
                const PB(PolicyInfo) *p = resp->policies[i];
                printf("%-16s %-18s %-24s %7u  %s%s\n", p->name, p->kinds, p->schedule, p->sources, p->retention,
                       p->builtin ? " (built-in default)" : "");
        }
        printf("\n%-40s %-12s %-8s %-19s  %-19s  %s\n", "SOURCE", "POLICY", "STATE", "NEXT RUN", "LAST SUCCESS",
               "FAILURES / LAST ERROR");
        for (size_t i = 0; i < resp->n_sources; i++) {
                const PB(SourceInfo) *x = resp->sources[i];
                char next[32], ok[32];
                fmt_when(x->state[0] == 'r' || x->state[0] == 'p' ? 0 : x->next_run, next);
                fmt_when(x->last_success, ok);
                /* Snapshot keys come from containerd's clients and errors may quote
                 * them: control bytes are shown escaped, never sent to the terminal. */
                _cleanup_free_ char *src = escaped(x->source), *err = escaped(x->last_error);
                if (!src || !err)
                        return -ENOMEM;
                printf("%-40s %-12s %-8s %-19s  %-19s  %u%s%s\n", src, x->policy, x->state, next, ok, x->failures,
                       err[0] ? " " : "", err);
        }
        return 0;
}

typedef struct events_out {
        sk_cli *cli;
        uint64_t last;
} events_out;

static int print_event(const ProtobufCMessage *msg, void *userdata) {
        const PB(Event) *e = (const void *) msg;
        events_out *o = userdata;
        if (e->seq > o->last)
                o->last = e->seq;
        if (o->cli->json) {
                sk_json j = SK_JSON_INIT(stdout);
                sk_json_begin_object(&j);
                sk_json_kv_u64(&j, "seq", e->seq);
                sk_json_kv_i64(&j, "time_ns", e->time_ns);
                sk_json_kv_str(&j, "kind", e->kind);
                sk_json_kv_str(&j, "snapshot", e->snapshot);
                sk_json_kv_str(&j, "backup_id", e->backup_id);
                sk_json_kv_u64(&j, "files_done", e->files_done);
                sk_json_kv_u64(&j, "bytes_done", e->bytes_done);
                sk_json_kv_u64(&j, "bytes_total", e->bytes_total);
                sk_json_kv_str(&j, "message", e->message);
                sk_json_end_object(&j);
                fputc('\n', stdout);
        } else {
                char b1[32];
                _cleanup_free_ char *snap = escaped(e->snapshot), *text = escaped(e->message);
                if (!snap || !text)
                        return -ENOMEM;
                printf("%" PRIu64 " %-13s %s %s%s %s\n", e->seq, e->kind, snap, e->backup_id[0] ? "backup " : "",
                       e->backup_id, text);
                if (e->bytes_done)
                        printf("    %" PRIu64 " files, %s\n", e->files_done,
                               sk_cli_format_size(e->bytes_done, b1, sizeof(b1)));
        }
        fflush(stdout);
        return 0;
}

int sk_cmd_daemon(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET },
                { "target", required_argument, NULL, OPT_TARGET },
                { "follow", no_argument, NULL, OPT_FOLLOW },
                { "since", required_argument, NULL, OPT_SINCE },
                {}
        };
        static const char help[] =
                "Usage: snapkeep daemon status | backups | events [--follow] [--since N]\n"
                "                     | restore ID --target DIR | schedule | run-now [WHAT]\n"
                "                     | pause WHAT | resume WHAT\n"
                "                     [--admin-socket P] [--json]\n"
                "\n"
                "Ask snapkeepd (root only, on its admin socket): its status, the container and\n"
                "layer backups it made, its progress events, or restore a backup's writable layer\n"
                "(the upper dir as overlayfs stores it) into a new directory DIR.\n"
                "\n"
                "schedule lists the automatic-backup policies and every source (a snapshot under a\n"
                "policy) with its state (idle, pending, running, paused, failed), next run, last\n"
                "success, consecutive failures and last error. run-now makes sources due at once:\n"
                "those of policy WHAT, the snapshot with backend key WHAT, or all of them. pause\n"
                "puts a policy (\"maintenance\" included) or a source on hold: it shows \"paused\"\n"
                "and does not run on its schedule (run-now still runs it) until resume; holds\n"
                "survive restarts of snapkeepd.\n";
        const char *sock = NULL, *target = NULL;
        bool follow = false;
        uint64_t since = 0;
        int c;
        cli->command = "daemon";
        while ((c = sk_cli_getopt(cli, argc, argv, "", opts, help)) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_ADMIN_SOCKET: sock = optarg; break;
                case OPT_TARGET: target = optarg; break;
                case OPT_FOLLOW: follow = true; break;
                case OPT_SINCE:
                        if (sk_cli_parse_u64(optarg, &since) < 0)
                                return sk_cli_usage_error(cli, "bad --since '%s'", optarg);
                        break;
                default: return SK_EXIT_USAGE;
                }
        }
        if (optind >= argc)
                return sk_cli_usage_error(cli, "missing subcommand: status, backups, events, restore, schedule, "
                                               "run-now, pause or resume");
        const char *sub = argv[optind];
        sk_cli_setup(cli);
        sock = admin_socket(sock);
        sk_rpc *r = NULL;
        if (sk_rpc_open(sock, &r) < 0) {
                sk_rpc_close(r);
                return sk_cli_fail(cli, -ENOMEM, "cannot set up gRPC");
        }
        char *details = NULL;
        grpc_status_code s;
        if (strcmp(sub, "status") == 0 && optind + 1 == argc) {
                PB(StatusRequest) req = SNAPKEEP__CONTROL__V1__STATUS_REQUEST__INIT;
                s = rpc_call(r, METHOD("Status"), &req.base, &snapkeep__control__v1__status_response__descriptor,
                             print_status, cli, &details);
        } else if (strcmp(sub, "backups") == 0 && optind + 1 == argc) {
                PB(ListBackupsRequest) req = SNAPKEEP__CONTROL__V1__LIST_BACKUPS_REQUEST__INIT;
                s = rpc_call(r, METHOD("ListBackups"), &req.base,
                             &snapkeep__control__v1__list_backups_response__descriptor, print_backups, cli, &details);
        } else if (strcmp(sub, "events") == 0 && optind + 1 == argc) {
                events_out o = { .cli = cli, .last = since };
                do {
                        PB(EventsRequest) req = SNAPKEEP__CONTROL__V1__EVENTS_REQUEST__INIT;
                        req.since = o.last;
                        req.wait_ms = follow ? 1000 : 0;
                        free(details);
                        details = NULL;
                        s = rpc_call(r, METHOD("Events"), &req.base, &snapkeep__control__v1__event__descriptor,
                                     print_event, &o, &details);
                } while (follow && s == GRPC_STATUS_OK && !sk_cli_interrupted);
        } else if (strcmp(sub, "schedule") == 0 && optind + 1 == argc) {
                PB(ScheduleRequest) req = SNAPKEEP__CONTROL__V1__SCHEDULE_REQUEST__INIT;
                s = rpc_call(r, METHOD("Schedule"), &req.base, &snapkeep__control__v1__schedule_response__descriptor,
                             print_schedule, cli, &details);
        } else if (strcmp(sub, "run-now") == 0 && optind + 2 >= argc) {
                PB(RunNowRequest) req = SNAPKEEP__CONTROL__V1__RUN_NOW_REQUEST__INIT;
                PB(RunNowResponse) *resp = NULL;
                req.what = optind + 1 < argc ? argv[optind + 1] : (char *) "";
                s = rpc_call(r, METHOD("RunNow"), &req.base, &snapkeep__control__v1__run_now_response__descriptor,
                             keep_reply, &resp, &details);
                if (s == GRPC_STATUS_OK && resp) {
                        if (cli->json) {
                                sk_json *j = &cli->js;
                                sk_json_begin_object(j);
                                sk_json_kv_u64(j, "sources", resp->sources);
                                sk_json_end_object(j);
                                fputc('\n', stdout);
                        } else if (!cli->quiet)
                                printf("%u source%s due now\n", resp->sources, resp->sources == 1 ? "" : "s");
                }
                if (resp)
                        protobuf_c_message_free_unpacked(&resp->base, NULL);
        } else if ((strcmp(sub, "pause") == 0 || strcmp(sub, "resume") == 0) && optind + 2 == argc) {
                PB(HoldRequest) req = SNAPKEEP__CONTROL__V1__HOLD_REQUEST__INIT;
                PB(HoldResponse) *resp = NULL;
                req.what = argv[optind + 1];
                req.hold = sub[0] == 'p';
                s = rpc_call(r, METHOD("Hold"), &req.base, &snapkeep__control__v1__hold_response__descriptor,
                             keep_reply, &resp, &details);
                if (s == GRPC_STATUS_OK && resp) {
                        if (cli->json) {
                                sk_json *j = &cli->js;
                                sk_json_begin_object(j);
                                sk_json_kv_u64(j, "sources", resp->sources);
                                sk_json_end_object(j);
                                fputc('\n', stdout);
                        } else if (!cli->quiet)
                                printf("%s %s: %u source%s\n", req.hold ? "paused" : "resumed", req.what,
                                       resp->sources, resp->sources == 1 ? "" : "s");
                }
                if (resp)
                        protobuf_c_message_free_unpacked(&resp->base, NULL);
        } else if (strcmp(sub, "restore") == 0 && optind + 2 == argc) {
                if (!target) {
                        sk_rpc_close(r);
                        return sk_cli_usage_error(cli, "restore needs --target DIR");
                }
                char *abs = realpath(".", NULL);
                char *t = NULL;
                if (target[0] != '/' && abs && asprintf(&t, "%s/%s", abs, target) < 0)
                        t = NULL;
                free(abs);
                PB(RestoreRequest) req = SNAPKEEP__CONTROL__V1__RESTORE_REQUEST__INIT;
                req.backup_id = argv[optind + 1];
                req.target = t ? t : (char *) target;
                s = rpc_call(r, METHOD("Restore"), &req.base, &snapkeep__control__v1__restore_response__descriptor,
                             NULL, NULL, &details);
                free(t);
                if (s == GRPC_STATUS_OK && !cli->quiet)
                        printf("restored %s into %s\n", argv[optind + 1], target);
        } else {
                sk_rpc_close(r);
                return sk_cli_usage_error(cli, "unknown or incomplete subcommand '%s'", sub);
        }
        sk_rpc_close(r);
        if (s != GRPC_STATUS_OK)
                return report(cli, s, details, sock);
        free(details);
        return SK_EXIT_OK;
}
