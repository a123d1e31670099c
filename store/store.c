/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* (Room store/: see store/backend.h.)
 *
 * This file is the URL dispatcher, the thin method wrappers, the settings
 * lookup and the per-thread failure detail, kept apart from the backends so
 * no backend includes another. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/backend-s3.h"

const char *sk_store_setting(const sk_store_options *o, const char *name) {
        if (!o || !o->setting)
                return NULL;
        const char *v = o->setting(name, o->userdata);
        return v && *v ? v : NULL;
}

/* Per thread: pack writers and restore workers call one backend at once, and
 * each must report its own failure, not a neighbour's. */
static __thread char last_detail[1024];

void sk_store_set_detail(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_detail, sizeof(last_detail), fmt, ap);
        va_end(ap);
}

const char *sk_store_last_detail(void) {
        return last_detail;
}

void sk_store_clear_detail(void) {
        last_detail[0] = 0;
}

int sk_backend_open(const char *url, int create, const sk_store_options *opts, const sk_store_layout *layout,
                    sk_backend **ret) {
        if (!url || !*url)
                return -EINVAL;
        if (strncmp(url, "file://", 7) == 0) {
                const char *p = url + 7;
                if (p[0] != '/')
                        return -EINVAL; /* file://host/... is not supported */
                return sk_backend_local_open(p, create, layout, ret);
        }
        if (strncmp(url, "s3://", 5) == 0)
                return sk_backend_s3_open(url, create, opts, layout, ret);
        const char *colon = strstr(url, "://");
        if (colon) {
                /* a scheme: letters/digits/+.- before "://" */
                bool scheme = colon > url;
                for (const char *c = url; c < colon; c++)
                        if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') ||
                              *c == '+' || *c == '-' || *c == '.'))
                                scheme = false;
                if (scheme)
                        return -EPROTONOSUPPORT;
        }
        return sk_backend_local_open(url, create, layout, ret);
}

void sk_backend_free(sk_backend *b) {
        if (b)
                b->ops->free(b);
}

int sk_backend_put(sk_backend *b, const char *name, const void *buf, size_t len) {
        return b->ops->put(b, name, buf, len);
}
int sk_backend_get(sk_backend *b, const char *name, uint64_t offset, size_t len, void **ret_buf, size_t *ret_len) {
        return b->ops->get(b, name, offset, len, ret_buf, ret_len);
}
int sk_backend_get_into(sk_backend *b, const char *name, uint64_t offset, size_t len, void *buf, size_t *ret_len) {
        if (len >= SIZE_MAX)
                return -EINVAL;
        if (!b->ops->get_into)
                return -EOPNOTSUPP;
        return b->ops->get_into(b, name, offset, len, buf, ret_len);
}
int sk_backend_get_whole(sk_backend *b, const char *name, size_t max, void **ret_buf, size_t *ret_len) {
        void *buf = NULL;
        size_t len = 0;
        if (max >= SIZE_MAX)
                return -EINVAL;
        if (b->ops->get_whole)
                return b->ops->get_whole(b, name, max, ret_buf, ret_len);
        int r = b->ops->get(b, name, 0, max + 1, &buf, &len);
        if (r < 0)
                return r;
        if (len > max) {
                free(buf);
                return -EFBIG;
        }
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}
int sk_backend_head(sk_backend *b, const char *name, uint64_t *ret_size) {
        return b->ops->head(b, name, ret_size);
}
int sk_backend_list(sk_backend *b, const char *prefix, sk_backend_list_fn cb, void *userdata) {
        return b->ops->list(b, prefix, cb, userdata);
}
int sk_backend_del(sk_backend *b, const char *name) {
        return b->ops->del(b, name);
}
int sk_backend_cleanup(sk_backend *b, uint64_t min_age, uint64_t *ret_removed) {
        if (!b->ops->cleanup) {
                if (ret_removed)
                        *ret_removed = 0;
                return 0;
        }
        return b->ops->cleanup(b, min_age, ret_removed);
}
