#include "plugin/control_service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "plugin/status.h"
#include "control.pb-c.h"

#define PB(name) Snapkeep__Control__V1__##name

typedef struct control {
        sk_snapshotter *snap;
        sk_capture *capture;
        sk_control_info info;
} control;

/* One per process: the service context lives as long as the server. */
static control the_control;

static int fail(sk_call *call, int r, char *error, const char *fallback) {
        int k = sk_call_error(call, sk_status_from_errno(r), "%s", error ? error : fallback);
        free(error);
        return k;
}

static int on_backup(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(BackupRequest) *req = (const void *) msg;
        control *ctl = userdata;
        sk_arena *a = sk_call_arena(call);
        char **keys = NULL;
        size_t n = 0;
        char *error = NULL;
        int r;

        int modes = (req->container[0] != '\0') + (req->snapshot[0] != '\0') + (req->all ? 1 : 0);
        if (modes != 1)
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                     "backup: give exactly one of container, snapshot, all");
        if (req->all) {
                r = sk_capture_keys_for_all(ctl->capture, &keys, &n);
                if (r < 0)
                        return sk_call_error(call, sk_status_from_errno(r), "backup --all: %s", strerror(-r));
        } else {
                keys = calloc(2, sizeof(char *));
                if (!keys)
                        return -ENOMEM;
                if (req->container[0]) {
                        const char *ns = req->namespace_[0] ? req->namespace_ : "default";
                        r = sk_capture_resolve_container(ctl->capture, ns, req->container, &keys[0]);
                        if (r < 0) {
                                free(keys);
                                return sk_call_error(call, sk_status_from_errno(r),
                                                     r == -ENOENT ? "backup: no active snapshot %s/<n>/%s: is there a container %s in namespace %s using snapshotter snapkeep?"
                                                                  : "backup: container %s/<n>/%s: %s%s",
                                                     ns, req->container, r == -ENOENT ? req->container : strerror(-r),
                                                     r == -ENOENT ? ns : "");
                        }
                } else if (!(keys[0] = strdup(req->snapshot))) {
                        free(keys);
                        return -ENOMEM;
                }
                n = 1;
        }

        PB(BackupResponse) resp = SNAPKEEP__CONTROL__V1__BACKUP_RESPONSE__INIT;
        resp.results = sk_arena_alloc_array(a, n ? n : 1, sizeof(*resp.results));
        r = resp.results ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                sk_capture_result res = {};
                error = NULL;
                int k = sk_capture_backup(ctl->capture, keys[i], (const char *const *) req->tags, req->n_tags, &res,
                                          &error);
                if (k < 0 && n == 1 && !req->all) {
                        r = fail(call, k, error, strerror(-k));
                        error = NULL;
                        break;
                }
                PB(BackupResult) *out = sk_arena_alloc(a, sizeof(*out));
                if (!out) {
                        free(error);
                        r = -ENOMEM;
                        break;
                }
                snapkeep__control__v1__backup_result__init(out);
                out->snapshot = sk_arena_strdup(a, keys[i]);
                if (k < 0) {
                        out->error = sk_arena_strdup(a, error ? error : strerror(-k));
                        out->kind = (char *) "";
                } else {
                        out->kind = res.committed ? (char *) "committed" : (char *) "active";
                        out->backup_id = sk_arena_strdup(a, res.backup_id);
                        out->chain_id = sk_arena_strdup(a, res.chain_id);
                        out->layers_captured = res.layers_captured;
                        out->layers_reused = res.layers_reused;
                        out->bytes_read = res.bytes_read;
                        out->blobs_added = res.blobs_added;
                        out->errors = res.errors;
                        out->warnings = res.warnings;
                        out->seconds = res.seconds;
                }
                free(error);
                error = NULL;
                if (!out->snapshot || !out->error || !out->backup_id || !out->chain_id) {
                        r = -ENOMEM;
                        break;
                }
                resp.results[resp.n_results++] = out;
        }
        for (size_t i = 0; i < n; i++)
                free(keys[i]);
        free(keys);
        if (r < 0)
                return r;
        return sk_call_send(call, &resp.base);
}

static int on_list_backups(sk_call *call, const ProtobufCMessage *msg _unused_, void *userdata) {
        control *ctl = userdata;
        sk_arena *a = sk_call_arena(call);
        sk_capture_entry *l = NULL;
        size_t n = 0;
        char *error = NULL;
        int r = sk_capture_list(ctl->capture, &l, &n, &error);
        if (r < 0)
                return fail(call, r, error, "list backups failed");

        PB(ListBackupsResponse) resp = SNAPKEEP__CONTROL__V1__LIST_BACKUPS_RESPONSE__INIT;
        resp.backups = sk_arena_alloc_array(a, n ? n : 1, sizeof(*resp.backups));
        r = resp.backups ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                PB(BackupInfo) *b = sk_arena_alloc(a, sizeof(*b));
                if (!b) {
                        r = -ENOMEM;
                        break;
                }
                snapkeep__control__v1__backup_info__init(b);
                b->id = sk_arena_strdup(a, l[i].id);
                b->time = l[i].time;
                b->kind = l[i].committed ? (char *) "committed" : (char *) "active";
                b->snapshot = sk_arena_strdup(a, l[i].snapshot);
                b->chain_id = sk_arena_strdup(a, l[i].chain_id);
                b->hostname = sk_arena_strdup(a, l[i].hostname);
                b->layers = sk_arena_alloc_array(a, l[i].n_layers ? l[i].n_layers : 1, sizeof(char *));
                if (!b->id || !b->snapshot || !b->chain_id || !b->hostname || !b->layers) {
                        r = -ENOMEM;
                        break;
                }
                for (size_t j = 0; j < l[i].n_layers; j++)
                        if (!(b->layers[b->n_layers++] = sk_arena_strdup(a, l[i].layers[j])))
                                r = -ENOMEM;
                resp.backups[resp.n_backups++] = b;
        }
        sk_capture_list_free(l, n);
        if (r < 0)
                return r;
        return sk_call_send(call, &resp.base);
}

