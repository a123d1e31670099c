/* Backing up a snapshot (sk_capture_backup): the layers below it first, each
 * captured once and then referred to by its chain id, then the snapshot
 * itself as one engine backup of its fs and snapkeep-container.json, then
 * its records (containers/<id>, layers/<algo>-<hex>) and labels. See the
 * DESIGN block in capture.h. */
#include "container/capture-internal.h"
#include "snapshot/key.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup.h"
#include "common/fsutil.h"
#include "container/image-config.h"
#include "container/meta.h"

static void rfc3339_now(char *buf, size_t size) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The record of snapshot info on chain below; its strings are borrowed, its
 * layers array (*ret_layers) is owned by the caller. */
static int make_record(const sk_info *info, const char *chain_id, const sk_cap_chain *below, char **below_backups,
                       sk_container_record *ret, sk_container_layer **ret_layers) {
        sk_container_layer *layers = calloc(below->n ? below->n : 1, sizeof(*layers));
        if (!layers)
                return -ENOMEM;
        for (size_t i = 0; i < below->n; i++)
                layers[i] = (sk_container_layer) { .chain_id = below->ids[i], .backup_id = below_backups[i] };
        *ret = (sk_container_record) {
                .committed = info->kind == SK_KIND_COMMITTED,
                .snapshot = info->name,
                .chain_id = (char *) chain_id,
                .layers = layers,
                .n_layers = below->n,
        };
        *ret_layers = layers;
        return 0;
}

/* Write <root>/capture/<id>/snapkeep-container.json for snapshot info; *ret_path owned. */
/* The identity tags of record.h into the three buffers; returns how many
 * were set in out[0..3). */
static size_t identity_tags(const sk_info *info, const char *chain_id, char ns[SK_TAG_MAX + 1],
                            char name[SK_TAG_MAX + 1], char chain[SK_TAG_MAX + 1], const char **out) {
        size_t n = 0, nl = 0;
        if (info->kind == SK_KIND_COMMITTED) {
                if (chain_id && snprintf(chain, SK_TAG_MAX + 1, SK_TAG_CHAIN_PREFIX "%s", chain_id) <= SK_TAG_MAX)
                        out[n++] = chain;
                return n;
        }
        const char *p = sk_key_namespace(info->name, &nl);
        if (p && snprintf(ns, SK_TAG_MAX + 1, SK_TAG_NAMESPACE_PREFIX "%.*s", (int) nl, p) <= SK_TAG_MAX)
                out[n++] = ns;
        if (snprintf(name, SK_TAG_MAX + 1, SK_TAG_NAME_PREFIX "%s", sk_key_name(info->name)) <= SK_TAG_MAX &&
            !strchr(name, '\n'))
                out[n++] = name;
        return n;
}

/* The containerd namespace of backend key "ns/N/name" into nsb. */
static int key_namespace(const char *key, char nsb[256]) {
        size_t nl = 0;
        const char *ns = sk_key_namespace(key, &nl);
        if (!ns || nl >= 256)
                return -EINVAL;
        memcpy(nsb, ns, nl);
        nsb[nl] = 0;
        return 0;
}

/* What containerd says about an active snapshot's container: its
 * Kubernetes identity (tags) and its image (kept with the backup so that
 * `snapkeep restore --as-image` can make an image of it). Asked before the
 * repository is locked: a slow containerd must not hold up other
 * operations. Not knowing either does not stop the backup: a warning says
 * so. */
typedef struct ct_facts {
        sk_k8s_identity k8s;
        bool is_pod;
        char *manifest, *config; /* NULL: no image known */
        size_t manifest_len, config_len;
} ct_facts;

static void ct_facts_clear(ct_facts *f) {
        sk_k8s_identity_clear(&f->k8s);
        free(f->manifest);
        free(f->config);
        *f = (ct_facts) {};
}

