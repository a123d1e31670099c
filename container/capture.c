/* The capture handle: its options and repository handle, status and events,
 * and what backup and rehydration both need (parent chains, the layers/ and
 * containers/ records, progress and problem callbacks, logging through the
 * options' callback); listing, resolving keys and the sweep at start. Backing
 * up is capture-backup.c, restoring rehydrate.c (see capture.h). */
#include "container/capture-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/manifest.h"
#include "common/pace.h"
#include "repo/keyring.h"

/* --- small helpers ---------------------------------------------------------- */

void sk_cap_log(sk_capture *c, int level, int err, const char *fmt, ...) {
        if (!c->log)
                return;
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (err != 0 && n >= 0 && (size_t) n < sizeof(msg))
                snprintf(msg + n, sizeof(msg) - (size_t) n, ": %s", strerror(abs(err)));
        c->log(level, msg, c->log_userdata);
}

int sk_cap_errorf(char **ret_error, const char *fmt, ...) {
        if (ret_error && !*ret_error) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return 0;
}

double sk_cap_mono_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

size_t sk_capture_events(sk_capture *c, uint64_t since, unsigned wait_ms, sk_capture_event *out, size_t max) {
        return sk_event_ring_read(c->events, since, wait_ms, out, max);
}

void sk_capture_get_status(sk_capture *c, sk_capture_status *ret) {
        sk_capture_status st = {
                .remote_layers = c->remote_layers,
                .backups_done = atomic_load(&c->backups_done),
                .restores_done = atomic_load(&c->restores_done),
                .layers_rehydrated = atomic_load(&c->layers_rehydrated),
                .last_event = sk_event_ring_last(c->events),
        };
        /* Without waiting for a running backup: a racy read of a pointer is
         * enough for a status line. */
        if (pthread_mutex_trylock(&c->repo_mutex) == 0) {
                st.repo_open = c->repo != NULL;
                snprintf(st.repo_error, sizeof(st.repo_error), "%s", c->repo_error);
                pthread_mutex_unlock(&c->repo_mutex);
        } else
                st.repo_open = true;
        *ret = st;
}

/* --- lifecycle ---------------------------------------------------------------- */

static int open_restore_handle(void *userdata, sk_repo **ret, char **ret_error);

/* --- metrics -------------------------------------------------------------------- */

/* Restores take from a second (a small writable layer) to many minutes. */
static const double restore_buckets[] = { 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600 };

#define RESULT { "result", NULL }
#define DEF(field, ...) { offsetof(sk_capture, field), __VA_ARGS__ }
static const sk_metric_def families[] = {
        DEF(m_read, "snapkeep_backup_read_bytes_total",
            "Content bytes read from snapshots by backups (unchanged files are not read).", SK_METRIC_COUNTER),
        DEF(m_added, "snapkeep_backup_added_bytes_total",
            "Plaintext bytes of data new to the repository, added by backups.", SK_METRIC_COUNTER),
        DEF(m_stored, "snapkeep_backup_stored_bytes_total",
            "Bytes backups added to the repository's packs (compressed and sealed).", SK_METRIC_COUNTER),
        DEF(m_backups, "snapkeep_snapshot_backups_total", "Backups of snapshots (scheduled or asked for), by result.",
            SK_METRIC_COUNTER, RESULT),
        DEF(m_restores, "snapkeep_restores_total", "Restores of containers' writable layers from backups, by result.",
            SK_METRIC_COUNTER, RESULT),
        DEF(m_restore_seconds, "snapkeep_restore_duration_seconds", "Time a successful restore of a writable layer took.",
            SK_METRIC_HISTOGRAM, {}, restore_buckets, ARRAY_SIZE(restore_buckets)),
        DEF(m_repo_size, "snapkeep_repository_size_bytes",
            "Bytes of packs in the repository: as listed when this daemon opened it and after each prune or check it "
            "ran, plus what its backups added since.",
            SK_METRIC_GAUGE),
};

