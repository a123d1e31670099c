/* The repository object's lifecycle (see repo.h and docs/FORMAT.md): alloc
 * and free, init (config and first key slot) and open, the configuration,
 * blob ids, loading the index files, and the failure detail every file of
 * the object reports through. The rest of the object lives beside it:
 * repo-keys.c, repo-lock.c, repo-write.c, repo-read.c, repo-object.c,
 * repo-scan.c, repo-maint.c; what they share is in repo-internal.h. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/backend.h"
#include "repo/keyring.h"
#include "common/le.h"
#include "repo/packcache.h"
#include "repo/store-names.h"
#include "common/array.h"
#include "common/macro.h"

#define CONFIG_BODY_SIZE 40
/* Writers make 140 bytes; readers accept longer bodies (FORMAT.md section 4). */
#define CONFIG_MAX (64u * 1024)

static const char config_magic[8] = { 'S', 'K', 'C', 'O', 'N', 'F', 'I', 'G' };

/* --- errors --- */

static __thread char last_error[SK_REPO_ERROR_MAX];

int sk_repo_fail(int r, const char *fmt, ...) {
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

int sk_repo_strv_add(strv *s, const char *str) {
        if (SK_GROW(s->v, s->cap, s->n + 1) < 0)
                return -ENOMEM;
        s->v[s->n] = strdup(str);
        if (!s->v[s->n])
                return -ENOMEM;
        s->n++;
        return 0;
}

void sk_repo_strv_done(strv *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (strv) { 0 };
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
        repo->index_dir_fd = -1;
        int r = sk_index_new(&repo->idx);
        if (r < 0) {
                free(repo);
                return r;
        }
        *ret = repo;
        return 0;
}

/* Where the index's sorted runs spill (index-run.h): SNAPKEEP_INDEX_DIR
 * ("memory": nowhere), else TMPDIR, else /var/tmp. A directory that cannot be
 * opened leaves the runs in memory: the spill only saves memory. */
static void set_index_dir(sk_repo *repo, const sk_store_options *store) {
        const char *d = sk_store_setting(store, "SNAPKEEP_INDEX_DIR");
        if (d && strcmp(d, "memory") == 0)
                return;
        if (!d) {
                d = sk_store_setting(store, "TMPDIR");
                if (!d || d[0] != '/')
                        d = "/var/tmp";
        }
        repo->index_dir_fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (repo->index_dir_fd >= 0)
                (void) sk_index_set_spill_dir(repo->idx, repo->index_dir_fd);
}

int sk_repo_index_new(sk_repo *repo, sk_index **ret) {
        sk_index *idx;
        int r = sk_index_new(&idx);
        if (r < 0)
                return r;
        if (repo->index_dir_fd >= 0)
                (void) sk_index_set_spill_dir(idx, repo->index_dir_fd);
        *ret = idx;
        return 0;
}

void sk_repo_pending_free(pending_pack *p) {
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
                sk_repo_pending_free(p);
        }
        for (size_t i = 0; i < repo->nstored; i++)
                free(repo->stored[i].recs);
        free(repo->stored);
        for (unsigned i = 0; i < repo->ncctx; i++)
                ZSTD_freeCCtx(repo->cctx[i]);
        sk_repo_strv_done(&repo->bad_index);
        sk_repo_strv_done(&repo->loaded);
        for (unsigned i = 0; i < ARRAY_SIZE(repo->read_ahead); i++)
                sk_packcache_free(repo->read_ahead[i]);
        sk_index_free(repo->idx);
        if (repo->index_dir_fd >= 0)
                close(repo->index_dir_fd);
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
                return sk_repo_fail(-EINVAL, "no secret given");
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
                return sk_repo_fail(-EINVAL, "scrypt cost out of range");
        if (!o.format_version)
                o.format_version = SK_REPO_FORMAT_VERSION;
        if (o.format_version > SK_REPO_FORMAT_VERSION)
                return sk_repo_fail(-EINVAL, "repository format version %u is not one this snapkeep writes (1..%d)",
                                    o.format_version, SK_REPO_FORMAT_VERSION);

        r = repo_alloc(&repo);
        if (r < 0)
                return r;
        repo->cfg = (sk_repo_config) {
                .version = o.format_version,
                .chunk_min = o.chunk_min, .chunk_avg = o.chunk_avg, .chunk_max = o.chunk_max,
                .zstd_level = o.zstd_level, .pack_size = o.pack_size, .created = (uint64_t) time(NULL),
        };
        if (!config_valid(&repo->cfg))
                return sk_repo_fail(-EINVAL, "invalid repository parameters");
        repo->zstd_level = o.zstd_level;
        repo->scrypt_log2n = o.scrypt_log2n;

        set_index_dir(repo, o.store);
        r = sk_backend_open(url, 1, o.store, sk_repo_store_layout(), &repo->b);
        if (r < 0)
                return sk_repo_fail(r, "%s: cannot open storage: %s", url, strerror(-r));
        r = sk_backend_head(repo->b, "config", &size);
        if (r == 0)
                return sk_repo_fail(-EEXIST, "%s: a repository exists already", url);
        if (r != -ENOENT)
                return sk_repo_fail(r, "%s: config: %s", url, strerror(-r));

        if ((r = sk_random_bytes(repo->repo_id, 16)) < 0 || (r = sk_random_bytes(repo->master, SK_MASTER_KEY_SIZE)) < 0)
                return sk_repo_fail(r, "random number generator failed");
        sk_hex_encode(repo->repo_id, 16, repo->cfg.repo_id);
        r = sk_repo_derive_keys(repo);
        if (r < 0)
                return sk_repo_fail(r, "key derivation failed");
        /* keys first: config is what makes the repository exist */
        r = sk_keyring_add(repo->b, repo->repo_id, repo->master, secret, o.scrypt_log2n, &repo->slot);
        if (r < 0)
                return sk_repo_fail(r, "%s: writing key slot: %s", url, strerror(-r));

        uint8_t file[SK_FILE_HEADER_SIZE + 16 + SK_SEAL_OVERHEAD + CONFIG_BODY_SIZE];
        uint8_t body[CONFIG_BODY_SIZE], nonce[SK_NONCE_SIZE];
        sk_file_header_encode_version(config_magic, (uint16_t) repo->cfg.version, file);
        memcpy(file + SK_FILE_HEADER_SIZE, repo->repo_id, 16);
        config_body_encode(&repo->cfg, body);
        sk_repo_next_nonce(repo, nonce);
        r = sk_seal_envelope(repo->session_key, repo->salt, nonce, file, SK_FILE_HEADER_SIZE + 16, body,
                             CONFIG_BODY_SIZE, file + SK_FILE_HEADER_SIZE + 16);
        if (r < 0)
                return sk_repo_fail(r, "sealing config failed");
        r = sk_backend_put(repo->b, "config", file, sizeof(file));
        if (r < 0)
                return sk_repo_fail(r, "%s: writing config: %s", url, strerror(-r));
        *ret = TAKE_PTR(repo);
        return 0;
}

