#include "plugin/snapshots_service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auto/policy.h"
#include "auto/scheduler.h"
#include "common/foreground.h"
#include "common/log.h"
#include "google/protobuf/empty.pb-c.h"
#include "container/capture.h"
#include "plugin/labelpolicy.h"
#include "plugin/status.h"
#include "snapshot/filter.h"
#include "snapshots.pb-c.h"

/* The generated names are long; these keep the handlers readable. */
#define PB(name) Containerd__Services__Snapshots__V1__##name
typedef Containerd__Types__Mount pb_mount;
typedef Google__Protobuf__Timestamp pb_timestamp;

/* --- errors ------------------------------------------------------------------- */

static const char *reason(int r) {
        switch (-r) {
        case ENOENT:
                return "not found";
        case EEXIST:
                return "already exists";
        case EINVAL:
                return "invalid argument";
        case EBUSY:
        case ENOTEMPTY:
                /* containerd's wording; clients match on "remove". */
                return "cannot remove snapshot with child";
        case EPERM:
        case EROFS:
                return "not allowed for this kind of snapshot";
        default:
                return strerror(-r);
        }
}

/* End the call with the status for snapshotter error r; what names the
 * operation and key, e.g. "prepare default/3/k". */
static int fail(sk_call *call, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(sk_call *call, int r, const char *fmt, ...) {
        char what[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return sk_call_error(call, sk_status_from_errno(r), "%s: %s", what, reason(r));
}

static int require_key(sk_call *call, const char *what, const char *key) {
        if (!key || key[0] == '\0')
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s: key must not be empty", what);
        return 0;
}

static int out_of_memory(sk_call *call) { return fail(call, -ENOMEM, "%s", sk_call_method(call)); }

/* The labels of a request, checked against labelpolicy.h: at most
 * SK_LABELS_MAX, none of those only the daemon sets. Evaluates to the count,
 * or to the handler's return value after ending the call. */
#define LABELS_CHECKED(call, what, key, msg, ret_labels)                                                    \
        ({                                                                                                  \
                ssize_t _c = LABELS_IN(sk_call_arena(call), (msg), (ret_labels));                          \
                if (_c == -E2BIG)                                                                           \
                        _c = sk_call_error((call), GRPC_STATUS_INVALID_ARGUMENT,                            \
                                           "%s %s: more than %d labels", (what), (key), SK_LABELS_MAX);     \
                else if (_c == -ENOMEM)                                                                     \
                        _c = out_of_memory(call);                                                           \
                else                                                                                        \
                        _c = refuse_daemon_labels((call), (what), (key), *(ret_labels), (size_t) _c);      \
                _c;                                                                                         \
        })

/* Set once before serving (sk_snapshots_service_set_automation). */
static const sk_automation *automation_hook;
static sk_scheduler *scheduler_hook;

static ssize_t refuse_daemon_labels(sk_call *call, const char *what, const char *key, const sk_label *l, size_t n) {
        const char *bad = sk_labels_daemon_owned(l, n);
        if (bad)
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                     "%s %s: label %s is set by snapkeepd only, a client may not send it", what,
                                     key ? key : "", bad);
        for (size_t i = 0; automation_hook && i < n; i++) {
                const char *why;
                if (strcmp(l[i].key, SK_LABEL_POLICY) == 0 &&
                    sk_automation_check_label(automation_hook, l[i].value ? l[i].value : "", &why) < 0)
                        return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "%s %s: label %s=%s %s", what,
                                             key ? key : "", SK_LABEL_POLICY, l[i].value ? l[i].value : "", why);
        }
        return (ssize_t) n;
}

/* After a call that stored labels: a policy label that chooses a policy not
 * covering the snapshot's kind is allowed, but it is said in the log, since
 * that snapshot is then not backed up automatically. */
