/* DESIGN
 * Mount shapes exactly as containerd 1.6's overlayfs snapshotter returns them,
 * so containerd's mount code (including its compaction of long lowerdir lists
 * that share a "<common>/<id>/fs" shape) treats us like the built-in one. Paths
 * use short numeric ids under one directory, which keeps a 128-layer lowerdir
 * well inside the kernel's one-page limit once containerd compacts it. */
#include "snapshot/mounts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macro.h"

bool sk_overlay_has_index_param(void) {
        return access("/sys/module/overlay/parameters/index", F_OK) == 0;
}

void sk_mounts_free(sk_mounts *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_mounts; i++) {
                sk_mount *mt = &m->mounts[i];
                free(mt->type);
                free(mt->source);
                for (size_t j = 0; j < mt->n_options; j++)
                        free(mt->options[j]);
                free(mt->options);
        }
        free(m->mounts);
        m->mounts = NULL;
        m->n_mounts = 0;
}

static int fs_path(const char *root, uint64_t id, char **ret) {
        return asprintf(ret, "%s/snapshots/%" PRIu64 "/fs", root, id) < 0 ? -ENOMEM : 0;
}

static int one_mount(const char *type, char *source, char **options, size_t n, sk_mounts *ret) {
        sk_mount *mt = calloc(1, sizeof(*mt));
        if (!mt)
                return -ENOMEM;
        mt->type = strdup(type);
        if (!mt->type) {
                free(mt);
                return -ENOMEM;
        }
        mt->source = source;
        mt->options = options;
        mt->n_options = n;
        ret->mounts = mt;
        ret->n_mounts = 1;
        return 0;
}

static void free_strv(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int sk_mounts_build(const char *root, sk_kind kind, uint64_t id, const uint64_t *parents, size_t n_parents,
                    bool index_off, sk_mounts *ret) {
        char **opts = NULL;
        size_t n = 0;
        char *source = NULL;
        int r = -ENOMEM;

        if (kind != SK_KIND_ACTIVE && kind != SK_KIND_VIEW)
                return -EINVAL;

        if (n_parents == 0 || (kind == SK_KIND_VIEW && n_parents == 1)) {
                /* overlay needs a lower layer; a bind mount is the whole story */
                r = fs_path(root, n_parents == 0 ? id : parents[0], &source);
                if (r < 0)
                        return r;
                opts = calloc(2, sizeof(char *));
                if (!opts)
                        goto fail;
                opts[0] = strdup(kind == SK_KIND_ACTIVE ? "rw" : "ro");
                opts[1] = strdup("rbind");
                n = 2;
                if (!opts[0] || !opts[1])
                        goto fail;
                r = one_mount("bind", source, opts, n, ret);
                if (r < 0)
                        goto fail;
                return 0;
        }

        opts = calloc(4, sizeof(char *));
        source = strdup("overlay");
        if (!opts || !source)
                goto fail;
        if (index_off && !(opts[n++] = strdup("index=off")))
                goto fail;
        if (kind == SK_KIND_ACTIVE) {
                if (asprintf(&opts[n], "workdir=%s/snapshots/%" PRIu64 "/work", root, id) < 0) {
                        opts[n] = NULL;
                        goto fail;
                }
                n++;
                if (asprintf(&opts[n], "upperdir=%s/snapshots/%" PRIu64 "/fs", root, id) < 0) {
                        opts[n] = NULL;
                        goto fail;
                }
                n++;
        }

        size_t rootlen = strlen(root), len = strlen("lowerdir=") + 1;
        for (size_t i = 0; i < n_parents; i++)
                len += rootlen + strlen("/snapshots/") + 20 + strlen("/fs") + 1;
        char *lower = malloc(len), *p;
        if (!lower)
                goto fail;
        p = stpcpy(lower, "lowerdir=");
        for (size_t i = 0; i < n_parents; i++)
                p += sprintf(p, "%s%s/snapshots/%" PRIu64 "/fs", i ? ":" : "", root, parents[i]);
        opts[n++] = lower;

        r = one_mount("overlay", source, opts, n, ret);
        if (r < 0)
                goto fail;
        return 0;
fail:
        free(source);
        free_strv(opts, n);
        return r < 0 ? r : -ENOMEM;
}
