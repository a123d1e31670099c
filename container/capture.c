#include "container/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup.h"
#include "backup/manifest.h"
#include "repo/keyring.h"
#include "repo/repo.h"
#include "backup/restore.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "container/meta.h"
#include "container/record.h"
#include "container/repopool.h"

#define EVENT_RING 256
#define LOCK_WAIT_SECONDS 60

struct sk_capture {
        sk_snapshotter *snap;
        char *url, *password_file, *key_file;
        bool remote_layers;
        sk_store_options store;

        pthread_mutex_t repo_mutex; /* serialises every operation on repo */
        sk_repo *repo;
        char repo_error[256];

        /* Restores in Prepare run on handles of their own, not on repo under
         * repo_mutex: neither a backup nor another restore may hold them up
         * (see repopool.h). */
        sk_repo_pool *restores;

        pthread_mutex_t ev_mutex;
        pthread_cond_t ev_cond;
        sk_capture_event ring[EVENT_RING];
        uint64_t last_seq;
        uint64_t backups_done, restores_done, layers_rehydrated;
};

/* --- small helpers ---------------------------------------------------------- */

static int errorf(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int errorf(char **ret_error, const char *fmt, ...) {
        if (ret_error && !*ret_error) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return 0;
}

static void rfc3339_now(char *buf, size_t size) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double mono_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void post_event(sk_capture *c, const char *kind, const char *snapshot, const char *backup_id,
                       uint64_t files, uint64_t bytes, uint64_t total, const char *fmt, ...) _printf_(8, 9);
static void post_event(sk_capture *c, const char *kind, const char *snapshot, const char *backup_id,
                       uint64_t files, uint64_t bytes, uint64_t total, const char *fmt, ...) {
        pthread_mutex_lock(&c->ev_mutex);
        uint64_t seq = ++c->last_seq;
        sk_capture_event *e = &c->ring[seq % EVENT_RING];
        *e = (sk_capture_event) { .seq = seq, .time_ns = now_ns(), .files_done = files, .bytes_done = bytes,
                                  .bytes_total = total };
        snprintf(e->kind, sizeof(e->kind), "%s", kind);
        snprintf(e->snapshot, sizeof(e->snapshot), "%s", snapshot ? snapshot : "");
        snprintf(e->backup_id, sizeof(e->backup_id), "%s", backup_id ? backup_id : "");
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(e->message, sizeof(e->message), fmt, ap);
                va_end(ap);
        }
        pthread_cond_broadcast(&c->ev_cond);
        pthread_mutex_unlock(&c->ev_mutex);
}

size_t sk_capture_events(sk_capture *c, uint64_t since, unsigned wait_ms, sk_capture_event *out, size_t max) {
        size_t n = 0;
        pthread_mutex_lock(&c->ev_mutex);
        /* A client that saw a previous run of the daemon starts over. */
        if (since > c->last_seq)
                since = 0;
        if (c->last_seq <= since && wait_ms > 0) {
                struct timespec dl;
                clock_gettime(CLOCK_REALTIME, &dl);
                dl.tv_sec += wait_ms / 1000;
                dl.tv_nsec += (long) (wait_ms % 1000) * 1000000L;
                if (dl.tv_nsec >= 1000000000L) {
                        dl.tv_sec++;
                        dl.tv_nsec -= 1000000000L;
                }
                while (c->last_seq <= since)
                        if (pthread_cond_timedwait(&c->ev_cond, &c->ev_mutex, &dl) == ETIMEDOUT)
                                break;
        }
        uint64_t first = since + 1;
        if (c->last_seq >= EVENT_RING && first <= c->last_seq - EVENT_RING)
                first = c->last_seq - EVENT_RING + 1; /* older ones were overwritten */
        for (uint64_t s = first; s <= c->last_seq && n < max; s++)
                out[n++] = c->ring[s % EVENT_RING];
        pthread_mutex_unlock(&c->ev_mutex);
        return n;
}

