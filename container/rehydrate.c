/* Restoring from the repository: a container's writable layer into a new
 * snapshot inside Prepare (sk_capture_prepare_restore), an image layer as a
 * committed snapshot instead of containerd unpacking it
 * (sk_capture_prepare_layer), and a writable layer into a plain directory for
 * the control API (sk_capture_restore_dir). A snapshot being filled carries
 * the restoring marker until it is complete, so that a crash leaves nothing
 * that looks whole (sk_capture_sweep() removes it; see capture.h). */
#include "container/capture-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/manifest.h"
#include "backup/restore.h"
#include "container/selector.h"
#include "common/fsutil.h"

/* 0 if path (a restored "fs") is a directory itself, not a symlink to one
 * or anything else: -ELOOP for a symlink, -ENOTDIR otherwise. */
static int check_restored_dir(const char *path) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return negative_errno();
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Restore backup id's "fs" from repo into the directory tmp (anything there
 * first removed), as <tmp>/fs; o (for snapshot `name`) collects problems. */
static int restore_fs_into(sk_capture *c, sk_repo *repo, const char *id, const char *name, const char *tmp,
                           sk_cap_op *o, sk_restore_result *rr) {
        (void) sk_rm_rf(tmp);
        const char *includes[1] = { SK_CONTAINER_FS_DIR };
        *o = (sk_cap_op) { .c = c, .snapshot = name };
        sk_restore_options ro = {
                .target = tmp,
                .includes = includes,
                .n_includes = 1,
                .lock_wait_seconds = SK_CAPTURE_LOCK_WAIT_SECONDS,
                .progress = sk_cap_progress_cb,
                .problem = sk_cap_problem_cb,
                .userdata = o,
        };
        return sk_restore_run(repo, id, &ro, rr);
}

/* Make dir durable: one syncfs for every file below it, not an fsync each. */
static int sync_tree(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || syncfs(fd) < 0)
                return negative_errno();
        return 0;
}

/* Restore backup id's "fs" into <snapdir>/fs, which must be empty, reading
 * through repo (a restore handle, see repopool.h). */
static int rehydrate_fs(sk_capture *c, sk_repo *repo, const char *id, const char *key, const char *snapdir,
                        uint64_t *ret_bytes, char **ret_error) {
        _cleanup_free_ char *tmp = NULL, *fs = NULL, *from = NULL;
        if (asprintf(&tmp, "%s/.restore", snapdir) < 0 || asprintf(&fs, "%s/fs", snapdir) < 0 ||
            asprintf(&from, "%s/.restore/fs", snapdir) < 0)
                return -ENOMEM;
        sk_cap_op o;
        sk_restore_result rr = {};
        int r = restore_fs_into(c, repo, id, key, tmp, &o, &rr);
        if (r < 0) {
                if (o.first_error[0])
                        sk_cap_errorf(ret_error, "restoring backup %s failed: %" PRIu64 " entries failed, first: %s",
                                      id, o.errors, o.first_error);
                else
                        sk_cap_errorf(ret_error, "restoring backup %s failed: %s%s%s", id, strerror(-r),
                                      *sk_repo_last_error(repo) ? ": " : "", sk_repo_last_error(repo));
                goto fail;
        }
        /* The snapshot's fs is mounted (upper dir or bind source): a
         * symlink there would be followed by the kernel to any host path. */
        r = check_restored_dir(from);
        if (r < 0) {
                sk_cap_errorf(ret_error, "restoring backup %s: its fs is not a directory%s", id,
                              r == -ELOOP ? " (a symbolic link)" : "");
                goto fail;
        }
        if (rmdir(fs) < 0 && errno != ENOENT) {
                r = negative_errno();
                sk_cap_errorf(ret_error, "snapshot %s: cannot replace its empty fs: %s", key, strerror(-r));
                goto fail;
        }
        if (rename(from, fs) < 0) {
                r = negative_errno();
                sk_cap_errorf(ret_error, "snapshot %s: cannot move the restored fs in place: %s", key, strerror(-r));
                goto fail;
        }
        (void) rmdir(tmp);
        /* Prepare acknowledges the restored data to containerd: make every
         * restored file durable first. */
        r = sync_tree(fs);
        if (r < 0) {
                sk_cap_errorf(ret_error, "snapshot %s: cannot sync the restored files: %s", key, strerror(-r));
                goto fail;
        }
        (void) sk_fsync_path_dir(fs);
        if (ret_bytes)
                *ret_bytes = rr.bytes;
        return 0;
fail:
        (void) sk_rm_rf(tmp);
        return r;
}

