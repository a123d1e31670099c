/* skobj: raw object access to a repository's storage, for tests only.
 *
 * Goes through sk_backend_open, so the same test code can corrupt, list or
 * delete objects of a local or an S3 repository (the S3 equivalent of
 * flipping a byte in a pack file).
 *
 *   skobj URL ls PREFIX/          "NAME SIZE" lines, sorted
 *   skobj URL get NAME [OFF LEN]  object bytes to stdout
 *   skobj URL put NAME            stdin becomes the object
 *   skobj URL rm NAME
 *   skobj URL size NAME
 *   skobj URL du PREFIX/          total bytes below PREFIX
 *   skobj URL flip NAME OFFSET    xor one byte with 0x01 (get, flip, put)
 *   skobj URL truncate NAME LEN
 *   skobj URL stats-ls PREFIX/    like ls, then "requests N" (S3 only) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/backend-s3.h"
#include "store/backend.h"
#include "tests/lib/toolenv.h"

typedef struct entry {
        char *name;
        uint64_t size;
} entry;

typedef struct collect {
        entry *v;
        size_t n, cap;
        uint64_t total;
} collect;

static int collect_cb(const char *name, uint64_t size, void *userdata) {
        collect *c = userdata;
        if (c->n == c->cap) {
                size_t ncap = c->cap ? c->cap * 2 : 64;
                entry *nv = realloc(c->v, ncap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                c->v = nv;
                c->cap = ncap;
        }
        c->v[c->n].name = strdup(name);
        if (!c->v[c->n].name)
                return -ENOMEM;
        c->v[c->n++].size = size;
        c->total += size;
        return 0;
}

static int cmp_entry(const void *a, const void *b) {
        return strcmp(((const entry *) a)->name, ((const entry *) b)->name);
}

static int fail(int r, const char *what) {
        const char *d = sk_store_last_detail();
        fprintf(stderr, "skobj: %s: %s%s%s\n", what, strerror(-r), *d ? ": " : "", d);
        return r == -ENOENT ? 2 : 1;
}

static int read_stdin(void **ret, size_t *ret_len) {
        size_t cap = 1 << 20, len = 0;
        char *buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                if (len == cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nb;
                }
                ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        free(buf);
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr, "usage: skobj URL ls|get|put|rm|size|du|flip|truncate ARG...\n");
                return 64;
        }
        const char *url = argv[1], *cmd = argv[2], *arg = argv[3];
        sk_backend *b;
        int r = sk_backend_open(url, 0, &sk_tool_store, NULL, &b);
        if (r < 0)
                return fail(r, url);
        int rc = 0;
        if (strcmp(cmd, "ls") == 0 || strcmp(cmd, "du") == 0) {
                collect c = { 0 };
                r = sk_backend_list(b, arg, collect_cb, &c);
                if (r < 0)
                        rc = fail(r, arg);
                else if (strcmp(cmd, "du") == 0)
                        printf("%llu\n", (unsigned long long) c.total);
                else {
                        if (c.n)
                                qsort(c.v, c.n, sizeof(*c.v), cmp_entry);
                        for (size_t i = 0; i < c.n; i++)
                                printf("%s %llu\n", c.v[i].name, (unsigned long long) c.v[i].size);
                }
                for (size_t i = 0; i < c.n; i++)
                        free(c.v[i].name);
                free(c.v);
        } else if (strcmp(cmd, "get") == 0) {
                void *buf = NULL;
                size_t len = 0;
                uint64_t off = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
                size_t n = argc > 5 ? (size_t) strtoull(argv[5], NULL, 10) : SIZE_MAX;
                r = sk_backend_get(b, arg, off, n, &buf, &len);
                if (r < 0)
                        rc = fail(r, arg);
                else {
                        if (fwrite(buf, 1, len, stdout) != len)
                                rc = 1;
                        free(buf);
                }
        } else if (strcmp(cmd, "put") == 0) {
                void *buf = NULL;
                size_t len = 0;
                r = read_stdin(&buf, &len);
                if (r >= 0) {
                        r = sk_backend_put(b, arg, buf, len);
                        free(buf);
                }
                if (r < 0)
                        rc = fail(r, arg);
        } else if (strcmp(cmd, "rm") == 0) {
                r = sk_backend_del(b, arg);
                if (r < 0)
                        rc = fail(r, arg);
        } else if (strcmp(cmd, "size") == 0) {
                uint64_t size;
                r = sk_backend_head(b, arg, &size);
                if (r < 0)
                        rc = fail(r, arg);
                else
                        printf("%llu\n", (unsigned long long) size);
        } else if ((strcmp(cmd, "flip") == 0 || strcmp(cmd, "truncate") == 0) && argc > 4) {
                void *buf = NULL;
                size_t len = 0;
                uint64_t at = strtoull(argv[4], NULL, 10);
                r = sk_backend_get(b, arg, 0, SIZE_MAX, &buf, &len);
                if (r < 0)
                        rc = fail(r, arg);
                else {
                        if (cmd[0] == 'f') {
                                if (at >= len) {
                                        fprintf(stderr, "skobj: %s: offset %llu beyond size %zu\n", arg,
                                                (unsigned long long) at, len);
                                        rc = 1;
                                } else
                                        ((unsigned char *) buf)[at] ^= 1;
                        } else if (at < len)
                                len = (size_t) at;
                        if (rc == 0) {
                                r = sk_backend_put(b, arg, buf, len);
                                if (r < 0)
                                        rc = fail(r, arg);
                        }
                        free(buf);
                }
        } else {
                fprintf(stderr, "skobj: unknown command %s\n", cmd);
                rc = 64;
        }
        sk_s3_stats st;
        if (getenv("SKOBJ_STATS") && sk_backend_s3_stats(b, &st) >= 0)
                fprintf(stderr, "requests %llu retries %llu\n", (unsigned long long) st.requests,
                        (unsigned long long) st.retries);
        sk_backend_free(b);
        return rc;
}
