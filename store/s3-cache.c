/* Metadata cache over a remote backend; see s3-cache.h. */
#include "store/s3-cache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/fsutil.h"
#include "common/macro.h"

#define TRAILER_MAGIC "SKCACHE1"
#define TRAILER_SIZE (8 + SHA256_DIGEST_LENGTH)
#define ID_MAX 32               /* bytes of the store's id, hex in the directory name */

typedef struct cache_backend {
        sk_backend base;
        sk_backend *inner;
        const sk_store_layout *layout;  /* never NULL: a NULL layout gets an empty one */
        char *root;                     /* e.g. ~/.cache/snapkeep */
        pthread_mutex_t mu;
        char *dir;                      /* root/<repo-id>, NULL until the id is known */
        atomic_uint_fast64_t tmp_serial;       /* temporary file names */
} cache_backend;

/* Is prefix one of the layout's immutable prefixes? */
static bool immutable_prefix(const cache_backend *c, const char *prefix) {
        for (const char *const *p = c->layout->immutable; p && *p; p++)
                if (strcmp(prefix, *p) == 0)
                        return true;
        return false;
}

/* Cached: the objects directly below an immutable prefix. */
static bool cached_name(const cache_backend *c, const char *name) {
        if (strstr(name, "..") || strstr(name, ".tmp-"))
                return false;
        for (const char *const *p = c->layout->immutable; p && *p; p++) {
                size_t n = strlen(*p);
                if (strncmp(name, *p, n) == 0 && !strchr(name + n, '/'))
                        return true;
        }
        return false;
}

static bool is_id_object(const cache_backend *c, const char *name) {
        return c->layout->id_object && strcmp(name, c->layout->id_object) == 0;
}

static void learn_repo_id(cache_backend *c, const uint8_t *buf, size_t len) {
        static const char hex[] = "0123456789abcdef";
        const sk_store_layout *l = c->layout;
        const char *magic = l->id_magic ? l->id_magic : "";
        char id[2 * ID_MAX + 1];
        if (l->id_len == 0 || l->id_len > ID_MAX || len < strlen(magic) || len < l->id_offset ||
            len - l->id_offset < l->id_len || memcmp(buf, magic, strlen(magic)) != 0)
                return;
        for (size_t i = 0; i < l->id_len; i++) {
                id[2 * i] = hex[buf[l->id_offset + i] >> 4];
                id[2 * i + 1] = hex[buf[l->id_offset + i] & 15];
        }
        id[2 * l->id_len] = 0;
        pthread_mutex_lock(&c->mu);
        if (!c->dir) {
                char *d;
                if (asprintf(&d, "%s/%s", c->root, id) >= 0)
                        c->dir = d;
        }
        pthread_mutex_unlock(&c->mu);
}

/* Path of name's cache file, or NULL if not cacheable (yet). Owned. */
static char *cache_path(cache_backend *c, const char *name) {
        char *p = NULL;
        if (!cached_name(c, name))
                return NULL;
        pthread_mutex_lock(&c->mu);
        if (c->dir && asprintf(&p, "%s/%s", c->dir, name) < 0)
                p = NULL;
        pthread_mutex_unlock(&c->mu);
        return p;
}

/* Read and verify a cache file. Returns 0 with the content (NUL-terminated,
 * trailer stripped), -ENOENT on a miss; a corrupt file is deleted (miss). */
static int cache_read(const char *path, void **ret_buf, size_t *ret_len) {
        void *buf;
        size_t len;
        int r = sk_read_file(AT_FDCWD, path, (size_t) 1 << 30, &buf, &len);
        if (r < 0)
                return -ENOENT;
        uint8_t md[SHA256_DIGEST_LENGTH];
        if (len < TRAILER_SIZE ||
            memcmp((uint8_t *) buf + len - TRAILER_SIZE, TRAILER_MAGIC, 8) != 0 ||
            !SHA256(buf, len - TRAILER_SIZE, md) ||
            CRYPTO_memcmp(md, (uint8_t *) buf + len - SHA256_DIGEST_LENGTH, sizeof(md)) != 0) {
                free(buf);
                (void) unlink(path);
                return -ENOENT;
        }
        len -= TRAILER_SIZE;
        ((char *) buf)[len] = 0;
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}

