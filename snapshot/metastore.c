/* DESIGN
 * A thin layer over LMDB that knows the snapshot tables (metastore.h) and the
 * record encoding; the semantics (which checks happen in which order) live in
 * snapshotter.c and snapshotter-info.c. The environment is opened with MDB_NOTLS so a thread may hold
 * several read transactions (a walk callback may call stat) and gRPC workers
 * need no thread affinity.
 *
 * Record layout, version 1, all integers little-endian:
 *   0  u8  version (1)          1  u8  kind (sk_kind)       2  u16 reserved (0)
 *   4  u32 number of labels     8  u64 id
 *   16 i64 created seconds     24 u32 created nanoseconds
 *   28 u32 updated nanoseconds  32 i64 updated seconds
 *   40 i64 usage bytes         48 i64 usage inodes
 *   56 u32 parent length P (0 = no parent), then P bytes and a NUL
 *   then per label: u32 key length K, u32 value length V, K bytes, NUL, V bytes, NUL
 * Strings are stored NUL-terminated so a decoded record can point straight into
 * the map without copying. Every length is checked on decode; a record that
 * does not parse is -EBADMSG. */
#include "snapshot/metastore.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/macro.h"

#define RECORD_VERSION 1
#define RECORD_HEADER 60
#define STORE_VERSION 1

struct sk_metastore {
        MDB_env *env;
        MDB_dbi snapshots, ids, children, meta;
};

struct sk_mtxn {
        sk_metastore *m;
        MDB_txn *txn;
};

static int mdb_to_errno(int r) {
        switch (r) {
        case MDB_SUCCESS:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
        case MDB_TXN_FULL:
                return -ENOSPC;
        case MDB_BAD_VALSIZE:
                return -EINVAL;
        case MDB_READERS_FULL:
                return -EAGAIN;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
                return -EBADMSG;
        default:
                return r > 0 ? -r : -EIO;
        }
}

static void put_be64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (v >> (56 - 8 * i)) & 0xff;
}

int sk_metastore_open(const char *dir, size_t map_size, sk_metastore **ret) {
        sk_metastore *m = calloc(1, sizeof(*m));
        MDB_txn *txn = NULL;
        int r;

        if (!m)
                return -ENOMEM;
        r = mdb_env_create(&m->env);
        if (r != 0)
                goto fail;
        r = mdb_env_set_maxdbs(m->env, 8);
        if (r == 0)
                r = mdb_env_set_maxreaders(m->env, 512);
        if (r == 0)
                r = mdb_env_set_mapsize(m->env, map_size);
        if (r == 0)
                /* Full sync on every commit (no MDB_NOMETASYNC): containerd treats an
                 * acknowledged Commit as durable, and losing the last transaction
                 * after a power cut would orphan a layer it already recorded. */
                r = mdb_env_open(m->env, dir, MDB_NOTLS, 0600);
        if (r != 0)
                goto fail;
        /* Reader slots of a process killed with -9 stay in lock.mdb; free them
         * now so they do not pin old pages forever. */
        (void) mdb_reader_check(m->env, NULL);

        r = mdb_txn_begin(m->env, NULL, 0, &txn);
        if (r != 0)
                goto fail;
        r = mdb_dbi_open(txn, "snapshots", MDB_CREATE, &m->snapshots);
        if (r == 0)
                r = mdb_dbi_open(txn, "ids", MDB_CREATE, &m->ids);
        if (r == 0)
                r = mdb_dbi_open(txn, "children", MDB_CREATE, &m->children);
        if (r == 0)
                r = mdb_dbi_open(txn, "meta", MDB_CREATE, &m->meta);
        if (r != 0)
                goto fail;

        MDB_val k = { .mv_size = 7, .mv_data = (void *) "version" }, v;
        r = mdb_get(txn, m->meta, &k, &v);
        if (r == MDB_NOTFOUND) {
                uint8_t buf[4];
                sk_put_le32(buf, STORE_VERSION);
                v = (MDB_val) { .mv_size = sizeof(buf), .mv_data = buf };
                r = mdb_put(txn, m->meta, &k, &v, 0);
        } else if (r == 0 && (v.mv_size != 4 || sk_get_le32(v.mv_data) != STORE_VERSION)) {
                /* A newer layout we cannot read: refuse rather than misparse. */
                mdb_txn_abort(txn);
                mdb_env_close(m->env);
                free(m);
                return -EPROTONOSUPPORT;
        }
        if (r != 0)
                goto fail;
        r = mdb_txn_commit(txn);
        txn = NULL;
        if (r != 0)
                goto fail;

        *ret = m;
        return 0;
fail:
        if (txn)
                mdb_txn_abort(txn);
        if (m->env)
                mdb_env_close(m->env);
        free(m);
        return mdb_to_errno(r);
}