static void ask_containerd(sk_capture *c, const char *key, ct_facts *f) {
        char nsb[256];
        if (key_namespace(key, nsb) < 0)
                return;
        if (c->identify) {
                _cleanup_free_ char *err = NULL;
                int r = c->identify(nsb, sk_key_name(key), &f->k8s, &err, c->containerd_userdata);
                f->is_pod = r > 0;
                if (r < 0 && r != -ENOENT)
                        sk_cap_log(c, SK_CAPTURE_LOG_WARNING, 0, "backup of %s: no Kubernetes tags: %s", key,
                                   err ? err : strerror(-r));
        }
        if (c->image) {
                _cleanup_free_ char *err = NULL;
                int r = c->image(nsb, sk_key_name(key), &f->manifest, &f->manifest_len, &f->config, &f->config_len,
                                 &err, c->containerd_userdata);
                if (r < 0)
                        sk_cap_log(c, SK_CAPTURE_LOG_WARNING, 0,
                                   "backup of %s: its image is not recorded (restore --as-image will not work): %s",
                                   key, err ? err : strerror(-r));
        }
}

/* Write the image of f beside the metadata file in dir (old files removed
 * first). 1: written, their paths in *ret_* (owned by the caller, also on
 * failure); 0: none. */
static int record_image(sk_capture *c, const char *key, const ct_facts *f, const char *dir, char **ret_manifest_path,
                        char **ret_config_path) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return 0;
        (void) unlinkat(dfd, SK_CONTAINER_IMAGE_MANIFEST, 0);
        (void) unlinkat(dfd, SK_CONTAINER_IMAGE_CONFIG, 0);
        if (!f->manifest || !f->config)
                return 0;
        int r = sk_write_file_atomic(dfd, SK_CONTAINER_IMAGE_MANIFEST, f->manifest, f->manifest_len, 0600);
        if (r >= 0)
                r = sk_write_file_atomic(dfd, SK_CONTAINER_IMAGE_CONFIG, f->config, f->config_len, 0600);
        if (r >= 0 && (asprintf(ret_manifest_path, "%s/" SK_CONTAINER_IMAGE_MANIFEST, dir) < 0 ||
                       asprintf(ret_config_path, "%s/" SK_CONTAINER_IMAGE_CONFIG, dir) < 0))
                r = -ENOMEM;
        if (r < 0) {
                sk_cap_log(c, SK_CAPTURE_LOG_WARNING, -r, "backup of %s: cannot keep its image in %s", key, dir);
                return 0;
        }
        return 1;
}

static int write_meta(sk_capture *c, uint64_t id, const sk_info *info, const char *chain_id, const sk_cap_chain *below,
                      char **below_backups, char **ret_path) {
        _cleanup_free_ char *dir = NULL, *buf = NULL;
        size_t len = 0;
        if (asprintf(&dir, "%s/capture/%" PRIu64, sk_snapshotter_root(c->snap), id) < 0) {
                dir = NULL;
                return -ENOMEM;
        }
        int r = sk_mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        sk_container_record rec;
        _cleanup_free_ sk_container_layer *layers = NULL;
        _cleanup_free_ const char **labels = calloc(2 * info->n_labels + 1, sizeof(char *));
        r = labels ? make_record(info, chain_id, below, below_backups, &rec, &layers) : -ENOMEM;
        if (r < 0)
                return r;
        for (size_t i = 0; i < info->n_labels; i++) {
                labels[2 * i] = info->labels[i].key;
                labels[2 * i + 1] = info->labels[i].value;
        }
        char when[64];
        rfc3339_now(when, sizeof(when));
        sk_container_meta m = {
                .record = &rec,
                .parent = info->parent,
                .time = when,
                .labels = labels,
                .n_labels = info->n_labels,
                .layer_snapshots = (const char *const *) below->keys,
        };
        r = sk_container_meta_json(&m, &buf, &len);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        r = sk_write_file_atomic(dfd, SK_CONTAINER_META_FILE, buf, len, 0600);
        if (r < 0)
                return r;
        char *path = NULL;
        if (asprintf(&path, "%s/" SK_CONTAINER_META_FILE, dir) < 0)
                return -ENOMEM;
        *ret_path = path;
        return 0;
}

