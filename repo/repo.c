/* The repository object; see repo.h and docs/FORMAT.md.
 *
 * DESIGN
 * - One mutex (repo->lock) guards the in-memory index, the pack being filled
 *   and the bookkeeping of packs on their way to storage. put_blob hashes,
 *   compresses and seals *outside* it, so several threads use several cores;
 *   under the lock it only re-checks dedup and memcpy()s the sealed record
 *   into the current pack.
 * - Blobs of packs not yet in storage are in the index under a temporary
 *   "pending" pack number (high bit set) that names an in-memory pack; when
 *   the pack is stored under its SHA-256 name the entries are re-pointed.
 *   get_blob serves pending blobs from memory, so a writer can read back
 *   what it just wrote.
 * - The thread whose record fills a pack detaches it and writes it (trailer,
 *   SHA-256 name, durable put) without holding the lock; flush waits for all
 *   such writes, then writes one index file for the packs stored since the
 *   last index file. A failed pack write is sticky: later put/flush calls
 *   return it, so a backup can never reference a blob that was not stored.
 * - Every writer session has its own random salt and session key, and nonces
 *   come from an atomic counter: see FORMAT.md section 3. */
#include "repo/repo.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "store/backend.h"
#include "repo/chunker.h"
#include "repo/crypto.h"
#include "repo/index.h"
#include "repo/le.h"
#include "repo/packcache.h"
#include "repo/store-names.h"
#include "common/macro.h"

#define PENDING_BIT 0x80000000u
/* An index file per 32 packs (512 MiB at the default size), and one at
 * every flush: few requests on an object store, and what a crash can lose
 * before the next flush (packs no index names yet) stays bounded. */
#define INDEX_EVERY_PACKS 32
#define KEY_CACHE 16
#define CCTX_POOL 8
#define MAX_PACK_WRITERS 2
#define OBJECT_MAX (256u * 1024 * 1024)
/* A sealed object file: header, envelope, body header, payload stored raw at
 * worst (put_object keeps the smaller of raw and zstd). */
#define OBJECT_FILE_MAX (SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + 16 + OBJECT_MAX)
#define CONFIG_BODY_SIZE 40
/* Writers make 140 bytes; readers accept longer bodies (FORMAT.md section 4). */
#define CONFIG_MAX (64u * 1024)

static const char config_magic[8] = { 'S', 'K', 'C', 'O', 'N', 'F', 'I', 'G' };
static const char object_magic[8] = { 'S', 'K', 'O', 'B', 'J', 'E', 'C', 'T' };

typedef struct pending_pack {
        struct pending_pack *next;
        uint32_t tag;           /* PENDING_BIT | serial */
        uint8_t *buf;
        size_t len, cap;
        sk_record *recs;
        size_t n, rcap;
} pending_pack;

/* A pack in storage whose entries are not yet in an index file. */
typedef struct stored_pack {
        uint8_t name[32];
        sk_record *recs;
        size_t n;
} stored_pack;

typedef struct strv {
        char **v;
        size_t n, cap;
} strv;

struct sk_repo {
        sk_backend *b;
        sk_repo_config cfg;
        uint8_t repo_id[16];
        uint8_t master[SK_MASTER_KEY_SIZE];
        uint8_t data_key[SK_KEY_SIZE];
        sk_gear_table gear;
        sk_hmac *id_hmac;
        sk_pack_keys keys;
        char *slot;
        uint8_t scrypt_log2n;

        uint8_t salt[SK_SALT_SIZE];
        uint8_t session_key[SK_KEY_SIZE];
        _Atomic uint64_t nonce_ctr;
        _Atomic int zstd_level;

        pthread_mutex_t key_lock;
        struct {
                bool used;
                uint8_t salt[SK_SALT_SIZE];
                uint8_t key[SK_KEY_SIZE];
        } kcache[KEY_CACHE];
        unsigned kc_next;

        pthread_mutex_t cctx_lock;
        ZSTD_CCtx *cctx[CCTX_POOL];
        unsigned ncctx;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        sk_index *idx;
        /* Packs being filled (also on the pending list), one per blob type:
         * trees go into packs of their own, as restic does, so a walk of a
         * backup's trees (restore, ls, diff, check) reads a few dense packs
         * instead of a small piece of every data pack. */
        pending_pack *cur[2];
        pending_pack *pending;  /* all in-memory packs, cur included */
        uint32_t pending_serial;
        unsigned inflight;      /* pack writes in progress (their index writes included) */
        unsigned writers;       /* pack writer threads running (start_pack_write) */
        int write_error;
        char write_error_detail[1024];  /* last_error of the failed write */
        stored_pack *stored;
        size_t nstored, stored_cap;
        uint64_t index_files;
        strv loaded;            /* index files reflected in idx (read or written) */
        strv bad_index;
        sk_packcache *read_ahead[2];    /* by blob type (cur_slot); made by the first begin */
        _Atomic unsigned read_ahead_users;
        sk_lock *guard;                 /* the lock writes are made under (sk_repo_lock); repo->lock */
        unsigned lock_stale_seconds;    /* 0 = SK_LOCK_STALE_SECONDS */
};

/* Cached spans are keyed by the index's pack numbers: a new index renumbers
 * packs, so they go with it. Called with repo->lock held. */
static void drop_read_ahead(sk_repo *repo) {
        for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead); i++)
                if (repo->read_ahead[i])
                        sk_packcache_drop(repo->read_ahead[i]);
}

/* --- errors --- */

static __thread char last_error[1024];

_printf_(2, 3) static int fail(int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_error, sizeof(last_error), fmt, ap);
        va_end(ap);
        /* the storage's own detail (S3: object, HTTP status, S3 error code) */
        const char *d = sk_store_last_detail();
        if (*d) {
                size_t n = strlen(last_error);
                snprintf(last_error + n, sizeof(last_error) - n, ": %s", d);
                sk_store_clear_detail();
        }
        return r;
}

const char *sk_repo_last_error(const sk_repo *repo) {
        (void) repo;
        return last_error;
}

/* --- lock guard --- */

static sk_lock *guard_get(sk_repo *repo) {
        pthread_mutex_lock(&repo->lock);
        sk_lock *g = repo->guard;
        pthread_mutex_unlock(&repo->lock);
        return g;
}

static int guard_check(sk_repo *repo, sk_lock *g, const char *path, bool written) {
        int r = sk_lock_check(g, true);
        if (r >= 0)
                return 0;
        if (written)
                (void) sk_backend_del(repo->b, path);
        if (r == -ESTALE)
                return fail(r, "repository lock %s lost (%s); %s %s", sk_lock_id(g), sk_lock_lost_reason(g), path,
                            written ? "was written but is removed again" : "not written");
        return fail(r, "checking repository lock %s before %s: %s", sk_lock_id(g), path, strerror(-r));
}

/* Index files and manifests name data. They are written only under a lock
 * known to be ours just before and just after the write (FORMAT.md 9): a
 * lock lost meanwhile may have let a prune trash what they name, so the
 * object written goes again and the write fails. The lock is read here, not
 * passed: the caller releases it only after its writes are done. */
static int guarded_put(sk_repo *repo, const char *path, const void *buf, size_t len) {
        sk_lock *g = guard_get(repo);
        int r;
        if (g && (r = guard_check(repo, g, path, false)) < 0)
                return r;
        r = sk_backend_put(repo->b, path, buf, len);
        if (r < 0)
                return fail(r, "writing %s: %s", path, strerror(-r));
        return g ? guard_check(repo, g, path, true) : 0;
}

static int strv_add(strv *s, const char *str) {
        if (s->n == s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 16;
                char **t = realloc(s->v, ncap * sizeof(char *));
                if (!t)
                        return -ENOMEM;
                s->v = t;
                s->cap = ncap;
        }
        s->v[s->n] = strdup(str);
        if (!s->v[s->n])
                return -ENOMEM;
        s->n++;
        return 0;
}

static void strv_done(strv *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (strv) { 0 };
}

/* --- keys --- */

static int resolve_key(void *userdata, const uint8_t salt[SK_SALT_SIZE], uint8_t ret_key[SK_KEY_SIZE]) {
        sk_repo *repo = userdata;
        if (memcmp(salt, repo->salt, SK_SALT_SIZE) == 0) {
                memcpy(ret_key, repo->session_key, SK_KEY_SIZE);
                return 0;
        }
        pthread_mutex_lock(&repo->key_lock);
        for (unsigned i = 0; i < KEY_CACHE; i++)
                if (repo->kcache[i].used && memcmp(repo->kcache[i].salt, salt, SK_SALT_SIZE) == 0) {
                        memcpy(ret_key, repo->kcache[i].key, SK_KEY_SIZE);
                        pthread_mutex_unlock(&repo->key_lock);
                        return 0;
                }
        pthread_mutex_unlock(&repo->key_lock);
        uint8_t key[SK_KEY_SIZE];
        int r = sk_hkdf(repo->data_key, SK_KEY_SIZE, salt, SK_SALT_SIZE, "snapkeep v1 session", key, SK_KEY_SIZE);
        if (r < 0)
                return r;
        pthread_mutex_lock(&repo->key_lock);
        unsigned i = repo->kc_next++ % KEY_CACHE;
        repo->kcache[i].used = true;
        memcpy(repo->kcache[i].salt, salt, SK_SALT_SIZE);
        memcpy(repo->kcache[i].key, key, SK_KEY_SIZE);
        pthread_mutex_unlock(&repo->key_lock);
        memcpy(ret_key, key, SK_KEY_SIZE);
        sk_wipe(key, sizeof(key));
        return 0;
}

static void next_nonce(sk_repo *repo, uint8_t nonce[SK_NONCE_SIZE]) {
        uint64_t n = atomic_fetch_add(&repo->nonce_ctr, 1);
        memset(nonce, 0, SK_NONCE_SIZE);
        sk_put_le64(nonce, n);
}

static int derive_keys(sk_repo *repo) {
        uint8_t id_key[SK_KEY_SIZE], chunk_key[SK_KEY_SIZE];
        int r;
        if ((r = sk_hkdf(repo->master, SK_MASTER_KEY_SIZE, repo->repo_id, 16, "snapkeep v1 data", repo->data_key,
                         SK_KEY_SIZE)) < 0 ||
            (r = sk_hkdf(repo->master, SK_MASTER_KEY_SIZE, repo->repo_id, 16, "snapkeep v1 id", id_key,
                         SK_KEY_SIZE)) < 0 ||
            (r = sk_hkdf(repo->master, SK_MASTER_KEY_SIZE, repo->repo_id, 16, "snapkeep v1 chunker", chunk_key,
                         SK_KEY_SIZE)) < 0)
                goto out;
        r = sk_hmac_new(id_key, SK_KEY_SIZE, &repo->id_hmac);
        if (r < 0)
                goto out;
        r = sk_gear_table_derive(chunk_key, &repo->gear);
        if (r < 0)
                goto out;
        r = sk_random_bytes(repo->salt, SK_SALT_SIZE);
        if (r < 0)
                goto out;
        r = sk_hkdf(repo->data_key, SK_KEY_SIZE, repo->salt, SK_SALT_SIZE, "snapkeep v1 session", repo->session_key,
                    SK_KEY_SIZE);
        repo->keys = (sk_pack_keys) { .resolve = resolve_key, .userdata = repo, .id_hmac = repo->id_hmac };
out:
        sk_wipe(id_key, sizeof(id_key));
        sk_wipe(chunk_key, sizeof(chunk_key));
        return r;
}

