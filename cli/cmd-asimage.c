/* snapkeep restore ID --as-image REF: a container backup becomes an image in
 * containerd's store, so that a pod can run it by reference (Kubernetes:
 * imagePullPolicy: Never), on this node or any other sharing the repository.
 *
 * DESIGN: nothing is downloaded or unpacked. The image's layers are the
 * backup's layer backups, rehydrated by snapkeepd through containerd's own
 * remote-snapshotter path (a Prepare labelled containerd.io/snapshot.ref =
 * chain id, which snapkeepd answers by restoring the layer from the
 * repository); the container's writable layer is restored by snapkeepd into
 * a new snapshot (the snapkeep.restore label) and committed as one more
 * layer. The image's manifest and config are the ones recorded with the
 * backup (container/image-config.h), with that layer added; its diff_id is
 * the SHA-256 of the tar `snapkeep export` would write for it, computed from
 * the repository without writing the tar. Its blob is not written: the image
 * is complete for containerd and CRI (which need the config and the
 * snapshots), but not for `ctr images export` or a push; `snapkeep export`
 * stays the portable path.
 *
 * Everything made is held by a containerd lease until the image refers to
 * it (config label containerd.io/gc.ref.snapshot.<snapshotter> = the top
 * chain id, manifest labels gc.ref.content.*); on any failure the lease is
 * deleted with sync, so containerd's GC removes what was made and no
 * snapshot or image is left behind. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/browse.h"
#include "backup/restore.h"
#include "cli/cli.h"
#include "cli/ctimage.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "container/capture.h"
#include "container/image-config.h"
#include "container/oci-export.h"
#include "container/record.h"
#include "repo/repo.h"
#include "rpc/client.h"

#include "content.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "images.pb-c.h"
#include "leases.pb-c.h"
#include "snapshots.pb-c.h"

#define CD_TIMEOUT_MS 60000
/* A restore of the writable layer may take as long as the layer is big. */
#define CD_RESTORE_TIMEOUT_MS (3600 * 1000)

typedef struct asimage {
        sk_cli *cli;
        const sk_as_image_options *o;
        sk_rpc *rpc;
        char lease[96];
        sk_rpc_metadata md[2]; /* namespace, then lease once created */
        size_t n_md;
        char ref[512];
} asimage;

static int call(asimage *x, const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *out,
                sk_rpc_reply_fn fn, void *ud, unsigned timeout_ms, char **ret_details) {
        return (int) sk_rpc_call(x->rpc, method, x->md, x->n_md, timeout_ms, req, out, fn, ud, ret_details);
}

static const char *status_text(int s) {
        switch (s) {
        case GRPC_STATUS_NOT_FOUND: return "not found";
        case GRPC_STATUS_ALREADY_EXISTS: return "already exists";
        case GRPC_STATUS_UNAVAILABLE: return "containerd is not reachable";
        case GRPC_STATUS_DEADLINE_EXCEEDED: return "timed out";
        case GRPC_STATUS_INVALID_ARGUMENT: return "invalid argument";
        case GRPC_STATUS_FAILED_PRECONDITION: return "failed precondition";
        default: return "failed";
        }
}

