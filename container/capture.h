/* Layer-aware capture and rehydration: joins the snapshotter (snapshot/) and
 * the backup repository (backup/, repo/) through their public headers.
 * capture.c holds the handle (options, repository, status, listing, sweep),
 * capture-backup.c backing up, rehydrate.c restoring, events.c the event
 * ring; capture-internal.h is what they share.
 *
 * DESIGN
 * Every snapshot is backed up as one engine backup whose root tree holds two
 * entries: "fs" (the snapshot's upper directory exactly as overlayfs stores
 * it: whiteouts, opaque dirs, xattrs) and "snapkeep-container.json" (kind,
 * backend key, parent, labels, and the chain of layer backups below it, bottom
 * first). The JSON file is written to <root>/capture/<id>/ so that the sources
 * of two backups of the same snapshot are identical and the engine picks the
 * previous one as parent: a second backup reads only changed files.
 *
 * A committed snapshot is immutable and identified by its chain id (label
 * containerd.io/snapshot.ref, or the last component of a name like
 * NS/N/sha256:<chainID>). It is captured once: the sealed repository object
 * layers/sha256-<hex> maps the chain id to its backup, and every later backup
 * refers to it. A sealed object containers/<backup-id> carries what restore
 * needs (kind, chain) in a line format (docs/FORMAT.md "Container objects").
 *
 * Restores happen inside Prepare. The new snapshot is created carrying the
 * label containerd.io/snapshot/snapkeep.restoring; content is restored into a
 * temp directory inside the snapshot's directory and renamed over its empty
 * fs; only then is the marker removed (or, for a layer, the snapshot is
 * committed with fresh labels). A failure removes the snapshot; a crash
 * leaves the marker, and sk_capture_sweep() at start removes such snapshots,
 * so no half-restored snapshot survives a restart.
 *
 * The repository is opened lazily on first use and kept open; one mutex
 * serialises the operations on that handle (backup, listing, the control
 * API's restores). Restores inside Prepare do not use it: each runs on a
 * repository handle of its own, at most max_restores at once, so neither a
 * running backup nor another restore holds them up, and a Prepare beyond the
 * limit is refused at once (-EAGAIN) instead of waiting on a gRPC worker.
 *
 * This is a library: it never prints. What the daemon logs about backups and
 * restores is handed, as finished lines, to the options' log callback. */
#pragma once

#include "common/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "backup/check.h"
#include "backup/forget.h"
#include "backup/lease.h"
#include "backup/prune.h"
#include "container/events.h"
#include "container/k8s.h"
#include "container/record.h" /* SK_TAG_CONTAINER, SK_TAG_LAYER */
#include "snapshot/snapshotter.h"
#include "store/backend.h"

typedef struct sk_capture sk_capture;

#define SK_LABEL_RESTORE "containerd.io/snapshot/snapkeep.restore"
#define SK_LABEL_RESTORING "containerd.io/snapshot/snapkeep.restoring"
#define SK_LABEL_RESTORED "containerd.io/snapshot/snapkeep.restored" /* = the backup id, once restored */
#define SK_LABEL_BACKUP "containerd.io/snapshot/snapkeep.backup"
#define SK_LABEL_BACKUP_TIME "containerd.io/snapshot/snapkeep.backup-time"
#define SK_LABEL_LAYER_BACKUP "containerd.io/snapshot/snapkeep.layer-backup"
#define SK_LABEL_SNAPSHOT_REF "containerd.io/snapshot.ref"
/* Where containerd listens unless told otherwise (snapkeepd and the CLI). */
#define SK_DEFAULT_CONTAINERD_SOCKET "/run/containerd/containerd.sock"

/* Levels of the lines given to sk_capture_options.log: the values of
 * common/log.h's levels, so that a daemon passes them on unchanged. */
enum {
        SK_CAPTURE_LOG_ERROR = 0,
        SK_CAPTURE_LOG_WARNING = 1,
        SK_CAPTURE_LOG_INFO = 2,
        SK_CAPTURE_LOG_DEBUG = 3,
};

/* One finished line (no newline; an errno's text already appended). Called
 * from any thread that runs an operation, concurrently. */
typedef void (*sk_capture_log_fn)(int level, const char *message, void *userdata);

