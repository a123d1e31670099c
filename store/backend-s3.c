/* S3 backend operations; see backend-s3.h, and s3-internal.h for the split.
 *
 * DESIGN: each sk_backend operation is one or a few requests through
 * sk_s3_request (s3-http.c), which signs, retries and bounds them; this file
 * decides which requests: a single PUT or a multipart upload, ranged GETs,
 * paged listings. No handle is held while a list callback runs, because the
 * callbacks (lock scans) make requests of their own. Reading ahead is the
 * repository's (its span cache, told base.read_ahead): one cache, not two.
 *
 * Semantics against backend.h: S3 PUT is atomic (readers see the old or the
 * whole new object) and durable when acknowledged. DELETE of a missing key
 * succeeds in S3; we return 0 for it rather than spend a HEAD per delete
 * (every caller treats -ENOENT from del as success anyway). */
#include "store/s3-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3-cache.h"
#include "common/macro.h"

/* The most one GET may return: the largest repository object (a pack, 1 GiB,
 * FORMAT.md section 5). A caller asking for less bounds it lower. */
#define SK_S3_GET_MAX ((size_t) 1 << 30)
/* One ListObjectsV2 page: S3 sends at most 1000 keys (~1 KiB each at worst). */
#define LIST_PAGE_MAX ((size_t) 8 << 20)
#define LIST_PAGE_KEYS 10000
#define MAX_PARTS 10000

typedef struct s3_backend {
        sk_backend base;
        sk_s3_http http;
        char *prefix;           /* "" or "some/prefix/" */
} s3_backend;

static char *object_key(s3_backend *b, const char *name) {
        char *k;
        if (asprintf(&k, "%s%s", b->prefix, name) < 0)
                return NULL;
        return k;
}

/* --- operations --- */

static int put_single(s3_backend *b, const char *key, const void *buf, size_t len) {
        sk_s3_req rq = { .method = "PUT", .key = key, .body = buf, .body_len = len };
        sk_s3_resp resp = { .limit = 1 << 20 };
        int r = sk_s3_request_ok(&b->http, &rq, &resp);
        sk_s3_resp_done(&resp);
        return r;
}

static void abort_multipart(s3_backend *b, const char *key, const char *upload_id) {
        sk_sigv4_pair q[] = { { "uploadId", upload_id } };
        sk_s3_req rq = { .method = "DELETE", .key = key, .query = q, .n_query = 1 };
        sk_s3_resp resp = { .limit = 1 << 20 };
        char saved[1024];
        snprintf(saved, sizeof(saved), "%s", sk_store_last_detail());  /* keep the cause, not the cleanup's outcome */
        (void) sk_s3_request(&b->http, &rq, &resp);
        sk_s3_resp_done(&resp);
        sk_store_set_detail("%s", saved);
}

