/* Room repo/: the repository format (docs/FORMAT.md): the repository handle
 * (repo*.c), packs, index, pack cache, key slots, crypto, chunker, the tree and
 * manifest codecs, file content hashes, locks and trash records. Knows nothing
 * of containers, overlayfs or gRPC. Uses store/ and common/ (Makefile
 * DEPS_repo). */
/* The backup repository: a content-addressed, deduplicating, compressing,
 * authenticated-encrypted blob store plus small sealed objects (manifests),
 * key slots and locks, over a storage backend (store/backend.h).
 *
 * The on-disk format is specified in docs/FORMAT.md; this header is the only
 * interface the backup engine and the CLI need (plus chunker.h for cutting
 * file content into blobs).
 *
 * Conventions: every function returns >= 0 on success or a negative errno;
 * ret_* out-parameters are written only on success. Library code never
 * prints: after a failure, sk_repo_last_error() gives a human-readable detail
 * (naming the pack and offset for corrupt data).
 *
 * Error codes callers can rely on:
 *   -ENOENT           repository (config) or object/blob/pack missing
 *   -EKEYREJECTED     no key slot opens with the given secret (nothing written)
 *   -EPROTO           repository/pack/index version or required feature unknown
 *   -EBADMSG          corrupt data: AEAD tag, id/hash mismatch, bad framing
 *   -EPROTONOSUPPORT  unknown URL scheme
 *   -EEXIST           sk_repo_init on an existing repository
 *   -EBUSY            a conflicting lock is held (detail names the holder)
 *   -ESTALE           the repository lock was lost (detail says why); nothing
 *                     naming data was written
 *   -ENOMEM           out of memory (everywhere)
 *
 * Thread safety: an sk_repo may be used from several threads at once for
 * sk_repo_has_blob, sk_repo_put_blob(_with_id), sk_repo_get_blob, sk_repo_blob_id,
 * sk_repo_put_object/get_object/list_objects/delete_object,
 * sk_repo_get_config, sk_repo_chunker_init, sk_repo_get_stats,
 * sk_repo_list_packs, sk_repo_foreach_blob, sk_repo_check_pack,
 * sk_repo_last_error, and sk_lock_refresh() on a lock of the repo.
 * put_blob hashes, compresses and seals outside the repository lock, so N
 * threads use N cores; only the append into the current pack is serialized.
 * sk_repo_flush may be called while other threads put (it waits for pack
 * writes in flight), but only blobs whose put_blob returned before the flush
 * started are guaranteed durable by it. Every other function (index
 * rewrite/rebuild, repack, pack deletion, leftovers, key management,
 * set_zstd_level, free) must not run concurrently with any other call on the
 * same repo. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"
#include "repo/keyring.h"
#include "store/backend.h"
#include "repo/pack.h"
#include "repo/lock.h"

typedef struct sk_repo sk_repo;

/* Blob ids (sk_blob_id, SK_BLOB_ID_SIZE/HEX), blob types (SK_BLOB_DATA,
 * SK_BLOB_TREE) and SK_BLOB_MAX_SIZE come from pack.h. A blob id is
 * HMAC-SHA256(id key, plaintext). */

/* Pack names: SHA-256 of the pack's bytes, 64 lowercase hex digits. */
#define SK_PACK_NAME_HEX 64

/* Defaults (docs/FORMAT.md "config"). */
#define SK_REPO_DEFAULT_CHUNK_MIN (256u * 1024)
#define SK_REPO_DEFAULT_CHUNK_AVG (1024u * 1024)
#define SK_REPO_DEFAULT_CHUNK_MAX (8u * 1024 * 1024)
#define SK_REPO_DEFAULT_ZSTD_LEVEL 3
#define SK_REPO_DEFAULT_PACK_SIZE (16u * 1024 * 1024)
/* The newest repository format version, the one new repositories get
 * (FORMAT.md section 4). Version 2 hashes file content once: each file's
 * content hash is derived from its chunk ids (repo/filehash.h rule 2). */
#define SK_REPO_FORMAT_VERSION 2