static int on_restore(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(RestoreRequest) *req = (const void *) msg;
        control *ctl = userdata;
        uint64_t files = 0, bytes = 0;
        char *error = NULL;
        if (!req->backup_id[0] || !req->target[0])
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "restore: backup_id and target are required");
        int r = sk_capture_restore_dir(ctl->capture, req->backup_id, req->target, &files, &bytes, &error);
        if (r < 0)
                return fail(call, r, error, "restore failed");
        PB(RestoreResponse) resp = SNAPKEEP__CONTROL__V1__RESTORE_RESPONSE__INIT;
        resp.files = files;
        resp.bytes = bytes;
        return sk_call_send(call, &resp.base);
}

static int count_one(const sk_info *info _unused_, void *userdata) {
        (*(uint64_t *) userdata)++;
        return 0;
}

static int on_status(sk_call *call, const ProtobufCMessage *msg _unused_, void *userdata) {
        control *ctl = userdata;
        sk_capture_status st;
        uint64_t n = 0;
        sk_capture_get_status(ctl->capture, &st);
        (void) sk_snapshotter_walk(ctl->snap, count_one, &n);
        PB(StatusResponse) resp = SNAPKEEP__CONTROL__V1__STATUS_RESPONSE__INIT;
        resp.version = (char *) ctl->info.version;
        resp.root = (char *) ctl->info.root;
        resp.repo = (char *) (ctl->info.repo ? ctl->info.repo : "");
        resp.repo_open = st.repo_open;
        resp.remote_layers = st.remote_layers;
        resp.snapshots = n;
        resp.backups_done = st.backups_done;
        resp.restores_done = st.restores_done;
        resp.layers_rehydrated = st.layers_rehydrated;
        resp.last_event = st.last_event;
        resp.repo_error = st.repo_error;
        return sk_call_send(call, &resp.base);
}

static int on_events(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(EventsRequest) *req = (const void *) msg;
        control *ctl = userdata;
        unsigned wait = req->wait_ms > SK_CONTROL_EVENTS_MAX_WAIT_MS ? SK_CONTROL_EVENTS_MAX_WAIT_MS : req->wait_ms;
        sk_capture_event *ev = calloc(64, sizeof(*ev));
        if (!ev)
                return -ENOMEM;
        size_t n = sk_capture_events(ctl->capture, req->since, wait, ev, 64);
        int r = 0;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                PB(Event) e = SNAPKEEP__CONTROL__V1__EVENT__INIT;
                e.seq = ev[i].seq;
                e.time_ns = ev[i].time_ns;
                e.kind = ev[i].kind;
                e.snapshot = ev[i].snapshot;
                e.backup_id = ev[i].backup_id;
                e.files_done = ev[i].files_done;
                e.bytes_done = ev[i].bytes_done;
                e.bytes_total = ev[i].bytes_total;
                e.message = ev[i].message;
                r = sk_call_send(call, &e.base);
        }
        free(ev);
        return r;
}

static char *kinds_text(unsigned kinds) {
        return kinds == (SK_SOURCE_CONTAINER | SK_SOURCE_LAYER) ? "containers,layers"
               : kinds == SK_SOURCE_LAYER                      ? "layers"
                                                               : "containers";
}

