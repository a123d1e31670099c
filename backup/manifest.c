/* The manifest store: backups/<id> objects listed, resolved, loaded and
 * deleted (see manifest.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/report.h"
#include "backup/manifest.h"
#include "common/fsutil.h"
#include "common/macro.h"

#define SK_BACKUPS_DIR "backups"

void sk_backup_list_free(sk_manifest **list, size_t n) {
        for (size_t i = 0; i < n; i++)
                sk_manifest_free(list[i]);
        free(list);
}

static int load_exact(sk_repo *repo, const char *id, sk_manifest **ret) {
        _cleanup_free_ void *buf = NULL;
        size_t len;
        int r = sk_repo_get_object(repo, SK_BACKUPS_DIR, id, &buf, &len);
        if (r < 0)
                return r;
        sk_manifest *m = NULL;
        r = sk_manifest_decode(buf, len, &m);
        if (r < 0)
                return r;
        if (strcmp(m->id, id) != 0) {
                sk_manifest_free(m);
                return -EBADMSG;
        }
        *ret = m;
        return 0;
}

static int manifest_cmp(const void *a, const void *b) {
        const sk_manifest *x = *(sk_manifest *const *) a, *y = *(sk_manifest *const *) b;
        if (x->time.tv_sec != y->time.tv_sec)
                return x->time.tv_sec < y->time.tv_sec ? -1 : 1;
        if (x->time.tv_nsec != y->time.tv_nsec)
                return x->time.tv_nsec < y->time.tv_nsec ? -1 : 1;
        return strcmp(x->id, y->id);
}

int sk_backup_list(sk_repo *repo, sk_problem_fn problem, void *userdata, sk_manifest ***ret_list, size_t *ret_n) {
        char **ids = NULL;
        size_t n_ids = 0, n = 0;
        int r = sk_backup_ids(repo, &ids, &n_ids);
        if (r < 0)
                return r;
        sk_manifest **list = calloc(n_ids + 1, sizeof(sk_manifest *));
        if (!list) {
                sk_strv_free(ids, n_ids);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_ids; i++) {
                r = load_exact(repo, ids[i], &list[n]);
                if (r == -ENOMEM)
                        goto fail;
                if (r == -ENOENT) /* forgotten since the listing (backup/forget.h, shared_lock) */
                        continue;
                if (r < 0) {
                        char *d = sk_engine_detail(repo, "backup manifest %s unreadable", ids[i]);
                        sk_engine_problem(problem, userdata, SK_PROBLEM_ERROR, r, ids[i], NULL, NULL, NULL, d);
                        free(d);
                        continue;
                }
                n++;
        }
        sk_strv_free(ids, n_ids);
        if (n > 1)
                qsort(list, n, sizeof(sk_manifest *), manifest_cmp);
        *ret_list = list;
        *ret_n = n;
        return 0;
fail:
        sk_strv_free(ids, n_ids);
        sk_backup_list_free(list, n);
        return r;
}

int sk_backup_resolve(sk_repo *repo, const char *q, char ret_id[SK_BACKUP_ID_HEX + 1]) {
        if (!q)
                return -EINVAL;
        if (strcmp(q, "latest") == 0) {
                sk_manifest **list = NULL;
                size_t n = 0;
                int r = sk_backup_list(repo, NULL, NULL, &list, &n);
                if (r < 0)
                        return r;
                if (n == 0) {
                        sk_backup_list_free(list, n);
                        return -ENOENT;
                }
                memcpy(ret_id, list[n - 1]->id, SK_BACKUP_ID_HEX + 1);
                sk_backup_list_free(list, n);
                return 0;
        }
        size_t l = strlen(q);
        if (l < 4 || l > SK_BACKUP_ID_HEX)
                return -EINVAL;
        for (size_t i = 0; i < l; i++)
                if (!((q[i] >= '0' && q[i] <= '9') || (q[i] >= 'a' && q[i] <= 'f')))
                        return -EINVAL;
        char **ids = NULL;
        size_t n_ids = 0;
        int r = sk_backup_ids(repo, &ids, &n_ids);
        if (r < 0)
                return r;
        const char *found = NULL;
        r = -ENOENT;
        for (size_t i = 0; i < n_ids; i++)
                if (strncmp(ids[i], q, l) == 0) {
                        if (found) {
                                r = -ENOTUNIQ;
                                break;
                        }
                        found = ids[i];
                        r = 0;
                }
        if (r == 0)
                memcpy(ret_id, found, SK_BACKUP_ID_HEX + 1);
        sk_strv_free(ids, n_ids);
        return r;
}

int sk_backup_load(sk_repo *repo, const char *q, sk_manifest **ret) {
        char id[SK_BACKUP_ID_HEX + 1];
        int r = sk_backup_resolve(repo, q, id);
        if (r < 0)
                return r;
        return load_exact(repo, id, ret);
}

int sk_backup_delete(sk_repo *repo, const char *id) {
        uint8_t tmp[SK_BACKUP_ID_BYTES];
        if (sk_unhex(id, tmp, sizeof(tmp)) < 0)
                return -EINVAL;
        return sk_repo_delete_object(repo, SK_BACKUPS_DIR, id);
}

typedef struct idlist {
        char **v;
        size_t n, cap;
} idlist;

static int collect_id(const char *name, void *userdata) {
        idlist *l = userdata;
        uint8_t tmp[SK_BACKUP_ID_BYTES];
        if (sk_unhex(name, tmp, sizeof(tmp)) < 0)
                return 0; /* not a manifest name (e.g. a temp file) */
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                char **v = realloc(l->v, cap * sizeof(char *));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n] = strdup(name);
        if (!l->v[l->n])
                return -ENOMEM;
        l->n++;
        return 0;
}

int sk_backup_ids(sk_repo *repo, char ***ret, size_t *ret_n) {
        idlist l = {};
        int r = sk_repo_list_objects(repo, SK_BACKUPS_DIR, collect_id, &l);
        if (r == -ENOENT)
                r = 0;
        if (r < 0) {
                sk_strv_free(l.v, l.n);
                return r;
        }
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

int sk_backup_store(sk_repo *repo, const sk_manifest *m) {
        _cleanup_free_ void *buf = NULL;
        size_t len;
        int r = sk_manifest_encode(m, &buf, &len);
        if (r < 0)
                return r;
        return sk_repo_put_object(repo, SK_BACKUPS_DIR, m->id, buf, len);
}