static void warn_policy_kind(const char *key, sk_kind kind, const sk_label *l, size_t n) {
        const sk_policy *p = automation_hook ? sk_automation_kind_missed(automation_hook, key, kind, l, n) : NULL;
        if (p)
                log_warning("snapshot %s: label %s chooses policy %s, which backs up only %s: this %s is not backed "
                            "up automatically while it has this label",
                            key, SK_LABEL_POLICY, p->name, p->kinds == SK_SOURCE_LAYER ? "layers" : "containers",
                            p->kinds == SK_SOURCE_LAYER ? "container's writable layer" : "layer");
}

void sk_snapshots_service_set_automation(const sk_automation *automation, sk_scheduler *scheduler) {
        automation_hook = automation;
        scheduler_hook = scheduler;
}

/* --- conversions ------------------------------------------------------------------ */

/* A protobuf map arrives as entries with key and value; every LabelsEntry type
 * has them, so a macro reads any of them into an sk_label array. Later
 * duplicates win, as in a protobuf map. Evaluates to the count, -E2BIG over
 * SK_LABELS_MAX labels (the dedupe is quadratic), or -ENOMEM. */
#define LABELS_IN(arena, msg, ret_labels)                                                                   \
        ({                                                                                                  \
                sk_label *_l = NULL;                                                                        \
                ssize_t _n = -E2BIG;                                                                        \
                if ((msg)->n_labels <= SK_LABELS_MAX) {                                                     \
                        _l = sk_arena_alloc_array((arena), (msg)->n_labels, sizeof(sk_label));             \
                        _n = -ENOMEM;                                                                       \
                }                                                                                           \
                if (_l) {                                                                                   \
                        for (size_t _i = 0; _i < (msg)->n_labels; _i++)                                    \
                                _l[_i] = (sk_label) { (msg)->labels[_i]->key, (msg)->labels[_i]->value };  \
                        _n = (ssize_t) dedupe_labels(_l, (msg)->n_labels);                                  \
                        *(ret_labels) = _l;                                                                 \
                }                                                                                           \
                _n;                                                                                         \
        })

static size_t dedupe_labels(sk_label *l, size_t n) {
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
                size_t j;
                for (j = 0; j < out; j++)
                        if (strcmp(l[j].key, l[i].key) == 0)
                                break;
                if (j < out)
                        l[j].value = l[i].value;
                else
                        l[out++] = l[i];
        }
        return out;
}

static pb_timestamp *timestamp_out(sk_arena *a, const struct timespec *ts) {
        pb_timestamp *t = sk_arena_alloc(a, sizeof(*t));
        if (!t)
                return NULL;
        google__protobuf__timestamp__init(t);
        t->seconds = ts->tv_sec;
        t->nanos = (int32_t) ts->tv_nsec;
        return t;
}

/* Copy info into a (the copy may outlive info). */
static PB(Info) * info_out(sk_arena *a, const sk_info *in) {
        PB(Info) *info = sk_arena_alloc(a, sizeof(*info));
        if (!info)
                return NULL;
        containerd__services__snapshots__v1__info__init(info);
        info->name = sk_arena_strdup(a, in->name ? in->name : "");
        info->parent = sk_arena_strdup(a, in->parent ? in->parent : "");
        info->kind = (PB(Kind)) in->kind;
        info->created_at = timestamp_out(a, &in->created);
        info->updated_at = timestamp_out(a, &in->updated);
        if (!info->name || !info->parent || !info->created_at || !info->updated_at)
                return NULL;

        info->labels = sk_arena_alloc_array(a, in->n_labels, sizeof(*info->labels));
        if (!info->labels)
                return NULL;
        for (size_t i = 0; i < in->n_labels; i++) {
                PB(Info__LabelsEntry) *e = sk_arena_alloc(a, sizeof(*e));
                if (!e)
                        return NULL;
                containerd__services__snapshots__v1__info__labels_entry__init(e);
                e->key = sk_arena_strdup(a, in->labels[i].key);
                e->value = sk_arena_strdup(a, in->labels[i].value ? in->labels[i].value : "");
                if (!e->key || !e->value)
                        return NULL;
                info->labels[i] = e;
        }
        info->n_labels = in->n_labels;
        return info;
}

