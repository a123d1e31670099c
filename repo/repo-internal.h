/* What the files of the repository object (repo.c, repo-keys.c, repo-lock.c,
 * repo-write.c, repo-read.c, repo-object.c, repo-scan.c, repo-maint.c) share:
 * struct sk_repo and the helpers more than one of them calls. Private to
 * repo/: everything outside uses repo.h.
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
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "repo/repo.h"
#include "repo/chunker.h"
#include "repo/crypto.h"
#include "repo/index.h"
#include "repo/pack.h"
#include "repo/packcache.h"
#include "common/macro.h"

struct sk_backend;

#define PENDING_BIT 0x80000000u
#define KEY_CACHE 16
#define CCTX_POOL 8
/* Bound of a failure detail (sk_repo_last_error). */
#define SK_REPO_ERROR_MAX 1024

typedef struct pending_pack {
        struct pending_pack *next;
        uint32_t tag;           /* PENDING_BIT | serial */
        uint8_t *buf;
        size_t len, cap;
        sk_pack_record *recs;
        size_t n, rcap;
} pending_pack;

/* A pack in storage whose entries are not yet in an index file. */
typedef struct stored_pack {
        uint8_t name[32];
        sk_pack_record *recs;
        size_t n;
} stored_pack;

typedef struct strv {
        char **v;
        size_t n, cap;
} strv;

struct sk_repo {
        struct sk_backend *b;
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
        int index_dir_fd;       /* where index runs spill (sk_repo_index_new); -1: memory */
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
        char write_error_detail[SK_REPO_ERROR_MAX];  /* last_error of the failed write */
        stored_pack *stored;
        size_t nstored, stored_cap;
        uint64_t index_files;
        strv loaded;            /* index files reflected in idx (read or written) */
        strv bad_index;
        sk_packcache *read_ahead[2];    /* by blob type (cur_slot); made by the first begin or read ahead */
        _Atomic unsigned read_ahead_users;
        sk_lock *guard;                 /* the lock writes are made under (sk_repo_lock); repo->lock */
        unsigned lock_stale_seconds;    /* 0 = SK_LOCK_STALE_SECONDS */
};

/* The read-ahead cache (and pending pack) slot of a blob type: trees apart. */
static inline unsigned cur_slot(uint8_t type) {
        return type == SK_BLOB_TREE;
}

/* --- repo.c: failures, name lists, index loading --- */

/* Record the detail of a failure for sk_repo_last_error (with the storage's
 * own detail appended) and return r. */
_printf_(2, 3) int sk_repo_fail(int r, const char *fmt, ...);
int sk_repo_strv_add(strv *s, const char *str);
void sk_repo_strv_done(strv *s);
void sk_repo_strv_sort(strv *s);
/* Whether sorted s holds x. */
bool sk_repo_strv_has(const strv *s, const char *x);
bool sk_repo_is_hex64(const char *s);
/* The names in index/ (without the prefix, unsorted, not checked) into
 * *ret (zeroed first; sk_repo_strv_done it either way). */
int sk_repo_list_index_names(sk_repo *repo, strv *ret);
/* "data/xx/<hex>" of a pack name. */
void sk_repo_pack_path(const uint8_t name[32], char out[80]);
void sk_repo_pending_free(pending_pack *p);

/* --- repo-keys.c --- */

int sk_repo_derive_keys(sk_repo *repo);
void sk_repo_next_nonce(sk_repo *repo, uint8_t nonce[SK_NONCE_SIZE]);

/* --- repo-lock.c --- */

int sk_repo_guarded_put(sk_repo *repo, const char *path, const void *buf, size_t len);

/* --- repo-write.c --- */

ZSTD_CCtx *sk_repo_cctx_get(sk_repo *repo);
void sk_repo_cctx_put(sk_repo *repo, ZSTD_CCtx *c);
/* Encode sections into one index file and store it under its SHA-256 name,
 * guarded (index files name data); its name in hex. Lock not held. */
int sk_repo_write_index_file(sk_repo *repo, const sk_index_section *s, size_t n, char hex[65]);
/* The in-memory pack with this tag, or NULL. Called with repo->lock held. */
pending_pack *sk_repo_pending_find(sk_repo *repo, uint32_t tag);
/* sk_repo_put_blob with force (store even if the index has it: repack) and
 * known_id (trust the caller's id instead of hashing). */
int sk_repo_put_blob_internal(sk_repo *repo, sk_blob_type type, const void *data, size_t len, bool force,
                              const sk_blob_id *known_id, sk_blob_id *ret_id, bool *ret_was_new);

/* --- repo-read.c --- */

/* sk_repo_get_blob; legacy allows the other type's blob of the same id. */
int sk_repo_get_blob_internal(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, bool legacy, void **ret_buf,
                              size_t *ret_len);
void sk_repo_drop_read_ahead(sk_repo *repo);
/* A new, empty index that spills where the repository's does. */
int sk_repo_index_new(sk_repo *repo, sk_index **ret);

/* --- repo-scan.c --- */

typedef struct snap_ctx {
        sk_index_entry *v;
        size_t n, cap;
        uint32_t only_pack;     /* SK_INDEX_NO_PACK: all */
} snap_ctx;
/* sk_index_foreach callback collecting durable entries into a snap_ctx. */
int sk_repo_snap_one(const sk_index_entry *e, void *userdata);
int sk_repo_index_snapshot(sk_repo *repo, snap_ctx *c);
void sk_repo_entry_to_info(const sk_index_entry *e, sk_blob_info *bi);
void sk_repo_pack_hex(sk_repo *repo, uint32_t n, char hex[65]);
typedef struct found_set {
        sk_pack_record *v;
        size_t n, cap;
} found_set;
int sk_repo_read_pack_records(sk_repo *repo, const char *hex, uint8_t **ret_buf, size_t *ret_len, found_set *f,
                              bool *ret_name_ok, bool *ret_table_ok);
int sk_repo_verify_record(sk_repo *repo, const uint8_t *buf, size_t len, const sk_pack_record *r, char *detail,
                          size_t dsize);