/* --- lifecycle --- */

static int repo_alloc(sk_repo **ret) {
        sk_repo *repo = calloc(1, sizeof(*repo));
        if (!repo)
                return -ENOMEM;
        pthread_mutex_init(&repo->lock, NULL);
        pthread_mutex_init(&repo->key_lock, NULL);
        pthread_mutex_init(&repo->cctx_lock, NULL);
        pthread_cond_init(&repo->cond, NULL);
        int r = sk_index_new(&repo->idx);
        if (r < 0) {
                free(repo);
                return r;
        }
        *ret = repo;
        return 0;
}

static void pending_free(pending_pack *p) {
        if (!p)
                return;
        free(p->buf);
        free(p->recs);
        free(p);
}

void sk_repo_free(sk_repo *repo) {
        if (!repo)
                return;
        /* Pack writer threads use repo until they are done. */
        pthread_mutex_lock(&repo->lock);
        while (repo->inflight > 0 || repo->writers > 0)
                pthread_cond_wait(&repo->cond, &repo->lock);
        pthread_mutex_unlock(&repo->lock);
        for (pending_pack *p = repo->pending, *n; p; p = n) {
                n = p->next;
                pending_free(p);
        }
        for (size_t i = 0; i < repo->nstored; i++)
                free(repo->stored[i].recs);
        free(repo->stored);
        for (unsigned i = 0; i < repo->ncctx; i++)
                ZSTD_freeCCtx(repo->cctx[i]);
        strv_done(&repo->bad_index);
        strv_done(&repo->loaded);
        for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead); i++)
                sk_packcache_free(repo->read_ahead[i]);
        sk_index_free(repo->idx);
        sk_hmac_free(repo->id_hmac);
        sk_backend_free(repo->b);
        free(repo->slot);
        pthread_mutex_destroy(&repo->lock);
        pthread_mutex_destroy(&repo->key_lock);
        pthread_mutex_destroy(&repo->cctx_lock);
        pthread_cond_destroy(&repo->cond);
        sk_wipe(repo, sizeof(*repo));
        free(repo);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(sk_repo *, sk_repo_free);

static void config_body_encode(const sk_repo_config *c, uint8_t b[CONFIG_BODY_SIZE]) {
        memset(b, 0, CONFIG_BODY_SIZE);
        sk_put_le32(b, c->chunk_min);
        sk_put_le32(b + 4, c->chunk_avg);
        sk_put_le32(b + 8, c->chunk_max);
        sk_put_le32(b + 12, (uint32_t) c->zstd_level);
        sk_put_le32(b + 16, c->pack_size);
        sk_put_le64(b + 24, c->created);
}

static bool config_valid(const sk_repo_config *c) {
        return c->chunk_min >= 256 && c->chunk_min < c->chunk_avg && c->chunk_avg < c->chunk_max &&
               c->chunk_max <= SK_BLOB_MAX_SIZE && c->zstd_level >= 1 && c->zstd_level <= 19 &&
               c->pack_size >= 64 * 1024 && c->pack_size <= SK_PACK_MAX_SIZE / 2;
}

int sk_repo_init(const char *url, const sk_repo_init_opts *opts, const sk_secret *secret, sk_repo **ret) {
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        sk_repo_init_opts o = opts ? *opts : (sk_repo_init_opts) { 0 };
        uint64_t size;
        int r;

        if (!secret)
                return fail(-EINVAL, "no secret given");
        if (!o.chunk_min && !o.chunk_avg && !o.chunk_max) {
                o.chunk_min = SK_REPO_DEFAULT_CHUNK_MIN;
                o.chunk_avg = SK_REPO_DEFAULT_CHUNK_AVG;
                o.chunk_max = SK_REPO_DEFAULT_CHUNK_MAX;
        }
        if (!o.zstd_level)
                o.zstd_level = SK_REPO_DEFAULT_ZSTD_LEVEL;
        if (!o.pack_size)
                o.pack_size = SK_REPO_DEFAULT_PACK_SIZE;
        if (o.scrypt_log2n && (o.scrypt_log2n < SK_SCRYPT_LOG2N_MIN || o.scrypt_log2n > SK_SCRYPT_LOG2N_MAX))
                return fail(-EINVAL, "scrypt cost out of range");

        r = repo_alloc(&repo);
        if (r < 0)
                return r;
        repo->cfg = (sk_repo_config) {
                .version = 1,
                .chunk_min = o.chunk_min, .chunk_avg = o.chunk_avg, .chunk_max = o.chunk_max,
                .zstd_level = o.zstd_level, .pack_size = o.pack_size, .created = (uint64_t) time(NULL),
        };
        if (!config_valid(&repo->cfg))
                return fail(-EINVAL, "invalid repository parameters");
        repo->zstd_level = o.zstd_level;
        repo->scrypt_log2n = o.scrypt_log2n;

        r = sk_backend_open(url, 1, o.store, sk_repo_store_layout(), &repo->b);
        if (r < 0)
                return fail(r, "%s: cannot open storage: %s", url, strerror(-r));
        r = sk_backend_head(repo->b, "config", &size);
        if (r == 0)
                return fail(-EEXIST, "%s: a repository exists already", url);
        if (r != -ENOENT)
                return fail(r, "%s: config: %s", url, strerror(-r));

        if ((r = sk_random_bytes(repo->repo_id, 16)) < 0 || (r = sk_random_bytes(repo->master, SK_MASTER_KEY_SIZE)) < 0)
                return fail(r, "random number generator failed");
        sk_hex_encode(repo->repo_id, 16, repo->cfg.repo_id);
        r = derive_keys(repo);
        if (r < 0)
                return fail(r, "key derivation failed");
        /* keys first: config is what makes the repository exist */
        r = sk_keyring_add(repo->b, repo->repo_id, repo->master, secret, o.scrypt_log2n, &repo->slot);
        if (r < 0)
                return fail(r, "%s: writing key slot: %s", url, strerror(-r));

        uint8_t file[SK_FILE_HEADER_SIZE + 16 + SK_SEAL_OVERHEAD + CONFIG_BODY_SIZE];
        uint8_t body[CONFIG_BODY_SIZE], nonce[SK_NONCE_SIZE];
        sk_file_header_encode(config_magic, file);
        memcpy(file + SK_FILE_HEADER_SIZE, repo->repo_id, 16);
        config_body_encode(&repo->cfg, body);
        next_nonce(repo, nonce);
        r = sk_seal_envelope(repo->session_key, repo->salt, nonce, file, SK_FILE_HEADER_SIZE + 16, body,
                             CONFIG_BODY_SIZE, file + SK_FILE_HEADER_SIZE + 16);
        if (r < 0)
                return fail(r, "sealing config failed");
        r = sk_backend_put(repo->b, "config", file, sizeof(file));
        if (r < 0)
                return fail(r, "%s: writing config: %s", url, strerror(-r));
        *ret = TAKE_PTR(repo);
        return 0;
}

static int load_index_file(sk_repo *repo, const char *name);

typedef struct name_collect {
        strv names;
        const char *prefix;
} name_collect;

static int collect_names(const char *name, uint64_t size, void *userdata) {
        name_collect *c = userdata;
        (void) size;
        return strv_add(&c->names, name + strlen(c->prefix));
}

static bool is_hex64(const char *s) {
        if (strlen(s) != 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!(('0' <= *c && *c <= '9') || ('a' <= *c && *c <= 'f')))
                        return false;
        return true;
}