void sk_capture_get_status(sk_capture *c, sk_capture_status *ret) {
        sk_capture_status st = { .remote_layers = c->remote_layers };
        pthread_mutex_lock(&c->ev_mutex);
        st.backups_done = c->backups_done;
        st.restores_done = c->restores_done;
        st.layers_rehydrated = c->layers_rehydrated;
        st.last_event = c->last_seq;
        pthread_mutex_unlock(&c->ev_mutex);
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

static void count(sk_capture *c, uint64_t *counter) {
        pthread_mutex_lock(&c->ev_mutex);
        (*counter)++;
        pthread_mutex_unlock(&c->ev_mutex);
}

/* --- lifecycle ---------------------------------------------------------------- */

static int open_restore_handle(void *userdata, sk_repo **ret, char **ret_error);

int sk_capture_new(sk_snapshotter *snap, const sk_capture_options *opts, sk_capture **ret) {
        sk_capture *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->snap = snap;
        c->remote_layers = opts->remote_layers;
        c->store = opts->store;
        pthread_mutex_init(&c->repo_mutex, NULL);
        pthread_mutex_init(&c->ev_mutex, NULL);
        pthread_cond_init(&c->ev_cond, NULL);
        if ((opts->repo_url && !(c->url = strdup(opts->repo_url))) ||
            (opts->password_file && !(c->password_file = strdup(opts->password_file))) ||
            (opts->key_file && !(c->key_file = strdup(opts->key_file))) ||
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
        pthread_mutex_destroy(&c->repo_mutex);
        pthread_mutex_destroy(&c->ev_mutex);
        pthread_cond_destroy(&c->ev_cond);
        free(c->url);
        free(c->password_file);
        free(c->key_file);
        free(c);
}

/* A new handle on the repository. A short reason goes to status (size
 * bytes, may be NULL) for daemon status. */
static int open_handle(sk_capture *c, sk_repo **ret, char **ret_error, char *status, size_t size) {
        if (!c->url) {
                errorf(ret_error, "no repository configured (repo = ... in snapkeepd.conf or --repo)");
                return -ENOMEDIUM;
        }
        if (!c->key_file && !c->password_file) {
                errorf(ret_error, "no secret for repository %s: set password_file or key_file", c->url);
                if (status)
                        snprintf(status, size, "no password_file or key_file configured");
                return -ENOKEY;
        }
        sk_secret *secret = NULL;
        int r = c->key_file ? sk_secret_from_file(SK_SECRET_KEYFILE, c->key_file, &secret)
                            : sk_secret_from_file(SK_SECRET_PASSPHRASE, c->password_file, &secret);
        if (r < 0) {
                errorf(ret_error, "cannot read the secret from %s: %s", c->key_file ? c->key_file : c->password_file,
                       strerror(-r));
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
                errorf(ret_error, "cannot open repository %s: %s%s%s", c->url, why,
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

/* Open the repository if it is not open yet. Caller holds repo_mutex. */
static int open_repo(sk_capture *c, char **ret_error) {
        if (c->repo)
                return 0;
        int r = open_handle(c, &c->repo, ret_error, c->repo_error, sizeof(c->repo_error));
        if (r < 0)
                return r;
        c->repo_error[0] = '\0';
        log_info("opened repository %s", c->url);
        return 0;
}

int sk_capture_open_repo(sk_capture *c) {
        char *error = NULL;
        pthread_mutex_lock(&c->repo_mutex);
        int r = c->url ? open_repo(c, &error) : 0;
        pthread_mutex_unlock(&c->repo_mutex);
        if (r < 0)
                log_info("repository not opened yet: %s", error ? error : strerror(-r));
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

const char *sk_capture_chain_id(const sk_info *info) {
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

typedef struct chain {
        char **ids;  /* bottom first */
        char **keys;
        size_t n;
} chain;

static void chain_clear(chain *ch) {
        for (size_t i = 0; i < ch->n; i++) {
                free(ch->ids[i]);
                free(ch->keys[i]);
        }
        free(ch->ids);
        free(ch->keys);
        *ch = (chain) {};
}

/* The committed ancestors from `parent` down, returned bottom first. Each
 * must carry a chain id (-EMEDIUMTYPE otherwise, naming it in *ret_error). */
static int parent_chain(sk_capture *c, const char *parent, chain *ret, char **ret_error) {
        chain ch = {};
        char *cur = parent && *parent ? strdup(parent) : NULL;
        int r = 0;
        if (parent && *parent && !cur)
                return -ENOMEM;
        while (cur) {
                sk_info info = {};
                r = sk_snapshotter_stat(c->snap, cur, &info);
                if (r < 0) {
                        errorf(ret_error, "parent snapshot %s: %s", cur, strerror(-r));
                        free(cur);
                        break;
                }
                const char *id = sk_capture_chain_id(&info);
                if (!id) {
                        errorf(ret_error, "snapshot %s below has no layer chain id", cur);
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
                chain_clear(&ch);
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

/* layers/<algo>-<hex> = "<backup-id>\n". Caller holds repo_mutex if repo is
 * c->repo. 1 found, 0 missing. */
static int layer_lookup(sk_repo *repo, const char *chain_id, char ret_id[65]) {
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
                log_warning("object " SK_LAYER_OBJ_DIR "/%s: not \"<backup id>\\n\"", name);
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

/* The record containers/<id> of backup id (docs/FORMAT.md 7a). Caller holds
 * repo_mutex if repo is c->repo. On failure why (if not NULL) says what is wrong; a malformed
 * record is also logged, naming the rule it breaks. */
static int record_load(sk_repo *repo, const char *id, sk_container_record *ret, char why[256]) {
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
                        log_warning("object " SK_CONTAINER_OBJ_DIR "/%s: %s", id, detail);
                else if (r < 0)
                        snprintf(detail, sizeof(detail), "%s", strerror(-r));
        }
        if (r < 0 && why)
                memcpy(why, detail, sizeof(detail));
        return r;
}

/* --- backup ----------------------------------------------------------------------- */

typedef struct op_ctx {
        sk_capture *c;
        const char *snapshot;
        double last_progress;
        char first_error[512];
        uint64_t errors, warnings;
} op_ctx;

static int progress_cb(const sk_progress *p, void *userdata) {
        op_ctx *o = userdata;
        double t = mono_s();
        if (t - o->last_progress >= 0.25) {
                o->last_progress = t;
                post_event(o->c, "progress", o->snapshot, NULL, p->files_done, p->bytes_done, p->bytes_total, "%s",
                           p->phase == SK_PHASE_RESTORE ? "restore" : "backup");
        }
        return 0;
}

static void problem_cb(const sk_problem *p, void *userdata) {
        op_ctx *o = userdata;
        if (p->kind == SK_PROBLEM_ERROR) {
                o->errors++;
                if (!o->first_error[0])
                        snprintf(o->first_error, sizeof(o->first_error), "%s%s%s (%s)", p->path ? p->path : "",
                                 p->path ? ": " : "", p->detail ? p->detail : strerror(-p->error),
                                 strerror(-p->error));
        } else
                o->warnings++;
        log_warning("%s: %s%s%s", o->snapshot, p->path ? p->path : "", p->path ? ": " : "",
                    p->detail ? p->detail : strerror(-p->error));
}

/* The record of snapshot info on chain below; its strings are borrowed, its
 * layers array (*ret_layers) is owned by the caller. */
static int make_record(const sk_info *info, const char *chain_id, const chain *below, char **below_backups,
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
static int write_meta(sk_capture *c, uint64_t id, const sk_info *info, const char *chain_id, const chain *below,
                      char **below_backups, char **ret_path) {
        char *dir = NULL, *buf = NULL;
        size_t len = 0;
        if (asprintf(&dir, "%s/capture/%" PRIu64, sk_snapshotter_root(c->snap), id) < 0)
                return -ENOMEM;
        int r = sk_mkdir_p(dir, 0700);
        if (r < 0) {
                free(dir);
                return r;
        }
        sk_container_record rec;
        _cleanup_free_ sk_container_layer *layers = NULL;
        _cleanup_free_ const char **labels = calloc(2 * info->n_labels + 1, sizeof(char *));
        r = labels ? make_record(info, chain_id, below, below_backups, &rec, &layers) : -ENOMEM;
        if (r < 0) {
                free(dir);
                return r;
        }
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
        if (r < 0) {
                free(dir);
                return r;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = negative_errno();
                free(buf);
                free(dir);
                return r;
        }
        r = sk_write_file_atomic(dfd, SK_CONTAINER_META_FILE, buf, len, 0600);
        close(dfd);
        free(buf);
        if (r < 0) {
                free(dir);
                return r;
        }
        char *path = NULL;
        r = asprintf(&path, "%s/" SK_CONTAINER_META_FILE, dir);
        free(dir);
        if (r < 0)
                return -ENOMEM;
        *ret_path = path;
        return 0;
}

/* Write containers/<backup_id> and, for a layer, layers/<algo>-<hex>. */
static int put_records(sk_capture *c, const char *backup_id, const sk_info *info, const char *chain_id,
                       const chain *below, char **below_backups) {
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
static int backup_one(sk_capture *c, const sk_info *info, const char *chain_id, const chain *below,
                      char **below_backups, const char *const *tags, size_t n_tags, sk_capture_result *res,
                      char **ret_error) {
        uint64_t id;
        char *dir = NULL, *meta = NULL, *fs = NULL;
        int r = sk_snapshotter_dir(c->snap, info->name, &id, &dir);
        if (r < 0) {
                errorf(ret_error, "snapshot %s: %s", info->name, strerror(-r));
                return r;
        }
        r = asprintf(&fs, "%s/fs", dir);
        free(dir);
        if (r < 0)
                return -ENOMEM;
        r = write_meta(c, id, info, chain_id, below, below_backups, &meta);
        if (r < 0) {
                errorf(ret_error, "snapshot %s: cannot write its metadata file: %s", info->name, strerror(-r));
                free(fs);
                return r;
        }

        const char *all_tags[16];
        size_t nt = 0;
        all_tags[nt++] = info->kind == SK_KIND_COMMITTED ? SK_TAG_LAYER : SK_TAG_CONTAINER;
        for (size_t i = 0; i < n_tags && nt < ARRAY_SIZE(all_tags); i++)
                all_tags[nt++] = tags[i];
        const char *sources[2] = { fs, meta };
        op_ctx o = { .c = c, .snapshot = info->name };
        sk_backup_options bo = {
                .sources = sources,
                .n_sources = 2,
                .tags = all_tags,
                .n_tags = nt,
                .lock_wait_seconds = LOCK_WAIT_SECONDS,
                .progress = progress_cb,
                .problem = problem_cb,
                .userdata = &o,
        };
        sk_backup_result br = {};
        double t0 = mono_s();
        post_event(c, "backup-start", info->name, NULL, 0, 0, 0, "%s", chain_id ? chain_id : "writable layer");
        r = sk_backup_run(c->repo, &bo, &br);
        free(fs);
        free(meta);
        if (r < 0) {
                errorf(ret_error, "backup of %s failed: %s%s%s", info->name, strerror(-r),
                       *sk_repo_last_error(c->repo) ? ": " : "", sk_repo_last_error(c->repo));
                post_event(c, "error", info->name, NULL, 0, 0, 0, "backup failed: %s", strerror(-r));
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
                errorf(ret_error, "backup of %s: cannot record it in the repository: %s", info->name, strerror(-r));
                return r;
        }
        r = set_backup_labels(c, info->name, br.id);
        if (r < 0)
                log_warning_errno(r, "cannot label %s with its backup id", info->name);

        memcpy(res->backup_id, br.id, sizeof(res->backup_id));
        res->bytes_read += br.bytes_read;
        res->blobs_added += br.blobs_added;
        res->errors += br.summary.errors;
        res->warnings += br.warnings;
        count(c, &c->backups_done);
        log_info("backed up %s as %s (%" PRIu64 " bytes read, %" PRIu64 " new blobs, %.2f s)", info->name, br.id,
                 br.bytes_read, br.blobs_added, mono_s() - t0);
        post_event(c, "backup-done", info->name, br.id, br.summary.files, br.bytes_read, br.summary.bytes,
                   "%" PRIu64 " new blobs", br.blobs_added);
        return 0;
}

/* Make sure every layer of ch is in the repository; fill backups[i]. */
static int capture_chain(sk_capture *c, const chain *ch, char **backups, sk_capture_result *res, char **ret_error) {
        for (size_t i = 0; i < ch->n; i++) {
                char id[65];
                int r = layer_lookup(c->repo, ch->ids[i], id);
                if (r < 0) {
                        errorf(ret_error, "cannot look up layer %s in the repository: %s", ch->ids[i], strerror(-r));
                        return r;
                }
                if (r == 0) {
                        sk_info info = {};
                        r = sk_snapshotter_stat(c->snap, ch->keys[i], &info);
                        if (r < 0) {
                                errorf(ret_error, "layer snapshot %s: %s", ch->keys[i], strerror(-r));
                                return r;
                        }
                        chain sub = { .ids = ch->ids, .keys = ch->keys, .n = i };
                        sk_capture_result lr = {};
                        r = backup_one(c, &info, ch->ids[i], &sub, backups, NULL, 0, &lr, ret_error);
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
        chain below = {};
        char **backups = NULL;
        double t0 = mono_s();
        snprintf(res.snapshot, sizeof(res.snapshot), "%s", key);

        int r = sk_snapshotter_stat(c->snap, key, &info);
        if (r < 0) {
                errorf(ret_error, "snapshot %s: %s", key, r == -ENOENT ? "not found" : strerror(-r));
                return r;
        }
        if (info.kind == SK_KIND_VIEW) {
                errorf(ret_error, "snapshot %s is a view: nothing to back up", key);
                sk_info_clear(&info);
                return -EPERM;
        }
        res.committed = info.kind == SK_KIND_COMMITTED;
        const char *chain_id = sk_capture_chain_id(&info);
        if (chain_id)
                snprintf(res.chain_id, sizeof(res.chain_id), "%s", chain_id);

        pthread_mutex_lock(&c->repo_mutex);
        r = open_repo(c, ret_error);
        if (r < 0)
                goto out;
        r = parent_chain(c, info.parent, &below, ret_error);
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
                r = layer_lookup(c->repo, chain_id, id);
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
        r = backup_one(c, &info, chain_id, &below, backups, tags, n_tags, &res, ret_error);
        if (r >= 0 && chain_id)
                res.layers_captured++;
out:
        pthread_mutex_unlock(&c->repo_mutex);
        if (backups)
                for (size_t i = 0; i < below.n; i++)
                        free(backups[i]);
        free(backups);
        chain_clear(&below);
        sk_info_clear(&info);
        if (r < 0)
                return r;
        res.seconds = mono_s() - t0;
        *ret = res;
        return 0;
}

/* --- resolving keys ------------------------------------------------------------------ */

typedef struct key_list {
        char **keys;
        size_t n;
        const char *ns, *id;
        sk_capture *c;
        bool all;
        int error;
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
        if (info->kind == SK_KIND_COMMITTED && sk_capture_chain_id(info)) {
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
        r = open_repo(c, NULL);
        size_t w = 0;
        for (size_t i = 0; i < kl.n; i++) {
                sk_info info = {};
                bool keep = true;
                if (r >= 0 && sk_snapshotter_stat(c->snap, kl.keys[i], &info) >= 0) {
                        const char *cid = sk_capture_chain_id(&info);
                        char id[65];
                        if (cid && layer_lookup(c->repo, cid, id) > 0)
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

/* --- restore ------------------------------------------------------------------------- */

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

/* Restore backup id's "fs" into <snapdir>/fs, which must be empty, reading
 * through repo (a restore handle, see repopool.h). */
static int rehydrate_fs(sk_capture *c, sk_repo *repo, const char *id, const char *key, const char *snapdir,
                        uint64_t *ret_bytes, char **ret_error) {
        char *tmp = NULL, *fs = NULL, *from = NULL;
        int r;
        if (asprintf(&tmp, "%s/.restore", snapdir) < 0 || asprintf(&fs, "%s/fs", snapdir) < 0 ||
            asprintf(&from, "%s/.restore/fs", snapdir) < 0) {
                r = -ENOMEM;
                goto out;
        }
        (void) sk_rm_rf(tmp);
        const char *includes[1] = { "fs" };
        op_ctx o = { .c = c, .snapshot = key };
        sk_restore_options ro = {
                .target = tmp,
                .includes = includes,
                .n_includes = 1,
                .lock_wait_seconds = LOCK_WAIT_SECONDS,
                .progress = progress_cb,
                .problem = problem_cb,
                .userdata = &o,
        };
        sk_restore_result rr = {};
        r = sk_restore_run(repo, id, &ro, &rr);
        if (r < 0) {
                if (o.first_error[0])
                        errorf(ret_error, "restoring backup %s failed: %" PRIu64 " entries failed, first: %s", id,
                               o.errors, o.first_error);
                else
                        errorf(ret_error, "restoring backup %s failed: %s%s%s", id, strerror(-r),
                               *sk_repo_last_error(repo) ? ": " : "", sk_repo_last_error(repo));
                goto out;
        }
        /* The snapshot's fs is mounted (upper dir or bind source): a
         * symlink there would be followed by the kernel to any host path. */
        r = check_restored_dir(from);
        if (r < 0) {
                errorf(ret_error, "restoring backup %s: its fs is not a directory%s", id,
                       r == -ELOOP ? " (a symbolic link)" : "");
                goto out;
        }
        if (rmdir(fs) < 0 && errno != ENOENT) {
                r = negative_errno();
                errorf(ret_error, "snapshot %s: cannot replace its empty fs: %s", key, strerror(-r));
                goto out;
        }
        if (rename(from, fs) < 0) {
                r = negative_errno();
                errorf(ret_error, "snapshot %s: cannot move the restored fs in place: %s", key, strerror(-r));
                goto out;
        }
        (void) rmdir(tmp);
        /* Prepare acknowledges the restored data to containerd: make every
         * restored file durable (one syncfs, not an fsync per file) first. */
        {
                int sfd = open(fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (sfd < 0 || syncfs(sfd) < 0) {
                        r = negative_errno();
                        if (sfd >= 0)
                                close(sfd);
                        errorf(ret_error, "snapshot %s: cannot sync the restored files: %s", key, strerror(-r));
                        goto out;
                }
                close(sfd);
        }
        (void) sk_fsync_path_dir(fs);
        if (ret_bytes)
                *ret_bytes = rr.bytes;
        r = 0;
out:
        if (r < 0 && tmp)
                (void) sk_rm_rf(tmp);
        free(tmp);
        free(fs);
        free(from);
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

static int drop_marker(sk_capture *c, const char *key) {
        sk_label l = { (char *) SK_LABEL_RESTORING, (char *) "" };
        const char *path = "labels." SK_LABEL_RESTORING;
        sk_info in = { .name = (char *) key, .labels = &l, .n_labels = 1 };
        sk_info out = {};
        int r = sk_snapshotter_update(c->snap, &in, &path, 1, &out);
        if (r >= 0)
                sk_info_clear(&out);
        return r;
}

int sk_capture_prepare_restore(sk_capture *c, const char *key, const char *parent, const sk_label *labels,
                               size_t n_labels, const char *backup_id, sk_mounts *ret, char **ret_error) {
        sk_container_record rec = {};
        chain pc = {};
        sk_mounts m = {};
        char id[SK_BACKUP_ID_HEX + 1] = "";
        sk_repo *repo = NULL;
        bool created = false;
        char *dir = NULL;
        sk_label *l = NULL;
        uint64_t snap_id;
        double t0 = mono_s();
        int r;

        r = sk_repo_pool_begin(c->restores, &repo, ret_error);
        if (r < 0)
                goto out;
        r = sk_backup_resolve(repo, backup_id, id);
        if (r < 0) {
                errorf(ret_error, "restore: backup %s: %s", backup_id,
                       r == -ENOENT ? "not found in the repository" : r == -ENOTUNIQ ? "ambiguous prefix"
                                                                                      : strerror(-r));
                goto out;
        }
        char why[256];
        r = record_load(repo, id, &rec, why);
        if (r < 0) {
                errorf(ret_error, "restore: backup %s is not a snapkeep container backup (%s)", id, why);
                goto out;
        }
        if (rec.committed) {
                errorf(ret_error, "restore: backup %s is an image layer (%s), not a writable layer", id,
                       rec.chain_id ? rec.chain_id : "-");
                r = -EINVAL;
                goto out;
        }
        r = parent_chain(c, parent, &pc, ret_error);
        if (r < 0)
                goto out;
        if (!sk_container_record_same_chain(&rec, pc.ids, pc.n)) {
                errorf(ret_error,
                       "restore: the image differs: backup %s was taken on a chain of %zu layers with top %s, "
                       "but the new snapshot's image has %zu layers with top %s",
                       id, rec.n_layers, rec.n_layers ? rec.layers[rec.n_layers - 1].chain_id : "(none)", pc.n,
                       pc.n ? pc.ids[pc.n - 1] : "(none)");
                r = -EXDEV;
                goto out;
        }

        size_t nl;
        l = with_marker(labels, n_labels, &nl);
        if (!l) {
                r = -ENOMEM;
                goto out;
        }
        post_event(c, "restore-start", key, id, 0, 0, 0, "restoring writable layer");
        r = sk_snapshotter_prepare(c->snap, key, parent, l, nl, &m);
        if (r < 0) {
                errorf(ret_error, "prepare %s: %s", key, strerror(-r));
                goto out;
        }
        created = true;
        r = sk_snapshotter_dir(c->snap, key, &snap_id, &dir);
        if (r < 0) {
                errorf(ret_error, "snapshot %s: %s", key, strerror(-r));
                goto out;
        }
        uint64_t bytes = 0;
        r = rehydrate_fs(c, repo, id, key, dir, &bytes, ret_error);
        if (r < 0)
                goto out;
        r = drop_marker(c, key);
        if (r < 0) {
                errorf(ret_error, "snapshot %s: cannot clear the restoring mark: %s", key, strerror(-r));
                goto out;
        }
        count(c, &c->restores_done);
        log_info("restored backup %s into %s (%" PRIu64 " bytes, %.2f s)", id, key, bytes, mono_s() - t0);
        post_event(c, "restore-done", key, id, 0, bytes, bytes, "restored");
        *ret = m;
        m = (sk_mounts) {};
        r = 0;
out:
        if (r < 0) {
                if (created) {
                        int k = sk_snapshotter_remove(c->snap, key);
                        if (k < 0)
                                log_error_errno(k, "cannot remove half-restored snapshot %s", key);
                }
                post_event(c, "error", key, id, 0, 0, 0, "%s", ret_error && *ret_error ? *ret_error : strerror(-r));
                log_error("%s", ret_error && *ret_error ? *ret_error : strerror(-r));
        }
        if (repo)
                sk_repo_pool_end(c->restores, repo);
        sk_mounts_free(&m);
        free(l);
        free(dir);
        chain_clear(&pc);
        sk_container_record_clear(&rec);
        return r;
}

int sk_capture_prepare_layer(sk_capture *c, const char *key, const char *parent, const sk_label *labels,
                             size_t n_labels, const char *chain_id, char **ret_error) {
        char id[65] = "";
        sk_repo *repo = NULL;
        char *name = NULL, *dir = NULL;
        sk_label *l = NULL, *cl = NULL;
        sk_mounts m = {};
        chain pc = {};
        sk_container_record rec = {};
        bool created = false;
        uint64_t snap_id;
        double t0 = mono_s();
        int r;

        if (!c->remote_layers || !c->url)
                return 0;
        if (!sk_chain_id_valid(chain_id)) {
                log_debug("prepare %s: snapshot.ref %s is not a chain id", key, chain_id);
                return 0;
        }
        /* key is "NS/N/extract-... <chainID>": the layer becomes "NS/N/<chainID>". */
        const char *s1 = strchr(key, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s2)
                return 0;

        r = sk_repo_pool_begin(c->restores, &repo, NULL);
        if (r < 0) {
                log_debug_errno(r, "layer %s: no usable repository or no free restore slot, containerd unpacks it",
                                chain_id);
                r = 0; /* containerd unpacks as usual */
                goto out;
        }
        r = layer_lookup(repo, chain_id, id);
        if (r <= 0) {
                if (r < 0)
                        log_warning_errno(r, "cannot look up layer %s in the repository", chain_id);
                else
                        log_debug("layer %s is not in the repository, containerd unpacks it", chain_id);
                r = 0;
                goto out;
        }
        /* The layer's own record lists the chain below it: it must be the
         * requested parent's chain, or containerd's parent check fails. */
        r = record_load(repo, id, &rec, NULL);
        if (r >= 0)
                r = parent_chain(c, parent, &pc, NULL);
        if (r < 0) {
                log_warning_errno(r, "layer %s: cannot compare parent chains, unpacking instead", chain_id);
                r = 0;
                goto out;
        }
        if (!sk_container_record_same_chain(&rec, pc.ids, pc.n)) {
                log_warning("layer %s: backup %s has a different parent chain, unpacking instead", chain_id, id);
                r = 0;
                goto out;
        }

        if (asprintf(&name, "%.*s%s", (int) (s2 - key + 1), key, chain_id) < 0) {
                r = -ENOMEM;
                goto out;
        }
        size_t nl;
        l = with_marker(labels, n_labels, &nl);
        cl = calloc(n_labels + 3, sizeof(sk_label));
        if (!l || !cl) {
                r = -ENOMEM;
                goto out;
        }
        size_t ncl = 0;
        for (size_t i = 0; i < n_labels; i++)
                if (strcmp(labels[i].key, SK_LABEL_RESTORING) != 0 && strcmp(labels[i].key, SK_LABEL_SNAPSHOT_REF) != 0 &&
                    strcmp(labels[i].key, SK_LABEL_LAYER_BACKUP) != 0)
                        cl[ncl++] = labels[i];
        cl[ncl++] = (sk_label) { (char *) SK_LABEL_SNAPSHOT_REF, (char *) chain_id };
        cl[ncl++] = (sk_label) { (char *) SK_LABEL_LAYER_BACKUP, id };

        post_event(c, "restore-start", key, id, 0, 0, 0, "rehydrating layer %s", chain_id);
        r = sk_snapshotter_prepare(c->snap, key, parent, l, nl, &m);
        if (r < 0) {
                errorf(ret_error, "prepare %s: %s", key, strerror(-r));
                goto out;
        }
        created = true;
        r = sk_snapshotter_dir(c->snap, key, &snap_id, &dir);
        if (r < 0)
                goto out;
        uint64_t bytes = 0;
        r = rehydrate_fs(c, repo, id, key, dir, &bytes, ret_error);
        if (r < 0)
                goto out;
        r = sk_snapshotter_commit(c->snap, name, key, cl, ncl);
        if (r < 0) {
                errorf(ret_error, "layer %s: cannot commit it as %s: %s", chain_id, name, strerror(-r));
                goto out;
        }
        created = false;
        count(c, &c->layers_rehydrated);
        log_info("layer %s rehydrated from backup %s as %s (%" PRIu64 " bytes, %.2f s)", chain_id, id, name, bytes,
                 mono_s() - t0);
        post_event(c, "layer-done", name, id, 0, bytes, bytes, "layer %s rehydrated", chain_id);
        r = 1;
out:
        if (r < 0) {
                if (created) {
                        int k = sk_snapshotter_remove(c->snap, key);
                        if (k < 0)
                                log_error_errno(k, "cannot remove half-restored snapshot %s", key);
                }
                log_error("layer %s: rehydration failed: %s", chain_id,
                          ret_error && *ret_error ? *ret_error : strerror(-r));
                post_event(c, "error", key, id, 0, 0, 0, "layer %s: rehydration failed", chain_id);
        }
        if (repo)
                sk_repo_pool_end(c->restores, repo);
        sk_mounts_free(&m);
        free(l);
        free(cl);
        free(name);
        free(dir);
        chain_clear(&pc);
        sk_container_record_clear(&rec);
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
                int k = sk_snapshotter_remove(c->snap, kl.keys[i]);
                if (k < 0)
                        log_error_errno(k, "cannot remove half-restored snapshot %s", kl.keys[i]);
                else {
                        log_info("removed half-restored snapshot %s (interrupted restore)", kl.keys[i]);
                        removed++;
                }
        }
        key_list_free(&kl);
        return r < 0 ? r : removed;
}

int sk_capture_restore_dir(sk_capture *c, const char *backup_id, const char *target, uint64_t *ret_files,
                           uint64_t *ret_bytes, char **ret_error) {
        char id[SK_BACKUP_ID_HEX + 1];
        char *tmp = NULL, *from = NULL;
        struct stat st;
        int r;
        if (!target || target[0] != '/') {
                errorf(ret_error, "restore: target must be an absolute path");
                return -EINVAL;
        }
        if (lstat(target, &st) == 0) {
                errorf(ret_error, "restore: %s already exists", target);
                return -EEXIST;
        }
        pthread_mutex_lock(&c->repo_mutex);
        r = open_repo(c, ret_error);
        if (r < 0)
                goto out;
        r = sk_backup_resolve(c->repo, backup_id, id);
        if (r < 0) {
                errorf(ret_error, "restore: backup %s: %s", backup_id, strerror(-r));
                goto out;
        }
        if (asprintf(&tmp, "%s.sk-restore", target) < 0 || asprintf(&from, "%s.sk-restore/fs", target) < 0) {
                r = -ENOMEM;
                goto out;
        }
        (void) sk_rm_rf(tmp);
        const char *includes[1] = { "fs" };
        op_ctx o = { .c = c, .snapshot = target };
        sk_restore_options ro = { .target = tmp, .includes = includes, .n_includes = 1,
                                  .lock_wait_seconds = LOCK_WAIT_SECONDS, .progress = progress_cb,
                                  .problem = problem_cb, .userdata = &o };
        sk_restore_result rr = {};
        r = sk_restore_run(c->repo, id, &ro, &rr);
        if (r < 0) {
                errorf(ret_error, "restore of %s failed: %s", id, o.first_error[0] ? o.first_error : strerror(-r));
                (void) sk_rm_rf(tmp);
                goto out;
        }
        r = check_restored_dir(from);
        if (r < 0) {
                errorf(ret_error, "restore of %s: its fs is not a directory%s", id,
                       r == -ELOOP ? " (a symbolic link)" : "");
                (void) sk_rm_rf(tmp);
                goto out;
        }
        if (rename(from, target) < 0) {
                r = negative_errno();
                errorf(ret_error, "restore: cannot move into %s: %s", target, strerror(-r));
                (void) sk_rm_rf(tmp);
                goto out;
        }
        (void) rmdir(tmp);
        *ret_files = rr.files;
        *ret_bytes = rr.bytes;
        r = 0;
out:
        pthread_mutex_unlock(&c->repo_mutex);
        free(tmp);
        free(from);
        return r;
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
        int r = open_repo(c, ret_error);
        if (r >= 0)
                r = sk_backup_list(c->repo, NULL, NULL, &list, &n);
        if (r < 0) {
                errorf(ret_error, "cannot list backups: %s", strerror(-r));
                goto out;
        }
        out = calloc(n + 1, sizeof(*out));
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                bool ours = false;
                for (size_t t = 0; t < list[i]->n_tags; t++)
                        ours |= strcmp(list[i]->tags[t], SK_TAG_CONTAINER) == 0 ||
                                strcmp(list[i]->tags[t], SK_TAG_LAYER) == 0;
                sk_container_record rec = {};
                if (!ours || record_load(c->repo, list[i]->id, &rec, NULL) < 0)
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