/* Best effort: a failure to cache is not a failure of the operation. */
static void cache_write(cache_backend *c, const char *path, const void *buf, size_t len) {
        _cleanup_free_ char *dir = strdup(path), *tmp = NULL;
        if (!dir)
                return;
        char *slash = strrchr(dir, '/');
        if (!slash)
                return;
        *slash = 0;
        if (sk_mkdir_p(dir, 0700) < 0)
                return;
        if (asprintf(&tmp, "%s/.tmp-%ld-%llu", dir, (long) getpid(),
                     (unsigned long long) atomic_fetch_add(&c->tmp_serial, 1)) < 0) {
                tmp = NULL;
                return;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        uint8_t trailer[TRAILER_SIZE];
        memcpy(trailer, TRAILER_MAGIC, 8);
        SHA256(buf, len, trailer + 8);
        bool ok = sk_write_all(fd, buf, len) >= 0 && sk_write_all(fd, trailer, sizeof(trailer)) >= 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) < 0)
                (void) unlink(tmp);
}

static int slice(void *buf, size_t len, uint64_t offset, size_t want, void **ret_buf, size_t *ret_len) {
        size_t n = offset >= len ? 0 : MIN(len - (size_t) offset, want);
        if (offset > 0 && n > 0)
                memmove(buf, (char *) buf + offset, n);
        ((char *) buf)[n] = 0;
        *ret_buf = buf;
        *ret_len = n;
        return 0;
}

static int cache_put(sk_backend *base, const char *name, const void *buf, size_t len) {
        cache_backend *c = (cache_backend *) base;
        int r = sk_backend_put(c->inner, name, buf, len);
        if (r < 0)
                return r;
        if (is_id_object(c, name))
                learn_repo_id(c, buf, len);
        _cleanup_free_ char *path = cache_path(c, name);
        if (path)
                cache_write(c, path, buf, len);
        return 0;
}

static int cache_get(sk_backend *base, const char *name, uint64_t offset, size_t len, void **ret_buf,
                     size_t *ret_len) {
        cache_backend *c = (cache_backend *) base;
        _cleanup_free_ char *path = cache_path(c, name);
        void *buf;
        size_t n;
        if (!path) {
                int r = sk_backend_get(c->inner, name, offset, len, ret_buf, ret_len);
                if (r >= 0 && offset == 0 && is_id_object(c, name))
                        learn_repo_id(c, *ret_buf, *ret_len);
                return r;
        }
        if (cache_read(path, &buf, &n) >= 0)
                return slice(buf, n, offset, len, ret_buf, ret_len);
        /* Never more than the caller asked for (its bound, not the object's
         * size, decides the memory taken). Only a read from offset 0 that
         * came back shorter than asked holds the whole object to cache. */
        if (offset > 0)
                return sk_backend_get(c->inner, name, offset, len, ret_buf, ret_len);
        int r = sk_backend_get(c->inner, name, 0, len, &buf, &n);
        if (r < 0)
                return r;
        if (n < len)
                cache_write(c, path, buf, n);
        *ret_buf = buf;
        *ret_len = n;
        return 0;
}

/* Only what the cache never keeps (packs) is read into the caller's buffer;
 * the rest the caller reads with get. */
static int cache_get_into(sk_backend *base, const char *name, uint64_t offset, size_t len, void *buf,
                          size_t *ret_len) {
        cache_backend *c = (cache_backend *) base;
        if (cached_name(c, name) || is_id_object(c, name))
                return -EOPNOTSUPP;
        return sk_backend_get_into(c->inner, name, offset, len, buf, ret_len);
}

/* head goes to the store: existence is what callers ask, and another node
 * may have deleted the object. */
static int cache_head(sk_backend *base, const char *name, uint64_t *ret_size) {
        cache_backend *c = (cache_backend *) base;
        return sk_backend_head(c->inner, name, ret_size);
}

typedef struct seen_set {
        char **v;
        size_t n, cap;
} seen_set;

typedef struct list_ctx {
        sk_backend_list_fn cb;
        void *userdata;
        seen_set seen;
        bool track;
        int err;
} list_ctx;