/* Mounts as protobuf, borrowing m's strings (send before freeing m). */
static int mounts_out(sk_arena *a, const sk_mounts *m, pb_mount ***ret, size_t *ret_n) {
        pb_mount **out = sk_arena_alloc_array(a, m->n_mounts, sizeof(*out));
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_mounts; i++) {
                pb_mount *pm = sk_arena_alloc(a, sizeof(*pm));
                if (!pm)
                        return -ENOMEM;
                containerd__types__mount__init(pm);
                pm->type = m->mounts[i].type;
                pm->source = m->mounts[i].source;
                pm->n_options = m->mounts[i].n_options;
                pm->options = m->mounts[i].options;
                out[i] = pm;
        }
        *ret = out;
        *ret_n = m->n_mounts;
        return 0;
}

/* --- handlers ------------------------------------------------------------------------ */

typedef enum mounts_reply { REPLY_PREPARE, REPLY_VIEW, REPLY_MOUNTS } mounts_reply;

static int send_mounts(sk_call *call, mounts_reply kind, const sk_mounts *m) {
        pb_mount **mounts;
        size_t n;
        int r = mounts_out(sk_call_arena(call), m, &mounts, &n);
        if (r < 0)
                return out_of_memory(call);

        switch (kind) {
        case REPLY_PREPARE: {
                PB(PrepareSnapshotResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_RESPONSE__INIT;
                resp.n_mounts = n;
                resp.mounts = mounts;
                return sk_call_send(call, &resp.base);
        }
        case REPLY_VIEW: {
                PB(ViewSnapshotResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__VIEW_SNAPSHOT_RESPONSE__INIT;
                resp.n_mounts = n;
                resp.mounts = mounts;
                return sk_call_send(call, &resp.base);
        }
        case REPLY_MOUNTS: {
                PB(MountsResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;
                resp.n_mounts = n;
                resp.mounts = mounts;
                return sk_call_send(call, &resp.base);
        }
        }
        return -EINVAL;
}

static int send_empty(sk_call *call) {
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        return sk_call_send(call, &e.base);
}

static int create_snapshot(sk_call *call, sk_snapshotter *s, bool view, const char *key, const char *parent,
                           const sk_label *labels, size_t n_labels) {
        const char *op = view ? "view" : "prepare";
        sk_mounts m = {};
        int r = require_key(call, op, key);
        if (r < 0)
                return r;

        r = view ? sk_snapshotter_view(s, key, parent, labels, n_labels, &m)
                 : sk_snapshotter_prepare(s, key, parent, labels, n_labels, &m);
        if (r < 0) {
                if (parent && parent[0])
                        return fail(call, r, "%s %s (parent %s)", op, key, parent);
                return fail(call, r, "%s %s", op, key);
        }
        r = send_mounts(call, view ? REPLY_VIEW : REPLY_PREPARE, &m);
        sk_mounts_free(&m);
        return r;
}

/* Set once before serving, read by every Prepare. */
static sk_capture *capture_hook;
static unsigned restore_selectors; /* SK_RESTORE_ALLOW_*: full ids only by default */

void sk_snapshots_service_set_capture(sk_capture *capture, unsigned allowed_selectors) {
        capture_hook = capture;
        restore_selectors = allowed_selectors;
}

static const char *find_label(const sk_label *l, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(l[i].key, key) == 0 && l[i].value && l[i].value[0])
                        return l[i].value;
        return NULL;
}

static int prepare_with_capture(sk_call *call, sk_snapshotter *s, const PB(PrepareSnapshotRequest) *req,
                                const sk_label *labels, size_t n) {
        const char *restore = find_label(labels, n, SK_LABEL_RESTORE);
        char *error = NULL;
        int r;
        if (restore) {
                sk_mounts m = {};
                r = require_key(call, "prepare", req->key);
                if (r < 0)
                        return r;
                r = sk_capture_prepare_restore(capture_hook, req->key, req->parent, labels, n, restore, &m, &error);
                if (r < 0) {
                        r = sk_call_error(call, sk_status_from_errno(r), "prepare %s: %s", req->key,
                                          error ? error : strerror(-r));
                        free(error);
                        return r;
                }
                r = send_mounts(call, REPLY_PREPARE, &m);
                sk_mounts_free(&m);
                return r;
        }
        const char *ref = find_label(labels, n, SK_LABEL_SNAPSHOT_REF);
        log_debug("prepare %s: %zu labels, snapshot.ref %s", req->key, n, ref ? ref : "(none)");
        /* Only containerd's unpacker asks for a layer this way; any other key
         * would let a client materialise any layer the repository holds. */
        if (ref && req->key && req->key[0] && sk_key_is_unpack(req->key)) {
                r = sk_capture_prepare_layer(capture_hook, req->key, req->parent, labels, n, ref, &error);
                free(error);
                if (r > 0)
                        return sk_call_error(call, GRPC_STATUS_ALREADY_EXISTS,
                                             "target snapshot %s: rehydrated from the repository", ref);
                /* r < 0 was logged; containerd unpacks the layer itself. */
        }
        return create_snapshot(call, s, false, req->key, req->parent, labels, n);
}

static int on_prepare(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(PrepareSnapshotRequest) *req = (const void *) msg;
        sk_label *labels = NULL;
        ssize_t n = LABELS_CHECKED(call, "prepare", req->key, req, &labels);
        if (n < 0)
                return (int) n;
        const char *restore = find_label(labels, (size_t) n, SK_LABEL_RESTORE);
        const char *why = NULL;
        if (restore && req->key && sk_restore_request_check(req->key, restore, restore_selectors, &why) < 0)
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "prepare %s: %s=%s: %s", req->key,
                                     SK_LABEL_RESTORE, restore, why);
        int r = capture_hook ? prepare_with_capture(call, userdata, req, labels, (size_t) n)
                             : create_snapshot(call, userdata, false, req->key, req->parent, labels, (size_t) n);
        if (r >= 0)
                warn_policy_kind(req->key, SK_KIND_ACTIVE, labels, (size_t) n);
        return r;
}

static int on_view(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(ViewSnapshotRequest) *req = (const void *) msg;
        sk_label *labels = NULL;
        ssize_t n = LABELS_CHECKED(call, "view", req->key, req, &labels);
        if (n < 0)
                return (int) n;
        return create_snapshot(call, userdata, true, req->key, req->parent, labels, (size_t) n);
}

static int on_mounts(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(MountsRequest) *req = (const void *) msg;
        sk_mounts m = {};
        int r = require_key(call, "mounts", req->key);
        if (r < 0)
                return r;
        r = sk_snapshotter_mounts(userdata, req->key, &m);
        if (r < 0)
                return fail(call, r, "mounts %s", req->key);
        r = send_mounts(call, REPLY_MOUNTS, &m);
        sk_mounts_free(&m);
        return r;
}

static int on_commit(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(CommitSnapshotRequest) *req = (const void *) msg;
        sk_label *labels = NULL;
        int r = require_key(call, "commit", req->key);
        if (r < 0)
                return r;
        if (!req->name || req->name[0] == '\0')
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "commit %s: name must not be empty",
                                     req->key);
        ssize_t n = LABELS_CHECKED(call, "commit", req->key, req, &labels);
        if (n < 0)
                return (int) n;
        /* req->parent (containerd 2.2) only restates the active snapshot's
         * parent, which the snapshotter already knows. */
        r = sk_snapshotter_commit(userdata, req->name, req->key, labels, (size_t) n);
        if (r < 0)
                return fail(call, r, "commit %s as %s", req->key, req->name);
        warn_policy_kind(req->name, SK_KIND_COMMITTED, labels, (size_t) n);
        if (scheduler_hook)
                sk_scheduler_committed(scheduler_hook, req->name); /* only wakes the planner */
        return send_empty(call);
}