static int on_schedule(sk_call *call, const ProtobufCMessage *msg _unused_, void *userdata) {
        control *ctl = userdata;
        sk_arena *a = sk_call_arena(call);
        const sk_automation *au = ctl->info.automation;
        PB(ScheduleResponse) resp = SNAPKEEP__CONTROL__V1__SCHEDULE_RESPONSE__INIT;
        if (!au || !ctl->info.scheduler)
                return sk_call_send(call, &resp.base); /* enabled = false */
        sk_schedule_entry *l = NULL;
        size_t n = 0;
        int r = sk_scheduler_list(ctl->info.scheduler, &l, &n);
        if (r < 0)
                return sk_call_error(call, sk_status_from_errno(r), "schedule: %s", strerror(-r));
        resp.enabled = true;
        resp.max_runs = au->max_runs;
        resp.policies = sk_arena_alloc_array(a, au->n_policies ? au->n_policies : 1, sizeof(*resp.policies));
        resp.sources = sk_arena_alloc_array(a, n ? n : 1, sizeof(*resp.sources));
        r = resp.policies && resp.sources ? 0 : -ENOMEM;
        for (size_t i = 0; r >= 0 && i < au->n_policies; i++) {
                const sk_policy *p = &au->policies[i];
                PB(PolicyInfo) *pi = sk_arena_alloc(a, sizeof(*pi));
                char keep[160];
                if (!pi) {
                        r = -ENOMEM;
                        break;
                }
                snapkeep__control__v1__policy_info__init(pi);
                sk_policy_retention_text(p, keep, sizeof(keep));
                if (!(pi->retention = sk_arena_strdup(a, keep))) {
                        r = -ENOMEM;
                        break;
                }
                pi->name = (char *) p->name;
                pi->kinds = kinds_text(p->kinds);
                pi->schedule = (char *) p->when;
                pi->jitter = p->jitter;
                pi->builtin = au->builtin;
                for (size_t j = 0; j < n; j++)
                        pi->sources += strcmp(l[j].st.policy, p->name) == 0;
                resp.policies[resp.n_policies++] = pi;
        }
        for (size_t i = 0; r >= 0 && i < n; i++) {
                PB(SourceInfo) *si = sk_arena_alloc(a, sizeof(*si));
                if (!si) {
                        r = -ENOMEM;
                        break;
                }
                snapkeep__control__v1__source_info__init(si);
                si->source = sk_arena_strdup(a, l[i].source);
                si->policy = sk_arena_strdup(a, l[i].st.policy);
                si->last_error = sk_arena_strdup(a, l[i].st.last_error);
                si->last_backup = sk_arena_strdup(a, l[i].st.last_backup);
                if (!si->source || !si->policy || !si->last_error || !si->last_backup) {
                        r = -ENOMEM;
                        break;
                }
                si->kind = l[i].maint ? "maintenance" : l[i].layer ? "layer" : "container";
                si->state = (char *) l[i].state;
                si->next_run = l[i].st.next_run == INT64_MAX ? -1 : l[i].st.next_run;
                si->last_start = l[i].st.last_start;
                si->last_success = l[i].st.last_success;
                si->failures = l[i].st.failures;
                si->runs = l[i].st.runs;
                resp.sources[resp.n_sources++] = si;
        }
        sk_schedule_list_free(l, n);
        if (r < 0)
                return r;
        return sk_call_send(call, &resp.base);
}

static int on_run_now(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(RunNowRequest) *req = (const void *) msg;
        control *ctl = userdata;
        if (!ctl->info.scheduler)
                return sk_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                     "run-now: automatic backups are off ([automation] enabled = false)");
        int r = sk_scheduler_run_now(ctl->info.scheduler, req->what);
        if (r == -ENOENT)
                return sk_call_error(call, GRPC_STATUS_NOT_FOUND,
                                     "run-now: %s names neither a policy nor a snapshot under a policy "
                                     "(see snapkeep daemon schedule)", req->what);
        if (r < 0)
                return sk_call_error(call, sk_status_from_errno(r), "run-now: %s", strerror(-r));
        PB(RunNowResponse) resp = SNAPKEEP__CONTROL__V1__RUN_NOW_RESPONSE__INIT;
        resp.sources = (uint32_t) r;
        return sk_call_send(call, &resp.base);
}

static int on_hold(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(HoldRequest) *req = (const void *) msg;
        control *ctl = userdata;
        const char *verb = req->hold ? "pause" : "resume";
        if (!ctl->info.scheduler)
                return sk_call_error(call, GRPC_STATUS_FAILED_PRECONDITION,
                                     "%s: automatic backups are off ([automation] enabled = false)", verb);
        if (!req->what[0])
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s: name a policy or a source", verb);
        int r = sk_scheduler_hold(ctl->info.scheduler, req->what, req->hold);
        if (r == -ENOENT)
                return sk_call_error(call, GRPC_STATUS_NOT_FOUND,
                                     "%s: %s names neither a policy nor a snapshot under a policy "
                                     "(see snapkeep daemon schedule)", verb, req->what);
        if (r < 0)
                return sk_call_error(call, sk_status_from_errno(r), "%s: %s", verb, strerror(-r));
        PB(HoldResponse) resp = SNAPKEEP__CONTROL__V1__HOLD_RESPONSE__INIT;
        resp.sources = (uint32_t) r;
        return sk_call_send(call, &resp.base);
}

static const sk_method control_methods[] = {
        { "Backup", on_backup, false },
        { "ListBackups", on_list_backups, false },
        { "Restore", on_restore, false },
        { "Status", on_status, false },
        { "Events", on_events, true },
        { "Schedule", on_schedule, false },
        { "RunNow", on_run_now, false },
        { "Hold", on_hold, false },
};

int sk_control_service_add(sk_server *server, sk_snapshotter *snap, sk_capture *capture, const sk_control_info *info) {
        the_control = (control) { .snap = snap, .capture = capture, .info = *info };
        return sk_server_add_service(server, &snapkeep__control__v1__control__descriptor, control_methods,
                                     ARRAY_SIZE(control_methods), &the_control);
}
