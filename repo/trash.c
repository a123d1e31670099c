/* Trash records; see trash.h and docs/FORMAT.md section 9b. */
#include "repo/trash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/crypto.h"
#include "common/macro.h"
#include "common/array.h"

int sk_trash_write(sk_repo *repo, uint64_t t, char *const *packs, size_t n) {
        uint8_t idb[8];
        char name[17];
        size_t cap = 64 + n * (SK_PACK_NAME_HEX + 6);
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        int r = sk_random_bytes(idb, sizeof(idb));
        if (r < 0)
                return r;
        sk_hex_encode(idb, sizeof(idb), name);
        size_t len = (size_t) snprintf(buf, cap, "snapkeep-trash 1\ntime %llu\n", (unsigned long long) t);
        for (size_t i = 0; i < n; i++)
                len += (size_t) snprintf(buf + len, cap - len, "pack %s\n", packs[i]);
        return sk_repo_put_object(repo, SK_TRASH_DIR, name, buf, len);
}

static void rec_clear(sk_trash_record *rec) {
        for (size_t k = 0; k < rec->n_packs; k++)
                free(rec->packs[k]);
        free(rec->packs);
        memset(rec, 0, sizeof(*rec));
}

static int parse(const char *name, char *text, sk_trash_record *rec) {
        if (strlen(name) != 16 || strncmp(text, "snapkeep-trash 1\n", 17) != 0)
                return -EBADMSG;
        memcpy(rec->name, name, 17);
        size_t cap = 0;
        bool have_time = false;
        for (char *line = text + 17, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                if (!nl)
                        break;
                *nl = 0;
                unsigned long long v;
                if (sscanf(line, "time %llu", &v) == 1) {
                        rec->time = v;
                        have_time = true;
                } else if (strncmp(line, "pack ", 5) == 0 && strlen(line + 5) == SK_PACK_NAME_HEX) {
                        if (SK_GROW(rec->packs, cap, rec->n_packs + 1) < 0)
                                return -ENOMEM;
                        rec->packs[rec->n_packs] = strdup(line + 5);
                        if (!rec->packs[rec->n_packs])
                                return -ENOMEM;
                        rec->n_packs++;
                }
        }
        return have_time ? 0 : -EBADMSG;
}

typedef struct load_ctx {
        sk_repo *repo;
        sk_trash_record *v;
        size_t n, cap, bad;
} load_ctx;

static int load_one(const char *name, void *userdata) {
        load_ctx *c = userdata;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = sk_repo_get_object(c->repo, SK_TRASH_DIR, name, (void **) &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -ENOMEM)
                return r;
        if (SK_GROW(c->v, c->cap, c->n + 1) < 0)
                return -ENOMEM;
        memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
        if (r >= 0)
                r = parse(name, buf, &c->v[c->n]);
        if (r < 0)
                rec_clear(&c->v[c->n]);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                c->bad++;
                return 0;
        }
        c->n++;
        return 0;
}

int sk_trash_load(sk_repo *repo, sk_trash_record **ret, size_t *ret_n, size_t *ret_bad) {
        load_ctx c = { .repo = repo };
        int r = sk_repo_list_objects(repo, SK_TRASH_DIR, load_one, &c);
        if (r < 0) {
                sk_trash_free(c.v, c.n);
                return r;
        }
        *ret = c.v;
        *ret_n = c.n;
        if (ret_bad)
                *ret_bad = c.bad;
        return 0;
}

void sk_trash_free(sk_trash_record *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                rec_clear(&v[i]);
        free(v);
}

int sk_trash_remove(sk_repo *repo, const char *name) {
        int r = sk_repo_delete_object(repo, SK_TRASH_DIR, name);
        return r == -ENOENT ? 0 : r;
}