/* The Kubernetes identity of the container in containerd namespace ns whose
 * snapshot is named `name` (the last part of its backend key). 1: *ret filled
 * (the caller clears it); 0: not a pod's container; -ENOENT: no container has
 * that snapshot (yet); other -errno with *ret_error (owned) when it could not
 * be learnt. */
typedef int (*sk_identify_fn)(const char *ns, const char *name, sk_k8s_identity *ret, char **ret_error,
                              void *userdata);

/* The image of the container whose snapshot is `name` in containerd
 * namespace ns: its manifest and config exactly as containerd stores them
 * (owned; checked against their digests). 1: found; 0: the snapshot has no
 * container or the container no image; -errno with *ret_error (owned). */
typedef int (*sk_image_fn)(const char *ns, const char *name, char **ret_manifest, size_t *ret_manifest_len,
                           char **ret_config, size_t *ret_config_len, char **ret_error, void *userdata);

typedef struct sk_capture_options {
        const char *repo_url;      /* NULL: no repository, every operation fails with -ENOMEDIUM */
        const char *password_file; /* one of these two, read at each open */
        const char *key_file;
        bool remote_layers;        /* Prepare with snapshot.ref may rehydrate layers */
        unsigned max_restores;     /* concurrent restores in Prepare, <= SK_CAPTURE_RESTORES_MAX; 0 = 1 */
        sk_store_options store;    /* storage settings (S3, cache); its userdata must outlive the object */
        sk_capture_log_fn log;     /* NULL: nothing is reported */
        sk_metrics *metrics;       /* NULL: none; else bytes, restores and repository size go there */
        void *log_userdata;
        sk_identify_fn identify;   /* NULL: container backups carry no Kubernetes tags */
        sk_image_fn image;         /* NULL: container backups do not record their image */
        void *containerd_userdata; /* for identify and image */
} sk_capture_options;

#define SK_CAPTURE_RESTORES_MAX 16

/* snap is borrowed and must outlive the object. Strings in opts are copied. */
int sk_capture_new(sk_snapshotter *snap, const sk_capture_options *opts, sk_capture **ret);
void sk_capture_free(sk_capture *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_capture *, sk_capture_free);

/* The outcome of backing up one snapshot. */
typedef struct sk_capture_result {
        char snapshot[1024];
        bool committed;
        char backup_id[65];
        char chain_id[128];
        uint64_t layers_captured, layers_reused;
        uint64_t bytes_read, blobs_added, errors, warnings;
        double seconds;
} sk_capture_result;

/* Make every backup, restore and maintenance run in c, and any started
 * later, end at its next progress point with -ECANCELED: snapkeepd's stop,
 * once its servers have stopped, so that it does not wait for a long
 * scheduled backup. A wait for the repository's lock is not cancelled. What they had written is
 * left as a crash would leave it (a backup without its manifest is data that
 * prune reclaims; a half-restored snapshot is removed at the next start). */
void sk_capture_cancel(sk_capture *c);

/* Back up the snapshot with backend key `key` (active: its upper dir plus
 * every layer below it not yet in the repository; committed: the layer,
 * unless the repository already holds its chain id, in which case its
 * existing backup id is returned and layers_reused is 1). Views are refused
 * (-EPERM). On success the labels SK_LABEL_BACKUP and SK_LABEL_BACKUP_TIME
 * are set on the snapshot. On failure *ret_error (if not NULL) gets an owned
 * message. -ENOENT: no such snapshot; -ENOMEDIUM: no repository. */
int sk_capture_backup(sk_capture *c, const char *key, const char *const *tags, size_t n_tags,
                      sk_capture_result *ret, char **ret_error);

/* The backend key of container `id` in namespace ns: the active snapshot
 * named "ns/<n>/id". -ENOENT if none, -ENOTUNIQ if several. *ret owned. */
int sk_capture_resolve_container(sk_capture *c, const char *ns, const char *id, char **ret);

/* Keys --all covers: every active snapshot, and every committed snapshot
 * with a chain id the repository does not hold yet. *ret is a NULL-terminated
 * owned array (free each and the array). */
int sk_capture_keys_for_all(sk_capture *c, char ***ret, size_t *ret_n);

/* Prepare `key` on `parent` and rehydrate container backup `backup_id`'s
 * writable layer into it before returning its mounts. -EXDEV: the parent's
 * chain differs from the backup's (the image differs); -ENOENT: no such
 * backup; -EAGAIN: max_restores restores are running; other -errno. On any failure the snapshot is removed and
 * *ret_error (owned) names the cause. */