static int fail_call(asimage *x, int s, char *details, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_call(asimage *x, int s, char *details, const char *fmt, ...) {
        char what[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        int r = s == GRPC_STATUS_NOT_FOUND ? -ENOENT : s == GRPC_STATUS_ALREADY_EXISTS ? -EEXIST
                : s == GRPC_STATUS_UNAVAILABLE ? -ENOTCONN : -EIO;
        int e = sk_cli_fail(x->cli, r, "%s: %s%s%s (containerd %s)", what, status_text(s),
                            details && *details ? ": " : "", details ? details : "", x->o->containerd_socket);
        free(details);
        return e;
}

/* ---- the backup's side ------------------------------------------------------ */

static int no_image_record(sk_cli *cli, int r, const char *id, const char *entry) {
        return sk_cli_fail(cli, r,
                           "backup %s has no usable image record (%s): it was made without its container's image (by "
                           "an older snapkeepd, or of a snapshot with no container); `snapkeep export` makes an image "
                           "archive of it instead",
                           id, entry);
}

/* Read the image recorded with backup id into *man and *cfg (owned). */
static int read_recorded_image(asimage *x, sk_repo *repo, const char *id, char **man, size_t *man_len, char **cfg,
                               size_t *cfg_len) {
        _cleanup_free_ char *dir = NULL;
        const char *tmp = getenv("TMPDIR");
        if (asprintf(&dir, "%s/snapkeep-as-image-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 || !mkdtemp(dir))
                return sk_cli_fail(x->cli, -errno ?: -ENOMEM, "cannot create a temporary directory");
        _cleanup_free_ char *target = NULL;
        if (asprintf(&target, "%s/t", dir) < 0) {
                (void) sk_rm_rf(dir);
                return sk_cli_fail(x->cli, -ENOMEM, "out of memory");
        }
        const char *inc[] = { SK_CONTAINER_IMAGE_MANIFEST, SK_CONTAINER_IMAGE_CONFIG };
        /* Look before restoring: each must be a regular file of bounded size
         * (a forged backup could name a huge file or a whole tree there). */
        for (int i = 0; i < 2; i++) {
                sk_node n = {};
                int r = sk_backup_lookup(repo, id, inc[i], &n);
                bool ok = r >= 0 && n.type == SK_NODE_FILE && n.size <= SK_IMAGE_BLOB_MAX;
                if (r >= 0)
                        sk_node_clear(&n);
                if (!ok) {
                        (void) sk_rm_rf(dir);
                        return no_image_record(x->cli, r == -ENOENT ? -ENOENT : r < 0 ? r : -EBADMSG, id,
                                               inc[i]);
                }
        }
        sk_restore_options ro = {
                .target = target, .includes = inc, .n_includes = 2, .no_owner = true,
                .lock_wait_seconds = x->cli->lock_wait, .problem = sk_cli_problem_cb, .userdata = x->cli,
        };
        sk_restore_result res = {};
        int r = sk_restore_run(repo, id, &ro, &res);
        int e = SK_EXIT_OK;
        if (r < 0)
                e = sk_cli_fail(x->cli, r, "cannot read the image recorded with backup %s", id);
        for (int i = 0; i < 2 && e == SK_EXIT_OK; i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", target, inc[i]) < 0) {
                        e = sk_cli_fail(x->cli, -ENOMEM, "out of memory");
                        break;
                }
                /* A regular file of bounded size, never a link (repository
                 * content is hostile input). */
                _cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SK_IMAGE_BLOB_MAX) {
                        e = no_image_record(x->cli, fd < 0 && errno == ENOENT ? -ENOENT : -EBADMSG, id,
                                            inc[i]);
                        break;
                }
                char *buf = malloc((size_t) st.st_size + 1);
                ssize_t n = buf ? read(fd, buf, (size_t) st.st_size) : -1;
                if (n != st.st_size) {
                        free(buf);
                        e = sk_cli_fail(x->cli, -EIO, "reading %s of backup %s", inc[i], id);
                        break;
                }
                buf[n] = 0;
                *(i ? cfg : man) = buf;
                *(i ? cfg_len : man_len) = (size_t) n;
        }
        (void) sk_rm_rf(dir);
        return e;
}

/* ---- containerd's side ------------------------------------------------------ */

static int lease_create(asimage *x) {
        Containerd__Services__Leases__V1__CreateRequest req = CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
        /* Random: two runs must never share a lease (or snapshot keys). */
        uint8_t rnd[8];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return sk_cli_fail(x->cli, -errno, "cannot get random bytes for a lease id");
        char id[sizeof(x->lease)];
        snprintf(id, sizeof(id), "snapkeep-as-image-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
                 rnd[4], rnd[5], rnd[6], rnd[7]);
        /* Expires by itself if this process dies before it deletes it. */
        char expire[32];
        time_t t = time(NULL) + 24 * 3600;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(expire, sizeof(expire), "%Y-%m-%dT%H:%M:%SZ", &tm);
        Containerd__Services__Leases__V1__CreateRequest__LabelsEntry l =
                CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__LABELS_ENTRY__INIT;
        l.key = "containerd.io/gc.expire";
        l.value = expire;
        Containerd__Services__Leases__V1__CreateRequest__LabelsEntry *lp = &l;
        req.id = id;
        req.labels = &lp;
        req.n_labels = 1;
        char *details = NULL;
        int s = call(x, "/containerd.services.leases.v1.Leases/Create", &req.base,
                     &containerd__services__leases__v1__create_response__descriptor, NULL, NULL, CD_TIMEOUT_MS, &details);
        if (s != GRPC_STATUS_OK)
                return fail_call(x, s, details, "cannot create a containerd lease in namespace %s", x->o->namespace_);
        free(details);
        memcpy(x->lease, id, sizeof(id)); /* ours to delete only once made */
        x->md[x->n_md++] = (sk_rpc_metadata) { "containerd-lease", x->lease };
        return SK_EXIT_OK;
}

/* Delete the lease; sync: wait for containerd's GC (after a failure). */
static void lease_delete(asimage *x, bool sync) {
        if (!x->lease[0])
                return;
        Containerd__Services__Leases__V1__DeleteRequest req = CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
        req.id = x->lease;
        req.sync = sync;
        size_t n = x->n_md;
        x->n_md = 1; /* not under the lease being deleted */
        char *details = NULL;
        int s = call(x, "/containerd.services.leases.v1.Leases/Delete", &req.base, &google__protobuf__empty__descriptor,
                     NULL, NULL, CD_TIMEOUT_MS, &details);
        if (s != GRPC_STATUS_OK)
                fprintf(stderr, "snapkeep: warning: cannot delete containerd lease %s (it expires by itself in a "
                                "day): %s\n", x->lease, details ? details : status_text(s));
        free(details);
        x->n_md = n;
        x->lease[0] = 0;
}

static int image_exists(asimage *x, bool *ret) {
        Containerd__Services__Images__V1__GetImageRequest req = CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
        req.name = x->ref;
        char *details = NULL;
        int s = call(x, "/containerd.services.images.v1.Images/Get", &req.base,
                     &containerd__services__images__v1__get_image_response__descriptor, NULL, NULL, CD_TIMEOUT_MS,
                     &details);
        if (s != GRPC_STATUS_OK && s != GRPC_STATUS_NOT_FOUND)
                return fail_call(x, s, details, "cannot look up image %s", x->ref);
        free(details);
        *ret = s == GRPC_STATUS_OK;
        return SK_EXIT_OK;
}


#define SNAP(name) "/containerd.services.snapshots.v1.Snapshots/" name
typedef Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry prep_label;

/* Prepare key on parent with one label, through containerd (so its metadata
 * and GC know the snapshot). Returns the gRPC status; *ret_details owned. */
static int prepare(asimage *x, const char *key, const char *parent, const char *lk, const char *lv,
                   unsigned timeout_ms, char **ret_details) {
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
        prep_label l = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__LABELS_ENTRY__INIT;
        prep_label *lp = &l;
        l.key = (char *) lk;
        l.value = (char *) lv;
        req.snapshotter = (char *) x->o->snapshotter;
        req.key = (char *) key;
        req.parent = (char *) (parent ? parent : "");
        req.labels = &lp;
        req.n_labels = 1;
        return call(x, SNAP("Prepare"), &req.base, &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor,
                    NULL, NULL, timeout_ms, ret_details);
}

static void remove_snapshot(asimage *x, const char *key) {
        Containerd__Services__Snapshots__V1__RemoveSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
        req.snapshotter = (char *) x->o->snapshotter;
        req.key = (char *) key;
        char *details = NULL;
        (void) call(x, SNAP("Remove"), &req.base, &google__protobuf__empty__descriptor, NULL, NULL, CD_TIMEOUT_MS,
                    &details);
        free(details);
}

/* Layer i (chain id chains[i], in backup layer_backups[i]) as a committed
 * snapshot named by its chain id: already there, or rehydrated by snapkeepd
 * from the repository. */
static int rehydrate_layer(asimage *x, char **chains, size_t i, const char *layer_backup) {
        /* The key's shape is containerd's unpacker's ("extract-... CHAIN"):
         * snapkeepd rehydrates only for such keys. */
        char key[256];
        snprintf(key, sizeof(key), "extract-%s-%zu %s", x->lease, i, chains[i]);
        char *details = NULL;
        int s = prepare(x, key, i ? chains[i - 1] : NULL, SK_LABEL_SNAPSHOT_REF, chains[i], CD_RESTORE_TIMEOUT_MS,
                        &details);
        if (s == GRPC_STATUS_ALREADY_EXISTS) { /* there, or made from the repository */
                free(details);
                return SK_EXIT_OK;
        }
        if (s == GRPC_STATUS_OK) {
                /* An empty active snapshot: snapkeepd did not take the layer
                 * from the repository (remote layers off, or another
                 * snapshotter). Nothing here would fill it: give up. */
                free(details);
                remove_snapshot(x, key);
                return sk_cli_fail(x->cli, -ENOENT,
                                   "layer %zu (%s, backup %s) was not rehydrated from the repository by snapshotter "
                                   "%s: is it snapkeep, with remote layers on, and the same repository?",
                                   i + 1, chains[i], layer_backup, x->o->snapshotter);
        }
        return fail_call(x, s, details, "layer %zu (%s, backup %s)", i + 1, chains[i], layer_backup);
}

typedef struct restored_ctx {
        const char *id;
        bool ok;
} restored_ctx;

static int take_restored(const ProtobufCMessage *msg, void *userdata) {
        const Containerd__Services__Snapshots__V1__StatSnapshotResponse *resp = (const void *) msg;
        restored_ctx *rc = userdata;
        const Containerd__Services__Snapshots__V1__Info *info = resp->info;
        for (size_t i = 0; info && i < info->n_labels; i++)
                if (strcmp(info->labels[i]->key, SK_LABEL_RESTORED) == 0 && strcmp(info->labels[i]->value, rc->id) == 0)
                        rc->ok = true;
        return 0;
}

/* The writable layer of backup id, restored by snapkeepd onto parent and
 * committed as name. */
static int restore_top(asimage *x, const char *id, const char *parent, const char *name) {
        char key[160];
        snprintf(key, sizeof(key), "%s-top", x->lease);
        char *details = NULL;
        int s = prepare(x, key, parent, SK_LABEL_RESTORE, id, CD_RESTORE_TIMEOUT_MS, &details);
        if (s != GRPC_STATUS_OK)
                return fail_call(x, s, details, "restoring the writable layer of backup %s", id);
        free(details);
        details = NULL;
        /* Only snapkeepd acts on the restore label (another snapshotter
         * makes an empty snapshot): it marks what it restored. */
        restored_ctx rc = { .id = id };
        Containerd__Services__Snapshots__V1__StatSnapshotRequest sreq =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
        sreq.snapshotter = (char *) x->o->snapshotter;
        sreq.key = key;
        s = call(x, SNAP("Stat"), &sreq.base, &containerd__services__snapshots__v1__stat_snapshot_response__descriptor,
                 take_restored, &rc, CD_TIMEOUT_MS, &details);
        if (s != GRPC_STATUS_OK)
                return fail_call(x, s, details, "reading back the restored writable layer of backup %s", id);
        free(details);
        details = NULL;
        if (!rc.ok)
                return sk_cli_fail(x->cli, -ENOENT,
                                   "snapshotter %s did not restore the writable layer of backup %s (the snapshot has "
                                   "no " SK_LABEL_RESTORED " label): is it snapkeep?",
                                   x->o->snapshotter, id);
        Containerd__Services__Snapshots__V1__CommitSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
        req.snapshotter = (char *) x->o->snapshotter;
        req.name = (char *) name;
        req.key = key;
        s = call(x, SNAP("Commit"), &req.base, &google__protobuf__empty__descriptor, NULL, NULL, CD_TIMEOUT_MS,
                 &details);
        if (s == GRPC_STATUS_ALREADY_EXISTS) { /* the same backup made an image before: same layer */
                free(details);
                remove_snapshot(x, key);
                return SK_EXIT_OK;
        }
        if (s != GRPC_STATUS_OK)
                return fail_call(x, s, details, "committing the writable layer of backup %s as %s", id, name);
        free(details);
        return SK_EXIT_OK;
}

typedef Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry content_label;

/* Write blob (its digest in desc) into the content store with labels
 * keys/values[0..n): one COMMIT message carrying the whole blob. */
static int write_blob(asimage *x, const sk_oci_desc *desc, const char *buf, size_t len, const char *const *keys,
                      char *const *values, size_t n, const char *what) {
        content_label ls[SK_IMAGE_LAYERS_MAX + 2], *lp[SK_IMAGE_LAYERS_MAX + 2];
        if (n > ARRAY_SIZE(ls))
                return sk_cli_fail(x->cli, -E2BIG, "too many layers");
        for (size_t i = 0; i < n; i++) {
                ls[i] = (content_label) CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__LABELS_ENTRY__INIT;
                ls[i].key = (char *) keys[i];
                ls[i].value = values[i];
                lp[i] = &ls[i];
        }
        char ref[160];
        snprintf(ref, sizeof(ref), "%s-%s", x->lease, what);
        Containerd__Services__Content__V1__WriteContentRequest req =
                CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
        req.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT;
        req.ref = ref;
        req.total = (int64_t) len;
        req.expected = (char *) desc->digest;
        req.data.data = (uint8_t *) buf;
        req.data.len = len;
        req.labels = lp;
        req.n_labels = n;
        char *details = NULL;
        int s = call(x, "/containerd.services.content.v1.Content/Write", &req.base,
                     &containerd__services__content__v1__write_content_response__descriptor, NULL, NULL, CD_TIMEOUT_MS,
                     &details);
        if (s != GRPC_STATUS_OK && s != GRPC_STATUS_ALREADY_EXISTS)
                return fail_call(x, s, details, "writing the image %s %s", what, desc->digest);
        free(details);
        return SK_EXIT_OK;
}

typedef Containerd__Services__Images__V1__Image__LabelsEntry image_label;

static int create_image(asimage *x, const sk_oci_desc *manifest) {
        Containerd__Types__Descriptor target = CONTAINERD__TYPES__DESCRIPTOR__INIT;
        target.media_type = (char *) manifest->media_type;
        target.digest = (char *) manifest->digest;
        target.size = manifest->size;
        /* What containerd 1.7's CRI puts on the images it manages. */
        image_label l = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__LABELS_ENTRY__INIT;
        image_label *lp = &l;
        l.key = "io.cri-containerd.image";
        l.value = "managed";
        Containerd__Services__Images__V1__Image img = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
        img.name = x->ref;
        img.target = &target;
        img.labels = &lp;
        img.n_labels = 1;
        Containerd__Services__Images__V1__CreateImageRequest req =
                CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
        req.image = &img;
        char *details = NULL;
        int s = call(x, "/containerd.services.images.v1.Images/Create", &req.base,
                     &containerd__services__images__v1__create_image_response__descriptor, NULL, NULL, CD_TIMEOUT_MS,
                     &details);
        if (s != GRPC_STATUS_OK)
                return fail_call(x, s, details, "creating image %s in namespace %s", x->ref, x->o->namespace_);
        free(details);
        return SK_EXIT_OK;
}

static void step(asimage *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step(asimage *x, const char *fmt, ...) {
        if (x->cli->quiet || x->cli->json || !x->cli->progress)
                return;
        va_list ap;
        va_start(ap, fmt);
        fputs("snapkeep: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* ---- the command ------------------------------------------------------------ */

/* The steps once the backup's side is known; on failure the caller deletes
 * the lease with sync, which removes everything made here. */
static int make_image(asimage *x, const char *id, const sk_container_record *rec, char **chains,
                      const sk_oci_new_image *img, const char *top_chain) {
        int e = lease_create(x);
        for (size_t i = 0; e == SK_EXIT_OK && i < rec->n_layers; i++) {
                step(x, "layer %zu/%zu %s", i + 1, rec->n_layers, chains[i]);
                e = rehydrate_layer(x, chains, i, rec->layers[i].backup_id);
        }
        if (e == SK_EXIT_OK) {
                step(x, "writable layer of %s -> %s", id, top_chain);
                e = restore_top(x, id, rec->n_layers ? chains[rec->n_layers - 1] : NULL, top_chain);
        }
        char gc_snap[128];
        snprintf(gc_snap, sizeof(gc_snap), "containerd.io/gc.ref.snapshot.%s", x->o->snapshotter);
        const char *ck[1] = { gc_snap };
        char *cv[1] = { (char *) top_chain };
        if (e == SK_EXIT_OK)
                e = write_blob(x, &img->config_desc, img->config, img->config_len, ck, cv, 1, "config");
        if (e == SK_EXIT_OK) {
                /* The manifest refers to its config and layers, so that GC
                 * keeps the config (and through it the snapshots). */
                size_t n = rec->n_layers + 2;
                const char **mk = calloc(n, sizeof(char *));
                char **mv = calloc(n, sizeof(char *)), **names = calloc(n, sizeof(char *));
                char **digests = NULL;
                size_t nd = 0;
                e = mk && mv && names ? SK_EXIT_OK : sk_cli_fail(x->cli, -ENOMEM, "out of memory");
                if (e == SK_EXIT_OK)
                        e = sk_oci_manifest_layer_digests(img->manifest, img->manifest_len, &digests, &nd) < 0
                                    ? sk_cli_fail(x->cli, -EBADMSG, "the new manifest is malformed")
                                    : SK_EXIT_OK;
                size_t m = 0;
                if (e == SK_EXIT_OK) {
                        mk[m] = "containerd.io/gc.ref.content.config";
                        mv[m++] = (char *) img->config_desc.digest;
                        for (size_t i = 0; i < nd && m < n; i++) {
                                if (asprintf(&names[m], "containerd.io/gc.ref.content.l.%zu", i) < 0) {
                                        e = sk_cli_fail(x->cli, -ENOMEM, "out of memory");
                                        break;
                                }
                                mk[m] = names[m];
                                mv[m++] = digests[i];
                        }
                }
                if (e == SK_EXIT_OK)
                        e = write_blob(x, &img->manifest_desc, img->manifest, img->manifest_len, mk, mv, m,
                                       "manifest");
                for (size_t i = 0; names && i < n; i++)
                        free(names[i]);
                free(names);
                free(mk);
                free(mv);
                sk_oci_strv_free(digests, nd);
        }
        if (e == SK_EXIT_OK)
                e = create_image(x, &img->manifest_desc);
        return e;
}

int sk_ct_restore_as_image(sk_cli *cli, sk_repo *repo, const char *id, const sk_as_image_options *o) {
        asimage x = { .cli = cli, .o = o };
        if (sk_oci_normalize_ref(o->ref, x.ref, sizeof(x.ref)) < 0)
                return sk_cli_usage_error(cli, "'%s' is not an image reference (NAME[:TAG])", o->ref);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);

        /* The backup: its record (layers), its recorded image, which must
         * name the same layers. */
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = sk_repo_get_object(repo, SK_CONTAINER_OBJ_DIR, id, (void **) &buf, &len);
        if (r < 0)
                return sk_cli_fail(cli, r, "container metadata of backup %s unreadable", id);
        sk_container_record rec = {};
        char why[256];
        r = sk_container_record_decode(buf, len, &rec, why, sizeof(why));
        if (r < 0)
                return sk_cli_fail(cli, r, "container metadata of backup %s is malformed: %s", id, why);
        _cleanup_free_ char *man = NULL, *cfg = NULL;
        size_t man_len = 0, cfg_len = 0;
        char **chains = NULL;
        size_t n_chains = 0;
        sk_oci_new_image img = {};
        int e = SK_EXIT_OK;
        if (rec.committed) {
                e = sk_cli_usage_error(cli, "backup %s is of an image layer, not of a container", id);
                goto out;
        }
        e = read_recorded_image(&x, repo, id, &man, &man_len, &cfg, &cfg_len);
        if (e != SK_EXIT_OK)
                goto out;
        if (sk_oci_config_chain_ids(cfg, cfg_len, &chains, &n_chains) < 0) {
                e = sk_cli_fail(cli, -EBADMSG, "the image config recorded with backup %s is malformed", id);
                goto out;
        }
        bool same = n_chains == rec.n_layers;
        for (size_t i = 0; same && i < n_chains; i++)
                same = rec.layers[i].chain_id && strcmp(rec.layers[i].chain_id, chains[i]) == 0;
        if (!same) {
                e = sk_cli_fail(cli, -EBADMSG,
                                "the image recorded with backup %s does not match its layers (%zu diff_ids, %zu "
                                "layers): the record is damaged or forged",
                                id, n_chains, rec.n_layers);
                goto out;
        }

        /* The writable layer's identity, from the repository. */
        step(&x, "hashing the writable layer of %s", id);
        char diff_hex[65], diff_id[SK_OCI_DIGEST_MAX + 1], top_chain[SK_OCI_DIGEST_MAX + 1];
        uint64_t tar_size = 0;
        sk_oci_layer_src src = { .backup_id = id, .path = SK_CONTAINER_FS_DIR };
        r = sk_oci_layer_identity(repo, &src, sk_cli_problem_cb, cli, diff_hex, &tar_size);
        if (r < 0) {
                e = sk_cli_fail(cli, r, "cannot read the writable layer of backup %s", id);
                goto out;
        }
        snprintf(diff_id, sizeof(diff_id), "sha256:%s", diff_hex);
        sk_oci_chain_next(n_chains ? chains[n_chains - 1] : NULL, diff_id, top_chain);
        char by[160];
        snprintf(by, sizeof(by), "snapkeep restore %s --as-image", id);
        r = sk_oci_image_add_layer(cfg, cfg_len, man, man_len, diff_id, tar_size, (int64_t) time(NULL), by, &img);
        if (r < 0) {
                e = sk_cli_fail(cli, r, "the image recorded with backup %s is malformed", id);
                goto out;
        }

        /* containerd. */
        r = sk_rpc_open(o->containerd_socket, &x.rpc);
        if (r < 0) {
                e = sk_cli_fail(cli, r, "cannot set up gRPC");
                goto out;
        }
        x.md[x.n_md++] = (sk_rpc_metadata) { "containerd-namespace", o->namespace_ };
        bool exists = false;
        e = image_exists(&x, &exists);
        if (e == SK_EXIT_OK && exists)
                e = sk_cli_fail(cli, -EEXIST, "image %s already exists in containerd namespace %s; remove it or "
                                              "choose another name", x.ref, o->namespace_);
        if (e != SK_EXIT_OK)
                goto out;
        e = make_image(&x, id, &rec, chains, &img, top_chain);
        /* Success: the image holds everything; failure: GC takes it all. */
        lease_delete(&x, e != SK_EXIT_OK);
        if (e != SK_EXIT_OK)
                goto out;

        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "backup", id);
                sk_json_kv_str(j, "image", x.ref);
                sk_json_kv_str(j, "namespace", o->namespace_);
                sk_json_kv_str(j, "manifest_digest", img.manifest_desc.digest);
                sk_json_kv_str(j, "config_digest", img.config_desc.digest);
                sk_json_kv_str(j, "chain_id", top_chain);
                sk_json_kv_u64(j, "layers", rec.n_layers + 1);
                sk_json_kv_u64(j, "top_layer_bytes", tar_size);
                sk_json_kv_double(j, "seconds", secs);
                sk_json_end_object(j);
                fputc('\n', stdout);
        } else if (!cli->quiet) {
                printf("image %s in containerd namespace %s: %zu layers from container backup %s (manifest %s) in "
                       "%.1f s\n", x.ref, o->namespace_, rec.n_layers + 1, id, img.manifest_desc.digest, secs);
        }
out:
        sk_oci_new_image_clear(&img);
        sk_oci_strv_free(chains, n_chains);
        sk_container_record_clear(&rec);
        sk_rpc_close(x.rpc);
        return e;
}