static int load_index(sk_repo *repo) {
        name_collect c = { .prefix = "index/" };
        int r = sk_backend_list(repo->b, "index/", collect_names, &c);
        if (r < 0) {
                strv_done(&c.names);
                return fail(r, "listing index: %s", strerror(-r));
        }
        for (size_t i = 0; i < c.names.n && r >= 0; i++) {
                if (!is_hex64(c.names.v[i]))
                        continue;
                int q = load_index_file(repo, c.names.v[i]);
                if (q == -ENOMEM)
                        r = q;
                else if (q < 0)
                        r = strv_add(&repo->bad_index, c.names.v[i]);
                else {
                        r = strv_add(&repo->loaded, c.names.v[i]);
                        repo->index_files++;
                }
        }
        strv_done(&c.names);
        return r;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void strv_sort(strv *s) {
        if (s->n > 1)
                qsort(s->v, s->n, sizeof(char *), cmp_str);
}

static bool sorted_has(const strv *s, const char *x) {
        return s->n > 0 && bsearch(&x, s->v, s->n, sizeof(char *), cmp_str) != NULL;
}

int sk_repo_reload_index(sk_repo *repo) {
        name_collect c = { .prefix = "index/" };
        int r = sk_backend_list(repo->b, "index/", collect_names, &c);
        if (r < 0) {
                strv_done(&c.names);
                return fail(r, "listing index: %s", strerror(-r));
        }
        strv_sort(&c.names);
        pthread_mutex_lock(&repo->lock);
        bool busy = repo->cur[0] || repo->cur[1] || repo->nstored > 0 || repo->inflight > 0;
        strv_sort(&repo->loaded);
        bool gone = false;
        for (size_t i = 0; i < repo->loaded.n && !gone; i++)
                gone = !sorted_has(&c.names, repo->loaded.v[i]);
        pthread_mutex_unlock(&repo->lock);

        if (gone) {
                /* Someone rewrote the index (prune, rebuild-index): start over,
                 * so nothing refers to packs that may be gone. */
                if (busy) {
                        strv_done(&c.names);
                        return fail(-EBUSY, "the index was rewritten while this handle has unflushed blobs");
                }
                sk_index *nidx = NULL;
                r = sk_index_new(&nidx);
                if (r < 0) {
                        strv_done(&c.names);
                        return r;
                }
                pthread_mutex_lock(&repo->lock);
                sk_index_free(repo->idx);
                repo->idx = nidx;
                drop_read_ahead(repo);
                pthread_mutex_unlock(&repo->lock);
                strv_done(&repo->loaded);
                strv_done(&repo->bad_index);
                repo->index_files = 0;
                strv_done(&c.names);
                return load_index(repo);
        }
        strv_sort(&repo->bad_index);
        for (size_t i = 0; i < c.names.n && r >= 0; i++) {
                const char *n = c.names.v[i];
                if (!is_hex64(n) || sorted_has(&repo->loaded, n) || sorted_has(&repo->bad_index, n))
                        continue;
                int q = load_index_file(repo, n);
                if (q == -ENOMEM)
                        r = q;
                else if (q < 0)
                        r = strv_add(&repo->bad_index, n);
                else {
                        pthread_mutex_lock(&repo->lock);
                        r = strv_add(&repo->loaded, n);
                        repo->index_files++;
                        pthread_mutex_unlock(&repo->lock);
                }
        }
        strv_done(&c.names);
        return r;
}

int sk_repo_open(const char *url, const sk_secret *secret, sk_repo **ret) {
        return sk_repo_open_store(url, NULL, secret, ret);
}

int sk_repo_open_store(const char *url, const sk_store_options *store, const sk_secret *secret, sk_repo **ret) {
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ uint8_t *body = NULL;
        size_t len, blen;
        int r;

        if (!secret)
                return fail(-EINVAL, "no secret given");
        r = repo_alloc(&repo);
        if (r < 0)
                return r;
        r = sk_backend_open(url, 0, store, sk_repo_store_layout(), &repo->b);
        if (r == -EPROTONOSUPPORT)
                return fail(r, "%s: unsupported repository URL scheme", url);
        if (r < 0)
                return fail(r, "%s: %s", url, r == -ENOENT ? "no repository there" : strerror(-r));
        r = sk_backend_get_whole(repo->b, "config", CONFIG_MAX, (void **) &buf, &len);
        if (r == -EFBIG)
                return fail(-EBADMSG, "%s: config is larger than its bound (%u bytes): damaged", url, CONFIG_MAX);
        if (r < 0)
                return fail(r, "%s: %s", url, r == -ENOENT ? "no repository there (no config)" : strerror(-r));
        r = sk_file_header_parse(buf, len, config_magic);
        if (r == -EPROTO)
                return fail(r, "%s: config: repository format version or features not supported by this snapkeep", url);
        if (r < 0 || len < SK_FILE_HEADER_SIZE + 16 + SK_SEAL_OVERHEAD + CONFIG_BODY_SIZE)
                return fail(-EBADMSG, "%s: config is damaged", url);
        memcpy(repo->repo_id, buf + SK_FILE_HEADER_SIZE, 16);
        r = sk_keyring_unlock(repo->b, repo->repo_id, secret, repo->master, &repo->slot);
        if (r == -EKEYREJECTED && *sk_keyring_last_skipped())
                return fail(r, "%s: wrong password or key file (no key slot accepts it; %s)", url,
                            sk_keyring_last_skipped());
        if (r == -EKEYREJECTED)
                return fail(r, "%s: wrong password or key file (no key slot accepts it)", url);
        if (r == -EFBIG)
                return fail(r, "%s: %s", url, sk_keyring_last_skipped());
        if (r == -ENOENT)
                return fail(-EKEYREJECTED, "%s: repository has no key slots", url);
        if (r == -EPROTO)
                return fail(r, "%s: key slots have a version this snapkeep does not know", url);
        if (r < 0)
                return fail(r, "%s: reading keys: %s", url, strerror(-r));
        r = derive_keys(repo);
        if (r < 0)
                return fail(r, "key derivation failed");
        r = sk_open_envelope(&repo->keys, buf, SK_FILE_HEADER_SIZE + 16, buf + SK_FILE_HEADER_SIZE + 16,
                             len - SK_FILE_HEADER_SIZE - 16, (void **) &body, &blen);
        if (r < 0 || blen < CONFIG_BODY_SIZE)
                return fail(r < 0 && r != -EBADMSG ? r : -EBADMSG, "%s: config fails verification", url);
        repo->cfg = (sk_repo_config) {
                .version = 1,
                .chunk_min = sk_get_le32(body), .chunk_avg = sk_get_le32(body + 4),
                .chunk_max = sk_get_le32(body + 8), .zstd_level = (int32_t) sk_get_le32(body + 12),
                .pack_size = sk_get_le32(body + 16), .created = sk_get_le64(body + 24),
        };
        sk_hex_encode(repo->repo_id, 16, repo->cfg.repo_id);
        if (!config_valid(&repo->cfg))
                return fail(-EBADMSG, "%s: config holds invalid parameters", url);
        repo->zstd_level = repo->cfg.zstd_level;
        r = load_index(repo);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(repo);
        return 0;
}

int sk_repo_get_config(const sk_repo *repo, sk_repo_config *ret) {
        *ret = repo->cfg;
        return 0;
}

int sk_repo_set_zstd_level(sk_repo *repo, int level) {
        if (level < 1 || level > 19)
                return fail(-EINVAL, "zstd level %d out of range 1..19", level);
        repo->zstd_level = level;
        return 0;
}

int sk_repo_chunker_init(const sk_repo *repo, sk_chunker *c) {
        return sk_chunker_init(c, &repo->gear, repo->cfg.chunk_min, repo->cfg.chunk_avg, repo->cfg.chunk_max);
}

int sk_repo_blob_id(const sk_repo *repo, const void *data, size_t len, sk_blob_id *ret) {
        return sk_hmac_compute(repo->id_hmac, data, len, ret->b);
}

char *sk_blob_id_to_hex(const sk_blob_id *id, char out[SK_BLOB_ID_HEX + 1]) {
        sk_hex_encode(id->b, SK_BLOB_ID_SIZE, out);
        return out;
}

int sk_blob_id_from_hex(const char *hex, sk_blob_id *ret) {
        sk_blob_id id;
        if (strlen(hex) != SK_BLOB_ID_HEX || sk_hex_decode(hex, id.b, SK_BLOB_ID_SIZE) < 0)
                return -EINVAL;
        *ret = id;
        return 0;
}

/* --- index loading --- */

static void pack_path(const uint8_t name[32], char out[80]) {
        char hex[65];
        sk_hex_encode(name, 32, hex);
        snprintf(out, 80, "data/%.2s/%s", hex, hex);
}

typedef struct load_ctx {
        sk_repo *repo;
        sk_index_entry *v;
        size_t n, cap;
        uint8_t (*packs)[32];
} load_ctx;

static int load_entry(const uint8_t pack[32], const sk_record *r, void *userdata) {
        load_ctx *c = userdata;
        if (c->n == c->cap) {
                size_t ncap = c->cap ? c->cap * 2 : 1024;
                sk_index_entry *t = realloc(c->v, ncap * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                void *tp = realloc(c->packs, ncap * 32);
                if (!tp) {
                        c->v = t;
                        return -ENOMEM;
                }
                c->v = t;
                c->packs = tp;
                c->cap = ncap;
        }
        c->v[c->n] = (sk_index_entry) {
                .id = r->id, .offset = r->offset, .stored_len = r->stored_len, .raw_len = r->raw_len,
                .type = r->type, .flags = r->flags,
        };
        memcpy(c->packs[c->n], pack, 32);
        c->n++;
        return 0;
}

/* Decode fully first, then insert: a file that fails half-way adds nothing. */
static int load_index_file(sk_repo *repo, const char *name) {
        char path[96];
        _cleanup_free_ void *buf = NULL;
        size_t len;
        uint8_t digest[32], want[32];
        snprintf(path, sizeof(path), "index/%s", name);
        int r = sk_backend_get_whole(repo->b, path, SK_INDEX_FILE_MAX, &buf, &len);
        if (r == -EFBIG)
                return fail(r, "index file %s: larger than its bound (%u MiB); rebuild-index rewrites the index",
                            name, SK_INDEX_FILE_MAX >> 20);
        if (r < 0)
                return fail(r, "index file %s: %s", name, strerror(-r));
        if ((r = sk_sha256(buf, len, digest)) < 0)
                return r;
        if (sk_hex_decode(name, want, 32) < 0 || memcmp(want, digest, 32) != 0)
                return fail(-EBADMSG, "index file %s: content does not match its name", name);
        load_ctx c = { .repo = repo };
        r = sk_index_file_decode(&repo->keys, buf, len, load_entry, &c);
        if (r < 0) {
                free(c.v);
                free(c.packs);
                return fail(r, "index file %s: %s", name, r == -EPROTO ? "unknown version" : "fails verification");
        }
        pthread_mutex_lock(&repo->lock);
        for (size_t i = 0; i < c.n && r >= 0; i++) {
                r = sk_index_pack_add(repo->idx, c.packs[i], &c.v[i].pack);
                if (r >= 0)
                        r = sk_index_insert(repo->idx, &c.v[i], false);
        }
        pthread_mutex_unlock(&repo->lock);
        free(c.v);
        free(c.packs);
        return r < 0 ? r : 0;
}

/* --- writing packs --- */

static ZSTD_CCtx *cctx_get(sk_repo *repo) {
        ZSTD_CCtx *c = NULL;
        pthread_mutex_lock(&repo->cctx_lock);
        if (repo->ncctx > 0)
                c = repo->cctx[--repo->ncctx];
        pthread_mutex_unlock(&repo->cctx_lock);
        return c ? c : ZSTD_createCCtx();
}

static void cctx_put(sk_repo *repo, ZSTD_CCtx *c) {
        pthread_mutex_lock(&repo->cctx_lock);
        if (repo->ncctx < CCTX_POOL) {
                repo->cctx[repo->ncctx++] = c;
                c = NULL;
        }
        pthread_mutex_unlock(&repo->cctx_lock);
        ZSTD_freeCCtx(c);
}

/* Compress and seal data into a new record buffer. */
static int build_record(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, const void *data, size_t len,
                        uint8_t **ret, sk_record *ret_rec) {
        size_t bound = ZSTD_compressBound(len);
        _cleanup_free_ uint8_t *rec = malloc(SK_RECORD_OVERHEAD + MAX(bound, len));
        if (!rec)
                return -ENOMEM;
        uint8_t *stored = rec + SK_RECORD_HEADER_SIZE;
        sk_record r = { .id = *id, .type = (uint8_t) type, .raw_len = (uint32_t) len, .stored_len = (uint32_t) len };
        if (len >= 64) {
                ZSTD_CCtx *c = cctx_get(repo);
                if (!c)
                        return -ENOMEM;
                size_t n = ZSTD_compressCCtx(c, stored, bound, data, len, repo->zstd_level);
                cctx_put(repo, c);
                if (ZSTD_isError(n))
                        return fail(-EIO, "zstd: %s", ZSTD_getErrorName(n));
                if (n < len) {
                        r.flags = SK_BLOB_FLAG_ZSTD;
                        r.stored_len = (uint32_t) n;
                }
        }
        if (!(r.flags & SK_BLOB_FLAG_ZSTD))
                memcpy(stored, data, len);
        memcpy(r.salt, repo->salt, SK_SALT_SIZE);
        next_nonce(repo, r.nonce);
        int q = sk_record_seal(repo->session_key, &r, stored, rec);
        if (q < 0)
                return q;
        *ret_rec = r;
        *ret = TAKE_PTR(rec);
        return 0;
}

static pending_pack *pending_find(sk_repo *repo, uint32_t tag) {
        for (pending_pack *p = repo->pending; p; p = p->next)
                if (p->tag == tag)
                        return p;
        return NULL;
}

static void pending_unlink(sk_repo *repo, pending_pack *pp) {
        for (pending_pack **p = &repo->pending; *p; p = &(*p)->next)
                if (*p == pp) {
                        *p = pp->next;
                        return;
                }
}

static int pending_new(sk_repo *repo, pending_pack **ret) {
        pending_pack *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->cap = (size_t) repo->cfg.pack_size + (1u << 20);
        p->buf = malloc(p->cap);
        if (!p->buf) {
                free(p);
                return -ENOMEM;
        }
        sk_pack_header_encode(repo->salt, p->buf);
        p->len = SK_PACK_HEADER_SIZE;
        p->tag = PENDING_BIT | (++repo->pending_serial & ~PENDING_BIT);
        p->next = repo->pending;
        repo->pending = p;
        *ret = p;
        return 0;
}

/* Called with the lock held. Appends rec to the current pack; if that pack is
 * full afterwards, detaches it into *ret_full for the caller to write. */
static unsigned cur_slot(uint8_t type) {
        return type == SK_BLOB_TREE;
}

static int append_record(sk_repo *repo, const sk_record *r, const uint8_t *rec, bool replace, pending_pack **ret_full) {
        size_t rlen = sk_record_length(r);
        pending_pack **cur = &repo->cur[cur_slot(r->type)];
        pending_pack *p = *cur;
        int q;
        *ret_full = NULL;
        if (!p) {
                q = pending_new(repo, &p);
                if (q < 0)
                        return q;
                *cur = p;
        }
        if (p->len + rlen > p->cap) {
                size_t ncap = MAX(p->cap * 2, p->len + rlen);
                uint8_t *t = realloc(p->buf, ncap);
                if (!t)
                        return -ENOMEM;
                p->buf = t;
                p->cap = ncap;
        }
        if (p->n == p->rcap) {
                size_t ncap = p->rcap ? p->rcap * 2 : 64;
                sk_record *t = realloc(p->recs, ncap * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                p->recs = t;
                p->rcap = ncap;
        }
        sk_index_entry e = {
                .id = r->id, .pack = p->tag, .offset = (uint32_t) p->len, .stored_len = r->stored_len,
                .raw_len = r->raw_len, .type = r->type, .flags = r->flags,
        };
        q = sk_index_insert(repo->idx, &e, replace);
        if (q < 0)
                return q;
        memcpy(p->buf + p->len, rec, rlen);
        p->recs[p->n] = *r;
        p->recs[p->n].offset = (uint32_t) p->len;
        p->n++;
        p->len += rlen;
        if (p->len >= repo->cfg.pack_size || p->n >= SK_PACK_MAX_BLOBS - 1) {
                *cur = NULL;
                repo->inflight++;
                *ret_full = p;
        }
        return 0;
}

static int write_index_locked_out(sk_repo *repo, stored_pack *sp, size_t n);

/* Write a detached pack (lock NOT held); then re-point its index entries. */
static int write_pack(sk_repo *repo, pending_pack *p) {
        _cleanup_free_ void *trailer = NULL;
        size_t tlen = 0;
        uint8_t nonce[SK_NONCE_SIZE], name[32];
        char path[80];
        int r;

        next_nonce(repo, nonce);
        r = sk_pack_trailer_encode(repo->session_key, nonce, p->buf, p->recs, p->n, &trailer, &tlen);
        if (r >= 0) {
                /* get_blob may be copying out of p->buf: grow it under the lock */
                pthread_mutex_lock(&repo->lock);
                if (p->len + tlen > p->cap) {
                        uint8_t *t = realloc(p->buf, p->len + tlen);
                        if (!t)
                                r = -ENOMEM;
                        else {
                                p->buf = t;
                                p->cap = p->len + tlen;
                        }
                }
                if (r >= 0)
                        memcpy(p->buf + p->len, trailer, tlen);
                pthread_mutex_unlock(&repo->lock);
        }
        if (r >= 0)
                r = sk_sha256(p->buf, p->len + tlen, name);
        if (r >= 0) {
                pack_path(name, path);
                r = sk_backend_put(repo->b, path, p->buf, p->len + tlen);
                if (r < 0)
                        fail(r, "writing pack %s: %s", path, strerror(-r));
        }

        stored_pack *flush_v = NULL;
        size_t flush_n = 0;
        pthread_mutex_lock(&repo->lock);
        if (r >= 0) {
                uint32_t num;
                r = sk_index_pack_add(repo->idx, name, &num);
                for (size_t i = 0; i < p->n && r >= 0; i++) {
                        sk_index_entry e;
                        /* only entries still pointing here (repack may have moved none away, but be exact) */
                        if (sk_index_lookup(repo->idx, &p->recs[i].id, (sk_blob_type) p->recs[i].type, &e) == 1 &&
                            e.pack == p->tag) {
                                e.pack = num;
                                r = sk_index_insert(repo->idx, &e, true);
                        }
                }
                if (r >= 0 && repo->nstored == repo->stored_cap) {
                        size_t ncap = repo->stored_cap ? repo->stored_cap * 2 : 16;
                        stored_pack *t = realloc(repo->stored, ncap * sizeof(*t));
                        if (!t)
                                r = -ENOMEM;
                        else {
                                repo->stored = t;
                                repo->stored_cap = ncap;
                        }
                }
                if (r >= 0) {
                        stored_pack *sp = &repo->stored[repo->nstored++];
                        memcpy(sp->name, name, 32);
                        sp->recs = TAKE_PTR(p->recs);
                        sp->n = p->n;
                        if (repo->nstored >= INDEX_EVERY_PACKS) {
                                flush_v = repo->stored;
                                flush_n = repo->nstored;
                                repo->stored = NULL;
                                repo->nstored = repo->stored_cap = 0;
                        }
                }
        }
        if (r < 0) {
                sk_index_remove_pack(repo->idx, p->tag);
                if (!repo->write_error) {
                        repo->write_error = r;
                        snprintf(repo->write_error_detail, sizeof(repo->write_error_detail), "%s", last_error);
                }
        }
        pending_unlink(repo, p);
        pthread_mutex_unlock(&repo->lock);
        pending_free(p);
        if (flush_v) {
                int q = write_index_locked_out(repo, flush_v, flush_n);
                if (q < 0 && r >= 0)
                        r = q;
        }
        /* Only now: a flush waiting for writes in flight must also find the
         * index file this write took on written. */
        pthread_mutex_lock(&repo->lock);
        repo->inflight--;
        pthread_cond_broadcast(&repo->cond);
        pthread_mutex_unlock(&repo->lock);
        return r;
}

/* Full packs are written by a thread of their own, so the thread that
 * filled one goes back to compressing while the pack is hashed, written
 * and synced (or uploaded). At most MAX_PACK_WRITERS at once: each holds
 * a pack in memory. A write's error is kept in repo->write_error and
 * reported by the next put_blob and by sk_repo_flush. */
typedef struct pack_writer {
        sk_repo *repo;
        pending_pack *p;
} pack_writer;

static void *pack_writer_main(void *userdata) {
        pack_writer *w = userdata;
        sk_repo *repo = w->repo;
        (void) write_pack(repo, w->p);
        free(w);
        pthread_mutex_lock(&repo->lock);
        repo->writers--;
        pthread_cond_broadcast(&repo->cond);
        pthread_mutex_unlock(&repo->lock);
        return NULL;
}

static int start_pack_write(sk_repo *repo, pending_pack *p) {
        pack_writer *w = malloc(sizeof(*w));
        pthread_attr_t attr;
        pthread_t t;
        bool started = false;
        if (w && pthread_attr_init(&attr) == 0) {
                *w = (pack_writer) { .repo = repo, .p = p };
                pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                pthread_mutex_lock(&repo->lock);
                while (repo->writers >= MAX_PACK_WRITERS)
                        pthread_cond_wait(&repo->cond, &repo->lock);
                repo->writers++;
                started = pthread_create(&t, &attr, pack_writer_main, w) == 0;
                if (!started)
                        repo->writers--;
                pthread_mutex_unlock(&repo->lock);
                pthread_attr_destroy(&attr);
        }
        if (started)
                return 0;
        free(w);
        return write_pack(repo, p);     /* no thread: write it here */
}

/* Write index files for n stored packs (lock not held), as few as the
 * entry bound allows (one unless the packs hold more than
 * SK_INDEX_FILE_MAX_ENTRIES blobs); frees sp. On failure the packs stay
 * unindexed (recoverable by rebuild-index) and the error is sticky. */
static int write_index_locked_out(sk_repo *repo, stored_pack *sp, size_t n) {
        _cleanup_free_ sk_index_section *s = calloc(MAX(n, 1u), sizeof(*s));
        int r = s ? 0 : -ENOMEM;

        for (size_t i = 0; i < n && s; i++) {
                s[i] = (sk_index_section) { .entries = sp[i].recs, .n = sp[i].n };
                memcpy(s[i].pack, sp[i].name, 32);
        }
        for (size_t start = 0, end; r >= 0 && start < n; start = end) {
                size_t entries = 0;
                /* a pack holds at most SK_PACK_MAX_BLOBS < the bound: every group has one */
                for (end = start; end < n && (end == start || entries + sp[end].n <= SK_INDEX_FILE_MAX_ENTRIES); end++)
                        entries += sp[end].n;
                _cleanup_free_ void *file = NULL;
                size_t flen = 0;
                uint8_t nonce[SK_NONCE_SIZE], digest[32];
                char hex[65], path[96];
                next_nonce(repo, nonce);
                r = sk_index_file_encode(repo->session_key, repo->salt, nonce, s + start, end - start, &file, &flen);
                if (r >= 0)
                        r = sk_sha256(file, flen, digest);
                if (r >= 0) {
                        sk_hex_encode(digest, 32, hex);
                        snprintf(path, sizeof(path), "index/%s", hex);
                        r = guarded_put(repo, path, file, flen);
                }
                if (r >= 0) {
                        pthread_mutex_lock(&repo->lock);
                        repo->index_files++;
                        r = strv_add(&repo->loaded, hex);
                        pthread_mutex_unlock(&repo->lock);
                }
        }
        for (size_t i = 0; i < n; i++)
                free(sp[i].recs);
        free(sp);
        pthread_mutex_lock(&repo->lock);
        if (r < 0 && !repo->write_error) {
                repo->write_error = r;
                snprintf(repo->write_error_detail, sizeof(repo->write_error_detail), "%s", last_error);
        }
        pthread_mutex_unlock(&repo->lock);
        return r;
}

static int put_blob_internal(sk_repo *repo, sk_blob_type type, const void *data, size_t len, bool force,
                             const sk_blob_id *known_id, sk_blob_id *ret_id, bool *ret_was_new) {
        sk_blob_id id;
        int r;
        if (type != SK_BLOB_DATA && type != SK_BLOB_TREE)
                return fail(-EINVAL, "unknown blob type %d", (int) type);
        if (len > SK_BLOB_MAX_SIZE)
                return fail(-EFBIG, "blob of %zu bytes exceeds the maximum", len);
        if (known_id)
                id = *known_id;
        else if ((r = sk_repo_blob_id(repo, data, len, &id)) < 0)
                return fail(r, "hashing blob failed");

        char detail[sizeof(repo->write_error_detail)] = "";
        pthread_mutex_lock(&repo->lock);
        r = repo->write_error;
        if (r < 0)
                snprintf(detail, sizeof(detail), "%s", repo->write_error_detail);
        bool have = !force && sk_index_lookup(repo->idx, &id, type, NULL) == 1;
        pthread_mutex_unlock(&repo->lock);
        if (r < 0)
                return fail(r, "an earlier write failed: %s", detail[0] ? detail : strerror(-r));
        if (have) {
                if (ret_id)
                        *ret_id = id;
                if (ret_was_new)
                        *ret_was_new = false;
                return 0;
        }

        _cleanup_free_ uint8_t *rec = NULL;
        sk_record rc;
        r = build_record(repo, type, &id, data, len, &rec, &rc);
        if (r < 0)
                return fail(r, "sealing blob failed");

        pending_pack *full = NULL;
        bool was_new = true;
        pthread_mutex_lock(&repo->lock);
        if (!force && sk_index_lookup(repo->idx, &id, type, NULL) == 1)
                was_new = false;        /* another thread won the race */
        else
                r = append_record(repo, &rc, rec, force, &full);
        pthread_mutex_unlock(&repo->lock);
        if (r < 0)
                return fail(r, "adding blob to pack: %s", strerror(-r));
        if (full) {
                r = start_pack_write(repo, full);
                if (r < 0)
                        return r;
        }
        if (ret_id)
                *ret_id = id;
        if (ret_was_new)
                *ret_was_new = was_new;
        return 0;
}

int sk_repo_put_blob(sk_repo *repo, sk_blob_type type, const void *data, size_t len, sk_blob_id *ret_id,
                     bool *ret_was_new) {
        return put_blob_internal(repo, type, data, len, false, NULL, ret_id, ret_was_new);
}

int sk_repo_has_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        pthread_mutex_lock(&repo->lock);
        int r = sk_index_lookup(repo->idx, id, type, NULL);
        pthread_mutex_unlock(&repo->lock);
        return r;
}

int sk_repo_flush(sk_repo *repo) {
        pending_pack *full[2] = { NULL, NULL };
        int r = 0;
        pthread_mutex_lock(&repo->lock);
        for (unsigned i = 0; i < ARRAY_SIZE(full); i++)
                if (repo->cur[i] && repo->cur[i]->n > 0) {
                        full[i] = repo->cur[i];
                        repo->cur[i] = NULL;
                        repo->inflight++;
                }
        pthread_mutex_unlock(&repo->lock);
        for (unsigned i = 0; i < ARRAY_SIZE(full); i++)
                if (full[i]) {
                        int q = write_pack(repo, full[i]);
                        if (q < 0 && r >= 0)
                                r = q;
                }

        pthread_mutex_lock(&repo->lock);
        while (repo->inflight > 0)
                pthread_cond_wait(&repo->cond, &repo->lock);
        stored_pack *v = repo->stored;
        size_t n = repo->nstored;
        repo->stored = NULL;
        repo->nstored = repo->stored_cap = 0;
        int we = repo->write_error;
        char detail[sizeof(repo->write_error_detail)];
        snprintf(detail, sizeof(detail), "%s", repo->write_error_detail);
        pthread_mutex_unlock(&repo->lock);
        if (n > 0) {
                int q = write_index_locked_out(repo, v, n);
                if (q < 0 && r >= 0)
                        r = q;
        } else
                free(v);
        if (r >= 0 && we < 0)
                r = fail(we, "an earlier write failed: %s", detail[0] ? detail : strerror(-we));
        return r;
}

/* --- reading --- */

static const char *type_name(sk_blob_type type) {
        return type == SK_BLOB_TREE ? "tree" : "data";
}

/* The index entry of (id, type), or with legacy, of (id, other type) when
 * only that exists (see sk_repo_get_blob). Called with repo->lock held. */
static int lookup_for_read(sk_repo *repo, const sk_blob_id *id, sk_blob_type type, bool legacy, sk_index_entry *ret) {
        if (sk_index_lookup(repo->idx, id, type, ret) == 1)
                return 1;
        sk_blob_type other = type == SK_BLOB_TREE ? SK_BLOB_DATA : SK_BLOB_TREE;
        return legacy && sk_index_lookup(repo->idx, id, other, ret) == 1;
}

static int get_blob_internal(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, bool legacy, void **ret_buf,
                             size_t *ret_len) {
        sk_index_entry e;
        _cleanup_free_ void *rec = NULL;
        size_t rlen = 0;
        char path[80] = "", hex[65];
        int r;

        if (type != SK_BLOB_DATA && type != SK_BLOB_TREE)
                return fail(-EINVAL, "unknown blob type %d", (int) type);
        pthread_mutex_lock(&repo->lock);
        if (lookup_for_read(repo, id, type, legacy, &e) != 1) {
                pthread_mutex_unlock(&repo->lock);
                return fail(-ENOENT, "%s blob %s is not in the index", type_name(type), sk_blob_id_to_hex(id, hex));
        }
        rlen = (size_t) SK_RECORD_OVERHEAD + e.stored_len;
        if (e.pack & PENDING_BIT) {
                pending_pack *p = pending_find(repo, e.pack);
                if (p && (size_t) e.offset + rlen <= p->len) {
                        rec = malloc(rlen);
                        if (rec)
                                memcpy(rec, p->buf + e.offset, rlen);
                }
                pthread_mutex_unlock(&repo->lock);
                if (!rec)
                        return p ? -ENOMEM : fail(-EIO, "blob %s: pending pack vanished", hex);
                snprintf(path, sizeof(path), "(pack being written)");
        } else {
                const uint8_t *pn = sk_index_pack_name(repo->idx, e.pack);
                if (pn)
                        pack_path(pn, path);
                pthread_mutex_unlock(&repo->lock);
                if (!pn)
                        return fail(-EIO, "index entry without pack");
                size_t got = 0;
                r = 0;
                if (atomic_load(&repo->read_ahead_users) > 0) {
                        r = sk_packcache_read(repo->read_ahead[cur_slot(e.type)], e.pack, e.offset, rlen, &rec);
                        if (r > 0)
                                got = rlen;
                }
                if (r == 0)
                        r = sk_backend_get(repo->b, path, e.offset, rlen, &rec, &got);
                if (r == -ENOENT)
                        return fail(r, "pack %s is missing (blob %s)", path + 8, sk_blob_id_to_hex(id, hex));
                if (r < 0)
                        return fail(r, "pack %s: %s", path + 8, strerror(-r));
                if (got < rlen)
                        return fail(-EBADMSG, "pack %s offset %u: truncated (blob %s)", path + 8, e.offset,
                                    sk_blob_id_to_hex(id, hex));
        }
        char detail[160] = "";
        sk_record rc;
        _cleanup_free_ void *plain = NULL;
        size_t plen;
        r = sk_record_open(&repo->keys, rec, rlen, id, &rc, &plain, &plen, detail, sizeof(detail));
        /* The record's type is authenticated (AAD): it must be the one the
         * index promised, so no index entry can pass one kind off as another. */
        if (r >= 0 && rc.type != e.type) {
                r = -EBADMSG;
                snprintf(detail, sizeof(detail), "record holds a %s blob, the index says %s",
                         type_name((sk_blob_type) rc.type), type_name((sk_blob_type) e.type));
        }
        if (r < 0)
                return fail(r, "pack %s offset %u: blob %s: %s", (e.pack & PENDING_BIT) ? path : path + 8, e.offset,
                            sk_blob_id_to_hex(id, hex), detail[0] ? detail : strerror(-r));
        *ret_len = plen;
        *ret_buf = TAKE_PTR(plain);
        return 0;
}

int sk_repo_get_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, void **ret_buf, size_t *ret_len) {
        return get_blob_internal(repo, type, id, true, ret_buf, ret_len);
}

/* The read-ahead cache's fetch: pack numbers are the index's. */
static int read_ahead_fetch(void *userdata, uint32_t pack, uint64_t offset, size_t len, void **ret_buf,
                            size_t *ret_len) {
        sk_repo *repo = userdata;
        char path[80];
        pthread_mutex_lock(&repo->lock);
        const uint8_t *pn = sk_index_pack_name(repo->idx, pack);
        if (pn)
                pack_path(pn, path);
        pthread_mutex_unlock(&repo->lock);
        if (!pn)
                return -EIO;
        return sk_backend_get(repo->b, path, offset, len, ret_buf, ret_len);
}

int sk_repo_read_ahead_begin(sk_repo *repo) {
        int r = 0;
        pthread_mutex_lock(&repo->lock);
        size_t span = (size_t) repo->cfg.pack_size + repo->cfg.pack_size / 4;
        span = MAX(span, (size_t) 1 << 20);
        span = MIN(span, (size_t) 32 << 20);
        /* data: the packs the workers are in plus the next; trees: one
         * walker, and tree packs are few */
        const unsigned spans[2] = { SK_REPO_READ_AHEAD_SPANS, 2 };
        for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead) && r >= 0; i++)
                if (!repo->read_ahead[i])
                        r = sk_packcache_new(spans[i], span, read_ahead_fetch, repo, &repo->read_ahead[i]);
        if (r >= 0)
                atomic_fetch_add(&repo->read_ahead_users, 1);
        pthread_mutex_unlock(&repo->lock);
        return r < 0 ? fail(r, "cannot set up read-ahead: %s", strerror(-r)) : 0;
}

