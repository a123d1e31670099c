/* Record layout, version 1, all integers little-endian:
 *   0  u8  version (1)       1..3 reserved (0)
 *   4  u32 failures          8  u32 runs          12 i32 last errno
 *   16 i64 first_seen        24 i64 last_start    32 i64 last_end
 *   40 i64 last_success      48 i64 next_run
 *   56 64 bytes policy name, NUL-padded
 *   120 65 bytes last backup id, NUL-padded
 *   185 256 bytes last error, NUL-padded
 * = 441 bytes. Any other size or version is -EBADMSG; strings are cut at
 * their field's last byte, so a damaged record cannot run past it. */
#include "auto/state.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/array.h"
#include "common/le.h"

#define RECORD_VERSION 1
#define OFF_POLICY 56
#define OFF_BACKUP (OFF_POLICY + 64)
#define OFF_ERROR (OFF_BACKUP + 65)
#define RECORD_SIZE (OFF_ERROR + 256)
#define MAP_SIZE (64u << 20) /* 64 MiB: about 100,000 sources */

struct sk_sched_db {
        MDB_env *env;
        MDB_dbi dbi;    /* sources */
        MDB_dbi paused; /* tasks paused for a backup */
        MDB_dbi held;   /* policies and sources on hold (snapkeep daemon pause) */
};

/* LMDB's codes as -errno. Only "not found" and "full" mean something to the
 * scheduler; anything else is a damaged or unusable database. */
static int mdb_errno(int r) {
        if (r == MDB_SUCCESS)
                return 0;
        if (r == MDB_NOTFOUND)
                return -ENOENT;
        if (r == MDB_MAP_FULL)
                return -ENOSPC;
        return r > 0 ? -r : -EIO;
}

void sk_sched_db_free(sk_sched_db *db) {
        if (!db)
                return;
        if (db->env)
                mdb_env_close(db->env);
        free(db);
}

int sk_sched_db_open(const char *dir, sk_sched_db **ret) {
        sk_sched_db *db = calloc(1, sizeof(*db));
        MDB_txn *txn = NULL;
        int r;
        if (!db)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                free(db);
                return r;
        }
        r = mdb_env_create(&db->env);
        if (r == 0)
                r = mdb_env_set_maxdbs(db->env, 3);
        if (r == 0)
                r = mdb_env_set_mapsize(db->env, MAP_SIZE);
        if (r == 0)
                r = mdb_env_open(db->env, dir, MDB_NOTLS, 0600);
        if (r == 0) {
                (void) mdb_reader_check(db->env, NULL);
                r = mdb_txn_begin(db->env, NULL, 0, &txn);
        }
        if (r == 0)
                r = mdb_dbi_open(txn, "sources", MDB_CREATE, &db->dbi);
        if (r == 0)
                r = mdb_dbi_open(txn, "paused", MDB_CREATE, &db->paused);
        if (r == 0)
                r = mdb_dbi_open(txn, "held", MDB_CREATE, &db->held);
        if (r == 0) {
                r = mdb_txn_commit(txn);
                txn = NULL;
        }
        if (r != 0) {
                if (txn)
                        mdb_txn_abort(txn);
                sk_sched_db_free(db);
                return mdb_errno(r);
        }
        *ret = db;
        return 0;
}

/* A string into a NUL-padded field of size bytes (cut to size - 1). */
static void put_str(uint8_t *p, size_t size, const char *s, size_t s_size) {
        memset(p, 0, size);
        size_t n = strnlen(s, (s_size < size ? s_size : size) - 1);
        memcpy(p, s, n);
}

/* A field of size bytes into dst (dst_size bytes), always NUL-terminated. */
static void get_str(char *dst, size_t dst_size, const uint8_t *p, size_t size) {
        size_t n = strnlen((const char *) p, size);
        if (n >= dst_size)
                n = dst_size - 1;
        memcpy(dst, p, n);
        dst[n] = '\0';
}

static void encode(const sk_sched_state *s, uint8_t *p) {
        memset(p, 0, RECORD_SIZE);
        p[0] = RECORD_VERSION;
        sk_put_le32(p + 4, s->failures);
        sk_put_le32(p + 8, s->runs);
        sk_put_le32(p + 12, (uint32_t) s->last_errno);
        sk_put_le64(p + 16, (uint64_t) s->first_seen);
        sk_put_le64(p + 24, (uint64_t) s->last_start);
        sk_put_le64(p + 32, (uint64_t) s->last_end);
        sk_put_le64(p + 40, (uint64_t) s->last_success);
        sk_put_le64(p + 48, (uint64_t) s->next_run);
        put_str(p + OFF_POLICY, 64, s->policy, sizeof(s->policy));
        put_str(p + OFF_BACKUP, 65, s->last_backup, sizeof(s->last_backup));
        put_str(p + OFF_ERROR, 256, s->last_error, sizeof(s->last_error));
}

