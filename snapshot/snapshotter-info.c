/* The snapshotter's read side and label edits: Stat, Update, Usage and the
 * walk behind List, and the owned sk_info they hand out. Split from
 * snapshotter.c, which keeps what creates, commits and removes snapshots and
 * their directories; both work on the object of snapshotter-internal.h. None
 * of these touches the snapshots directory except to measure usage. */
#include "snapshot/snapshotter-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "snapshot/usage.h"

static int labels_dup(const sk_label *in, size_t n, sk_label **ret) {
        sk_label *out = NULL;
        if (n > 0) {
                out = calloc(n, sizeof(*out));
                if (!out)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                out[i].key = strdup(in[i].key);
                out[i].value = strdup(in[i].value);
                if (!out[i].key || !out[i].value) {
                        for (size_t j = 0; j <= i; j++) {
                                free(out[j].key);
                                free(out[j].value);
                        }
                        free(out);
                        return -ENOMEM;
                }
        }
        *ret = out;
        return 0;
}

/* An owned sk_info from a record. */
static int info_from_record(const char *key, const sk_record *rec, sk_info *ret) {
        sk_info info = {
                .kind = rec->kind,
                .created = rec->created,
                .updated = rec->updated,
        };
        info.name = strdup(key);
        if (!info.name)
                return -ENOMEM;
        if (rec->parent) {
                info.parent = strdup(rec->parent);
                if (!info.parent) {
                        free(info.name);
                        return -ENOMEM;
                }
        }
        int r = labels_dup(rec->labels, rec->n_labels, &info.labels);
        if (r < 0) {
                free(info.name);
                free(info.parent);
                return r;
        }
        info.n_labels = rec->n_labels;
        *ret = info;
        return 0;
}

void sk_info_clear(sk_info *info) {
        if (!info)
                return;
        free(info->name);
        free(info->parent);
        for (size_t i = 0; i < info->n_labels; i++) {
                free(info->labels[i].key);
                free(info->labels[i].value);
        }
        free(info->labels);
        *info = (sk_info) {};
}

int sk_snapshotter_stat(sk_snapshotter *s, const char *key, sk_info *ret) {
        _cleanup_txn_ sk_mtxn *t = NULL;
        sk_record rec;
        int r;

        r = sk_snap_get(s, key, false, &t, &rec);
        if (r < 0)
                return r;
        r = info_from_record(key, &rec, ret);
        sk_record_clear(&rec);
        return r;
}

static const sk_label *find_label(const sk_label *l, size_t n, const char *key) {
        const sk_label *found = NULL;
        for (size_t i = 0; i < n; i++) /* the last one wins, as when decoding a protobuf map */
                if (strcmp(l[i].key, key) == 0)
                        found = &l[i];
        return found;
}

/* Set (or with value "" delete) key in an array of borrowed labels with room
 * for one more. */
static void label_set(sk_label *l, size_t *n, const char *key, const char *value) {
        for (size_t i = 0; i < *n; i++)
                if (strcmp(l[i].key, key) == 0) {
                        if (*value)
                                l[i].value = (char *) value;
                        else
                                l[i] = l[--*n];
                        return;
                }
        if (*value)
                l[(*n)++] = (sk_label) { .key = (char *) key, .value = (char *) value };
}

int sk_snapshotter_update(sk_snapshotter *s, const sk_info *info, const char *const *paths, size_t n_paths,
                          sk_info *ret) {
        return sk_snapshotter_update_keep(s, info, paths, n_paths, NULL, 0, ret);
}

