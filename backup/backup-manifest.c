/* The new backup's manifest fields and its parent (the newest backup of the
 * same host and sources, or the one asked for). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup-internal.h"
#include "backup/manifest.h"
#include "common/macro.h"
#include "repo/crypto.h"

#define SK_PROGRAM_VERSION "snapkeep 0.1"

/* Absolute, lexically normalized source path ("/" stays "/"). */
static int source_abs(const char *src, char **ret) {
        _cleanup_free_ char *joined = NULL;
        if (!*src)
                return -EINVAL;
        if (src[0] != '/') {
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                if (!cwd)
                        return negative_errno();
                if (asprintf(&joined, "%s/%s", cwd, src) < 0)
                        return -ENOMEM;
        } else if (!(joined = strdup(src)))
                return -ENOMEM;
        char *out = malloc(strlen(joined) + 2);
        if (!out)
                return -ENOMEM;
        size_t o = 0;
        for (const char *p = joined; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t l = (size_t) (e - p);
                if (l == 1 && p[0] == '.') {
                } else if (l == 2 && p[0] == '.' && p[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        out[o++] = '/';
                        memcpy(out + o, p, l);
                        o += l;
                }
                p = e;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = 0;
        *ret = out;
        return 0;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Same set of sources (order-insensitive). */
static bool same_sources(char **a, size_t na, char **b, size_t nb) {
        if (na != nb)
                return false;
        char **sa = malloc(na * sizeof(char *)), **sb = malloc(nb * sizeof(char *));
        bool eq = sa && sb;
        if (eq) {
                memcpy(sa, a, na * sizeof(char *));
                memcpy(sb, b, nb * sizeof(char *));
                qsort(sa, na, sizeof(char *), str_cmp);
                qsort(sb, nb, sizeof(char *), str_cmp);
                for (size_t i = 0; i < na && eq; i++)
                        eq = strcmp(sa[i], sb[i]) == 0;
        }
        free(sa);
        free(sb);
        return eq;
}

int sk_backup_pick_parent(bctx *c, sk_manifest *m, sk_manifest **ret) {
        if (c->o->no_parent) {
                *ret = NULL;
                return 0;
        }
        if (c->o->parent)
                return sk_backup_load(c->repo, c->o->parent, ret);
        sk_manifest **list = NULL;
        size_t n = 0;
        int r = sk_backup_list(c->repo, NULL, NULL, &list, &n);
        if (r < 0)
                return r;
        *ret = NULL;
        for (size_t i = n; i-- > 0;)
                if (strcmp(list[i]->hostname, m->hostname) == 0 &&
                    same_sources(list[i]->sources, list[i]->n_sources, m->sources, m->n_sources)) {
                        *ret = list[i];
                        list[i] = NULL;
                        break;
                }
        for (size_t i = 0; i < n; i++)
                sk_manifest_free(list[i]);
        free(list);
        return 0;
}

int sk_backup_fill_manifest(const sk_backup_options *o, sk_manifest *m) {
        int r;
        uint8_t id[SK_BACKUP_ID_BYTES];
        r = sk_random_bytes(id, sizeof(id));
        if (r < 0)
                return r;
        sk_hex(id, sizeof(id), m->id);
        clock_gettime(CLOCK_REALTIME, &m->time);
        if (o->hostname)
                m->hostname = strdup(o->hostname);
        else {
                char h[HOST_NAME_MAX + 1] = {};
                if (gethostname(h, sizeof(h) - 1) < 0)
                        strcpy(h, "unknown");
                m->hostname = strdup(h);
        }
        m->program_version = strdup(SK_PROGRAM_VERSION);
        if (!m->hostname || !m->program_version)
                return -ENOMEM;
        if (o->n_sources < 1)
                return -EINVAL;
        m->sources = calloc(o->n_sources, sizeof(char *));
        if (!m->sources)
                return -ENOMEM;
        for (size_t i = 0; i < o->n_sources; i++) {
                r = source_abs(o->sources[i], &m->sources[i]);
                if (r < 0)
                        return r;
                m->n_sources = i + 1;
        }
        if (o->n_tags) {
                m->tags = calloc(o->n_tags, sizeof(char *));
                if (!m->tags)
                        return -ENOMEM;
                for (size_t i = 0; i < o->n_tags; i++) {
                        size_t l = strlen(o->tags[i]);
                        if (l < 1 || l > 255)
                                return -EINVAL;
                        if (!(m->tags[m->n_tags++] = strdup(o->tags[i])))
                                return -ENOMEM;
                }
                qsort(m->tags, m->n_tags, sizeof(char *), str_cmp);
                size_t w = 0;
                for (size_t i = 0; i < m->n_tags; i++) {
                        if (w > 0 && strcmp(m->tags[w - 1], m->tags[i]) == 0) {
                                free(m->tags[i]);
                                continue;
                        }
                        m->tags[w++] = m->tags[i];
                }
                m->n_tags = w;
        }
        return 0;
}

int sk_backup_root_name(char **names, size_t i, const char *src, char **ret) {
        const char *base = strrchr(src, '/');
        base = base ? base + 1 : src;
        if (!*base)
                base = "root";
        for (unsigned k = 1;; k++) {
                char *cand = NULL;
                if (k == 1 ? !(cand = strdup(base)) : asprintf(&cand, "%s~%u", base, k) < 0)
                        return -ENOMEM;
                bool clash = false;
                for (size_t j = 0; j < i && !clash; j++)
                        clash = strcmp(names[j], cand) == 0;
                if (!clash) {
                        *ret = cand;
                        return 0;
                }
                free(cand);
        }
}