/* Write containers/<backup_id> and, for a layer, layers/<algo>-<hex>. */
static int put_records(sk_capture *c, const char *backup_id, const sk_info *info, const char *chain_id,
                       const sk_cap_chain *below, char **below_backups) {
        sk_container_record rec;
        _cleanup_free_ sk_container_layer *layers = NULL;
        int r = make_record(info, chain_id, below, below_backups, &rec, &layers);
        if (r < 0)
                return r;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        r = sk_container_record_encode(&rec, &buf, &len);
        if (r >= 0)
                r = sk_repo_put_object(c->repo, SK_CONTAINER_OBJ_DIR, backup_id, buf, len);
        char name[SK_CHAIN_ID_MAX + 1], line[SK_BACKUP_ID_HEX + 2];
        if (r >= 0 && chain_id && sk_layer_object_name(chain_id, name) >= 0) {
                r = sk_layer_object_encode(backup_id, line);
                if (r >= 0)
                        r = sk_repo_put_object(c->repo, SK_LAYER_OBJ_DIR, name, line, (size_t) r);
        }
        return r;
}

static int set_backup_labels(sk_capture *c, const char *key, const char *backup_id) {
        char when[64];
        rfc3339_now(when, sizeof(when));
        sk_label l[2] = { { (char *) SK_LABEL_BACKUP, (char *) backup_id }, { (char *) SK_LABEL_BACKUP_TIME, when } };
        const char *paths[2] = { "labels." SK_LABEL_BACKUP, "labels." SK_LABEL_BACKUP_TIME };
        sk_info in = { .name = (char *) key, .labels = l, .n_labels = 2 };
        sk_info out = {};
        int r = sk_snapshotter_update(c->snap, &in, paths, 2, &out);
        if (r >= 0)
                sk_info_clear(&out);
        return r;
}

/* Back up one snapshot whose ancestors are already captured (below_backups
 * holds their backup ids). Caller holds repo_mutex. */