/* The index entry of a stored (not pending) blob, when read-ahead is on. */
static bool read_ahead_entry(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, sk_index_entry *e) {
        if (atomic_load(&repo->read_ahead_users) == 0)
                return false;
        pthread_mutex_lock(&repo->lock);
        bool found = lookup_for_read(repo, id, type, true, e) == 1 && !(e->pack & PENDING_BIT);
        pthread_mutex_unlock(&repo->lock);
        return found;
}

int sk_repo_read_ahead_plan(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        sk_index_entry e;
        if (!read_ahead_entry(repo, type, id, &e))
                return 0;
        return sk_packcache_plan(repo->read_ahead[cur_slot(e.type)], e.pack, e.offset,
                                 (size_t) SK_RECORD_OVERHEAD + e.stored_len);
}

void sk_repo_read_ahead_hint(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        sk_index_entry e;
        if (read_ahead_entry(repo, type, id, &e))
                (void) sk_packcache_prefetch(repo->read_ahead[cur_slot(e.type)], e.pack, e.offset,
                                             (size_t) SK_RECORD_OVERHEAD + e.stored_len);
}

void sk_repo_read_ahead_end(sk_repo *repo) {
        pthread_mutex_lock(&repo->lock);
        if (atomic_fetch_sub(&repo->read_ahead_users, 1) == 1)
                drop_read_ahead(repo);
        pthread_mutex_unlock(&repo->lock);
}