int sk_capture_prepare_restore(sk_capture *c, const char *key, const char *parent, const sk_label *labels,
                               size_t n_labels, const char *backup_id, sk_mounts *ret, char **ret_error);

/* The remote-snapshotter path: if enabled and the repository holds layer
 * chain_id with the same parent chain, build it as a committed snapshot
 * "<ns>/<n>/<chain_id>" (n taken from key) on parent, labelled with
 * snapshot.ref = chain_id and SK_LABEL_LAYER_BACKUP, and return 1 (the caller
 * answers ALREADY_EXISTS). 0: not available (or every restore slot busy),
 * go on with a normal prepare.
 * < 0: the rehydration failed (nothing left behind; *ret_error owned). */
int sk_capture_prepare_layer(sk_capture *c, const char *key, const char *parent, const sk_label *labels,
                             size_t n_labels, const char *chain_id, char **ret_error);

/* Open the repository (and one restore handle) now rather than at the first
 * operation (so the first restore does not pay for key derivation and index
 * loading). A missing
 * repository or secret is not an error here: returns 0 and the operation
 * that needs it reports it. */
int sk_capture_open_repo(sk_capture *c);

/* Remove snapshots left half-restored by a crash. Returns how many. */
int sk_capture_sweep(sk_capture *c);

/* Maintenance (maint.c), for the scheduler: take or renew the maintenance
 * lease (backup/lease.h; 1 taken, 0 held by another node, named in *ret),
 * prune (waiting up to lock_wait_seconds for backups), and check with
 * read_data_subset_pct percent of the packs read (-EBADMSG: errors found,
 * counted in *ret). On failure *ret_error (owned) names the cause. */
int sk_capture_lease(sk_capture *c, const char *holder, uint32_t ttl_seconds, unsigned settle_ms, sk_lease *ret,
                     char **ret_error);
int sk_capture_prune(sk_capture *c, unsigned lock_wait_seconds, sk_prune_result *ret, char **ret_error);
int sk_capture_check(sk_capture *c, unsigned read_data_subset_pct, sk_check_result *ret, char **ret_error);

/* Retention (retain.c): apply policy to the container backups that carry
 * every one of tags[0..n_tags) (n_tags >= 1; the scheduler passes its policy
 * and source tags), keeping backup_id (the one just made) whatever the rules
 * say, under the repository's exclusive lock (waiting up to
 * lock_wait_seconds: -EBUSY). Every other backup is left alone; layer
 * backups are never forgotten here. -ESTALE: skipped, because a selected
 * backup is newer than backup_id (the clock went back). Data is reclaimed by
 * a later prune. On failure *ret_error (owned). */
int sk_capture_retain(sk_capture *c, const char *backup_id, const char *const *tags, size_t n_tags,
                      const sk_forget_policy *policy, unsigned lock_wait_seconds, sk_forget_result *ret,
                      char **ret_error);

/* Restore the writable layer ("fs") of a snapkeep backup into target (must
 * not exist; its parent must). */
int sk_capture_restore_dir(sk_capture *c, const char *backup_id, const char *target, uint64_t *ret_files,
                           uint64_t *ret_bytes, char **ret_error);

/* One snapkeep backup, for ListBackups. Strings owned by the list. */
typedef struct sk_capture_entry {
        char id[65];
        int64_t time;
        bool committed;
        char *snapshot;
        char *chain_id;
        char *hostname;
        char **layers; /* chain ids, bottom first */
        size_t n_layers;
} sk_capture_entry;

int sk_capture_list(sk_capture *c, sk_capture_entry **ret, size_t *ret_n, char **ret_error);
void sk_capture_list_free(sk_capture_entry *l, size_t n);

/* --- events and counters ---------------------------------------------------- */

/* Read the handle's event ring (see sk_event_ring_read() in events.h): up
 * to max events with seq > since, oldest first, waiting up to wait_ms for
 * one if there is none. Returns the number copied. */
size_t sk_capture_events(sk_capture *c, uint64_t since, unsigned wait_ms, sk_capture_event *out, size_t max);

typedef struct sk_capture_status {
        bool repo_open;
        bool remote_layers;
        uint64_t backups_done, restores_done, layers_rehydrated, last_event;
        char repo_error[256];
} sk_capture_status;

void sk_capture_get_status(sk_capture *c, sk_capture_status *ret);