/* labels + the restoring marker, in a new array (shallow). */
static sk_label *with_marker(const sk_label *labels, size_t n, size_t *ret_n) {
        sk_label *l = calloc(n + 1, sizeof(sk_label));
        if (!l)
                return NULL;
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
                if (strcmp(labels[i].key, SK_LABEL_RESTORING) != 0)
                        l[w++] = labels[i];
        l[w++] = (sk_label) { (char *) SK_LABEL_RESTORING, (char *) "1" };
        *ret_n = w;
        return l;
}

/* The restore is complete: the restoring marker goes, and the snapshot says
 * which backup it holds (SK_LABEL_RESTORED, which clients cannot set: a
 * client such as `restore --as-image` checks it to know snapkeepd, not some
 * other snapshotter that ignores the restore label, made the snapshot). */
static int drop_marker(sk_capture *c, const char *key, const char *id) {
        sk_label l[2] = { { (char *) SK_LABEL_RESTORING, (char *) "" }, { (char *) SK_LABEL_RESTORED, (char *) id } };
        const char *paths[2] = { "labels." SK_LABEL_RESTORING, "labels." SK_LABEL_RESTORED };
        sk_info in = { .name = (char *) key, .labels = l, .n_labels = 2 };
        sk_info out = {};
        int r = sk_snapshotter_update(c->snap, &in, paths, 2, &out);
        if (r >= 0)
                sk_info_clear(&out);
        return r;
}

/* Prepare snapshot key on parent, carrying labels and the restoring marker,
 * and fill its fs with backup id's through repo. *created says whether the
 * snapshot exists (the caller removes it on failure); *ret gets its mounts. */
static int prepare_filled(sk_capture *c, sk_repo *repo, const char *key, const char *parent, const sk_label *labels,
                          size_t n_labels, const char *id, sk_mounts *ret, bool *created, uint64_t *ret_bytes,
                          char **ret_error) {
        size_t nl;
        _cleanup_free_ sk_label *l = with_marker(labels, n_labels, &nl);
        if (!l)
                return -ENOMEM;
        int r = sk_snapshotter_prepare(c->snap, key, parent, l, nl, ret);
        if (r < 0) {
                sk_cap_errorf(ret_error, "prepare %s: %s", key, strerror(-r));
                return r;
        }
        *created = true;
        uint64_t snap_id;
        _cleanup_free_ char *dir = NULL;
        r = sk_snapshotter_dir(c->snap, key, &snap_id, &dir);
        if (r < 0) {
                sk_cap_errorf(ret_error, "snapshot %s: %s", key, strerror(-r));
                return r;
        }
        return rehydrate_fs(c, repo, id, key, dir, ret_bytes, ret_error);
}

int sk_capture_prepare_restore(sk_capture *c, const char *key, const char *parent, const sk_label *labels,
                               size_t n_labels, const char *backup_id, sk_mounts *ret, char **ret_error) {
        sk_container_record rec = {};
        sk_cap_chain pc = {};
        sk_mounts m = {};
        char id[SK_BACKUP_ID_HEX + 1] = "";
        sk_repo *repo = NULL;
        bool created = false;
        double t0 = sk_cap_mono_s();
        int r;

        r = sk_repo_pool_begin(c->restores, &repo, ret_error);
        if (r < 0)
                goto out;
        r = sk_selector_resolve(repo, backup_id, id);
        if (r < 0) {
                sk_cap_errorf(ret_error, "restore: backup %s: %s", backup_id,
                              r == -ENOENT     ? "not found in the repository"
                              : r == -ENOTUNIQ ? "ambiguous prefix"
                                               : strerror(-r));
                goto out;
        }
        char why[256];
        r = sk_cap_record_load(c, repo, id, &rec, why);
        if (r < 0) {
                sk_cap_errorf(ret_error, "restore: backup %s is not a snapkeep container backup (%s)", id, why);
                goto out;
        }
        if (rec.committed) {
                sk_cap_errorf(ret_error, "restore: backup %s is an image layer (%s), not a writable layer", id,
                              rec.chain_id ? rec.chain_id : "-");
                r = -EINVAL;
                goto out;
        }
        r = sk_cap_parent_chain(c, parent, &pc, ret_error);
        if (r < 0)
                goto out;
        if (!sk_container_record_same_chain(&rec, pc.ids, pc.n)) {
                sk_cap_errorf(ret_error,
                              "restore: the image differs: backup %s was taken on a chain of %zu layers with top %s, "
                              "but the new snapshot's image has %zu layers with top %s",
                              id, rec.n_layers, rec.n_layers ? rec.layers[rec.n_layers - 1].chain_id : "(none)", pc.n,
                              pc.n ? pc.ids[pc.n - 1] : "(none)");
                r = -EXDEV;
                goto out;
        }

        sk_event_ring_post(c->events, "restore-start", key, id, 0, 0, 0, "restoring writable layer");
        uint64_t bytes = 0;
        r = prepare_filled(c, repo, key, parent, labels, n_labels, id, &m, &created, &bytes, ret_error);
        if (r < 0)
                goto out;
        r = drop_marker(c, key, id);
        if (r < 0) {
                sk_cap_errorf(ret_error, "snapshot %s: cannot clear the restoring mark: %s", key, strerror(-r));
                goto out;
        }
        atomic_fetch_add(&c->restores_done, 1);
        sk_cap_log(c, SK_CAPTURE_LOG_INFO, 0, "restored backup %s into %s (%" PRIu64 " bytes, %.2f s)", id, key, bytes,
                   sk_cap_mono_s() - t0);
        sk_event_ring_post(c->events, "restore-done", key, id, 0, bytes, bytes, "restored");
        *ret = m;
        m = (sk_mounts) {};
        r = 0;
out:
        if (r < 0) {
                if (created)
                        (void) sk_cap_remove_half_restored(c, key);
                const char *why_failed = ret_error && *ret_error ? *ret_error : strerror(-r);
                sk_event_ring_post(c->events, "error", key, id, 0, 0, 0, "%s", why_failed);
                sk_cap_log(c, SK_CAPTURE_LOG_ERROR, 0, "%s", why_failed);
        }
        if (repo)
                sk_repo_pool_end(c->restores, repo);
        sk_cap_metric_restore(c, r >= 0, sk_cap_mono_s() - t0);
        sk_mounts_free(&m);
        sk_cap_chain_clear(&pc);
        sk_container_record_clear(&rec);
        return r;
}