static int put_multipart(s3_backend *b, const char *key, const uint8_t *buf, size_t len) {
        uint64_t part = MAX(b->http.cfg.part_size, SK_S3_MIN_PART_SIZE);
        while ((len + part - 1) / part > MAX_PARTS)
                part *= 2;
        size_t nparts = (len + part - 1) / part;
        char upload_id[512];
        int r;
        {
                sk_sigv4_pair q[] = { { "uploads", NULL } };
                sk_s3_req rq = { .method = "POST", .key = key, .query = q, .n_query = 1 };
                sk_s3_resp resp = { .limit = 1 << 20 };
                r = sk_s3_request_ok(&b->http, &rq, &resp);
                if (r >= 0 && !sk_s3_xml_value(resp.body, NULL, "UploadId", upload_id, sizeof(upload_id))) {
                        sk_store_set_detail("POST %s/%s?uploads: no UploadId in the reply", b->http.display, key);
                        r = -EIO;
                }
                sk_s3_resp_done(&resp);
                if (r < 0)
                        return r;
        }
        /* each part: "<Part><PartNumber>N</PartNumber><ETag>…</ETag></Part>" */
        size_t cap = 64 + nparts * 400, used = 0;
        _cleanup_free_ char *complete = malloc(cap);
        if (!complete) {
                abort_multipart(b, key, upload_id);
                return -ENOMEM;
        }
        used += (size_t) snprintf(complete, cap, "<CompleteMultipartUpload>");
        for (size_t i = 0; i < nparts; i++) {
                char num[24];
                snprintf(num, sizeof(num), "%zu", i + 1);
                sk_sigv4_pair q[] = { { "partNumber", num }, { "uploadId", upload_id } };
                size_t off = i * part, n = MIN(part, len - off);
                sk_s3_req rq = { .method = "PUT", .key = key, .query = q, .n_query = 2, .body = buf + off, .body_len = n };
                sk_s3_resp resp = { .limit = 1 << 20 };
                r = sk_s3_request_ok(&b->http, &rq, &resp);
                if (r >= 0 && !resp.etag[0]) {
                        sk_store_set_detail("PUT %s/%s part %zu: no ETag in the reply", b->http.display, key, i + 1);
                        r = -EIO;
                }
                if (r >= 0) {
                        /* the ETag is quoted already; escape nothing else (hex digits) */
                        used += (size_t) snprintf(complete + used, cap - used,
                                                  "<Part><PartNumber>%zu</PartNumber><ETag>%.300s</ETag></Part>", i + 1,
                                                  resp.etag);
                }
                sk_s3_resp_done(&resp);
                if (r < 0) {
                        abort_multipart(b, key, upload_id);
                        return r;
                }
        }
        used += (size_t) snprintf(complete + used, cap - used, "</CompleteMultipartUpload>");
        sk_sigv4_pair q[] = { { "uploadId", upload_id } };
        sk_s3_req rq = { .method = "POST", .key = key, .query = q, .n_query = 1, .body = complete, .body_len = used };
        sk_s3_resp resp = { .limit = 1 << 20 };
        r = sk_s3_request_ok(&b->http, &rq, &resp);
        if (r >= 0 && resp.body && strstr(resp.body, "<Error>")) {
                /* S3 may report a failed completion inside a 200 reply */
                sk_s3_xml_text(resp.body, NULL, "Code", resp.code, sizeof(resp.code), NULL);
                sk_s3_xml_text(resp.body, NULL, "Message", resp.message, sizeof(resp.message), NULL);
                resp.status = 500;
                r = sk_s3_fail(&b->http, &rq, &resp);
        }
        sk_s3_resp_done(&resp);
        if (r < 0) {
                abort_multipart(b, key, upload_id);
                return r;
        }
        /* Completion replies of some servers carry no usable ETag; a HEAD
         * confirms the object is there with the full size. */
        sk_s3_req hq = { .method = "HEAD", .key = key };
        sk_s3_resp hr = { .limit = 1 << 20 };
        r = sk_s3_request_ok(&b->http, &hq, &hr);
        if (r >= 0 && (!hr.have_length || hr.content_length != len)) {
                sk_store_set_detail("PUT %s/%s: multipart upload completed with size %llu, expected %zu", b->http.display, key,
                          (unsigned long long) hr.content_length, len);
                r = -EIO;
        }
        sk_s3_resp_done(&hr);
        return r;
}

static int s3_put(sk_backend *base, const char *name, const void *buf, size_t len) {
        s3_backend *b = (s3_backend *) base;
        _cleanup_free_ char *key = object_key(b, name);
        if (!key)
                return -ENOMEM;
        sk_store_clear_detail();
        if (len > b->http.cfg.multipart_threshold)
                return put_multipart(b, key, buf, len);
        return put_single(b, key, buf, len);
}

static int head_key(s3_backend *b, const char *key, uint64_t *ret_size) {
        sk_s3_req rq = { .method = "HEAD", .key = key };
        sk_s3_resp resp = { .limit = 1 << 20 };
        int r = sk_s3_request_ok(&b->http, &rq, &resp);
        if (r >= 0 && !resp.have_length) {
                sk_store_set_detail("HEAD %s/%s: no Content-Length in the reply", b->http.display, key);
                r = -EIO;
        }
        if (r >= 0)
                *ret_size = resp.content_length;
        sk_s3_resp_done(&resp);
        return r;
}

static int s3_head(sk_backend *base, const char *name, uint64_t *ret_size) {
        s3_backend *b = (s3_backend *) base;
        _cleanup_free_ char *key = object_key(b, name);
        if (!key)
                return -ENOMEM;
        sk_store_clear_detail();
        return head_key(b, key, ret_size);
}