static int load_index_file(sk_repo *repo, const char *name, bool *fatal);

static int collect_index_name(const char *name, uint64_t size, void *userdata) {
        (void) size;
        return sk_repo_strv_add(userdata, name + strlen("index/"));
}

int sk_repo_list_index_names(sk_repo *repo, strv *ret) {
        *ret = (strv) { 0 };
        return sk_backend_list(repo->b, "index/", collect_index_name, ret);
}

bool sk_repo_is_hex64(const char *s) {
        if (strlen(s) != 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!(('0' <= *c && *c <= '9') || ('a' <= *c && *c <= 'f')))
                        return false;
        return true;
}

/* Entries of the index files read are staged (load_index_file) and go in
 * at once, sorted (index.h): nothing builds a table of the whole repository. */
static int commit_staged(sk_repo *repo, int r) {
        pthread_mutex_lock(&repo->lock);
        if (r >= 0) {
                int q = sk_index_stage_commit(repo->idx);
                if (q < 0)
                        r = sk_repo_fail(q, "loading the index: %s", strerror(-q));
        } else {
                sk_index_stage_discard(repo->idx);
        }
        pthread_mutex_unlock(&repo->lock);
        return r;
}

/* Load the index files named (skipping those loaded or known bad already
 * when skip_known). A file that fails verification is remembered as bad and
 * skipped; running out of memory or spill space fails the load. The files
 * count as loaded only once their entries are committed: a failed commit
 * leaves them to the next reload. */