static int backup_one(sk_capture *c, const sk_info *info, const char *chain_id, const sk_cap_chain *below,
                      char **below_backups, const char *const *tags, size_t n_tags, const ct_facts *facts,
                      sk_capture_result *res, char **ret_error) {
        uint64_t id;
        _cleanup_free_ char *dir = NULL, *meta = NULL, *fs = NULL;
        int r = sk_snapshotter_dir(c->snap, info->name, &id, &dir);
        if (r < 0) {
                sk_cap_errorf(ret_error, "snapshot %s: %s", info->name, strerror(-r));
                return r;
        }
        if (asprintf(&fs, "%s/fs", dir) < 0) {
                fs = NULL;
                return -ENOMEM;
        }
        r = write_meta(c, id, info, chain_id, below, below_backups, &meta);
        if (r < 0) {
                sk_cap_errorf(ret_error, "snapshot %s: cannot write its metadata file: %s", info->name, strerror(-r));
                return r;
        }

        const char *all_tags[16];
        size_t nt = 0;
        char t_ns[SK_TAG_MAX + 1], t_name[SK_TAG_MAX + 1], t_chain[SK_TAG_MAX + 1], t_k8s[3][300];
        all_tags[nt++] = info->kind == SK_KIND_COMMITTED ? SK_TAG_LAYER : SK_TAG_CONTAINER;
        nt += identity_tags(info, chain_id, t_ns, t_name, t_chain, all_tags + nt);
        if (facts && facts->is_pod)
                nt += sk_k8s_identity_tags(&facts->k8s, t_k8s, all_tags + nt);
        for (size_t i = 0; i < n_tags && nt < ARRAY_SIZE(all_tags); i++)
                all_tags[nt++] = tags[i];
        const char *sources[4] = { fs, meta };
        size_t n_sources = 2;
        _cleanup_free_ char *img_man = NULL, *img_cfg = NULL;
        if (facts) {
                _cleanup_free_ char *mdir = strndup(meta, strlen(meta) - strlen("/" SK_CONTAINER_META_FILE));
                if (mdir && record_image(c, info->name, facts, mdir, &img_man, &img_cfg) > 0) {
                        sources[n_sources++] = img_man;
                        sources[n_sources++] = img_cfg;
                }
        }
        sk_cap_op o = { .c = c, .snapshot = info->name };
        sk_backup_options bo = {
                .sources = sources,
                .n_sources = n_sources,
                .tags = all_tags,
                .n_tags = nt,
                .lock_wait_seconds = SK_CAPTURE_LOCK_WAIT_SECONDS,
                .progress = sk_cap_progress_cb,
                .problem = sk_cap_problem_cb,
                .userdata = &o,
        };
        sk_backup_result br = {};
        double t0 = sk_cap_mono_s();
        sk_event_ring_post(c->events, "backup-start", info->name, NULL, 0, 0, 0, "%s",
                           chain_id ? chain_id : "writable layer");
        r = sk_backup_run(c->repo, &bo, &br);
        sk_repo_trim(c->repo);  /* the parent's trees read ahead: not kept between backups */
        if (r < 0) {
                sk_cap_errorf(ret_error, "backup of %s failed: %s%s%s", info->name, strerror(-r),
                              *sk_repo_last_error(c->repo) ? ": " : "", sk_repo_last_error(c->repo));
                sk_event_ring_post(c->events, "error", info->name, NULL, 0, 0, 0, "backup failed: %s", strerror(-r));
                /* A failed write (a lost lock, a full store) is sticky in the
                 * handle, whose index may also name packs that never got an
                 * index file: the next backup opens a fresh one. */
                (void) sk_repo_flush(c->repo);
                sk_repo_free(c->repo);
                c->repo = NULL;
                return r;
        }
        r = put_records(c, br.id, info, chain_id, below, below_backups);
        if (r < 0) {
                sk_cap_errorf(ret_error, "backup of %s: cannot record it in the repository: %s", info->name,
                              strerror(-r));
                return r;
        }
        r = set_backup_labels(c, info->name, br.id);
        if (r < 0)
                sk_cap_log(c, SK_CAPTURE_LOG_WARNING, r, "cannot label %s with its backup id", info->name);

        memcpy(res->backup_id, br.id, sizeof(res->backup_id));
        res->bytes_read += br.bytes_read;
        res->blobs_added += br.blobs_added;
        res->errors += br.summary.errors;
        res->warnings += br.warnings;
        atomic_fetch_add(&c->backups_done, 1);
        sk_metric_add(c->m_read, NULL, (double) br.bytes_read);
        sk_metric_add(c->m_added, NULL, (double) br.summary.added_bytes);
        sk_metric_add(c->m_stored, NULL, (double) br.summary.added_stored);
        /* Between listings (open, prune, check) the size grows by what was added. */
        sk_metric_add(c->m_repo_size, NULL, (double) br.summary.added_stored);
        sk_cap_log(c, SK_CAPTURE_LOG_INFO, 0,
                   "backed up %s as %s (%" PRIu64 " bytes read, %" PRIu64 " new blobs, %.2f s)", info->name, br.id,
                   br.bytes_read, br.blobs_added, sk_cap_mono_s() - t0);
        sk_event_ring_post(c->events, "backup-done", info->name, br.id, br.summary.files, br.bytes_read,
                           br.summary.bytes, "%" PRIu64 " new blobs", br.blobs_added);
        return 0;
}