static int empty_buf(void **ret_buf, size_t *ret_len) {
        char *e = calloc(1, 1);
        if (!e)
                return -ENOMEM;
        *ret_buf = e;
        *ret_len = 0;
        return 0;
}

/* Hand the bytes over: into the caller's buffer (get_into), or as a buffer
 * of their own with a NUL after them. data points into resp's body. */
static int deliver(sk_s3_resp *resp, const char *data, size_t n, void *into, void **ret_buf, size_t *ret_len) {
        if (into) {
                if (n)
                        memcpy(into, data, n);
                sk_s3_resp_done(resp);
                *ret_len = n;
                return 0;
        }
        if (!resp->body) {
                sk_s3_resp_done(resp);
                return empty_buf(ret_buf, ret_len);
        }
        if (n && data != resp->body)
                memmove(resp->body, data, n);
        resp->body[n] = 0;
        *ret_buf = TAKE_PTR(resp->body);
        *ret_len = n;
        sk_s3_resp_done(resp);
        return 0;
}

/* len bytes from offset (len SIZE_MAX: to the end), into the caller's buffer
 * of len bytes (into; len < SIZE_MAX), or a new one (*ret_buf). */
static int get_range(s3_backend *b, const char *key, uint64_t offset, size_t len, void *into, void **ret_buf,
                     size_t *ret_len) {
        char range[96];
        uint64_t size;
        int r;
        if (len == 0) {
                r = head_key(b, key, &size);
                return r < 0 ? r : deliver(&(sk_s3_resp) { 0 }, NULL, 0, into, ret_buf, ret_len);
        }
        sk_s3_req rq = { .method = "GET", .key = key };
        if (offset > 0 || len != SIZE_MAX) {
                if (len == SIZE_MAX || offset + len < offset)
                        snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long) offset);
                else
                        snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long) offset,
                                 (unsigned long long) (offset + len - 1));
                rq.range = range;
        }
        /* a whole-object read is bounded by the largest object (a pack) */
        sk_s3_resp resp = { .limit = (len >= SK_S3_GET_MAX ? SK_S3_GET_MAX : len) + (1 << 16) };
        if (into && rq.range) {
                resp.into = into;
                resp.into_cap = len;
        }
        r = sk_s3_request(&b->http, &rq, &resp);
        if (r < 0) {
                sk_s3_resp_done(&resp);
                return r;
        }
        if (resp.status == 416) {
                /* range starts at or beyond the end: what exists there is nothing */
                sk_s3_resp_done(&resp);
                r = head_key(b, key, &size);
                return r < 0 ? r : deliver(&resp, NULL, 0, into, ret_buf, ret_len);
        }
        if (resp.status / 100 != 2) {
                r = sk_s3_fail(&b->http, &rq, &resp);
                sk_s3_resp_done(&resp);
                return r;
        }
        if (resp.into && resp.partial) {
                /* already in the caller's buffer */
                *ret_len = MIN(resp.len, len);
                sk_s3_resp_done(&resp);
                return 0;
        }
        const char *data = resp.body;
        size_t n = resp.len;
        if (rq.range && resp.status == 200 && offset > 0) {
                /* server ignored Range: cut the window out ourselves */
                data = offset >= n ? NULL : resp.body + offset;
                n = offset >= n ? 0 : n - (size_t) offset;
        }
        return deliver(&resp, data, MIN(n, len), into, ret_buf, ret_len);
}

/* name's bytes from offset: into the caller's buffer (into) or a new one. */
static int get_object(sk_backend *base, const char *name, uint64_t offset, size_t len, void *into, void **ret_buf,
                      size_t *ret_len) {
        s3_backend *b = (s3_backend *) base;
        _cleanup_free_ char *key = object_key(b, name);
        if (!key)
                return -ENOMEM;
        sk_store_clear_detail();
        return get_range(b, key, offset, len, into, ret_buf, ret_len);
}

static int s3_get(sk_backend *base, const char *name, uint64_t offset, size_t len, void **ret_buf, size_t *ret_len) {
        return get_object(base, name, offset, len, NULL, ret_buf, ret_len);
}

/* Packs' spans (repo/packcache.c): filled into the buffer of the span they
 * replace, as a local store's pread does. */