static int load_files(sk_repo *repo, const strv *names, bool skip_known) {
        strv ok = { 0 };
        int r = 0;
        if (skip_known)
                sk_repo_strv_sort(&repo->bad_index);
        for (size_t i = 0; i < names->n && r >= 0; i++) {
                const char *n = names->v[i];
                if (!sk_repo_is_hex64(n) ||
                    (skip_known && (sk_repo_strv_has(&repo->loaded, n) || sk_repo_strv_has(&repo->bad_index, n))))
                        continue;
                bool fatal = false;
                int q = load_index_file(repo, n, &fatal);
                if (q < 0 && fatal)
                        r = q;
                else if (q < 0)
                        r = sk_repo_strv_add(&repo->bad_index, n);
                else
                        r = sk_repo_strv_add(&ok, n);
        }
        r = commit_staged(repo, r);
        pthread_mutex_lock(&repo->lock);
        for (size_t i = 0; i < ok.n && r >= 0; i++) {
                r = sk_repo_strv_add(&repo->loaded, ok.v[i]);
                repo->index_files += r >= 0;
        }
        pthread_mutex_unlock(&repo->lock);
        sk_repo_strv_done(&ok);
        return r;
}

static int load_index(sk_repo *repo) {
        strv names;
        int r = sk_repo_list_index_names(repo, &names);
        if (r < 0) {
                sk_repo_strv_done(&names);
                return sk_repo_fail(r, "listing index: %s", strerror(-r));
        }
        r = load_files(repo, &names, false);
        sk_repo_strv_done(&names);
        return r;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void sk_repo_strv_sort(strv *s) {
        if (s->n > 1)
                qsort(s->v, s->n, sizeof(char *), cmp_str);
}

bool sk_repo_strv_has(const strv *s, const char *x) {
        return s->n > 0 && bsearch(&x, s->v, s->n, sizeof(char *), cmp_str) != NULL;
}

int sk_repo_reload_index(sk_repo *repo) {
        strv names;
        int r = sk_repo_list_index_names(repo, &names);
        if (r < 0) {
                sk_repo_strv_done(&names);
                return sk_repo_fail(r, "listing index: %s", strerror(-r));
        }
        sk_repo_strv_sort(&names);
        pthread_mutex_lock(&repo->lock);
        bool busy = repo->cur[0] || repo->cur[1] || repo->nstored > 0 || repo->inflight > 0;
        sk_repo_strv_sort(&repo->loaded);
        bool gone = false;
        for (size_t i = 0; i < repo->loaded.n && !gone; i++)
                gone = !sk_repo_strv_has(&names, repo->loaded.v[i]);
        pthread_mutex_unlock(&repo->lock);

        if (gone) {
                /* Someone rewrote the index (prune, rebuild-index): start over,
                 * so nothing refers to packs that may be gone. */
                if (busy) {
                        sk_repo_strv_done(&names);
                        return sk_repo_fail(-EBUSY, "the index was rewritten while this handle has unflushed blobs");
                }
                sk_index *nidx = NULL;
                r = sk_repo_index_new(repo, &nidx);
                if (r < 0) {
                        sk_repo_strv_done(&names);
                        return r;
                }
                pthread_mutex_lock(&repo->lock);
                sk_index_free(repo->idx);
                repo->idx = nidx;
                sk_repo_drop_read_ahead(repo);
                pthread_mutex_unlock(&repo->lock);
                sk_repo_strv_done(&repo->loaded);
                sk_repo_strv_done(&repo->bad_index);
                repo->index_files = 0;
                sk_repo_strv_done(&names);
                return load_index(repo);
        }
        r = load_files(repo, &names, true);
        sk_repo_strv_done(&names);
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
                return sk_repo_fail(-EINVAL, "no secret given");
        r = repo_alloc(&repo);
        if (r < 0)
                return r;
        set_index_dir(repo, store);
        r = sk_backend_open(url, 0, store, sk_repo_store_layout(), &repo->b);
        if (r == -EPROTONOSUPPORT)
                return sk_repo_fail(r, "%s: unsupported repository URL scheme", url);
        if (r < 0)
                return sk_repo_fail(r, "%s: %s", url, r == -ENOENT ? "no repository there" : strerror(-r));
        r = sk_backend_get_whole(repo->b, "config", CONFIG_MAX, (void **) &buf, &len);
        if (r == -EFBIG)
                return sk_repo_fail(-EBADMSG, "%s: config is larger than its bound (%u bytes): damaged", url, CONFIG_MAX);
        if (r < 0)
                return sk_repo_fail(r, "%s: %s", url, r == -ENOENT ? "no repository there (no config)" : strerror(-r));
        r = sk_file_header_parse_version(buf, len, config_magic, SK_REPO_FORMAT_VERSION);
        int version = r;
        if (r == -EPROTO)
                return sk_repo_fail(r, "%s: config: repository format version or features not supported by this snapkeep", url);
        if (r < 0 || len < SK_FILE_HEADER_SIZE + 16 + SK_SEAL_OVERHEAD + CONFIG_BODY_SIZE)
                return sk_repo_fail(-EBADMSG, "%s: config is damaged", url);
        memcpy(repo->repo_id, buf + SK_FILE_HEADER_SIZE, 16);
        r = sk_keyring_unlock(repo->b, repo->repo_id, secret, repo->master, &repo->slot);
        if (r == -EKEYREJECTED && *sk_keyring_last_skipped())
                return sk_repo_fail(r, "%s: wrong password or key file (no key slot accepts it; %s)", url,
                            sk_keyring_last_skipped());
        if (r == -EKEYREJECTED)
                return sk_repo_fail(r, "%s: wrong password or key file (no key slot accepts it)", url);
        if (r == -EFBIG)
                return sk_repo_fail(r, "%s: %s", url, sk_keyring_last_skipped());
        if (r == -ENOENT)
                return sk_repo_fail(-EKEYREJECTED, "%s: repository has no key slots", url);
        if (r == -EPROTO)
                return sk_repo_fail(r, "%s: key slots have a version this snapkeep does not know", url);
        if (r < 0)
                return sk_repo_fail(r, "%s: reading keys: %s", url, strerror(-r));
        r = sk_repo_derive_keys(repo);
        if (r < 0)
                return sk_repo_fail(r, "key derivation failed");
        r = sk_open_envelope(&repo->keys, buf, SK_FILE_HEADER_SIZE + 16, buf + SK_FILE_HEADER_SIZE + 16,
                             len - SK_FILE_HEADER_SIZE - 16, (void **) &body, &blen);
        if (r < 0 || blen < CONFIG_BODY_SIZE)
                return sk_repo_fail(r < 0 && r != -EBADMSG ? r : -EBADMSG, "%s: config fails verification", url);
        repo->cfg = (sk_repo_config) {
                .version = (uint32_t) version,
                .chunk_min = sk_get_le32(body), .chunk_avg = sk_get_le32(body + 4),
                .chunk_max = sk_get_le32(body + 8), .zstd_level = (int32_t) sk_get_le32(body + 12),
                .pack_size = sk_get_le32(body + 16), .created = sk_get_le64(body + 24),
        };
        sk_hex_encode(repo->repo_id, 16, repo->cfg.repo_id);
        if (!config_valid(&repo->cfg))
                return sk_repo_fail(-EBADMSG, "%s: config holds invalid parameters", url);
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
                return sk_repo_fail(-EINVAL, "zstd level %d out of range 1..19", level);
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

void sk_repo_pack_path(const uint8_t name[32], char out[80]) {
        char hex[65];
        sk_hex_encode(name, 32, hex);
        snprintf(out, 80, "data/%.2s/%s", hex, hex);
}

typedef struct load_ctx {
        sk_repo *repo;
        sk_index_entry *v;
        size_t n, cap;
        uint8_t (*packs)[32];
        size_t packs_cap;
} load_ctx;

static int load_entry(const uint8_t pack[32], const sk_pack_record *r, void *userdata) {
        load_ctx *c = userdata;
        if (SK_GROW(c->v, c->cap, c->n + 1) < 0 || SK_GROW(c->packs, c->packs_cap, c->n + 1) < 0)
                return -ENOMEM;
        c->v[c->n] = (sk_index_entry) {
                .id = r->id, .offset = r->offset, .stored_len = r->stored_len, .raw_len = r->raw_len,
                .type = r->type, .flags = r->flags,
        };
        memcpy(c->packs[c->n], pack, 32);
        c->n++;
        return 0;
}

/* Decode fully first, then insert: a file that fails half-way adds nothing. */
static int load_index_file(sk_repo *repo, const char *name, bool *fatal) {
        char path[96];
        _cleanup_free_ void *buf = NULL;
        size_t len;
        uint8_t digest[32], want[32];
        snprintf(path, sizeof(path), "index/%s", name);
        int r = sk_backend_get_whole(repo->b, path, SK_INDEX_FILE_MAX, &buf, &len);
        if (r == -EFBIG)
                return sk_repo_fail(r, "index file %s: larger than its bound (%u MiB); rebuild-index rewrites the index",
                            name, SK_INDEX_FILE_MAX >> 20);
        if (r < 0)
                return sk_repo_fail(r, "index file %s: %s", name, strerror(-r));
        if ((r = sk_sha256(buf, len, digest)) < 0)
                return r;
        if (sk_hex_decode(name, want, 32) < 0 || memcmp(want, digest, 32) != 0)
                return sk_repo_fail(-EBADMSG, "index file %s: content does not match its name", name);
        load_ctx c = { .repo = repo };
        r = sk_index_file_decode(&repo->keys, buf, len, load_entry, &c);
        if (r < 0) {
                free(c.v);
                free(c.packs);
                *fatal = r == -ENOMEM;
                return sk_repo_fail(r, "index file %s: %s", name, r == -EPROTO ? "unknown version" : "fails verification");
        }
        /* A failure from here on is the index's (memory, the spill
         * directory's space), not the file's: fatal, and the file's staged
         * entries are taken back. */
        pthread_mutex_lock(&repo->lock);
        size_t mark = sk_index_stage_mark(repo->idx);
        for (size_t i = 0; i < c.n && r >= 0; i++) {
                r = sk_index_pack_add(repo->idx, c.packs[i], &c.v[i].pack);
                if (r >= 0)
                        r = sk_index_stage(repo->idx, &c.v[i]);
        }
        if (r < 0)
                sk_index_stage_rollback(repo->idx, mark);
        pthread_mutex_unlock(&repo->lock);
        free(c.v);
        free(c.packs);
        if (r < 0) {
                *fatal = true;
                return sk_repo_fail(r, "loading index file %s: %s", name, strerror(-r));
        }
        return 0;
}