/* --- objects --- */

static bool dir_valid(const char *dir) {
        static const char *const reserved[] = { "config", "keys", "data", "index", "locks", "lockgone" };
        size_t n = strlen(dir);
        if (n < 1 || n > 16)
                return false;
        for (const char *c = dir; *c; c++)
                if (*c < 'a' || *c > 'z')
                        return false;
        for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
                if (strcmp(dir, reserved[i]) == 0)
                        return false;
        return true;
}

static bool object_name_valid(const char *name) {
        size_t n = strlen(name);
        if (n < 1 || n > 128 || name[0] == '.' || strstr(name, ".tmp-"))
                return false;
        for (const char *c = name; *c; c++)
                if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') || *c == '.' ||
                      *c == '_' || *c == '-'))
                        return false;
        return true;
}

static int object_aad(const char *dir, const char *name, uint8_t **ret, size_t *ret_len) {
        size_t n = SK_FILE_HEADER_SIZE + strlen(dir) + 1 + strlen(name);
        uint8_t *a = malloc(n + 1);
        if (!a)
                return -ENOMEM;
        sk_file_header_encode(object_magic, a);
        snprintf((char *) a + SK_FILE_HEADER_SIZE, n + 1 - SK_FILE_HEADER_SIZE, "%s/%s", dir, name);
        *ret = a;
        *ret_len = n;
        return 0;
}