static int on_remove(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(RemoveSnapshotRequest) *req = (const void *) msg;
        int r = require_key(call, "remove", req->key);
        if (r < 0)
                return r;
        r = sk_snapshotter_remove(userdata, req->key);
        if (r < 0)
                return fail(call, r, "remove %s", req->key);
        return send_empty(call);
}

static int on_stat(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(StatSnapshotRequest) *req = (const void *) msg;
        sk_info info = {};
        int r = require_key(call, "stat", req->key);
        if (r < 0)
                return r;
        r = sk_snapshotter_stat(userdata, req->key, &info);
        if (r < 0)
                return fail(call, r, "stat %s", req->key);

        PB(StatSnapshotResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
        resp.info = info_out(sk_call_arena(call), &info);
        sk_info_clear(&info);
        if (!resp.info)
                return out_of_memory(call);
        return sk_call_send(call, &resp.base);
}

static int on_update(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(UpdateSnapshotRequest) *req = (const void *) msg;
        sk_arena *a = sk_call_arena(call);

        if (!req->info)
                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT, "update: missing info");
        int r = require_key(call, "update", req->info->name);
        if (r < 0)
                return r;

        sk_info in = {
                .name = req->info->name,
                .parent = req->info->parent,
                .kind = (sk_kind) req->info->kind,
        };
        ssize_t n = LABELS_CHECKED(call, "update", in.name, req->info, &in.labels);
        if (n < 0)
                return (int) n;
        in.n_labels = (size_t) n;

        const char *const *paths = NULL;
        size_t n_paths = 0;
        if (req->update_mask) {
                paths = (const char *const *) req->update_mask->paths;
                n_paths = req->update_mask->n_paths;
        }

        size_t n_keep;
        const char *const *keep = sk_labels_daemon_keys(&n_keep);
        /* A path "labels.K" with no value deletes K: snapkeepd's own labels
         * (the restoring marker, backup records) are not the client's to drop. */
        for (size_t i = 0; i < n_paths; i++)
                for (size_t k = 0; k < n_keep; k++)
                        if (strncmp(paths[i], "labels.", 7) == 0 && strcmp(paths[i] + 7, keep[k]) == 0)
                                return sk_call_error(call, GRPC_STATUS_INVALID_ARGUMENT,
                                                     "update %s: label %s is set by snapkeepd only", in.name,
                                                     keep[k]);

        sk_info updated = {};
        r = sk_snapshotter_update_keep(userdata, &in, paths, n_paths, keep, n_keep, &updated);
        if (r < 0)
                return fail(call, r, "update %s", in.name);
        /* Only when this update may have set the policy label: a client
         * updating other fields must not repeat the warning at will. */
        bool policy_touched = n_paths == 0;
        for (size_t i = 0; i < n_paths && !policy_touched; i++)
                policy_touched = strcmp(paths[i], "labels") == 0 ||
                                 (strncmp(paths[i], "labels.", 7) == 0 && strcmp(paths[i] + 7, SK_LABEL_POLICY) == 0);
        if (policy_touched)
                warn_policy_kind(in.name, updated.kind, updated.labels, updated.n_labels);

        PB(UpdateSnapshotResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__UPDATE_SNAPSHOT_RESPONSE__INIT;
        resp.info = info_out(a, &updated);
        sk_info_clear(&updated);
        if (!resp.info)
                return out_of_memory(call);
        return sk_call_send(call, &resp.base);
}

typedef struct list_state {
        sk_call *call;
        const sk_filter *filter;
        sk_arena *batch_arena; /* holds the pending batch; reset after each send */
        PB(Info) *batch[SK_LIST_BATCH];
        size_t n_batch;
        size_t batch_bytes;
        size_t total;
} list_state;

static int list_flush(list_state *st) {
        if (st->n_batch == 0)
                return 0;
        PB(ListSnapshotsResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
        resp.n_info = st->n_batch;
        resp.info = st->batch;
        int r = sk_call_send(st->call, &resp.base);
        if (r < 0)
                return r;
        st->total += st->n_batch;
        st->n_batch = 0;
        st->batch_bytes = 0;
        sk_arena_reset(st->batch_arena);
        return 0;
}

static int list_one(const sk_info *info, void *userdata) {
        list_state *st = userdata;

        if (sk_call_cancelled(st->call))
                return -ECANCELED;
        if (!sk_filter_match(st->filter, info))
                return 0;
        /* info is borrowed for this callback only: copy it into the batch. */
        PB(Info) *pi = info_out(st->batch_arena, info);
        if (!pi)
                return -ENOMEM;
        st->batch[st->n_batch++] = pi;
        st->batch_bytes += protobuf_c_message_get_packed_size(&pi->base);
        if (st->n_batch == SK_LIST_BATCH || st->batch_bytes >= SK_LIST_BATCH_BYTES)
                return list_flush(st);
        return 0;
}

static int on_list(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(ListSnapshotsRequest) *req = (const void *) msg;
        sk_filter *filter = NULL;
        char *error = NULL;

        int r = sk_filter_parse((const char *const *) req->filters, req->n_filters, &filter, &error);
        if (r < 0) {
                r = sk_call_error(call, sk_status_from_errno(r), "list: bad filter: %s",
                                  error ? error : reason(r));
                free(error);
                return r;
        }

        list_state st = { .call = call, .filter = filter, .batch_arena = sk_arena_new() };
        if (!st.batch_arena) {
                sk_filter_free(filter);
                return out_of_memory(call);
        }
        r = sk_snapshotter_walk(userdata, list_one, &st);
        if (r >= 0)
                r = list_flush(&st);
        sk_arena_free(st.batch_arena);
        sk_filter_free(filter);
        if (r == -ECANCELED)
                return sk_call_error(call, GRPC_STATUS_CANCELLED, "list: cancelled");
        if (r < 0)
                return fail(call, r, "list");
        log_debug("list: %zu snapshots", st.total);
        return 0;
}

static int on_usage(sk_call *call, const ProtobufCMessage *msg, void *userdata) {
        const PB(UsageRequest) *req = (const void *) msg;
        sk_usage u;
        int r = require_key(call, "usage", req->key);
        if (r < 0)
                return r;
        r = sk_snapshotter_usage(userdata, req->key, &u);
        if (r < 0)
                return fail(call, r, "usage %s", req->key);
        PB(UsageResponse) resp = CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
        resp.size = u.size;
        resp.inodes = u.inodes;
        return sk_call_send(call, &resp.base);
}

static int on_cleanup(sk_call *call, const ProtobufCMessage *msg _unused_, void *userdata) {
        int r = sk_snapshotter_cleanup(userdata);
        if (r < 0)
                return fail(call, r, "cleanup");
        if (r > 0)
                log_info("cleanup removed %d orphaned snapshot directories", r);
        return send_empty(call);
}

/* The calls that commit durably while containerd waits: a scheduled backup's
 * disk writes give way to them (common/foreground.h). */
#define FOREGROUND(fn)                                                                              \
        static int fn##_fg(sk_call *call, const ProtobufCMessage *msg, void *userdata) {            \
                sk_foreground_enter();                                                              \
                int r = fn(call, msg, userdata);                                                    \
                sk_foreground_leave();                                                              \
                return r;                                                                           \
        }
FOREGROUND(on_prepare)
FOREGROUND(on_view)
FOREGROUND(on_commit)
FOREGROUND(on_remove)
FOREGROUND(on_update)

static const sk_method snapshots_methods[] = {
        { "Prepare", on_prepare_fg, false },
        { "View", on_view_fg, false },
        { "Mounts", on_mounts, false },
        { "Commit", on_commit_fg, false },
        { "Remove", on_remove_fg, false },
        { "Stat", on_stat, false },
        { "Update", on_update_fg, false },
        { "List", on_list, true },
        { "Usage", on_usage, false },
        { "Cleanup", on_cleanup, false },
};

int sk_snapshots_service_add(sk_server *server, sk_snapshotter *snap) {
        return sk_server_add_service(server, &containerd__services__snapshots__v1__snapshots__descriptor,
                                     snapshots_methods, ARRAY_SIZE(snapshots_methods), snap);
}