static int list_cb(const char *name, uint64_t size, void *userdata) {
        list_ctx *l = userdata;
        if (l->track) {
                const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
                if (l->seen.n == l->seen.cap) {
                        size_t ncap = l->seen.cap ? l->seen.cap * 2 : 64;
                        char **nv = realloc(l->seen.v, ncap * sizeof(char *));
                        if (!nv)
                                l->track = false;
                        else {
                                l->seen.v = nv;
                                l->seen.cap = ncap;
                        }
                }
                if (l->track) {
                        l->seen.v[l->seen.n] = strdup(base);
                        if (l->seen.v[l->seen.n])
                                l->seen.n++;
                        else
                                l->track = false;
                }
        }
        return l->cb(name, size, l->userdata);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Remove cache files of objects the store no longer lists. */
static void drop_unlisted(const char *dir, seen_set *s) {
        if (s->n)
                qsort(s->v, s->n, sizeof(char *), cmp_str);
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char **names = NULL;
        size_t n = 0;
        if (fd < 0 || sk_dir_names(fd, false, &names, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                const char *key = names[i];
                if (!s->n || !bsearch(&key, s->v, s->n, sizeof(char *), cmp_str) || strncmp(key, ".tmp-", 5) == 0)
                        (void) unlinkat(fd, key, 0);
                free(names[i]);
        }
        free(names);
}

static int cache_list(sk_backend *base, const char *prefix, sk_backend_list_fn cb, void *userdata) {
        cache_backend *c = (cache_backend *) base;
        _cleanup_free_ char *dir = NULL;
        if (immutable_prefix(c, prefix)) {
                pthread_mutex_lock(&c->mu);
                if (c->dir && asprintf(&dir, "%s/%.*s", c->dir, (int) strlen(prefix) - 1, prefix) < 0)
                        dir = NULL;
                pthread_mutex_unlock(&c->mu);
        }
        list_ctx l = { .cb = cb, .userdata = userdata, .track = dir != NULL };
        int r = sk_backend_list(c->inner, prefix, list_cb, &l);
        if (r >= 0 && l.track)
                drop_unlisted(dir, &l.seen);
        for (size_t i = 0; i < l.seen.n; i++)
                free(l.seen.v[i]);
        free(l.seen.v);
        return r;
}

static int cache_del(sk_backend *base, const char *name) {
        cache_backend *c = (cache_backend *) base;
        _cleanup_free_ char *path = cache_path(c, name);
        if (path)
                (void) unlink(path);
        return sk_backend_del(c->inner, name);
}

static void cache_free(sk_backend *base) {
        cache_backend *c = (cache_backend *) base;
        if (!c)
                return;
        sk_backend_free(c->inner);
        pthread_mutex_destroy(&c->mu);
        free(c->root);
        free(c->dir);
        free(c);
}

static const sk_backend_ops cache_ops = {
        .put = cache_put, .get = cache_get, .get_into = cache_get_into, .head = cache_head, .list = cache_list, .del = cache_del,
        .free = cache_free,
};

int sk_backend_cache_wrap(sk_backend *inner, const char *dir, const sk_store_layout *layout, sk_backend **ret) {
        static const sk_store_layout none = { 0 };
        cache_backend *c = calloc(1, sizeof(*c));
        if (!c || !(c->root = strdup(dir))) {
                free(c);
                sk_backend_free(inner);
                return -ENOMEM;
        }
        c->base.ops = &cache_ops;
        c->base.scheme = inner->scheme;
        c->base.read_ahead = inner->read_ahead;
        c->inner = inner;
        c->layout = layout ? layout : &none;
        pthread_mutex_init(&c->mu, NULL);
        *ret = &c->base;
        return 0;
}

char *sk_backend_cache_default_dir(const sk_store_options *o) {
        const char *e = sk_store_setting(o, "SNAPKEEP_CACHE_DIR");
        char *d = NULL;
        if (e) {
                if (strcmp(e, "off") == 0)
                        return NULL;
                return strdup(e);
        }
        e = sk_store_setting(o, "XDG_CACHE_HOME");
        if (e && e[0] == '/') {
                if (asprintf(&d, "%s/snapkeep", e) < 0)
                        return NULL;
                return d;
        }
        e = sk_store_setting(o, "HOME");
        if (e && e[0] == '/') {
                if (asprintf(&d, "%s/.cache/snapkeep", e) < 0)
                        return NULL;
                return d;
        }
        return NULL;
}

sk_backend *sk_backend_cache_inner(sk_backend *b) {
        return b && b->ops == &cache_ops ? ((cache_backend *) b)->inner : b;
}