/* Repository creation parameters. Zero fields mean "default". Constraints:
 * 256 <= chunk_min < chunk_avg < chunk_max <= SK_BLOB_MAX_SIZE (all three
 * given together or none); zstd_level in 1..19 (0 = default 3); pack_size in
 * 64 KiB..512 MiB; scrypt_log2n in 10..20 (0 = default 15; tests use 10 to stay
 * fast; 20 takes 1 GiB). Out of range -> -EINVAL. */
typedef struct sk_repo_init_opts {
        uint32_t chunk_min;
        uint32_t chunk_avg;
        uint32_t chunk_max;
        int zstd_level;
        uint32_t pack_size;
        uint8_t scrypt_log2n;
        /* Repository format version (FORMAT.md section 4): 0 = the newest,
         * SK_REPO_FORMAT_VERSION; 1 writes what snapkeep before version 2 did
         * (older binaries can read it; every byte is hashed twice). */
        uint16_t format_version;
        const sk_store_options *store;  /* settings of the storage (S3, cache); NULL = defaults */
} sk_repo_init_opts;

/* Create a repository at url ("/path", "relative/path" or "file:///path";
 * other schemes -> -EPROTONOSUPPORT). The directory may exist but must not
 * contain a config (-EEXIST). Generates a random master key and writes one
 * key slot for secret. opts may be NULL. On success returns the open
 * repository in *ret (owned; sk_repo_free()). */
int sk_repo_init(const char *url, const sk_repo_init_opts *opts, const sk_secret *secret, sk_repo **ret);

/* Open an existing repository. Missing repository -> -ENOENT; unknown
 * version/required feature -> -EPROTO; no key slot accepts secret ->
 * -EKEYREJECTED. Nothing is written by open. The index is loaded; index
 * files that fail verification are skipped and counted in
 * sk_repo_stats.index_files_bad (see sk_repo_foreach_bad_index) so that
 * check and rebuild-index can still run. */
int sk_repo_open(const char *url, const sk_secret *secret, sk_repo **ret);

/* sk_repo_open with the storage's settings (store/backend.h): how S3 is
 * reached and where the metadata cache is. store may be NULL (defaults). */
int sk_repo_open_store(const char *url, const sk_store_options *store, const sk_secret *secret, sk_repo **ret);

/* Flushes nothing: call sk_repo_flush() first to keep pending blobs (blobs
 * put since the last flush are otherwise lost, which is crash-equivalent and
 * safe). Wipes keys. Accepts NULL. */
void sk_repo_free(sk_repo *repo);
DEFINE_TRIVIAL_CLEANUP_FUNC(sk_repo *, sk_repo_free);

/* Detail of the calling thread's most recent failure in any sk_repo_* /
 * sk_lock call (e.g. "pack 3fa1…: offset 1234: AEAD tag mismatch"). Borrowed,
 * valid until the thread's next failing call; "" if none. repo may be NULL. */
const char *sk_repo_last_error(const sk_repo *repo);

/* --- configuration -------------------------------------------------------- */

typedef struct sk_repo_config {
        uint32_t version;               /* repository format version (1 or 2) */
        char repo_id[33];               /* 32 lowercase hex digits */
        uint32_t chunk_min, chunk_avg, chunk_max;
        int zstd_level;                 /* repository default */
        uint32_t pack_size;
        uint64_t created;               /* unix seconds */
} sk_repo_config;

int sk_repo_get_config(const sk_repo *repo, sk_repo_config *ret);

/* Per-run compression level for this handle (1..19); the stored default is
 * unchanged. */
int sk_repo_set_zstd_level(sk_repo *repo, int level);

/* --- chunking and ids ------------------------------------------------------- */

struct sk_chunker;
/* Initialise *c (see chunker.h) with this repository's keyed gear table and
 * min/avg/max. The chunker borrows the table: valid while repo lives. */
int sk_repo_chunker_init(const sk_repo *repo, struct sk_chunker *c);

/* Compute the blob id of data without storing it. Thread-safe. */
int sk_repo_blob_id(const sk_repo *repo, const void *data, size_t len, sk_blob_id *ret);