static int add_metrics(sk_capture *c, sk_metrics *m) {
        int r = sk_metrics_add_defs(m, families, ARRAY_SIZE(families), c);
        if (r < 0)
                return r;
        for (int ok = 0; ok < 2; ok++) {
                sk_metric_touch(c->m_backups, (const char *[]) { ok ? "succeeded" : "failed" });
                sk_metric_touch(c->m_restores, (const char *[]) { ok ? "succeeded" : "failed" });
        }
        sk_metric_touch(c->m_read, NULL);
        sk_metric_touch(c->m_added, NULL);
        sk_metric_touch(c->m_stored, NULL);
        return 0;
}

void sk_cap_metric_restore(sk_capture *c, bool ok, double seconds) {
        sk_metric_add(c->m_restores, (const char *[]) { ok ? "succeeded" : "failed" }, 1);
        if (ok)
                sk_metric_observe(c->m_restore_seconds, NULL, seconds);
}

void sk_cap_metric_repo_size(sk_capture *c) {
        sk_repo_stats st;
        if (c->m_repo_size && c->repo && sk_repo_get_stats(c->repo, &st) >= 0) {
                sk_metric_set(c->m_repo_size, NULL, (double) st.pack_bytes);
                c->repo_size_listed = true;
        }
}

int sk_capture_new(sk_snapshotter *snap, const sk_capture_options *opts, sk_capture **ret) {
        sk_capture *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->snap = snap;
        c->remote_layers = opts->remote_layers;
        c->store = opts->store;
        c->log = opts->log;
        c->log_userdata = opts->log_userdata;
        c->identify = opts->identify;
        c->image = opts->image;
        c->containerd_userdata = opts->containerd_userdata;
        pthread_mutex_init(&c->repo_mutex, NULL);
        if (opts->metrics && add_metrics(c, opts->metrics) < 0) {
                sk_capture_free(c);
                return -ENOMEM;
        }
        if ((opts->repo_url && !(c->url = strdup(opts->repo_url))) ||
            (opts->password_file && !(c->password_file = strdup(opts->password_file))) ||
            (opts->key_file && !(c->key_file = strdup(opts->key_file))) || sk_event_ring_new(&c->events) < 0 ||
            sk_repo_pool_new(opts->max_restores ? MIN(opts->max_restores, SK_CAPTURE_RESTORES_MAX) : 1,
                             open_restore_handle, c, &c->restores) < 0) {
                sk_capture_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

void sk_capture_free(sk_capture *c) {
        if (!c)
                return;
        if (c->repo) {
                (void) sk_repo_flush(c->repo);
                sk_repo_free(c->repo);
        }
        sk_repo_pool_free(c->restores);
        sk_event_ring_free(c->events);
        pthread_mutex_destroy(&c->repo_mutex);
        free(c->url);
        free(c->password_file);
        free(c->key_file);
        free(c);
}

/* A new handle on the repository. A short reason goes to status (size
 * bytes, may be NULL) for daemon status. */
static int open_handle(sk_capture *c, sk_repo **ret, char **ret_error, char *status, size_t size) {
        if (!c->url) {
                sk_cap_errorf(ret_error, "no repository configured (repo = ... in snapkeepd.conf or --repo)");
                return -ENOMEDIUM;
        }
        if (!c->key_file && !c->password_file) {
                sk_cap_errorf(ret_error, "no secret for repository %s: set password_file or key_file", c->url);
                if (status)
                        snprintf(status, size, "no password_file or key_file configured");
                return -ENOKEY;
        }
        sk_secret *secret = NULL;
        int r = c->key_file ? sk_secret_from_file(SK_SECRET_KEYFILE, c->key_file, &secret)
                            : sk_secret_from_file(SK_SECRET_PASSPHRASE, c->password_file, &secret);
        if (r < 0) {
                sk_cap_errorf(ret_error, "cannot read the secret from %s: %s",
                              c->key_file ? c->key_file : c->password_file, strerror(-r));
                if (status)
                        snprintf(status, size, "cannot read secret: %s", strerror(-r));
                return r;
        }
        sk_repo *repo = NULL;
        r = sk_repo_open_store(c->url, &c->store, secret, &repo);
        sk_secret_free(secret);
        if (r < 0) {
                const char *why = r == -EKEYREJECTED ? "wrong passphrase or key file"
                                  : r == -ENOENT     ? "no repository there"
                                                     : strerror(-r);
                sk_cap_errorf(ret_error, "cannot open repository %s: %s%s%s", c->url, why,
                              *sk_repo_last_error(NULL) ? ": " : "", sk_repo_last_error(NULL));
                if (status)
                        snprintf(status, size, "%s", why);
                return r == -ENOENT ? -ENOMEDIUM : r;
        }
        *ret = repo;
        return 0;
}

static int open_restore_handle(void *userdata, sk_repo **ret, char **ret_error) {
        return open_handle(userdata, ret, ret_error, NULL, 0);
}

int sk_cap_open_repo(sk_capture *c, char **ret_error) {
        if (c->repo)
                return 0;
        int r = open_handle(c, &c->repo, ret_error, c->repo_error, sizeof(c->repo_error));
        if (r < 0)
                return r;
        c->repo_error[0] = '\0';
        sk_cap_log(c, SK_CAPTURE_LOG_INFO, 0, "opened repository %s", c->url);
        /* A listing at the first open only: the handle is reopened after
         * every failed backup, and on S3 a listing is many requests; after
         * that, backups add to the gauge and prune and check list again. */
        if (!c->repo_size_listed)
                sk_cap_metric_repo_size(c);
        return 0;
}

int sk_capture_open_repo(sk_capture *c) {
        char *error = NULL;
        pthread_mutex_lock(&c->repo_mutex);
        int r = c->url ? sk_cap_open_repo(c, &error) : 0;
        pthread_mutex_unlock(&c->repo_mutex);
        if (r < 0)
                sk_cap_log(c, SK_CAPTURE_LOG_INFO, 0, "repository not opened yet: %s", error ? error : strerror(-r));
        free(error);
        /* Restores use handles of their own: park one, so that the first
         * restore does not pay for opening either. */
        sk_repo *h = NULL;
        if (r >= 0 && c->url && sk_repo_pool_begin(c->restores, &h, NULL) >= 0)
                sk_repo_pool_end(c->restores, h);
        return 0;
}

/* --- names, chains and objects ---------------------------------------------- */

static const char *label_get(const sk_label *l, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(l[i].key, key) == 0)
                        return l[i].value;
        return NULL;
}

const char *sk_cap_chain_id(const sk_info *info) {
        if (info->kind != SK_KIND_COMMITTED)
                return NULL;
        const char *ref = label_get(info->labels, info->n_labels, SK_LABEL_SNAPSHOT_REF);
        if (ref && sk_chain_id_valid(ref))
                return ref;
        const char *last = info->name ? strrchr(info->name, '/') : NULL;
        last = last ? last + 1 : info->name;
        if (last && strncmp(last, "sha256:", 7) == 0 && sk_chain_id_valid(last))
                return last;
        return NULL;
}

void sk_cap_chain_clear(sk_cap_chain *ch) {
        for (size_t i = 0; i < ch->n; i++) {
                free(ch->ids[i]);
                free(ch->keys[i]);
        }
        free(ch->ids);
        free(ch->keys);
        *ch = (sk_cap_chain) {};
}

int sk_cap_parent_chain(sk_capture *c, const char *parent, sk_cap_chain *ret, char **ret_error) {
        sk_cap_chain ch = {};
        char *cur = parent && *parent ? strdup(parent) : NULL;
        int r = 0;
        if (parent && *parent && !cur)
                return -ENOMEM;
        while (cur) {
                sk_info info = {};
                r = sk_snapshotter_stat(c->snap, cur, &info);
                if (r < 0) {
                        sk_cap_errorf(ret_error, "parent snapshot %s: %s", cur, strerror(-r));
                        free(cur);
                        break;
                }
                const char *id = sk_cap_chain_id(&info);
                if (!id) {
                        sk_cap_errorf(ret_error, "snapshot %s below has no layer chain id", cur);
                        sk_info_clear(&info);
                        free(cur);
                        r = -EMEDIUMTYPE;
                        break;
                }
                char **ids = realloc(ch.ids, (ch.n + 1) * sizeof(char *));
                if (ids)
                        ch.ids = ids;
                char **keys = realloc(ch.keys, (ch.n + 1) * sizeof(char *));
                if (keys)
                        ch.keys = keys;
                char *idc = strdup(id);
                if (!ids || !keys || !idc) {
                        free(idc);
                        free(cur);
                        sk_info_clear(&info);
                        r = -ENOMEM;
                        break;
                }
                ch.ids[ch.n] = idc;
                ch.keys[ch.n] = cur;
                ch.n++;
                cur = NULL;
                if (info.parent && *info.parent && !(cur = strdup(info.parent)))
                        r = -ENOMEM;
                sk_info_clear(&info);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                sk_cap_chain_clear(&ch);
                return r;
        }
        /* Collected top first: reverse. */
        for (size_t i = 0; i < ch.n / 2; i++) {
                char *t = ch.ids[i];
                ch.ids[i] = ch.ids[ch.n - 1 - i];
                ch.ids[ch.n - 1 - i] = t;
                t = ch.keys[i];
                ch.keys[i] = ch.keys[ch.n - 1 - i];
                ch.keys[ch.n - 1 - i] = t;
        }
        *ret = ch;
        return 0;
}

int sk_cap_layer_lookup(sk_capture *c, sk_repo *repo, const char *chain_id, char ret_id[65]) {
        char name[SK_CHAIN_ID_MAX + 1];
        if (sk_layer_object_name(chain_id, name) < 0)
                return 0;
        void *buf = NULL;
        size_t len = 0;
        int r = sk_repo_get_object(repo, SK_LAYER_OBJ_DIR, name, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = sk_layer_object_decode(buf, len, ret_id);
        free(buf);
        if (r < 0) {
                sk_cap_log(c, SK_CAPTURE_LOG_WARNING, 0, "object " SK_LAYER_OBJ_DIR "/%s: not \"<backup id>\\n\"",
                           name);
                return r;
        }
        /* A layer backup removed by `snapkeep forget` no longer counts: the
         * layer is captured again rather than referred to. */
        r = sk_repo_get_object(repo, "backups", ret_id, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        free(buf);
        return 1;
}

int sk_cap_record_load(sk_capture *c, sk_repo *repo, const char *id, sk_container_record *ret, char why[256]) {
        _cleanup_free_ void *buf = NULL;
        size_t len = 0;
        char detail[256];
        int r = sk_repo_get_object(repo, SK_CONTAINER_OBJ_DIR, id, &buf, &len);
        if (r < 0)
                snprintf(detail, sizeof(detail), "%s",
                         r == -ENOENT ? "no " SK_CONTAINER_OBJ_DIR "/ record" : strerror(-r));
        else {
                r = sk_container_record_decode(buf, len, ret, detail, sizeof(detail));
                if (r == -EBADMSG || r == -EPROTONOSUPPORT)
                        sk_cap_log(c, SK_CAPTURE_LOG_WARNING, 0, "object " SK_CONTAINER_OBJ_DIR "/%s: %s", id, detail);
                else if (r < 0)
                        snprintf(detail, sizeof(detail), "%s", strerror(-r));
        }
        if (r < 0 && why)
                memcpy(why, detail, sizeof(detail));
        return r;
}

/* --- progress and problems of one operation ---------------------------------------- */

void sk_capture_cancel(sk_capture *c) {
        /* What drains after the cancel (queued chunks, the last pack) is not
         * paced for CPU any more: the stop must not wait on a busy node's
         * pacing (common/pace.h). The hold is never released: only
         * snapkeepd's stop cancels. */
        if (!atomic_exchange(&c->cancelled, true))
                sk_pace_hold(true);
}

int sk_cap_progress_cb(const sk_progress *p, void *userdata) {
        sk_cap_op *o = userdata;
        if (atomic_load(&o->c->cancelled))
                return -ECANCELED;
        double t = sk_cap_mono_s();
        if (t - o->last_progress >= 0.25) {
                o->last_progress = t;
                sk_event_ring_post(o->c->events, "progress", o->snapshot, NULL, p->files_done, p->bytes_done,
                                   p->bytes_total, "%s", p->phase == SK_PHASE_RESTORE ? "restore" : "backup");
        }
        return 0;
}

void sk_cap_problem_cb(const sk_problem *p, void *userdata) {
        sk_cap_op *o = userdata;
        if (p->kind == SK_PROBLEM_ERROR) {
                o->errors++;
                if (!o->first_error[0])
                        snprintf(o->first_error, sizeof(o->first_error), "%s%s%s (%s)", p->path ? p->path : "",
                                 p->path ? ": " : "", p->detail ? p->detail : strerror(-p->error),
                                 strerror(-p->error));
        } else
                o->warnings++;
        sk_cap_log(o->c, SK_CAPTURE_LOG_WARNING, 0, "%s: %s%s%s", o->snapshot, p->path ? p->path : "",
                   p->path ? ": " : "", p->detail ? p->detail : strerror(-p->error));
}

/* --- resolving keys ------------------------------------------------------------------ */

typedef struct key_list {
        char **keys;
        size_t n;
        const char *ns, *id; /* find_container()'s query */
} key_list;

static int key_list_add(key_list *kl, const char *key) {
        char **k = realloc(kl->keys, (kl->n + 2) * sizeof(char *));
        if (!k)
                return -ENOMEM;
        kl->keys = k;
        if (!(k[kl->n] = strdup(key)))
                return -ENOMEM;
        k[++kl->n] = NULL;
        return 0;
}

static void key_list_free(key_list *kl) {
        for (size_t i = 0; i < kl->n; i++)
                free(kl->keys[i]);
        free(kl->keys);
}

/* "NS/<digits>/NAME" -> true when NS and NAME match. */
static bool key_matches(const char *key, const char *ns, const char *name) {
        size_t nl = strlen(ns);
        if (strncmp(key, ns, nl) != 0 || key[nl] != '/')
                return false;
        const char *p = key + nl + 1;
        if (*p < '0' || *p > '9')
                return false;
        while (*p >= '0' && *p <= '9')
                p++;
        return *p == '/' && strcmp(p + 1, name) == 0;
}

static int find_container(const sk_info *info, void *userdata) {
        key_list *kl = userdata;
        if (info->kind != SK_KIND_ACTIVE || !key_matches(info->name, kl->ns, kl->id))
                return 0;
        return key_list_add(kl, info->name);
}

int sk_capture_resolve_container(sk_capture *c, const char *ns, const char *id, char **ret) {
        key_list kl = { .ns = ns && *ns ? ns : "default", .id = id };
        int r = sk_snapshotter_walk(c->snap, find_container, &kl);
        if (r >= 0 && kl.n == 0)
                r = -ENOENT;
        if (r >= 0 && kl.n > 1)
                r = -ENOTUNIQ;
        if (r >= 0) {
                *ret = kl.keys[0];
                kl.keys[0] = NULL;
                kl.n = 0;
        }
        key_list_free(&kl);
        return r;
}

static int collect_all(const sk_info *info, void *userdata) {
        key_list *kl = userdata;
        if (label_get(info->labels, info->n_labels, SK_LABEL_RESTORING))
                return 0;
        if (info->kind == SK_KIND_ACTIVE)
                return key_list_add(kl, info->name);
        if (info->kind == SK_KIND_COMMITTED && sk_cap_chain_id(info)) {
                /* Checked against the repository after the walk. */
                return key_list_add(kl, info->name);
        }
        return 0;
}

int sk_capture_keys_for_all(sk_capture *c, char ***ret, size_t *ret_n) {
        key_list kl = {};
        int r = sk_snapshotter_walk(c->snap, collect_all, &kl);
        if (r < 0) {
                key_list_free(&kl);
                return r;
        }
        /* Committed layers already in the repository are left out. */
        pthread_mutex_lock(&c->repo_mutex);
        r = sk_cap_open_repo(c, NULL);
        size_t w = 0;
        for (size_t i = 0; i < kl.n; i++) {
                sk_info info = {};
                bool keep = true;
                if (r >= 0 && sk_snapshotter_stat(c->snap, kl.keys[i], &info) >= 0) {
                        const char *cid = sk_cap_chain_id(&info);
                        char id[65];
                        if (cid && sk_cap_layer_lookup(c, c->repo, cid, id) > 0)
                                keep = false;
                        sk_info_clear(&info);
                }
                if (keep)
                        kl.keys[w++] = kl.keys[i];
                else
                        free(kl.keys[i]);
        }
        pthread_mutex_unlock(&c->repo_mutex);
        kl.n = w;
        if (kl.keys)
                kl.keys[w] = NULL;
        *ret = kl.keys;
        *ret_n = kl.n;
        return 0;
}

/* --- the sweep at start ------------------------------------------------------------- */

int sk_cap_remove_half_restored(sk_capture *c, const char *key) {
        int r = sk_snapshotter_remove(c->snap, key);
        if (r < 0)
                sk_cap_log(c, SK_CAPTURE_LOG_ERROR, r, "cannot remove half-restored snapshot %s", key);
        return r;
}

static int collect_marked(const sk_info *info, void *userdata) {
        key_list *kl = userdata;
        if (!label_get(info->labels, info->n_labels, SK_LABEL_RESTORING))
                return 0;
        return key_list_add(kl, info->name);
}

int sk_capture_sweep(sk_capture *c) {
        key_list kl = {};
        int r = sk_snapshotter_walk(c->snap, collect_marked, &kl);
        int removed = 0;
        for (size_t i = 0; r >= 0 && i < kl.n; i++) {
                if (sk_cap_remove_half_restored(c, kl.keys[i]) >= 0) {
                        sk_cap_log(c, SK_CAPTURE_LOG_INFO, 0, "removed half-restored snapshot %s (interrupted restore)",
                                   kl.keys[i]);
                        removed++;
                }
        }
        key_list_free(&kl);
        return r < 0 ? r : removed;
}

/* --- listing ------------------------------------------------------------------------------ */

void sk_capture_list_free(sk_capture_entry *l, size_t n) {
        for (size_t i = 0; l && i < n; i++) {
                free(l[i].snapshot);
                free(l[i].chain_id);
                free(l[i].hostname);
                for (size_t j = 0; j < l[i].n_layers; j++)
                        free(l[i].layers[j]);
                free(l[i].layers);
        }
        free(l);
}

int sk_capture_list(sk_capture *c, sk_capture_entry **ret, size_t *ret_n, char **ret_error) {
        sk_manifest **list = NULL;
        size_t n = 0, w = 0;
        sk_capture_entry *out = NULL;
        pthread_mutex_lock(&c->repo_mutex);
        int r = sk_cap_open_repo(c, ret_error);
        if (r >= 0)
                r = sk_backup_list(c->repo, NULL, NULL, &list, &n);
        if (r < 0) {
                sk_cap_errorf(ret_error, "cannot list backups: %s", strerror(-r));
                goto out;
        }
        out = calloc(n + 1, sizeof(*out));
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                sk_container_record rec = {};
                if (!sk_container_tagged(list[i]->tags, list[i]->n_tags) || sk_cap_record_load(c, c->repo, list[i]->id, &rec, NULL) < 0)
                        continue;
                sk_capture_entry *e = &out[w++];
                memcpy(e->id, list[i]->id, sizeof(e->id));
                e->time = list[i]->time.tv_sec;
                e->committed = rec.committed;
                e->snapshot = strdup(rec.snapshot);
                e->chain_id = strdup(rec.chain_id ? rec.chain_id : "");
                e->hostname = strdup(list[i]->hostname ? list[i]->hostname : "");
                e->layers = calloc(rec.n_layers ? rec.n_layers : 1, sizeof(char *));
                bool oom = !e->snapshot || !e->chain_id || !e->hostname || !e->layers;
                for (size_t j = 0; !oom && j < rec.n_layers; j++, e->n_layers++)
                        oom = !(e->layers[j] = strdup(rec.layers[j].chain_id));
                sk_container_record_clear(&rec);
                if (oom) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        *ret = TAKE_PTR(out);
        *ret_n = w;
        r = 0;
out:
        pthread_mutex_unlock(&c->repo_mutex);
        sk_capture_list_free(out, w);
        sk_backup_list_free(list, n);
        return r;
}
