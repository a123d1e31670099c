/* Private to the S3 backend's three files; nothing outside store/ includes it.
 *
 * The backend is split along its seams: s3-config.c turns settings and the
 * credentials file into an sk_s3_config and parses the URL; s3-http.c owns the
 * connection to one bucket (sk_s3_http: pooled curl handles, SigV4 signing,
 * retries with backoff, response size limits, the mapping of failures to
 * -errno and the store's failure detail); backend-s3.c implements the
 * sk_backend operations on top of sk_s3_request. This header is the contract
 * between them, so each file can be read without the others. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "store/backend-s3.h"
#include "store/sigv4.h"

/* S3's smallest multipart part (but the last): bounds the part size setting
 * (s3-config.c) and the part size used (backend-s3.c). */
#define SK_S3_MIN_PART_SIZE (5ull * 1024 * 1024)

/* --- s3-config.c --- */

/* s in place without leading and trailing white space (credentials file
 * lines, header values). */
char *sk_s3_trim(char *s);

/* Split s3://BUCKET[/PREFIX] into an owned bucket (valid S3 bucket name) and
 * an owned prefix collapsed to "" or "a/b/" (no empty, "." or ".."
 * components). -EINVAL with the detail set for a bad URL. */
int sk_s3_parse_url(const char *url, char **ret_bucket, char **ret_prefix);

/* --- s3-http.c --- */

/* A pooled easy handle and the socket of its current connection. */
typedef struct sk_s3_conn {
        CURL *h;
        curl_socket_t fd;
} sk_s3_conn;

/* The connection to one bucket: where it is, how to sign, the handle pool
 * and the request counters. Embedded in the backend; every field is set by
 * sk_s3_http_init and read-only afterwards but the pool and counters. */
typedef struct sk_s3_http {
        char *scheme;           /* "http" / "https" */
        char *host;             /* host[:port] of the endpoint */
        char *bucket;
        char *display;          /* "s3://bucket" for messages (+ "/" + full key) */
        sk_s3_config cfg;

        pthread_mutex_t mu;
        pthread_cond_t cv;
        sk_s3_conn **idle;
        size_t n_idle;
        unsigned n_handles;

        atomic_uint_fast64_t requests, retries, bytes_up, bytes_down;
} sk_s3_http;

/* Initialise libcurl once per process: -EIO (detail set) if it fails. */
int sk_s3_http_global_init(void);

/* Set up h (zeroed by the caller) for bucket (ownership passes to h, also on
 * failure) with a copy of cfg: a bad endpoint -> -EINVAL with the detail set.
 * Call sk_s3_http_done afterwards whatever it returns. */
int sk_s3_http_init(sk_s3_http *h, char *bucket, const sk_s3_config *cfg);

/* Free what h holds (idle handles, strings, the wiped config copy). */
void sk_s3_http_done(sk_s3_http *h);

typedef struct sk_s3_req {
        const char *method;
        const char *key;                /* full object key; NULL = the bucket */
        const sk_sigv4_pair *query;
        size_t n_query;
        const char *range;              /* "bytes=a-b" or NULL */
        const void *body;
        size_t body_len;
        const char *payload_hash;       /* precomputed hex SHA-256 of body, or NULL */
} sk_s3_req;

typedef struct sk_s3_resp {
        long status;
        char *body;
        size_t len, cap;
        size_t limit;                   /* refuse bodies larger than this */
        bool too_large;                 /* ... and one was refused */
        bool have_length;
        uint64_t content_length;
        char etag[256];
        char code[128];                 /* <Code> of an error body */
        char message[256];
        sk_s3_conn *conn;               /* set while a request runs */
        /* Set by the caller: the body of a 206 (a range) goes into this buffer
         * of into_cap bytes instead of body, and len counts it (bytes past
         * into_cap are dropped; past limit, too_large). Any other status's
         * body (an error's XML, a server that ignored the Range) still goes
         * to body. */
        char *into;
        size_t into_cap;
        bool body_seen;                 /* the body has begun: partial is decided */
        bool partial;                   /* the response is a 206 */
} sk_s3_resp;

/* Run rq with retries. On return 0 the response has a 2xx/3xx/4xx status
 * (the caller interprets it); 5xx and transport errors are retried until the
 * budget is spent, then -EIO with the detail set. A body over resp->limit
 * (0: 16 GiB) is -EFBIG. */
int sk_s3_request(sk_s3_http *h, const sk_s3_req *rq, sk_s3_resp *resp);

/* Map a non-2xx response to -errno with the detail set. */
int sk_s3_fail(sk_s3_http *h, const sk_s3_req *rq, const sk_s3_resp *resp);

/* sk_s3_request, then sk_s3_fail for any status but 2xx: what most requests
 * want. */
int sk_s3_request_ok(sk_s3_http *h, const sk_s3_req *rq, sk_s3_resp *resp);

/* Free the response body (the struct itself is the caller's). */
void sk_s3_resp_done(sk_s3_resp *r);

/* needle in [p, end) (NULL if p >= end or absent). */
const char *sk_s3_xml_find(const char *p, const char *end, const char *needle);

/* XML: the text of the first <tag>…</tag> in [p, end) (end NULL: to p's
 * NUL), entity-decoded; false if absent. xml_text cuts a text longer than
 * outsz - 1 bytes (messages); xml_value refuses it (keys, sizes, tokens:
 * never act on a truncated one). */
bool sk_s3_xml_text(const char *p, const char *end, const char *tag, char *out, size_t outsz,
                    const char **ret_after);
bool sk_s3_xml_value(const char *p, const char *end, const char *tag, char *out, size_t outsz);