/* Make sure every layer of ch is in the repository; fill backups[i]. */
static int capture_chain(sk_capture *c, const sk_cap_chain *ch, char **backups, sk_capture_result *res,
                         char **ret_error) {
        for (size_t i = 0; i < ch->n; i++) {
                char id[65];
                int r = sk_cap_layer_lookup(c, c->repo, ch->ids[i], id);
                if (r < 0) {
                        sk_cap_errorf(ret_error, "cannot look up layer %s in the repository: %s", ch->ids[i],
                                      strerror(-r));
                        return r;
                }
                if (r == 0) {
                        sk_info info = {};
                        r = sk_snapshotter_stat(c->snap, ch->keys[i], &info);
                        if (r < 0) {
                                sk_cap_errorf(ret_error, "layer snapshot %s: %s", ch->keys[i], strerror(-r));
                                return r;
                        }
                        sk_cap_chain sub = { .ids = ch->ids, .keys = ch->keys, .n = i };
                        sk_capture_result lr = {};
                        r = backup_one(c, &info, ch->ids[i], &sub, backups, NULL, 0, NULL, &lr, ret_error);
                        sk_info_clear(&info);
                        if (r < 0)
                                return r;
                        memcpy(id, lr.backup_id, sizeof(id));
                        res->layers_captured++;
                        res->bytes_read += lr.bytes_read;
                        res->blobs_added += lr.blobs_added;
                        res->errors += lr.errors;
                        res->warnings += lr.warnings;
                } else
                        res->layers_reused++;
                if (!(backups[i] = strdup(id)))
                        return -ENOMEM;
        }
        return 0;
}

int sk_capture_backup(sk_capture *c, const char *key, const char *const *tags, size_t n_tags,
                      sk_capture_result *ret, char **ret_error) {
        sk_capture_result res = {};
        sk_info info = {};
        sk_cap_chain below = {};
        char **backups = NULL;
        double t0 = sk_cap_mono_s();
        snprintf(res.snapshot, sizeof(res.snapshot), "%s", key);

        int r = sk_snapshotter_stat(c->snap, key, &info);
        if (r < 0) {
                sk_cap_errorf(ret_error, "snapshot %s: %s", key, r == -ENOENT ? "not found" : strerror(-r));
                return r;
        }
        if (info.kind == SK_KIND_VIEW) {
                sk_cap_errorf(ret_error, "snapshot %s is a view: nothing to back up", key);
                sk_info_clear(&info);
                return -EPERM;
        }
        res.committed = info.kind == SK_KIND_COMMITTED;
        const char *chain_id = sk_cap_chain_id(&info);
        if (chain_id)
                snprintf(res.chain_id, sizeof(res.chain_id), "%s", chain_id);

        _cleanup_(ct_facts_clear) ct_facts facts = {};
        if (info.kind == SK_KIND_ACTIVE)
                ask_containerd(c, key, &facts);
        pthread_mutex_lock(&c->repo_mutex);
        r = sk_cap_open_repo(c, ret_error);
        if (r < 0)
                goto out;
        r = sk_cap_parent_chain(c, info.parent, &below, ret_error);
        if (r < 0)
                goto out;
        backups = calloc(below.n + 1, sizeof(char *));
        if (!backups) {
                r = -ENOMEM;
                goto out;
        }
        r = capture_chain(c, &below, backups, &res, ret_error);
        if (r < 0)
                goto out;
        if (chain_id) {
                char id[65];
                r = sk_cap_layer_lookup(c, c->repo, chain_id, id);
                if (r < 0)
                        goto out;
                if (r > 0) {
                        memcpy(res.backup_id, id, sizeof(id));
                        res.layers_reused++;
                        r = set_backup_labels(c, key, id);
                        r = 0;
                        goto out;
                }
        }
        r = backup_one(c, &info, chain_id, &below, backups, tags, n_tags, info.kind == SK_KIND_COMMITTED ? NULL : &facts,
                       &res, ret_error);
        if (r >= 0 && chain_id)
                res.layers_captured++;
out:
        pthread_mutex_unlock(&c->repo_mutex);
        if (backups)
                for (size_t i = 0; i < below.n; i++)
                        free(backups[i]);
        free(backups);
        sk_cap_chain_clear(&below);
        sk_info_clear(&info);
        sk_metric_add(c->m_backups, (const char *[]) { r < 0 ? "failed" : "succeeded" }, 1);
        if (r < 0)
                return r;
        res.seconds = sk_cap_mono_s() - t0;
        *ret = res;
        return 0;
}