int sk_repo_put_object(sk_repo *repo, const char *dir, const char *name, const void *data, size_t len) {
        if (!dir_valid(dir) || !object_name_valid(name))
                return fail(-EINVAL, "invalid object name %s/%s", dir, name);
        if (len > OBJECT_MAX)
                return fail(-EFBIG, "object too large");
        _cleanup_free_ uint8_t *aad = NULL;
        size_t aadlen;
        int r = object_aad(dir, name, &aad, &aadlen);
        if (r < 0)
                return r;
        size_t bound = ZSTD_compressBound(len);
        _cleanup_free_ uint8_t *body = malloc(16 + MAX(bound, len));
        if (!body)
                return -ENOMEM;
        memset(body, 0, 16);
        sk_put_le64(body + 8, len);
        size_t blen = 16 + len;
        ZSTD_CCtx *c = cctx_get(repo);
        if (!c)
                return -ENOMEM;
        size_t n = ZSTD_compressCCtx(c, body + 16, bound, data, len, repo->zstd_level);
        cctx_put(repo, c);
        if (!ZSTD_isError(n) && n < len) {
                body[0] = 1;
                blen = 16 + n;
        } else if (len)
                memcpy(body + 16, data, len);
        _cleanup_free_ uint8_t *file = malloc(SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + blen);
        if (!file)
                return -ENOMEM;
        uint8_t nonce[SK_NONCE_SIZE];
        memcpy(file, aad, SK_FILE_HEADER_SIZE);
        next_nonce(repo, nonce);
        r = sk_seal_envelope(repo->session_key, repo->salt, nonce, aad, aadlen, body, blen, file + SK_FILE_HEADER_SIZE);
        if (r < 0)
                return fail(r, "sealing object failed");
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return guarded_put(repo, path, file, SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + blen);
}

int sk_repo_get_object(sk_repo *repo, const char *dir, const char *name, void **ret_buf, size_t *ret_len) {
        if (!dir_valid(dir) || !object_name_valid(name))
                return fail(-EINVAL, "invalid object name %s/%s", dir, name);
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        _cleanup_free_ uint8_t *file = NULL, *aad = NULL, *body = NULL;
        size_t flen, aadlen, blen;
        int r = sk_backend_get_whole(repo->b, path, OBJECT_FILE_MAX, (void **) &file, &flen);
        if (r == -EFBIG)
                return fail(r, "%s: larger than the bound for objects (%u MiB)", path, OBJECT_MAX >> 20);
        if (r < 0)
                return fail(r, "%s: %s", path, r == -ENOENT ? "no such object" : strerror(-r));
        r = sk_file_header_parse(file, flen, object_magic);
        if (r < 0)
                return fail(r, "%s: %s", path, r == -EPROTO ? "unknown object version" : "damaged object header");
        r = object_aad(dir, name, &aad, &aadlen);
        if (r < 0)
                return r;
        r = sk_open_envelope(&repo->keys, aad, aadlen, file + SK_FILE_HEADER_SIZE, flen - SK_FILE_HEADER_SIZE,
                             (void **) &body, &blen);
        if (r < 0)
                return fail(r, "%s: %s", path, r == -EBADMSG ? "fails verification (corrupt or renamed)" : strerror(-r));
        if (blen < 16 || (body[0] & ~1u))
                return fail(-EBADMSG, "%s: damaged object body", path);
        uint64_t raw = sk_get_le64(body + 8);
        if (raw > OBJECT_MAX)
                return fail(-EBADMSG, "%s: damaged object body", path);
        _cleanup_free_ uint8_t *out = malloc((size_t) raw + 1);
        if (!out)
                return -ENOMEM;
        if (body[0] & 1) {
                size_t n = ZSTD_decompress(out, (size_t) raw, body + 16, blen - 16);
                if (ZSTD_isError(n) || n != raw)
                        return fail(-EBADMSG, "%s: decompression failed", path);
        } else {
                if (blen - 16 != raw)
                        return fail(-EBADMSG, "%s: length mismatch", path);
                memcpy(out, body + 16, (size_t) raw);
        }
        out[raw] = 0;
        *ret_len = (size_t) raw;
        *ret_buf = TAKE_PTR(out);
        return 0;
}

typedef struct obj_list_ctx {
        sk_repo_name_fn cb;
        void *userdata;
        size_t skip;
} obj_list_ctx;

static int obj_list_one(const char *name, uint64_t size, void *userdata) {
        obj_list_ctx *c = userdata;
        (void) size;
        const char *n = name + c->skip;
        if (!object_name_valid(n))
                return 0;
        return c->cb(n, c->userdata);
}

int sk_repo_list_objects(sk_repo *repo, const char *dir, sk_repo_name_fn cb, void *userdata) {
        if (!dir_valid(dir))
                return fail(-EINVAL, "invalid object directory %s", dir);
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "%s/", dir);
        obj_list_ctx c = { .cb = cb, .userdata = userdata, .skip = strlen(prefix) };
        int r = sk_backend_list(repo->b, prefix, obj_list_one, &c);
        if (r < 0)
                return fail(r, "listing %s: %s", dir, strerror(-r));
        return 0;
}

int sk_repo_delete_object(sk_repo *repo, const char *dir, const char *name) {
        if (!dir_valid(dir) || !object_name_valid(name))
                return fail(-EINVAL, "invalid object name %s/%s", dir, name);
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int r = sk_backend_del(repo->b, path);
        if (r < 0)
                return fail(r, "deleting %s: %s", path, strerror(-r));
        return 0;
}

/* --- enumeration --- */

typedef struct pack_list_ctx {
        sk_repo_pack_fn cb;
        void *userdata;
} pack_list_ctx;

/* "data/xx/<64 hex>" with xx matching. */
static const char *pack_name_from_path(const char *path) {
        if (strncmp(path, "data/", 5) != 0 || strlen(path) != 5 + 3 + 64 || path[7] != '/')
                return NULL;
        const char *hex = path + 8;
        if (!is_hex64(hex) || memcmp(path + 5, hex, 2) != 0)
                return NULL;
        return hex;
}

static int pack_list_one(const char *name, uint64_t size, void *userdata) {
        pack_list_ctx *c = userdata;
        const char *hex = pack_name_from_path(name);
        if (!hex)
                return 0;
        return c->cb(hex, size, c->userdata);
}

int sk_repo_list_packs(sk_repo *repo, sk_repo_pack_fn cb, void *userdata) {
        pack_list_ctx c = { .cb = cb, .userdata = userdata };
        int r = sk_backend_list(repo->b, "data/", pack_list_one, &c);
        if (r < 0)
                return fail(r, "listing packs: %s", strerror(-r));
        return r;
}

typedef struct snap_ctx {
        sk_index_entry *v;
        size_t n, cap;
        uint32_t only_pack;     /* SK_INDEX_NO_PACK: all */
} snap_ctx;

