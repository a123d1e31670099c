/* Small sealed objects of the repository (manifests and the like): put, get,
 * list, delete under <dir>/<name>, each sealed with its name bound as AAD so
 * that a renamed object fails to open. */
#include "repo/repo-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "common/le.h"

#define OBJECT_MAX (256u * 1024 * 1024)
/* A sealed object file: header, envelope, body header, payload stored raw at
 * worst (put_object keeps the smaller of raw and zstd). */
#define OBJECT_FILE_MAX (SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + 16 + OBJECT_MAX)

static const char object_magic[8] = { 'S', 'K', 'O', 'B', 'J', 'E', 'C', 'T' };

/* --- objects --- */

static bool dir_valid(const char *dir) {
        static const char *const reserved[] = { "config", "keys", "data", "index", "locks", "lockgone" };
        size_t n = strlen(dir);
        if (n < 1 || n > 16)
                return false;
        for (const char *c = dir; *c; c++)
                if (*c < 'a' || *c > 'z')
                        return false;
        for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
                if (strcmp(dir, reserved[i]) == 0)
                        return false;
        return true;
}

static bool object_name_valid(const char *name) {
        size_t n = strlen(name);
        if (n < 1 || n > 128 || name[0] == '.' || strstr(name, ".tmp-"))
                return false;
        for (const char *c = name; *c; c++)
                if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') || *c == '.' ||
                      *c == '_' || *c == '-'))
                        return false;
        return true;
}

static int object_aad(const char *dir, const char *name, uint8_t **ret, size_t *ret_len) {
        size_t n = SK_FILE_HEADER_SIZE + strlen(dir) + 1 + strlen(name);
        uint8_t *a = malloc(n + 1);
        if (!a)
                return -ENOMEM;
        sk_file_header_encode(object_magic, a);
        snprintf((char *) a + SK_FILE_HEADER_SIZE, n + 1 - SK_FILE_HEADER_SIZE, "%s/%s", dir, name);
        *ret = a;
        *ret_len = n;
        return 0;
}

int sk_repo_put_object(sk_repo *repo, const char *dir, const char *name, const void *data, size_t len) {
        if (!dir_valid(dir) || !object_name_valid(name))
                return sk_repo_fail(-EINVAL, "invalid object name %s/%s", dir, name);
        if (len > OBJECT_MAX)
                return sk_repo_fail(-EFBIG, "object too large");
        _cleanup_free_ uint8_t *aad = NULL;
        size_t aadlen;
        int r = object_aad(dir, name, &aad, &aadlen);
        if (r < 0)
                return r;
        size_t bound = ZSTD_compressBound(len);
        _cleanup_free_ uint8_t *body = malloc(16 + MAX(bound, len));
        if (!body)
                return -ENOMEM;
        memset(body, 0, 16);
        sk_put_le64(body + 8, len);
        size_t blen = 16 + len;
        ZSTD_CCtx *c = sk_repo_cctx_get(repo);
        if (!c)
                return -ENOMEM;
        size_t n = ZSTD_compressCCtx(c, body + 16, bound, data, len, repo->zstd_level);
        sk_repo_cctx_put(repo, c);
        if (!ZSTD_isError(n) && n < len) {
                body[0] = 1;
                blen = 16 + n;
        } else if (len)
                memcpy(body + 16, data, len);
        _cleanup_free_ uint8_t *file = malloc(SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + blen);
        if (!file)
                return -ENOMEM;
        uint8_t nonce[SK_NONCE_SIZE];
        memcpy(file, aad, SK_FILE_HEADER_SIZE);
        sk_repo_next_nonce(repo, nonce);
        r = sk_seal_envelope(repo->session_key, repo->salt, nonce, aad, aadlen, body, blen, file + SK_FILE_HEADER_SIZE);
        if (r < 0)
                return sk_repo_fail(r, "sealing object failed");
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return sk_repo_guarded_put(repo, path, file, SK_FILE_HEADER_SIZE + SK_SEAL_OVERHEAD + blen);
}