/* Whether the repository holds layer chain_id (its backup id into id) on
 * the chain below parent, so that it can be rehydrated in its place. Every
 * "no" is logged and answered 0: containerd then unpacks the layer. */
static bool layer_available(sk_capture *c, sk_repo *repo, const char *parent, const char *chain_id,
                            char id[SK_BACKUP_ID_HEX + 1]) {
        int r = sk_cap_layer_lookup(c, repo, chain_id, id);
        if (r < 0)
                sk_cap_log(c, SK_CAPTURE_LOG_WARNING, r, "cannot look up layer %s in the repository", chain_id);
        else if (r == 0)
                sk_cap_log(c, SK_CAPTURE_LOG_DEBUG, 0, "layer %s is not in the repository, containerd unpacks it",
                           chain_id);
        if (r <= 0)
                return false;
        /* The layer's own record lists the chain below it: it must be the
         * requested parent's chain, or containerd's parent check fails. */
        sk_container_record rec = {};
        sk_cap_chain pc = {};
        r = sk_cap_record_load(c, repo, id, &rec, NULL);
        if (r >= 0)
                r = sk_cap_parent_chain(c, parent, &pc, NULL);
        bool same = r >= 0 && sk_container_record_same_chain(&rec, pc.ids, pc.n);
        if (r < 0)
                sk_cap_log(c, SK_CAPTURE_LOG_WARNING, r, "layer %s: cannot compare parent chains, unpacking instead",
                           chain_id);
        else if (!same)
                sk_cap_log(c, SK_CAPTURE_LOG_WARNING, 0,
                           "layer %s: backup %s has a different parent chain, unpacking instead", chain_id, id);
        sk_cap_chain_clear(&pc);
        sk_container_record_clear(&rec);
        return same;
}