static int snap_one(const sk_index_entry *e, void *userdata) {
        snap_ctx *c = userdata;
        if (e->pack & PENDING_BIT)
                return 0;
        if (c->only_pack != SK_INDEX_NO_PACK && e->pack != c->only_pack)
                return 0;
        if (c->n == c->cap) {
                size_t ncap = c->cap ? c->cap * 2 : 1024;
                sk_index_entry *t = realloc(c->v, ncap * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                c->v = t;
                c->cap = ncap;
        }
        c->v[c->n++] = *e;
        return 0;
}

/* Copy of the durable index entries, so callbacks run without the lock. */
static int index_snapshot(sk_repo *repo, snap_ctx *c) {
        *c = (snap_ctx) { .only_pack = SK_INDEX_NO_PACK };
        pthread_mutex_lock(&repo->lock);
        int r = sk_index_foreach(repo->idx, snap_one, c);
        pthread_mutex_unlock(&repo->lock);
        if (r < 0)
                free(c->v);
        return r;
}

static void entry_to_info(const sk_index_entry *e, sk_blob_info *bi) {
        *bi = (sk_blob_info) {
                .id = e->id, .type = (sk_blob_type) e->type, .compressed = e->flags & SK_BLOB_FLAG_ZSTD,
                .offset = e->offset, .length = SK_RECORD_OVERHEAD + e->stored_len, .raw_length = e->raw_len,
        };
}

static void pack_hex(sk_repo *repo, uint32_t n, char hex[65]) {
        pthread_mutex_lock(&repo->lock);
        const uint8_t *pn = sk_index_pack_name(repo->idx, n);
        if (pn)
                sk_hex_encode(pn, 32, hex);
        else
                hex[0] = 0;
        pthread_mutex_unlock(&repo->lock);
}

int sk_repo_foreach_blob(sk_repo *repo, sk_repo_blob_fn cb, void *userdata) {
        snap_ctx c;
        int r = index_snapshot(repo, &c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c.n && r >= 0; i++) {
                char hex[65];
                sk_blob_info bi;
                pack_hex(repo, c.v[i].pack, hex);
                entry_to_info(&c.v[i], &bi);
                r = cb(hex, &bi, userdata);
        }
        free(c.v);
        return r < 0 ? r : 0;
}

int sk_repo_foreach_bad_index(sk_repo *repo, sk_repo_name_fn cb, void *userdata) {
        for (size_t i = 0; i < repo->bad_index.n; i++) {
                int r = cb(repo->bad_index.v[i], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct stats_ctx {
        sk_repo_stats *s;
} stats_ctx;

static int stats_pack(const char *pack, uint64_t size, void *userdata) {
        sk_repo_stats *s = userdata;
        (void) pack;
        s->pack_count++;
        s->pack_bytes += size;
        return 0;
}

static int stats_blob(const sk_index_entry *e, void *userdata) {
        sk_repo_stats *s = userdata;
        s->blob_count++;
        s->blob_raw_bytes += e->raw_len;
        s->blob_stored_bytes += SK_RECORD_OVERHEAD + e->stored_len;
        if (e->type == SK_BLOB_DATA)
                s->data_blobs++;
        else
                s->tree_blobs++;
        return 0;
}

int sk_repo_get_stats(sk_repo *repo, sk_repo_stats *ret) {
        sk_repo_stats s = { 0 };
        int r = sk_repo_list_packs(repo, stats_pack, &s);
        if (r < 0)
                return r;
        pthread_mutex_lock(&repo->lock);
        sk_index_foreach(repo->idx, stats_blob, &s);
        s.index_files = repo->index_files;
        s.index_files_bad = repo->bad_index.n;
        pthread_mutex_unlock(&repo->lock);
        *ret = s;
        return 0;
}

/* --- check --- */

typedef struct found_set {
        sk_record *v;
        size_t n, cap;
} found_set;

static int found_add(const sk_record *r, void *userdata) {
        found_set *f = userdata;
        if (f->n == f->cap) {
                size_t ncap = f->cap ? f->cap * 2 : 64;
                sk_record *t = realloc(f->v, ncap * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                f->v = t;
                f->cap = ncap;
        }
        f->v[f->n++] = *r;
        return 0;
}

static void record_to_info(const sk_record *r, sk_blob_info *bi) {
        *bi = (sk_blob_info) {
                .id = r->id, .type = (sk_blob_type) r->type, .compressed = r->flags & SK_BLOB_FLAG_ZSTD,
                .offset = r->offset, .length = (uint32_t) sk_record_length(r), .raw_length = r->raw_len,
        };
}

/* Read a whole pack and find its records: from the table, or by scanning. */
static int read_pack_records(sk_repo *repo, const char *hex, uint8_t **ret_buf, size_t *ret_len, found_set *f,
                             bool *ret_name_ok, bool *ret_table_ok) {
        char path[80];
        uint8_t name[32], digest[32];
        size_t len;
        _cleanup_free_ uint8_t *buf = NULL;
        if (!is_hex64(hex) || sk_hex_decode(hex, name, 32) < 0)
                return fail(-EINVAL, "invalid pack name %s", hex);
        pack_path(name, path);
        int r = sk_backend_get_whole(repo->b, path, SK_PACK_MAX_SIZE, (void **) &buf, &len);
        if (r == -EFBIG)
                return fail(r, "pack %s: larger than the bound for packs (%u MiB)", hex, SK_PACK_MAX_SIZE >> 20);
        if (r < 0)
                return fail(r, "pack %s: %s", hex, r == -ENOENT ? "missing" : strerror(-r));
        r = sk_sha256(buf, len, digest);
        if (r < 0)
                return r;
        *ret_name_ok = memcmp(digest, name, 32) == 0;
        r = sk_pack_header_parse(buf, len, NULL);
        if (r == -EPROTO)
                return fail(r, "pack %s: unknown pack version or required feature", hex);
        sk_record *recs = NULL;
        size_t n = 0;
        r = sk_pack_table_read(&repo->keys, buf, len, &recs, &n);
        *ret_table_ok = r >= 0;
        *f = (found_set) { 0 };
        if (r >= 0) {
                f->v = recs;
                f->n = f->cap = n;
        } else {
                r = sk_pack_scan(buf, len, found_add, f);
                if (r < 0) {
                        free(f->v);
                        *f = (found_set) { 0 };
                        return fail(r, "pack %s: scan failed: %s", hex, strerror(-r));
                }
        }
        *ret_len = len;
        *ret_buf = TAKE_PTR(buf);
        return 0;
}

static int verify_record(sk_repo *repo, const uint8_t *buf, size_t len, const sk_record *r, char *detail,
                         size_t dsize) {
        void *plain = NULL;
        size_t plen;
        if ((uint64_t) r->offset + sk_record_length(r) > len) {
                snprintf(detail, dsize, "record at offset %u runs past the end of the pack", r->offset);
                return -EBADMSG;
        }
        int q = sk_record_open(&repo->keys, buf + r->offset, len - r->offset, &r->id, NULL, &plain, &plen, detail,
                               dsize);
        free(plain);
        return q;
}

int sk_repo_check_pack(sk_repo *repo, const char *pack, bool verify_data, sk_repo_scan_fn cb, void *userdata) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        found_set f = { 0 };
        bool name_ok = false, table_ok = false, bad = false;
        char first[512] = "";
        uint8_t name[32];
        uint32_t pnum;
        bool indexed = false;

        if (!is_hex64(pack) || sk_hex_decode(pack, name, 32) < 0)
                return fail(-EINVAL, "invalid pack name %s", pack);
        pthread_mutex_lock(&repo->lock);
        indexed = sk_index_pack_find(repo->idx, name, &pnum) == 1;
        pthread_mutex_unlock(&repo->lock);

        snap_ctx idx = { .only_pack = indexed ? pnum : SK_INDEX_NO_PACK };
        int r = 0;
        if (indexed) {
                pthread_mutex_lock(&repo->lock);
                r = sk_index_foreach(repo->idx, snap_one, &idx);
                pthread_mutex_unlock(&repo->lock);
                if (r < 0) {
                        free(idx.v);
                        return r;
                }
        }

        int rr = read_pack_records(repo, pack, &buf, &len, &f, &name_ok, &table_ok);
        if (rr < 0) {
                char saved[sizeof(last_error)];
                snprintf(saved, sizeof(saved), "%s", last_error);
                for (size_t i = 0; i < idx.n; i++) {
                        sk_blob_info bi;
                        entry_to_info(&idx.v[i], &bi);
                        int q = cb(pack, &bi, rr, rr == -ENOENT ? "pack missing" : saved, userdata);
                        if (q < 0) {
                                free(idx.v);
                                return q;
                        }
                }
                free(idx.v);
                fail(rr, "%s", saved);
                return rr;
        }
        if (!name_ok) {
                bad = true;
                snprintf(first, sizeof(first), "pack %s: content does not match its name (SHA-256)", pack);
        }
        if (!table_ok) {
                bad = true;
                if (!first[0])
                        snprintf(first, sizeof(first), "pack %s: blob table damaged, records found by scanning", pack);
        }
        /* With a damaged pack, verify everything to name the bad blobs. */
        bool verify = verify_data || !name_ok || !table_ok;
        bool *matched = calloc(MAX(idx.n, 1u), sizeof(bool));
        if (!matched) {
                free(idx.v);
                free(f.v);
                return -ENOMEM;
        }
        r = 0;
        for (size_t i = 0; i < f.n && r >= 0; i++) {
                char detail[256] = "";
                int st = 0;
                if (verify)
                        st = verify_record(repo, buf, len, &f.v[i], detail, sizeof(detail));
                for (size_t j = 0; j < idx.n; j++)
                        if (!matched[j] && idx.v[j].type == f.v[i].type &&
                            memcmp(idx.v[j].id.b, f.v[i].id.b, SK_BLOB_ID_SIZE) == 0) {
                                matched[j] = true;
                                if (st == 0 && idx.v[j].offset != f.v[i].offset) {
                                        st = -EBADMSG;
                                        snprintf(detail, sizeof(detail), "index says offset %u, pack has it at %u",
                                                 idx.v[j].offset, f.v[i].offset);
                                }
                                break;
                        }
                if (st < 0) {
                        bad = true;
                        char full[400];
                        snprintf(full, sizeof(full), "pack %s offset %u: %s", pack, f.v[i].offset, detail);
                        if (!first[0])
                                snprintf(first, sizeof(first), "%s", full);
                        sk_blob_info bi;
                        record_to_info(&f.v[i], &bi);
                        r = cb(pack, &bi, st, full, userdata);
                } else {
                        sk_blob_info bi;
                        record_to_info(&f.v[i], &bi);
                        r = cb(pack, &bi, 0, "", userdata);
                }
        }
        for (size_t j = 0; j < idx.n && r >= 0; j++) {
                if (matched[j])
                        continue;
                bad = true;
                char full[300];
                snprintf(full, sizeof(full), "pack %s offset %u: indexed blob not found in the pack", pack,
                         idx.v[j].offset);
                if (!first[0])
                        snprintf(first, sizeof(first), "%s", full);
                sk_blob_info bi;
                entry_to_info(&idx.v[j], &bi);
                r = cb(pack, &bi, -ENOENT, full, userdata);
        }
        free(matched);
        free(idx.v);
        free(f.v);
        if (r < 0)
                return r;
        if (bad)
                return fail(-EBADMSG, "%s", first);
        return 0;
}

/* --- prune primitives --- */

int sk_repo_repack_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id) {
        _cleanup_free_ void *buf = NULL;
        size_t len;
        int r = get_blob_internal(repo, type, id, false, &buf, &len);
        if (r < 0)
                return r;
        return put_blob_internal(repo, type, buf, len, true, id, NULL, NULL);
}

typedef struct group_entry {
        uint8_t pack[32];
        sk_record rec;
} group_entry;

static int group_cmp(const void *a, const void *b) {
        const group_entry *x = a, *y = b;
        int c = memcmp(x->pack, y->pack, 32);
        if (c)
                return c;
        return x->rec.offset < y->rec.offset ? -1 : x->rec.offset > y->rec.offset;
}

/* Write index files covering entries v (sorted by pack, offset), at most
 * ~64k entries per file. Appends written names to written. */
static int write_index_groups(sk_repo *repo, group_entry *v, size_t n, strv *written) {
        size_t i = 0;
        while (i < n) {
                size_t start = i, nsec = 0, cnt = 0;
                /* count sections until the cap */
                _cleanup_free_ sk_index_section *s = NULL;
                _cleanup_free_ sk_record *recs = malloc(MAX(MIN(n - i, (size_t) 65536 + SK_PACK_MAX_BLOBS), 1u) *
                                                        sizeof(sk_record));
                size_t scap = 0;
                if (!recs)
                        return -ENOMEM;
                while (i < n && (cnt < 65536 || (i > start && memcmp(v[i].pack, v[i - 1].pack, 32) == 0))) {
                        if (i == start || memcmp(v[i].pack, v[i - 1].pack, 32) != 0) {
                                if (nsec == scap) {
                                        size_t ncap = scap ? scap * 2 : 16;
                                        sk_index_section *t = realloc(s, ncap * sizeof(*t));
                                        if (!t)
                                                return -ENOMEM;
                                        s = t;
                                        scap = ncap;
                                }
                                s[nsec] = (sk_index_section) { .entries = recs + cnt, .n = 0 };
                                memcpy(s[nsec].pack, v[i].pack, 32);
                                nsec++;
                        }
                        recs[cnt++] = v[i].rec;
                        s[nsec - 1].n++;
                        i++;
                }
                _cleanup_free_ void *file = NULL;
                size_t flen;
                uint8_t nonce[SK_NONCE_SIZE], digest[32];
                char hex[65], path[96];
                next_nonce(repo, nonce);
                int r = sk_index_file_encode(repo->session_key, repo->salt, nonce, s, nsec, &file, &flen);
                if (r < 0)
                        return r;
                if ((r = sk_sha256(file, flen, digest)) < 0)
                        return r;
                sk_hex_encode(digest, 32, hex);
                snprintf(path, sizeof(path), "index/%s", hex);
                r = guarded_put(repo, path, file, flen);
                if (r < 0)
                        return r;
                r = strv_add(written, hex);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool strv_contains(const strv *s, const char *x) {
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->v[i], x) == 0)
                        return true;
        return false;
}

/* Replace all index files by the entries in v; swap in a fresh in-memory index. */
static int replace_index(sk_repo *repo, group_entry *v, size_t n) {
        name_collect old = { .prefix = "index/" };
        strv written = { 0 };
        sk_index *nidx = NULL;
        int r = sk_backend_list(repo->b, "index/", collect_names, &old);
        if (r < 0)
                goto out;
        if (n > 1)
                qsort(v, n, sizeof(*v), group_cmp);
        r = write_index_groups(repo, v, n, &written);
        if (r < 0)
                goto out;
        r = sk_index_new(&nidx);
        for (size_t i = 0; i < n && r >= 0; i++) {
                sk_index_entry e = {
                        .id = v[i].rec.id, .offset = v[i].rec.offset, .stored_len = v[i].rec.stored_len,
                        .raw_len = v[i].rec.raw_len, .type = v[i].rec.type, .flags = v[i].rec.flags,
                };
                r = sk_index_pack_add(nidx, v[i].pack, &e.pack);
                if (r >= 0)
                        r = sk_index_insert(nidx, &e, false);
        }
        if (r < 0)
                goto out;
        r = 0;
        /* the new files are durable: now the old ones may go */
        for (size_t i = 0; i < old.names.n; i++) {
                if (!is_hex64(old.names.v[i]) || strv_contains(&written, old.names.v[i]))
                        continue;
                char path[96];
                snprintf(path, sizeof(path), "index/%s", old.names.v[i]);
                int q = sk_backend_del(repo->b, path);
                if (q < 0 && q != -ENOENT) {
                        r = fail(q, "deleting old index file %s: %s", old.names.v[i], strerror(-q));
                        goto out;
                }
        }
        pthread_mutex_lock(&repo->lock);
        sk_index_free(repo->idx);
        repo->idx = TAKE_PTR(nidx);
        drop_read_ahead(repo);
        repo->index_files = written.n;
        strv_done(&repo->loaded);
        repo->loaded = written;
        written = (strv) { 0 };
        pthread_mutex_unlock(&repo->lock);
        strv_done(&repo->bad_index);
out:
        sk_index_free(nidx);
        strv_done(&old.names);
        strv_done(&written);
        return r;
}

typedef struct rebuild_ctx {
        sk_repo *repo;
        group_entry *v;
        size_t n, cap;
        uint64_t packs, bad;
} rebuild_ctx;

static int rebuild_pack(const char *hex, uint64_t size, void *userdata);

int sk_repo_rewrite_index(sk_repo *repo, sk_repo_drop_fn drop, void *userdata) {
        return sk_repo_rewrite_index_add(repo, drop, userdata, NULL, 0);
}

int sk_repo_rewrite_index_add(sk_repo *repo, sk_repo_drop_fn drop, void *userdata, char *const *add, size_t n_add) {
        /* Entries of unreadable index files are not in memory: rewriting now
         * would drop them and make their packs look unreferenced. */
        if (repo->bad_index.n > 0)
                return fail(-EBADMSG, "%zu index file(s) failed verification (first: %s); run rebuild-index first",
                            repo->bad_index.n, repo->bad_index.v[0]);
        int r = sk_repo_flush(repo);
        if (r < 0)
                return r;
        snap_ctx c;
        r = index_snapshot(repo, &c);
        if (r < 0)
                return r;
        group_entry *v = malloc(MAX(c.n, 1u) * sizeof(*v));
        size_t n = 0;
        if (!v) {
                free(c.v);
                return -ENOMEM;
        }
        for (size_t i = 0; i < c.n; i++) {
                char hex[65];
                sk_blob_info bi;
                pack_hex(repo, c.v[i].pack, hex);
                entry_to_info(&c.v[i], &bi);
                if (drop && drop(hex, &bi, userdata))
                        continue;
                group_entry *g = &v[n++];
                sk_hex_decode(hex, g->pack, 32);
                g->rec = (sk_record) {
                        .id = c.v[i].id, .type = c.v[i].type, .flags = c.v[i].flags, .raw_len = c.v[i].raw_len,
                        .stored_len = c.v[i].stored_len, .offset = c.v[i].offset,
                };
        }
        free(c.v);
        /* Packs the index does not name (prune's undelete): their records as
         * rebuild-index would read them, after the kept entries. */
        rebuild_ctx rc = { .repo = repo, .v = v, .n = n, .cap = MAX(c.n, 1u) };
        for (size_t i = 0; i < n_add && r >= 0; i++)
                r = rebuild_pack(add[i], 0, &rc);
        if (r >= 0)
                r = replace_index(repo, rc.v, rc.n);
        free(rc.v);
        return r;
}

int sk_repo_delete_pack(sk_repo *repo, const char *pack) {
        uint8_t name[32];
        char path[80];
        uint32_t num;
        if (!is_hex64(pack) || sk_hex_decode(pack, name, 32) < 0)
                return fail(-EINVAL, "invalid pack name %s", pack);
        pack_path(name, path);
        int r = sk_backend_del(repo->b, path);
        if (r < 0)
                return fail(r, "deleting pack %s: %s", pack, strerror(-r));
        pthread_mutex_lock(&repo->lock);
        if (sk_index_pack_find(repo->idx, name, &num) == 1)
                r = sk_index_remove_pack(repo->idx, num);
        pthread_mutex_unlock(&repo->lock);
        return r;
}

int sk_repo_remove_leftovers(sk_repo *repo, uint64_t min_age, uint64_t *ret_removed) {
        int r = sk_backend_cleanup(repo->b, min_age, ret_removed);
        if (r < 0)
                return fail(r, "removing leftovers: %s", strerror(-r));
        return 0;
}

static int rebuild_pack(const char *hex, uint64_t size, void *userdata) {
        rebuild_ctx *c = userdata;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        found_set f;
        bool name_ok, table_ok;
        (void) size;
        int r = read_pack_records(c->repo, hex, &buf, &len, &f, &name_ok, &table_ok);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                c->bad++;
                return 0;
        }
        c->packs++;
        if (!name_ok || !table_ok)
                c->bad++;
        for (size_t i = 0; i < f.n; i++) {
                if (!name_ok || !table_ok) {
                        char detail[200];
                        int q = verify_record(c->repo, buf, len, &f.v[i], detail, sizeof(detail));
                        if (q == -ENOMEM) {
                                free(f.v);
                                return q;
                        }
                        if (q < 0) {
                                c->bad++;
                                continue;
                        }
                }
                if (c->n == c->cap) {
                        size_t ncap = c->cap ? c->cap * 2 : 1024;
                        group_entry *t = realloc(c->v, ncap * sizeof(*t));
                        if (!t) {
                                free(f.v);
                                return -ENOMEM;
                        }
                        c->v = t;
                        c->cap = ncap;
                }
                group_entry *g = &c->v[c->n++];
                sk_hex_decode(hex, g->pack, 32);
                g->rec = f.v[i];
                memset(g->rec.salt, 0, SK_SALT_SIZE);
                memset(g->rec.nonce, 0, SK_NONCE_SIZE);
        }
        free(f.v);
        return 0;
}

int sk_repo_rebuild_index(sk_repo *repo, uint64_t *ret_packs, uint64_t *ret_blobs, uint64_t *ret_bad) {
        int r = sk_repo_flush(repo);
        if (r < 0)
                return r;
        rebuild_ctx c = { .repo = repo };
        r = sk_repo_list_packs(repo, rebuild_pack, &c);
        if (r >= 0) {
                /* a blob stored twice: keep one copy (first in pack order) */
                r = replace_index(repo, c.v, c.n);
        }
        if (r >= 0) {
                pthread_mutex_lock(&repo->lock);
                uint64_t blobs = sk_index_count(repo->idx);
                pthread_mutex_unlock(&repo->lock);
                if (ret_packs)
                        *ret_packs = c.packs;
                if (ret_blobs)
                        *ret_blobs = blobs;
                if (ret_bad)
                        *ret_bad = c.bad;
        }
        free(c.v);
        return r;
}

/* --- keys --- */

int sk_repo_key_add(sk_repo *repo, const sk_secret *secret, char **ret_slot) {
        int r = sk_keyring_add(repo->b, repo->repo_id, repo->master, secret, repo->scrypt_log2n, ret_slot);
        if (r < 0)
                return fail(r, "adding key slot: %s", strerror(-r));
        return 0;
}

typedef struct key_list_ctx {
        sk_repo *repo;
        sk_repo_key_fn cb;
        void *userdata;
} key_list_ctx;

static int key_list_one(const sk_key_info *info, void *userdata) {
        key_list_ctx *c = userdata;
        sk_key_info i = *info;
        i.current = c->repo->slot && strcmp(c->repo->slot, info->slot) == 0;
        return c->cb(&i, c->userdata);
}

int sk_repo_key_list(sk_repo *repo, sk_repo_key_fn cb, void *userdata) {
        key_list_ctx c = { .repo = repo, .cb = cb, .userdata = userdata };
        int r = sk_keyring_list(repo->b, key_list_one, &c);
        if (r < 0)
                return fail(r, "listing key slots: %s", strerror(-r));
        return 0;
}

int sk_repo_key_remove(sk_repo *repo, const char *slot) {
        if (repo->slot && strcmp(repo->slot, slot) == 0)
                return fail(-EBUSY, "key slot %s is the one in use; open with another key to remove it", slot);
        int r = sk_keyring_remove(repo->b, slot);
        if (r == -EBUSY)
                return fail(r, "key slot %s is the last one", slot);
        if (r < 0)
                return fail(r, "removing key slot %s: %s", slot, r == -ENOENT ? "no such slot" : strerror(-r));
        return 0;
}

int sk_repo_key_passwd(sk_repo *repo, const sk_secret *new_secret, char **ret_slot) {
        char *slot = NULL;
        int r = sk_keyring_add(repo->b, repo->repo_id, repo->master, new_secret, repo->scrypt_log2n, &slot);
        if (r < 0)
                return fail(r, "adding key slot: %s", strerror(-r));
        if (repo->slot) {
                r = sk_keyring_remove(repo->b, repo->slot);
                if (r < 0) {
                        free(slot);
                        return fail(r, "new slot written, but removing old slot %s failed: %s", repo->slot,
                                    strerror(-r));
                }
        }
        free(repo->slot);
        repo->slot = slot;
        if (ret_slot) {
                *ret_slot = strdup(slot);
                if (!*ret_slot)
                        return -ENOMEM;
        }
        return 0;
}

/* --- locks --- */

static void guard_released(sk_lock *l, void *userdata) {
        sk_repo *repo = userdata;
        pthread_mutex_lock(&repo->lock);
        if (repo->guard == l)
                repo->guard = NULL;
        pthread_mutex_unlock(&repo->lock);
}

int sk_repo_set_lock_stale(sk_repo *repo, unsigned seconds) {
        if (seconds != 0 && seconds < 2)
                return fail(-EINVAL, "lock stale time of %us is too short (at least 2)", seconds);
        repo->lock_stale_seconds = seconds;
        return 0;
}

unsigned sk_repo_lock_stale(const sk_repo *repo) {
        return repo->lock_stale_seconds ? repo->lock_stale_seconds : SK_LOCK_STALE_SECONDS;
}

int sk_repo_lock_check(sk_repo *repo, sk_lock *l) {
        (void) repo;
        int r = sk_lock_check(l, true);
        if (r == -ESTALE)
                return fail(r, "repository lock %s lost (%s)", sk_lock_id(l), sk_lock_lost_reason(l));
        if (r < 0)
                return fail(r, "checking repository lock %s: %s", sk_lock_id(l), strerror(-r));
        return 0;
}

int sk_repo_lock(sk_repo *repo, bool exclusive, unsigned wait_seconds, sk_lock **ret) {
        char *holder = NULL;
        sk_lock *l = NULL;
        int r = sk_lock_acquire(repo->b, exclusive, wait_seconds, repo->lock_stale_seconds, &l, &holder);
        if (r == -EBUSY) {
                fail(r, "repository is locked: %s", holder ? holder : "by another process");
                free(holder);
                return r;
        }
        if (r < 0)
                return fail(r, "taking lock: %s", strerror(-r));
        /* The index was loaded at open, possibly before a prune that ran
         * while we waited: only now, under the lock, is it safe to trust. */
        r = sk_repo_reload_index(repo);
        if (r < 0) {
                sk_lock_release(l);
                return r;
        }
        /* From now on index and object writes check this lock (guarded_put). */
        sk_lock_on_release(l, guard_released, repo);
        pthread_mutex_lock(&repo->lock);
        repo->guard = l;
        pthread_mutex_unlock(&repo->lock);
        *ret = l;
        return 0;
}

int sk_repo_unlock_stale(sk_repo *repo, unsigned *ret_removed) {
        int r = sk_lock_remove_stale(repo->b, repo->lock_stale_seconds, ret_removed);
        if (r < 0)
                return fail(r, "removing stale locks: %s", strerror(-r));
        return 0;
}

int sk_repo_remove_lock_tombstones(sk_repo *repo, unsigned *ret_removed) {
        int r = sk_lock_remove_tombstones(repo->b, SK_LOCK_TOMBSTONE_SECONDS, ret_removed);
        if (r < 0)
                return fail(r, "removing old lock tombstones: %s", strerror(-r));
        return 0;
}