/* Lowercase hex of an id into out (SK_BLOB_ID_HEX + 1 bytes). Returns out. */
char *sk_blob_id_to_hex(const sk_blob_id *id, char out[SK_BLOB_ID_HEX + 1]);
/* Parse exactly 64 hex digits. -EINVAL otherwise. */
int sk_blob_id_from_hex(const char *hex, sk_blob_id *ret);

/* --- blob store -------------------------------------------------------------- */

/* A blob is identified by its id AND its type: a file whose bytes equal a
 * tree's encoding has the tree's id, yet is a different blob (FORMAT.md
 * section 6). Every lookup below names the type it wants.
 *
 * True (1) if the index (loaded + written by this handle, including blobs in
 * the pack being filled) knows (id, type), 0 if not. Exact: a blob of the
 * other type with the same id does not count. */
int sk_repo_has_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id);

/* Store a blob: compute its id, and unless the index already has (id, type), compress
 * (zstd; stored raw if it does not shrink), seal (AES-256-GCM, id bound as
 * AAD) and append it to the current pack. A full pack is written (durably,
 * under its SHA-256 name) automatically; its index entries become durable at
 * the next index write (every few packs and at sk_repo_flush). len may be 0;
 * len > SK_BLOB_MAX_SIZE -> -EFBIG. ret_id and ret_was_new may be NULL.
 * Thread-safe (see top). */
int sk_repo_put_blob(sk_repo *repo, sk_blob_type type, const void *data, size_t len,
                     sk_blob_id *ret_id, bool *ret_was_new);

/* sk_repo_put_blob for a caller that already has the blob's id, so that a
 * chunk is hashed once (a backup computes it to look the chunk up for
 * dedup). The id is trusted, not computed again: the caller must have
 * computed it with sk_repo_blob_id (or equivalent) on these very bytes. A
 * wrong id cannot make bad data be returned, since every read verifies the
 * id against the plaintext (the blob then reads as corrupt, -EBADMSG), but
 * it would make later puts of the right bytes dedup against an unreadable
 * blob. Same results and thread safety as sk_repo_put_blob. */
int sk_repo_put_blob_with_id(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, const void *data, size_t len,
                             bool *ret_was_new);

/* Read, verify (AEAD tag, record type, then HMAC id of the plaintext) and
 * return blob (id, type). *ret_buf is owned by the caller (free()); for
 * convenience it has one extra NUL byte after *ret_len. Unknown id ->
 * -ENOENT; corruption -> -EBADMSG with the pack and offset in
 * sk_repo_last_error(). Thread-safe. Blobs put by this handle are readable
 * before flush.
 * Legacy fallback: repositories written before snapkeep 0.2 deduplicated
 * across types, so a tree may exist only as a data blob with its id (or a
 * file chunk only as a tree blob). When (id, type) is absent and (id, other
 * type) is present, that blob is returned: its plaintext is the very bytes
 * asked for, since the id is their HMAC. sk_repo_has_blob stays exact, so
 * writers store the proper blob next time (and check reports the case). */
int sk_repo_get_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id, void **ret_buf, size_t *ret_len);

/* Read-ahead for sk_repo_get_blob (packcache.h). Between begin and end,
 * blob reads go through a cache of up to SK_REPO_READ_AHEAD_SPANS spans of
 * recently read data packs (and 2 of tree packs), each at most a pack long
 * from a remote store (the repository's pack size plus a quarter, since a
 * pack closes after the blob that fills it) and half that from a local one
 * (memory; a pread costs the same), within 1..32 MiB, so that reading blobs
 * in pack order (a restore) costs one or two backend requests per pack
 * rather than one per blob. From a remote store, SK_REPO_READ_AHEAD_LOADERS
 * threads fetch hinted data spans at the same time (started by the first
 * begin, ended by sk_repo_free). Reads stay verified
 * exactly as without it. Nests and is thread-safe (a count of users); the
 * last end frees the cached spans and forgets the plan. begin fails only
 * with -ENOMEM. A store that asks for read-ahead (sk_backend.read_ahead: S3)
 * gets the same caches outside begin and end as well, for reads without a
 * plan (ls, diff, a backup's parent trees): up to that many bytes ahead,
 * but a pack's first read away from its start stays exact
 * (sk_packcache_tune); there is no other read-ahead cache. */