int sk_capture_prepare_layer(sk_capture *c, const char *key, const char *parent, const sk_label *labels,
                             size_t n_labels, const char *chain_id, char **ret_error) {
        char id[SK_BACKUP_ID_HEX + 1] = "";
        sk_repo *repo = NULL;
        _cleanup_free_ char *name = NULL;
        _cleanup_free_ sk_label *cl = NULL;
        sk_mounts m = {};
        bool created = false;
        double t0 = sk_cap_mono_s();
        int r;

        if (!c->remote_layers || !c->url)
                return 0;
        if (!sk_chain_id_valid(chain_id)) {
                sk_cap_log(c, SK_CAPTURE_LOG_DEBUG, 0, "prepare %s: snapshot.ref %s is not a chain id", key, chain_id);
                return 0;
        }
        /* key is "NS/N/extract-... <chainID>": the layer becomes "NS/N/<chainID>". */
        const char *s1 = strchr(key, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s2)
                return 0;

        r = sk_repo_pool_begin(c->restores, &repo, NULL);
        if (r < 0) {
                sk_cap_log(c, SK_CAPTURE_LOG_DEBUG, r,
                           "layer %s: no usable repository or no free restore slot, containerd unpacks it", chain_id);
                return 0; /* containerd unpacks as usual */
        }
        if (!layer_available(c, repo, parent, chain_id, id)) {
                r = 0;
                goto out;
        }

        if (asprintf(&name, "%.*s%s", (int) (s2 - key + 1), key, chain_id) < 0) {
                name = NULL;
                r = -ENOMEM;
                goto out;
        }
        cl = calloc(n_labels + 3, sizeof(sk_label));
        if (!cl) {
                r = -ENOMEM;
                goto out;
        }
        size_t ncl = 0;
        for (size_t i = 0; i < n_labels; i++)
                if (strcmp(labels[i].key, SK_LABEL_RESTORING) != 0 &&
                    strcmp(labels[i].key, SK_LABEL_SNAPSHOT_REF) != 0 &&
                    strcmp(labels[i].key, SK_LABEL_LAYER_BACKUP) != 0)
                        cl[ncl++] = labels[i];
        cl[ncl++] = (sk_label) { (char *) SK_LABEL_SNAPSHOT_REF, (char *) chain_id };
        cl[ncl++] = (sk_label) { (char *) SK_LABEL_LAYER_BACKUP, id };

        sk_event_ring_post(c->events, "restore-start", key, id, 0, 0, 0, "rehydrating layer %s", chain_id);
        uint64_t bytes = 0;
        r = prepare_filled(c, repo, key, parent, labels, n_labels, id, &m, &created, &bytes, ret_error);
        if (r < 0)
                goto out;
        r = sk_snapshotter_commit(c->snap, name, key, cl, ncl);
        if (r < 0) {
                sk_cap_errorf(ret_error, "layer %s: cannot commit it as %s: %s", chain_id, name, strerror(-r));
                goto out;
        }
        created = false;
        atomic_fetch_add(&c->layers_rehydrated, 1);
        sk_cap_log(c, SK_CAPTURE_LOG_INFO, 0, "layer %s rehydrated from backup %s as %s (%" PRIu64 " bytes, %.2f s)",
                   chain_id, id, name, bytes, sk_cap_mono_s() - t0);
        sk_event_ring_post(c->events, "layer-done", name, id, 0, bytes, bytes, "layer %s rehydrated", chain_id);
        r = 1;
out:
        if (r < 0) {
                if (created)
                        (void) sk_cap_remove_half_restored(c, key);
                sk_cap_log(c, SK_CAPTURE_LOG_ERROR, 0, "layer %s: rehydration failed: %s", chain_id,
                           ret_error && *ret_error ? *ret_error : strerror(-r));
                sk_event_ring_post(c->events, "error", key, id, 0, 0, 0, "layer %s: rehydration failed", chain_id);
        }
        sk_repo_pool_end(c->restores, repo);
        sk_mounts_free(&m);
        return r;
}

int sk_capture_restore_dir(sk_capture *c, const char *backup_id, const char *target, uint64_t *ret_files,
                           uint64_t *ret_bytes, char **ret_error) {
        char id[SK_BACKUP_ID_HEX + 1];
        _cleanup_free_ char *tmp = NULL, *from = NULL;
        struct stat st;
        int r;
        if (!target || target[0] != '/') {
                sk_cap_errorf(ret_error, "restore: target must be an absolute path");
                return -EINVAL;
        }
        if (lstat(target, &st) == 0) {
                sk_cap_errorf(ret_error, "restore: %s already exists", target);
                return -EEXIST;
        }
        if (asprintf(&tmp, "%s.sk-restore", target) < 0 || asprintf(&from, "%s.sk-restore/fs", target) < 0)
                return -ENOMEM;
        pthread_mutex_lock(&c->repo_mutex);
        r = sk_cap_open_repo(c, ret_error);
        if (r < 0)
                goto out;
        r = sk_selector_resolve(c->repo, backup_id, id);
        if (r < 0) {
                sk_cap_errorf(ret_error, "restore: backup %s: %s", backup_id, strerror(-r));
                goto out;
        }
        sk_cap_op o;
        sk_restore_result rr = {};
        r = restore_fs_into(c, c->repo, id, target, tmp, &o, &rr);
        if (r < 0) {
                sk_cap_errorf(ret_error, "restore of %s failed: %s", id,
                              o.first_error[0] ? o.first_error : strerror(-r));
                (void) sk_rm_rf(tmp);
                goto out;
        }
        r = check_restored_dir(from);
        if (r < 0) {
                sk_cap_errorf(ret_error, "restore of %s: its fs is not a directory%s", id,
                              r == -ELOOP ? " (a symbolic link)" : "");
                (void) sk_rm_rf(tmp);
                goto out;
        }
        if (rename(from, target) < 0) {
                r = negative_errno();
                sk_cap_errorf(ret_error, "restore: cannot move into %s: %s", target, strerror(-r));
                (void) sk_rm_rf(tmp);
                goto out;
        }
        (void) rmdir(tmp);
        *ret_files = rr.files;
        *ret_bytes = rr.bytes;
        r = 0;
out:
        pthread_mutex_unlock(&c->repo_mutex);
        return r;
}