static int s3_get_into(sk_backend *base, const char *name, uint64_t offset, size_t len, void *buf, size_t *ret_len) {
        return get_object(base, name, offset, len, buf, NULL, ret_len);
}

typedef struct list_entry {
        char *name;
        uint64_t size;
} list_entry;

static int s3_list(sk_backend *base, const char *prefix, sk_backend_list_fn cb, void *userdata) {
        s3_backend *b = (s3_backend *) base;
        _cleanup_free_ char *kp = object_key(b, prefix);
        _cleanup_free_ char *token = NULL;
        size_t plen = strlen(b->prefix);
        int r = 0;
        if (!kp)
                return -ENOMEM;
        sk_store_clear_detail();
        for (;;) {
                sk_sigv4_pair q[4] = { { "list-type", "2" }, { "prefix", kp } };
                size_t nq = 2;
                /* undocumented: small pages make tests exercise continuation */
                char page[16];
                if (b->http.cfg.list_page) {
                        snprintf(page, sizeof(page), "%u", b->http.cfg.list_page);
                        q[nq++] = (sk_sigv4_pair) { "max-keys", page };
                }
                if (token)
                        q[nq++] = (sk_sigv4_pair) { "continuation-token", token };
                sk_s3_req rq = { .method = "GET", .key = NULL, .query = q, .n_query = nq };
                sk_s3_resp resp = { .limit = LIST_PAGE_MAX };
                r = sk_s3_request_ok(&b->http, &rq, &resp);
                if (r < 0) {
                        sk_s3_resp_done(&resp);
                        return r;
                }
                /* Parse the whole page before calling back: the callbacks make
                 * requests of their own and must find a free handle. */
                list_entry *v = NULL;
                size_t n = 0, cap = 0;
                const char *p = resp.body ? resp.body : "", *pend = p + resp.len;
                for (;;) {
                        const char *c = sk_s3_xml_find(p, pend, "<Contents>");
                        if (!c)
                                break;
                        const char *e = sk_s3_xml_find(c, pend, "</Contents>");
                        if (!e) {
                                r = -EIO;
                                break;
                        }
                        char keybuf[2048], sizebuf[32];
                        if (!sk_s3_xml_value(c, e, "Key", keybuf, sizeof(keybuf)) ||
                            !sk_s3_xml_value(c, e, "Size", sizebuf, sizeof(sizebuf))) {
                                r = -EIO;
                                break;
                        }
                        p = e + 11;
                        if (strncmp(keybuf, b->prefix, plen) != 0 || strstr(keybuf + plen, ".tmp-"))
                                continue;
                        if (n == LIST_PAGE_KEYS) {
                                r = -EIO;       /* S3 pages hold 1000 keys */
                                break;
                        }
                        if (n == cap) {
                                size_t ncap = cap ? cap * 2 : 256;
                                list_entry *nv = realloc(v, ncap * sizeof(*v));
                                if (!nv) {
                                        r = -ENOMEM;
                                        break;
                                }
                                v = nv;
                                cap = ncap;
                        }
                        v[n].name = strdup(keybuf + plen);
                        v[n].size = strtoull(sizebuf, NULL, 10);
                        if (!v[n].name) {
                                r = -ENOMEM;
                                break;
                        }
                        n++;
                }
                char trunc[16] = "", next[2048] = "";
                if (r >= 0) {
                        sk_s3_xml_text(resp.body, NULL, "IsTruncated", trunc, sizeof(trunc), NULL);
                        sk_s3_xml_value(resp.body, NULL, "NextContinuationToken", next, sizeof(next));
                } else if (r == -EIO)
                        sk_store_set_detail("GET %s (list %s): malformed ListObjectsV2 reply", b->http.display, prefix);
                sk_s3_resp_done(&resp);
                for (size_t i = 0; i < n; i++) {
                        if (r >= 0)
                                r = cb(v[i].name, v[i].size, userdata);
                        free(v[i].name);
                }
                free(v);
                if (r < 0)
                        return r;
                if (strcmp(trunc, "true") != 0)
                        return 0;
                if (!next[0]) {
                        sk_store_set_detail("GET %s (list %s): truncated listing without a continuation token", b->http.display,
                                  prefix);
                        return -EIO;
                }
                free(token);
                token = strdup(next);
                if (!token)
                        return -ENOMEM;
        }
}