void sk_metastore_free(sk_metastore *m) {
        if (!m)
                return;
        mdb_env_close(m->env);
        free(m);
}

size_t sk_metastore_max_key(const sk_metastore *m) {
        return (size_t) mdb_env_get_maxkeysize(m->env);
}

int sk_mtxn_begin(sk_metastore *m, bool write, sk_mtxn **ret) {
        sk_mtxn *t = malloc(sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->m = m;
        int r = mdb_txn_begin(m->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
        if (r != 0) {
                free(t);
                return mdb_to_errno(r);
        }
        *ret = t;
        return 0;
}

int sk_mtxn_commit(sk_mtxn *t) {
        int r = mdb_txn_commit(t->txn);
        free(t);
        return mdb_to_errno(r);
}

void sk_mtxn_abort(sk_mtxn *t) {
        if (!t)
                return;
        mdb_txn_abort(t->txn);
        free(t);
}

static MDB_val str_val(const char *s) {
        return (MDB_val) { .mv_size = strlen(s), .mv_data = (void *) s };
}

void sk_record_clear(sk_record *rec) {
        free(rec->labels);
        *rec = (sk_record) {};
}

static int record_decode(const MDB_val *v, sk_record *ret) {
        const uint8_t *p = v->mv_data;
        size_t len = v->mv_size, off;
        sk_record rec = {};

        if (len < RECORD_HEADER || p[0] != RECORD_VERSION)
                return -EBADMSG;
        rec.kind = p[1];
        if (rec.kind < SK_KIND_VIEW || rec.kind > SK_KIND_COMMITTED)
                return -EBADMSG;
        uint32_t n_labels = sk_get_le32(p + 4);
        rec.id = sk_get_le64(p + 8);
        rec.created.tv_sec = (time_t) sk_get_le64(p + 16);
        rec.created.tv_nsec = sk_get_le32(p + 24);
        rec.updated.tv_nsec = sk_get_le32(p + 28);
        rec.updated.tv_sec = (time_t) sk_get_le64(p + 32);
        rec.usage.size = (int64_t) sk_get_le64(p + 40);
        rec.usage.inodes = (int64_t) sk_get_le64(p + 48);
        if (rec.created.tv_nsec >= 1000000000 || rec.updated.tv_nsec >= 1000000000)
                return -EBADMSG;
        uint32_t plen = sk_get_le32(p + 56);
        off = RECORD_HEADER;
        if (plen > 0) {
                if (len - off < (size_t) plen + 1 || p[off + plen] != 0)
                        return -EBADMSG;
                rec.parent = (const char *) p + off;
                off += (size_t) plen + 1;
        }
        /* Each label needs at least 10 bytes, so this bound also stops a huge
         * count from turning into a huge allocation. */
        if (n_labels > (len - off) / 10)
                return -EBADMSG;
        if (n_labels > 0) {
                rec.labels = calloc(n_labels, sizeof(sk_label));
                if (!rec.labels)
                        return -ENOMEM;
        }
        for (uint32_t i = 0; i < n_labels; i++) {
                if (len - off < 8)
                        goto bad;
                uint32_t kl = sk_get_le32(p + off), vl = sk_get_le32(p + off + 4);
                off += 8;
                if (len - off < (size_t) kl + 1 || p[off + kl] != 0)
                        goto bad;
                rec.labels[i].key = (char *) p + off;
                off += (size_t) kl + 1;
                if (len - off < (size_t) vl + 1 || p[off + vl] != 0)
                        goto bad;
                rec.labels[i].value = (char *) p + off;
                off += (size_t) vl + 1;
        }
        if (off != len)
                goto bad;
        rec.n_labels = n_labels;
        *ret = rec;
        return 0;
bad:
        free(rec.labels);
        return -EBADMSG;
}

static int record_encode(const sk_record *rec, uint8_t **ret, size_t *ret_len) {
        size_t plen = rec->parent ? strlen(rec->parent) : 0;
        size_t len = RECORD_HEADER + (plen ? plen + 1 : 0);

        if (plen > UINT32_MAX || rec->n_labels > UINT32_MAX)
                return -EINVAL;
        for (size_t i = 0; i < rec->n_labels; i++) {
                size_t kl = strlen(rec->labels[i].key), vl = strlen(rec->labels[i].value);
                if (kl > UINT32_MAX || vl > UINT32_MAX)
                        return -EINVAL;
                len += 8 + kl + 1 + vl + 1;
        }
        uint8_t *p = calloc(1, len);
        if (!p)
                return -ENOMEM;
        p[0] = RECORD_VERSION;
        p[1] = (uint8_t) rec->kind;
        sk_put_le16(p + 2, 0);
        sk_put_le32(p + 4, (uint32_t) rec->n_labels);
        sk_put_le64(p + 8, rec->id);
        sk_put_le64(p + 16, (uint64_t) rec->created.tv_sec);
        sk_put_le32(p + 24, (uint32_t) rec->created.tv_nsec);
        sk_put_le32(p + 28, (uint32_t) rec->updated.tv_nsec);
        sk_put_le64(p + 32, (uint64_t) rec->updated.tv_sec);
        sk_put_le64(p + 40, (uint64_t) rec->usage.size);
        sk_put_le64(p + 48, (uint64_t) rec->usage.inodes);
        sk_put_le32(p + 56, (uint32_t) plen);
        size_t off = RECORD_HEADER;
        if (plen) {
                memcpy(p + off, rec->parent, plen + 1);
                off += plen + 1;
        }
        for (size_t i = 0; i < rec->n_labels; i++) {
                size_t kl = strlen(rec->labels[i].key), vl = strlen(rec->labels[i].value);
                sk_put_le32(p + off, (uint32_t) kl);
                sk_put_le32(p + off + 4, (uint32_t) vl);
                off += 8;
                memcpy(p + off, rec->labels[i].key, kl + 1);
                off += kl + 1;
                memcpy(p + off, rec->labels[i].value, vl + 1);
                off += vl + 1;
        }
        *ret = p;
        *ret_len = len;
        return 0;
}

int sk_mtxn_get(sk_mtxn *t, const char *key, sk_record *ret) {
        MDB_val k = str_val(key), v;
        if (k.mv_size == 0)
                return -ENOENT;
        int r = mdb_get(t->txn, t->m->snapshots, &k, &v);
        if (r == MDB_BAD_VALSIZE)
                return -ENOENT; /* longer than any key we could have stored */
        if (r != 0)
                return mdb_to_errno(r);
        return record_decode(&v, ret);
}

bool sk_mtxn_exists(sk_mtxn *t, const char *key) {
        MDB_val k = str_val(key), v;
        return k.mv_size > 0 && mdb_get(t->txn, t->m->snapshots, &k, &v) == 0;
}

int sk_mtxn_put(sk_mtxn *t, const char *key, const sk_record *rec, bool overwrite) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        int r = record_encode(rec, &buf, &len);
        if (r < 0)
                return r;
        MDB_val k = str_val(key), v = { .mv_size = len, .mv_data = buf };
        return mdb_to_errno(mdb_put(t->txn, t->m->snapshots, &k, &v, overwrite ? 0 : MDB_NOOVERWRITE));
}

int sk_mtxn_del(sk_mtxn *t, const char *key) {
        MDB_val k = str_val(key);
        return mdb_to_errno(mdb_del(t->txn, t->m->snapshots, &k, NULL));
}

int sk_mtxn_next_id(sk_mtxn *t, uint64_t *ret) {
        MDB_val k = { .mv_size = 7, .mv_data = (void *) "next-id" }, v;
        uint64_t id = 1;
        int r = mdb_get(t->txn, t->m->meta, &k, &v);
        if (r == 0) {
                if (v.mv_size != 8)
                        return -EBADMSG;
                id = sk_get_le64(v.mv_data);
        } else if (r != MDB_NOTFOUND)
                return mdb_to_errno(r);
        if (id == 0 || id == UINT64_MAX)
                return -EBADMSG;
        uint8_t buf[8];
        sk_put_le64(buf, id + 1);
        v = (MDB_val) { .mv_size = 8, .mv_data = buf };
        r = mdb_put(t->txn, t->m->meta, &k, &v, 0);
        if (r != 0)
                return mdb_to_errno(r);
        *ret = id;
        return 0;
}

int sk_mtxn_id_put(sk_mtxn *t, uint64_t id, const char *key) {
        uint8_t kb[8];
        put_be64(kb, id);
        MDB_val k = { .mv_size = 8, .mv_data = kb }, v = str_val(key);
        return mdb_to_errno(mdb_put(t->txn, t->m->ids, &k, &v, 0));
}

int sk_mtxn_id_del(sk_mtxn *t, uint64_t id) {
        uint8_t kb[8];
        put_be64(kb, id);
        MDB_val k = { .mv_size = 8, .mv_data = kb };
        int r = mdb_del(t->txn, t->m->ids, &k, NULL);
        return r == MDB_NOTFOUND ? 0 : mdb_to_errno(r);
}

int sk_mtxn_id_exists(sk_mtxn *t, uint64_t id) {
        uint8_t kb[8];
        put_be64(kb, id);
        MDB_val k = { .mv_size = 8, .mv_data = kb }, v;
        int r = mdb_get(t->txn, t->m->ids, &k, &v);
        if (r == MDB_NOTFOUND)
                return 0;
        return r == 0 ? 1 : mdb_to_errno(r);
}

int sk_mtxn_child_put(sk_mtxn *t, uint64_t parent, uint64_t child, const char *child_key) {
        uint8_t kb[16];
        put_be64(kb, parent);
        put_be64(kb + 8, child);
        MDB_val k = { .mv_size = 16, .mv_data = kb }, v = str_val(child_key);
        return mdb_to_errno(mdb_put(t->txn, t->m->children, &k, &v, 0));
}

int sk_mtxn_child_del(sk_mtxn *t, uint64_t parent, uint64_t child) {
        uint8_t kb[16];
        put_be64(kb, parent);
        put_be64(kb + 8, child);
        MDB_val k = { .mv_size = 16, .mv_data = kb };
        int r = mdb_del(t->txn, t->m->children, &k, NULL);
        return r == MDB_NOTFOUND ? 0 : mdb_to_errno(r);
}

int sk_mtxn_has_children(sk_mtxn *t, uint64_t parent) {
        MDB_cursor *c;
        uint8_t kb[8];
        int r = mdb_cursor_open(t->txn, t->m->children, &c);
        if (r != 0)
                return mdb_to_errno(r);
        put_be64(kb, parent);
        MDB_val k = { .mv_size = 8, .mv_data = kb }, v;
        r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        int found = r == 0 && k.mv_size == 16 && memcmp(k.mv_data, kb, 8) == 0;
        mdb_cursor_close(c);
        if (r != 0 && r != MDB_NOTFOUND)
                return mdb_to_errno(r);
        return found;
}

int sk_mtxn_foreach(sk_mtxn *t, sk_mtxn_foreach_fn fn, void *userdata) {
        MDB_cursor *c;
        MDB_val k, v;
        int r = mdb_cursor_open(t->txn, t->m->snapshots, &c);
        if (r != 0)
                return mdb_to_errno(r);
        _cleanup_free_ char *key = NULL;
        size_t key_cap = 0;
        for (r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                /* LMDB keys are not NUL-terminated: copy into a reusable buffer. */
                if (k.mv_size + 1 > key_cap) {
                        char *n = realloc(key, k.mv_size + 64);
                        if (!n) {
                                r = -ENOMEM;
                                goto out;
                        }
                        key = n;
                        key_cap = k.mv_size + 64;
                }
                memcpy(key, k.mv_data, k.mv_size);
                key[k.mv_size] = 0;
                sk_record rec;
                r = record_decode(&v, &rec);
                if (r < 0)
                        goto out;
                r = fn(key, &rec, userdata);
                sk_record_clear(&rec);
                if (r < 0)
                        goto out;
        }
        r = r == MDB_NOTFOUND ? 0 : mdb_to_errno(r);
out:
        mdb_cursor_close(c);
        return r;
}