int sk_snapshotter_update_keep(sk_snapshotter *s, const sk_info *info, const char *const *paths, size_t n_paths,
                               const char *const *keep, size_t n_keep, sk_info *ret) {
        static const char *const all[] = { "labels" };
        _cleanup_txn_ sk_mtxn *t = NULL;
        _cleanup_free_ sk_label *lbl = NULL;
        size_t n_lbl = 0;
        sk_record rec;
        int r;

        if (!info || !info->name || !*info->name)
                return -EINVAL;
        if (n_paths == 0) {
                paths = all;
                n_paths = 1;
        }
        for (size_t i = 0; i < n_paths; i++)
                if (strcmp(paths[i], "labels") != 0 && strncmp(paths[i], "labels.", 7) != 0)
                        return -EINVAL;
        for (size_t i = 0; i < info->n_labels; i++) {
                r = sk_snap_check_label(s, &info->labels[i]);
                if (r < 0)
                        return r;
        }

        r = sk_snap_get(s, info->name, true, &t, &rec);
        if (r < 0)
                return r;

        /* Room for the stored labels plus every input label. */
        lbl = calloc(rec.n_labels + info->n_labels + 1, sizeof(*lbl));
        if (!lbl) {
                sk_record_clear(&rec);
                return -ENOMEM;
        }
        for (size_t i = 0; i < rec.n_labels; i++)
                lbl[n_lbl++] = rec.labels[i];
        for (size_t i = 0; i < n_paths; i++) {
                if (strcmp(paths[i], "labels") == 0) {
                        n_lbl = 0;
                        for (size_t j = 0; j < n_keep; j++) {
                                const sk_label *l = find_label(rec.labels, rec.n_labels, keep[j]);
                                if (l)
                                        label_set(lbl, &n_lbl, l->key, l->value);
                        }
                        for (size_t j = 0; j < info->n_labels; j++)
                                label_set(lbl, &n_lbl, info->labels[j].key, info->labels[j].value);
                } else {
                        const char *k = paths[i] + 7;
                        const sk_label *l = find_label(info->labels, info->n_labels, k);
                        label_set(lbl, &n_lbl, k, l ? l->value : "");
                }
        }

        /* The label strings still point into the map: copy the result before
         * the write invalidates them. */
        sk_record nrec = rec;
        nrec.labels = lbl;
        nrec.n_labels = n_lbl;
        nrec.updated = now();
        sk_info out;
        r = info_from_record(info->name, &nrec, &out);
        if (r < 0) {
                sk_record_clear(&rec);
                return r;
        }
        /* nrec's strings are still valid here: nothing has been written yet. */
        r = sk_mtxn_put(t, info->name, &nrec, true);
        sk_record_clear(&rec);
        if (r >= 0)
                r = sk_mtxn_commit(TAKE_PTR(t));
        if (r < 0) {
                sk_info_clear(&out);
                return r;
        }
        *ret = out;
        return 0;
}

static int usage_of_id(sk_snapshotter *s, uint64_t id, sk_usage *ret) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/snapshots/%" PRIu64 "/fs", s->root, id) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        return sk_disk_usage(path, ret);
}

int sk_snap_usage_now(sk_snapshotter *s, const char *key, uint64_t *ret_id, sk_usage *ret) {
        sk_record rec;
        int r = sk_snap_lookup(s, key, &rec);
        if (r < 0)
                return r;
        if (rec.kind == SK_KIND_ACTIVE) {
                r = usage_of_id(s, rec.id, &rec.usage);
                if (r < 0)
                        return r;
        }
        if (ret_id)
                *ret_id = rec.id;
        *ret = rec.usage;
        return 0;
}

int sk_snapshotter_usage(sk_snapshotter *s, const char *key, sk_usage *ret) {
        return sk_snap_usage_now(s, key, NULL, ret);
}

typedef struct walk_ctx {
        sk_walk_fn fn;
        void *userdata;
} walk_ctx;

static int walk_one(const char *key, const sk_record *rec, void *userdata) {
        walk_ctx *c = userdata;
        const sk_info info = {
                .name = (char *) key,
                .parent = (char *) rec->parent,
                .kind = rec->kind,
                .labels = rec->labels,
                .n_labels = rec->n_labels,
                .created = rec->created,
                .updated = rec->updated,
        };
        return c->fn(&info, c->userdata);
}

int sk_snapshotter_walk(sk_snapshotter *s, sk_walk_fn fn, void *userdata) {
        _cleanup_txn_ sk_mtxn *t = NULL;
        walk_ctx c = { .fn = fn, .userdata = userdata };
        int r = sk_mtxn_begin(s->ms, false, &t);
        if (r < 0)
                return r;
        return sk_mtxn_foreach(t, walk_one, &c);
}