#define SK_REPO_READ_AHEAD_SPANS 4
#define SK_REPO_READ_AHEAD_LOADERS 2
int sk_repo_read_ahead_begin(sk_repo *repo);
void sk_repo_read_ahead_end(sk_repo *repo);
/* Free the read-ahead spans kept from reads outside a restore (a handle
 * going idle: a pool's, or one a daemon keeps between backups; during a
 * restore they stay), and install an index merge that has finished, so
 * that an idle handle does not hold both its inputs and its result. */
void sk_repo_trim(sk_repo *repo);
/* Between begin and end: blob id will be read (sk_packcache_plan). A
 * reader that plans every blob before reading any makes each miss load the
 * rest of the pack's planned blobs in one request. Unknown ids are ignored.
 * >= 0 or -ENOMEM. */
int sk_repo_read_ahead_plan(sk_repo *repo, sk_blob_type type, const sk_blob_id *id);
/* Between begin and end: blob id will be read soon. If its pack span is not
 * cached, load it ahead (sk_packcache_prefetch): from a local store now, in
 * the calling thread, if an entry is free; from a remote one, queued for the
 * loader threads, which return at once. So the readers do not stall on it. A hint
 * never fails: errors are left for the read itself to report. */
void sk_repo_read_ahead_hint(sk_repo *repo, sk_blob_type type, const sk_blob_id *id);

/* Finish the current pack (if any), wait for pack writes, then write one index
 * file for every pack written since the last index write. After it returns
 * every blob put so far is durable and findable by a fresh open. */
int sk_repo_flush(sk_repo *repo);

/* --- small sealed objects (manifests) ----------------------------------------- */

/* dir is a lowercase word ([a-z]{1,16}) other than the reserved "config",
 * "keys", "data", "index", "locks", "lockgone" — the engine uses "backups". name matches
 * [A-Za-z0-9._-]{1,128} and does not start with '.'; else -EINVAL. The object
 * is sealed with its dir/name bound as AAD (a renamed object fails to open).
 * put replaces atomically and durably. len <= 256 MiB (-EFBIG). */
int sk_repo_put_object(sk_repo *repo, const char *dir, const char *name, const void *data, size_t len);

/* Missing -> -ENOENT; corrupt -> -EBADMSG. *ret_buf owned (free()), with one
 * extra NUL byte after *ret_len. */
int sk_repo_get_object(sk_repo *repo, const char *dir, const char *name, void **ret_buf, size_t *ret_len);

/* Calls cb(name) for every object in dir (order unspecified; name borrowed for
 * the call). A negative return from cb stops and is returned. */
typedef int (*sk_repo_name_fn)(const char *name, void *userdata);
int sk_repo_list_objects(sk_repo *repo, const char *dir, sk_repo_name_fn cb, void *userdata);

/* Missing -> -ENOENT. */
int sk_repo_delete_object(sk_repo *repo, const char *dir, const char *name);

/* --- statistics ------------------------------------------------------------------ */

typedef struct sk_repo_stats {
        uint64_t pack_count;            /* packs in storage (listing) */
        uint64_t pack_bytes;            /* their total size */
        uint64_t index_files;           /* index files loaded */
        uint64_t index_files_bad;       /* index files skipped as corrupt */
        uint64_t blob_count;            /* distinct blobs in the index */
        uint64_t blob_raw_bytes;        /* their plaintext size */
        uint64_t blob_stored_bytes;     /* their record size in packs */
        uint64_t data_blobs, tree_blobs;
} sk_repo_stats;

/* Lists storage for the pack figures; the rest comes from the in-memory
 * index. */
int sk_repo_get_stats(sk_repo *repo, sk_repo_stats *ret);

/* --- enumeration, check and prune primitives ------------------------------------ */

/* Where a blob lives. offset/length address its whole record in the pack
 * (record header + sealed payload). */
typedef struct sk_blob_info {
        sk_blob_id id;
        sk_blob_type type;
        bool compressed;
        uint32_t offset;
        uint32_t length;
        uint32_t raw_length;
} sk_blob_info;