static int decode(const MDB_val *v, sk_sched_state *s) {
        const uint8_t *p = v->mv_data;
        if (v->mv_size != RECORD_SIZE || p[0] != RECORD_VERSION)
                return -EBADMSG;
        *s = (sk_sched_state) {
                .failures = sk_get_le32(p + 4),
                .runs = sk_get_le32(p + 8),
                .last_errno = (int32_t) sk_get_le32(p + 12),
                .first_seen = (int64_t) sk_get_le64(p + 16),
                .last_start = (int64_t) sk_get_le64(p + 24),
                .last_end = (int64_t) sk_get_le64(p + 32),
                .last_success = (int64_t) sk_get_le64(p + 40),
                .next_run = (int64_t) sk_get_le64(p + 48),
        };
        get_str(s->policy, sizeof(s->policy), p + OFF_POLICY, 64);
        get_str(s->last_backup, sizeof(s->last_backup), p + OFF_BACKUP, 65);
        get_str(s->last_error, sizeof(s->last_error), p + OFF_ERROR, 256);
        return 0;
}

int sk_sched_db_get(sk_sched_db *db, const char *source, sk_sched_state *ret) {
        MDB_txn *txn;
        MDB_val k = { .mv_size = strlen(source), .mv_data = (void *) source }, v;
        int r = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
        if (r != 0)
                return mdb_errno(r);
        r = mdb_get(txn, db->dbi, &k, &v);
        r = r == 0 ? decode(&v, ret) : mdb_errno(r);
        mdb_txn_abort(txn);
        return r;
}

/* Put (value not NULL) or delete key in dbi, one synced transaction. */
static int write_txn(sk_sched_db *db, MDB_dbi dbi, const char *key, const void *value, size_t len) {
        MDB_txn *txn;
        MDB_val k = { .mv_size = strlen(key), .mv_data = (void *) key };
        int r = mdb_txn_begin(db->env, NULL, 0, &txn);
        if (r != 0)
                return mdb_errno(r);
        if (value) {
                MDB_val v = { .mv_size = len, .mv_data = (void *) value };
                r = mdb_put(txn, dbi, &k, &v, 0);
        } else {
                r = mdb_del(txn, dbi, &k, NULL);
                if (r == MDB_NOTFOUND)
                        r = 0;
        }
        if (r != 0) {
                mdb_txn_abort(txn);
                return mdb_errno(r);
        }
        return mdb_errno(mdb_txn_commit(txn));
}

int sk_sched_db_put(sk_sched_db *db, const char *source, const sk_sched_state *s) {
        uint8_t buf[RECORD_SIZE];
        encode(s, buf);
        return write_txn(db, db->dbi, source, buf, sizeof(buf));
}

int sk_sched_db_delete(sk_sched_db *db, const char *source) {
        return write_txn(db, db->dbi, source, NULL, 0);
}

int sk_sched_db_paused_put(sk_sched_db *db, const char *task) {
        return write_txn(db, db->paused, task, "", 1);
}

int sk_sched_db_paused_delete(sk_sched_db *db, const char *task) {
        return write_txn(db, db->paused, task, NULL, 0);
}

int sk_sched_db_held_put(sk_sched_db *db, const char *what) {
        return write_txn(db, db->held, what, "", 1);
}

int sk_sched_db_held_delete(sk_sched_db *db, const char *what) {
        return write_txn(db, db->held, what, NULL, 0);
}

static int list_keys(sk_sched_db *db, MDB_dbi dbi, char ***ret, size_t *ret_n);

int sk_sched_db_paused_list(sk_sched_db *db, char ***ret, size_t *ret_n) {
        return list_keys(db, db->paused, ret, ret_n);
}

int sk_sched_db_held_list(sk_sched_db *db, char ***ret, size_t *ret_n) {
        return list_keys(db, db->held, ret, ret_n);
}

/* The keys of a set-like table, as a NULL-terminated owned array. */
static int list_keys(sk_sched_db *db, MDB_dbi dbi, char ***ret, size_t *ret_n) {
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;
        char **l = NULL;
        size_t n = 0, cap = 0;
        int r = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
        if (r != 0)
                return mdb_errno(r);
        r = mdb_cursor_open(txn, dbi, &cur);
        if (r != 0) {
                mdb_txn_abort(txn);
                return mdb_errno(r);
        }
        int ret_r = 0;
        for (r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                if (k.mv_size == 0 || k.mv_size > 4096 || memchr(k.mv_data, '\0', k.mv_size))
                        continue;
                if (SK_GROW(l, cap, n + 2) < 0 || !(l[n] = strndup(k.mv_data, k.mv_size))) {
                        ret_r = -ENOMEM;
                        break;
                }
                l[++n] = NULL;
        }
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        if (ret_r < 0 || (r != MDB_NOTFOUND && (ret_r = mdb_errno(r)) < 0)) {
                for (size_t i = 0; i < n; i++)
                        free(l[i]);
                free(l);
                return ret_r;
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = l;
        *ret_n = n;
        return 0;
}

int sk_sched_db_foreach(sk_sched_db *db, sk_sched_db_fn fn, void *userdata) {
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;
        int r = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
        if (r != 0)
                return mdb_errno(r);
        r = mdb_cursor_open(txn, db->dbi, &cur);
        if (r != 0) {
                mdb_txn_abort(txn);
                return mdb_errno(r);
        }
        int ret = 0;
        for (r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                sk_sched_state s;
                if (k.mv_size == 0 || k.mv_size > 4096 || decode(&v, &s) < 0)
                        continue;
                char key[4097];
                memcpy(key, k.mv_data, k.mv_size);
                key[k.mv_size] = '\0';
                if (strlen(key) != k.mv_size)
                        continue;
                ret = fn(key, &s, userdata);
                if (ret < 0)
                        break;
        }
        if (ret >= 0 && r != MDB_NOTFOUND)
                ret = mdb_errno(r);
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        return ret;
}