static int s3_del(sk_backend *base, const char *name) {
        s3_backend *b = (s3_backend *) base;
        _cleanup_free_ char *key = object_key(b, name);
        if (!key)
                return -ENOMEM;
        sk_store_clear_detail();
        sk_s3_req rq = { .method = "DELETE", .key = key };
        sk_s3_resp resp = { .limit = 1 << 20 };
        int r = sk_s3_request_ok(&b->http, &rq, &resp);
        sk_s3_resp_done(&resp);
        return r;
}

static void s3_free(sk_backend *base) {
        s3_backend *b = (s3_backend *) base;
        if (!b)
                return;
        sk_s3_http_done(&b->http);
        free(b->prefix);
        free(b);
}

static const sk_backend_ops s3_ops = {
        .put = s3_put, .get = s3_get, .get_into = s3_get_into, .head = s3_head, .list = s3_list, .del = s3_del, .free = s3_free,
};

int sk_backend_s3_stats(sk_backend *base, sk_s3_stats *ret) {
        base = sk_backend_cache_inner(base);
        if (!base || base->ops != &s3_ops)
                return -EINVAL;
        s3_backend *b = (s3_backend *) base;
        *ret = (sk_s3_stats) {
                .requests = atomic_load(&b->http.requests), .retries = atomic_load(&b->http.retries),
                .bytes_up = atomic_load(&b->http.bytes_up), .bytes_down = atomic_load(&b->http.bytes_down),
        };
        return 0;
}

int sk_backend_s3_open_config(const char *url, const sk_s3_config *cfg, int create, sk_backend **ret) {
        _cleanup_free_ char *bucket = NULL, *prefix = NULL;
        sk_store_clear_detail();
        int r = sk_s3_parse_url(url, &bucket, &prefix);
        if (r < 0)
                return r;
        r = sk_s3_http_global_init();
        if (r < 0)
                return r;
        s3_backend *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->base.ops = &s3_ops;
        b->base.scheme = "s3";
        /* every GET is a round trip: reads outside a plan should fetch a
         * window (the repository's cache does, packcache.h) */
        b->base.read_ahead = (size_t) cfg->readahead;
        b->prefix = TAKE_PTR(prefix);
        r = sk_s3_http_init(&b->http, TAKE_PTR(bucket), cfg);
        if (r < 0) {
                s3_free(&b->base);
                return r;
        }

        /* Before creating a repository, one listing request proves the
         * bucket exists and the credentials and signature are accepted, with
         * an error body naming the cause, so that nothing is written on a
         * bad start. Opening an existing repository skips it: its first
         * request (reading the config) fails with the same error body. */
        if (create) {
                sk_sigv4_pair q[] = { { "list-type", "2" }, { "max-keys", "1" }, { "prefix", b->prefix } };
                sk_s3_req rq = { .method = "GET", .key = NULL, .query = q, .n_query = 3 };
                sk_s3_resp resp = { .limit = 1 << 20 };
                r = sk_s3_request_ok(&b->http, &rq, &resp);
                sk_s3_resp_done(&resp);
                if (r < 0) {
                        s3_free(&b->base);
                        return r;
                }
        }
        *ret = &b->base;
        return 0;
}

int sk_backend_s3_open(const char *url, int create, const sk_store_options *opts, const sk_store_layout *layout,
                       sk_backend **ret) {
        sk_s3_config cfg;
        sk_store_clear_detail();
        int r = sk_s3_config_load(opts, &cfg);
        if (r < 0)
                return r;
        sk_backend *b;
        r = sk_backend_s3_open_config(url, &cfg, create, &b);
        sk_s3_config_done(&cfg);
        if (r < 0)
                return r;
        /* nothing to cache: no wrapper, whose every call would pass through */
        _cleanup_free_ char *cache = NULL;
        if (layout && layout->immutable && layout->immutable[0] && layout->id_object)
                cache = sk_backend_cache_default_dir(opts);
        if (!cache) {
                *ret = b;
                return 0;
        }
        return sk_backend_cache_wrap(b, cache, layout, ret);
}