int sk_repo_get_object(sk_repo *repo, const char *dir, const char *name, void **ret_buf, size_t *ret_len) {
        if (!dir_valid(dir) || !object_name_valid(name))
                return sk_repo_fail(-EINVAL, "invalid object name %s/%s", dir, name);
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        _cleanup_free_ uint8_t *file = NULL, *aad = NULL, *body = NULL;
        size_t flen, aadlen, blen;
        int r = sk_backend_get_whole(repo->b, path, OBJECT_FILE_MAX, (void **) &file, &flen);
        if (r == -EFBIG)
                return sk_repo_fail(r, "%s: larger than the bound for objects (%u MiB)", path, OBJECT_MAX >> 20);
        if (r < 0)
                return sk_repo_fail(r, "%s: %s", path, r == -ENOENT ? "no such object" : strerror(-r));
        r = sk_file_header_parse(file, flen, object_magic);
        if (r < 0)
                return sk_repo_fail(r, "%s: %s", path, r == -EPROTO ? "unknown object version" : "damaged object header");
        r = object_aad(dir, name, &aad, &aadlen);
        if (r < 0)
                return r;
        r = sk_open_envelope(&repo->keys, aad, aadlen, file + SK_FILE_HEADER_SIZE, flen - SK_FILE_HEADER_SIZE,
                             (void **) &body, &blen);
        if (r < 0)
                return sk_repo_fail(r, "%s: %s", path, r == -EBADMSG ? "fails verification (corrupt or renamed)" : strerror(-r));
        if (blen < 16 || (body[0] & ~1u))
                return sk_repo_fail(-EBADMSG, "%s: damaged object body", path);
        uint64_t raw = sk_get_le64(body + 8);
        if (raw > OBJECT_MAX)
                return sk_repo_fail(-EBADMSG, "%s: damaged object body", path);
        _cleanup_free_ uint8_t *out = malloc((size_t) raw + 1);
        if (!out)
                return -ENOMEM;
        if (body[0] & 1) {
                size_t n = ZSTD_decompress(out, (size_t) raw, body + 16, blen - 16);
                if (ZSTD_isError(n) || n != raw)
                        return sk_repo_fail(-EBADMSG, "%s: decompression failed", path);
        } else {
                if (blen - 16 != raw)
                        return sk_repo_fail(-EBADMSG, "%s: length mismatch", path);
                memcpy(out, body + 16, (size_t) raw);
        }
        out[raw] = 0;
        *ret_len = (size_t) raw;
        *ret_buf = TAKE_PTR(out);
        return 0;
}

typedef struct obj_list_ctx {
        sk_repo_name_fn cb;
        void *userdata;
        size_t skip;
} obj_list_ctx;

static int obj_list_one(const char *name, uint64_t size, void *userdata) {
        obj_list_ctx *c = userdata;
        (void) size;
        const char *n = name + c->skip;
        if (!object_name_valid(n))
                return 0;
        return c->cb(n, c->userdata);
}

int sk_repo_list_objects(sk_repo *repo, const char *dir, sk_repo_name_fn cb, void *userdata) {
        if (!dir_valid(dir))
                return sk_repo_fail(-EINVAL, "invalid object directory %s", dir);
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "%s/", dir);
        obj_list_ctx c = { .cb = cb, .userdata = userdata, .skip = strlen(prefix) };
        int r = sk_backend_list(repo->b, prefix, obj_list_one, &c);
        if (r < 0)
                return sk_repo_fail(r, "listing %s: %s", dir, strerror(-r));
        return 0;
}

int sk_repo_delete_object(sk_repo *repo, const char *dir, const char *name) {
        if (!dir_valid(dir) || !object_name_valid(name))
                return sk_repo_fail(-EINVAL, "invalid object name %s/%s", dir, name);
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int r = sk_backend_del(repo->b, path);
        if (r < 0)
                return sk_repo_fail(r, "deleting %s: %s", path, strerror(-r));
        return 0;
}