/* Every pack in storage: cb(pack name hex, size in bytes). */
typedef int (*sk_repo_pack_fn)(const char *pack, uint64_t size, void *userdata);
int sk_repo_list_packs(sk_repo *repo, sk_repo_pack_fn cb, void *userdata);

/* Every blob in the in-memory index: cb(pack name, info). pack is borrowed. A
 * negative return from cb stops the walk and is returned. */
typedef int (*sk_repo_blob_fn)(const char *pack, const sk_blob_info *bi, void *userdata);
int sk_repo_foreach_blob(sk_repo *repo, sk_repo_blob_fn cb, void *userdata);

/* Index files skipped at open as corrupt: cb(index file name). */
int sk_repo_foreach_bad_index(sk_repo *repo, sk_repo_name_fn cb, void *userdata);

/* Read and check one pack from storage. Checks the pack name (SHA-256 of the
 * bytes), header and trailer; if the trailer is damaged the records are found
 * by scanning forward. With verify_data, every blob is fully verified
 * (decrypt, decompress, HMAC id). Then cb is called exactly once for every
 * blob the pack holds or the index places in it, with status 0 (ok) or a
 * negative errno (-EBADMSG corrupt, -ENOENT: indexed here but not found in the
 * pack) and the detail string (borrowed, "" when ok).
 * Returns 0 if everything was fine, -EBADMSG if anything was wrong (the
 * details went to cb, and the first pack-level problem is in last_error),
 * -ENOENT if the pack is missing (cb is then called with -ENOENT for each
 * indexed blob), or another error. */
typedef int (*sk_repo_scan_fn)(const char *pack, const sk_blob_info *bi, int status, const char *detail,
                               void *userdata);
int sk_repo_check_pack(sk_repo *repo, const char *pack, bool verify_data, sk_repo_scan_fn cb, void *userdata);

/* Prune primitive: read blob (id, type) (verified; no legacy fallback) and
 * store it again into a new pack of this handle even though the index knows
 * it, then point the in-memory index at the new copy. Follow with
 * sk_repo_flush() and sk_repo_rewrite_index() before deleting the old packs. */
int sk_repo_repack_blob(sk_repo *repo, sk_blob_type type, const sk_blob_id *id);

/* Prune primitive: write the whole in-memory index, minus blobs for which
 * drop(pack, info) returns true (drop may be NULL), as new index files, then
 * delete every index file that existed before the call. Flushes first.
 * Refused with -EBADMSG while index files that failed verification exist
 * (their entries are unknown, so their packs would look unreferenced): run
 * sk_repo_rebuild_index() first. */
typedef bool (*sk_repo_drop_fn)(const char *pack, const sk_blob_info *bi, void *userdata);
int sk_repo_rewrite_index(sk_repo *repo, sk_repo_drop_fn drop, void *userdata);
/* The same, and also index every blob of the packs add[0..n_add) (pack names,
 * read from storage as rebuild-index does; corrupt blobs are left out). */
int sk_repo_rewrite_index_add(sk_repo *repo, sk_repo_drop_fn drop, void *userdata, char *const *add, size_t n_add);

/* Delete a pack from storage and forget its blobs in the in-memory index.
 * Only safe under an exclusive lock, after sk_repo_rewrite_index() stopped
 * referencing it. Missing -> -ENOENT. */
int sk_repo_delete_pack(sk_repo *repo, const char *pack);

/* Prune primitive: remove leftovers of interrupted writes (temp files of a
 * killed process) older than min_age seconds; they are never listed as
 * packs. Only under an exclusive lock: every blob/index/manifest writer holds
 * a shared lock, so min_age 0 is safe then (key slot and lock writes take no
 * lock; a few seconds of margin covers them). *ret_removed may be NULL. */
int sk_repo_remove_leftovers(sk_repo *repo, uint64_t min_age, uint64_t *ret_removed);

/* Recreate the index from the packs alone (trailer, or forward scan when the
 * trailer is damaged; blobs that fail verification are left out and counted):
 * write new index files and delete all old ones. Take an exclusive lock
 * first. *ret_packs / *ret_blobs / *ret_bad (may be NULL) count packs read,
 * blobs indexed, and packs or blobs skipped as corrupt. */
int sk_repo_rebuild_index(sk_repo *repo, uint64_t *ret_packs, uint64_t *ret_blobs, uint64_t *ret_bad);

/* --- keys (snapkeep key add|list|remove|passwd) ---------------------------------- */

/* Add a slot for secret; *ret_slot (may be NULL) gets its id (caller frees). */
int sk_repo_key_add(sk_repo *repo, const sk_secret *secret, char **ret_slot);

/* cb once per slot (info borrowed for the call); info->current is true for
 * the slot this handle was opened with. */
typedef int (*sk_repo_key_fn)(const sk_key_info *info, void *userdata);
int sk_repo_key_list(sk_repo *repo, sk_repo_key_fn cb, void *userdata);

/* Remove a slot. The last slot, or the one this handle was opened with, is
 * refused with -EBUSY. Missing -> -ENOENT. */
int sk_repo_key_remove(sk_repo *repo, const char *slot);

/* Change the secret of the slot this handle was opened with: writes a new
 * slot for new_secret, then removes the old one. *ret_slot as key_add. */
int sk_repo_key_passwd(sk_repo *repo, const sk_secret *new_secret, char **ret_slot);

/* --- locks --------------------------------------------------------------------- */

/* Take a shared (backup) or exclusive (prune, rebuild-index) lock.
 * wait_seconds 0 fails at once with -EBUSY when a conflicting live lock is
 * held (sk_repo_last_error() names host, pid, age); > 0 retries until then.
 * Stale locks (holder on this host with a dead pid, or not refreshed for
 * SK_LOCK_STALE_SECONDS = 30 min) are ignored (and removed by an exclusive
 * request, after a tombstone). A thread of the lock refreshes it on a timer
 * (lock.h); callers need not. The lock borrows repo; release it before
 * sk_repo_free(). *ret owned: sk_lock_release().
 * After acquiring, the in-memory index is brought up to date
 * (sk_repo_reload_index): the index loaded at open may predate a prune that
 * finished meanwhile, and dedup against it would reference deleted packs. So
 * take the lock before the first put_blob. */
int sk_repo_lock(sk_repo *repo, bool exclusive, unsigned wait_seconds, sk_lock **ret);

/* Bring the in-memory index up to date with storage: load index files other
 * writers added since open; if an index file this handle relies on was
 * deleted (prune / rebuild-index ran), reload everything. The latter with
 * unflushed blobs of this handle -> -EBUSY. Called by sk_repo_lock. */
int sk_repo_reload_index(sk_repo *repo);

/* While a lock taken by sk_repo_lock lives, every index file and sealed
 * object this handle writes is checked against it (sk_lock_check, remote)
 * just before and just after the write: a lost lock fails the write with
 * -ESTALE naming the lock and why it was lost, and an object already written
 * is deleted again, so nothing that names possibly-trashed data survives
 * (docs/FORMAT.md section 9). With several locks, the latest one guards.
 * sk_lock_refresh() and sk_lock_release() are in lock.h. */

/* 0 if lock l is still ours (looks at storage), -ESTALE with last_error
 * naming the lock and the reason, or a storage error. */
int sk_repo_lock_check(sk_repo *repo, sk_lock *l);

/* Stale time for locks taken and judged by this handle (0 = default
 * SK_LOCK_STALE_SECONDS; at least 2 s, else -EINVAL). Every node must use
 * the same value; shorter values are for tests (the CLI reads
 * SNAPKEEP_LOCK_STALE_SECONDS). Refresh interval and freshness limit follow
 * from it (lock.h). */
int sk_repo_set_lock_stale(sk_repo *repo, unsigned seconds);
unsigned sk_repo_lock_stale(const sk_repo *repo);

/* Remove stale locks (see sk_repo_lock); *ret_removed (may be NULL) counts. */
int sk_repo_unlock_stale(sk_repo *repo, unsigned *ret_removed);

/* Remove lock tombstones older than SK_LOCK_TOMBSTONE_SECONDS (prune). */
int sk_repo_remove_lock_tombstones(sk_repo *repo, unsigned *ret_removed);
