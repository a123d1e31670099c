/* S3 backend; see backend-s3.h.
 *
 * DESIGN: one request function does everything: build the URL (path or
 * virtual-hosted), sign it with SigV4 (sigv4.c: what is signed is exactly
 * what is sent), run it on a pooled CURL easy handle, and retry transport
 * errors and 5xx with exponential backoff and full jitter inside a time
 * budget. 4xx is never retried: it will not get better, and the S3 error
 * code in the body tells the user why.
 *
 * Concurrency: a pool of at most cfg.connections easy handles. A request
 * takes a handle (waiting while all are busy), and gives it back afterwards;
 * curl_easy_reset keeps the handle's connection cache, so connections are
 * reused across requests and threads, and the pool size is the parallel
 * request limit. No handle is held while a list callback runs, because the
 * callbacks (lock scans) make requests of their own.
 *
 * Semantics against backend.h: S3 PUT is atomic (readers see the old or the
 * whole new object) and durable when acknowledged. DELETE of a missing key
 * succeeds in S3; we return 0 for it rather than spend a HEAD per delete
 * (every caller treats -ENOENT from del as success anyway). */
#include "store/backend-s3.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "store/s3-cache.h"
#include "store/sigv4.h"
#include "common/macro.h"

#define MIN_PART_SIZE (5ull * 1024 * 1024)
/* The most one GET may return: the largest repository object (a pack, 1 GiB,
 * FORMAT.md section 5). A caller asking for less bounds it lower. */
#define SK_S3_GET_MAX ((size_t) 1 << 30)
/* One ListObjectsV2 page: S3 sends at most 1000 keys (~1 KiB each at worst). */
#define LIST_PAGE_MAX ((size_t) 8 << 20)
#define LIST_PAGE_KEYS 10000
#define MAX_PARTS 10000

#define RA_SLOTS 4             /* at most 4 x 24 MiB of windows */
#define RA_SEEN 64

typedef struct ra_slot {
        char *name;             /* pack name, NULL if free */
        uint64_t start;         /* window's offset in the pack */
        size_t asked;           /* window size requested */
        size_t len;             /* bytes in buf (less than asked at the pack's end) */
        void *buf;
        bool loading;           /* a thread is fetching it; wait on ra_cv */
        uint64_t stamp;         /* LRU */
} ra_slot;

/* A pooled easy handle and the socket of its current connection. */
typedef struct s3_conn {
        CURL *h;
        curl_socket_t fd;
} s3_conn;

typedef struct s3_backend {
        sk_backend base;
        char *scheme;           /* "http" / "https" */
        char *host;             /* host[:port] of the endpoint */
        char *bucket;
        char *prefix;           /* "" or "some/prefix/" */
        char *display;          /* "s3://bucket/prefix" for messages */
        sk_s3_config cfg;

        pthread_mutex_t mu;
        pthread_cond_t cv;
        s3_conn **idle;
        size_t n_idle;
        unsigned n_handles;

        atomic_uint_fast64_t requests, retries, bytes_up, bytes_down;

        size_t ra_window;               /* 0 = no read-ahead */
        pthread_mutex_t ra_mu;
        pthread_cond_t ra_cv;
        ra_slot ra[RA_SLOTS];
        uint64_t ra_clock;
        uint32_t ra_seen[RA_SEEN];      /* hashes of recently read packs */
        size_t ra_seen_next;
} s3_backend;

/* --- configuration --- */

static int setting_u64(const sk_store_options *o, const char *name, uint64_t def, uint64_t min, uint64_t max,
                       uint64_t *ret) {
        const char *v = sk_store_setting(o, name);
        if (!v) {
                *ret = def;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v)
                goto bad;
        if (*end == 'K' || *end == 'k')
                x <<= 10, end++;
        else if (*end == 'M' || *end == 'm')
                x <<= 20, end++;
        else if (*end == 'G' || *end == 'g')
                x <<= 30, end++;
        if (*end || x < min || x > max)
                goto bad;
        *ret = x;
        return 0;
bad:
        sk_store_set_detail("%s=%s: not a number in %llu..%llu", name, v, (unsigned long long) min, (unsigned long long) max);
        return -EINVAL;
}

static char *trim(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

/* AWS shared credentials file: INI, [profile] sections, key = value. */
static int read_credentials_file(const sk_store_options *o, sk_s3_config *c) {
        const char *path = sk_store_setting(o, "AWS_SHARED_CREDENTIALS_FILE");
        const char *profile = sk_store_setting(o, "AWS_PROFILE");
        _cleanup_free_ char *def = NULL;
        if (!profile || !*profile)
                profile = "default";
        if (!path || !*path) {
                const char *home = sk_store_setting(o, "HOME");
                if (!home)
                        return -ENOENT;
                if (asprintf(&def, "%s/.aws/credentials", home) < 0) {
                        def = NULL;
                        return -ENOMEM;
                }
                path = def;
        }
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char line[1024];
        bool in = false;
        int r = -ENOENT;
        while (fgets(line, sizeof(line), f)) {
                char *l = trim(line);
                if (*l == '#' || *l == ';' || !*l)
                        continue;
                if (*l == '[') {
                        char *e = strchr(l, ']');
                        if (e)
                                *e = 0;
                        char *name = trim(l + 1);
                        if (strncmp(name, "profile ", 8) == 0)
                                name = trim(name + 8);
                        in = strcmp(name, profile) == 0;
                        continue;
                }
                char *eq = strchr(l, '=');
                if (!in || !eq)
                        continue;
                *eq = 0;
                char *k = trim(l), *v = trim(eq + 1);
                char **dst = strcmp(k, "aws_access_key_id") == 0       ? &c->access_key
                             : strcmp(k, "aws_secret_access_key") == 0 ? &c->secret_key
                             : strcmp(k, "aws_session_token") == 0     ? &c->session_token
                                                                       : NULL;
                if (!dst)
                        continue;
                free(*dst);
                *dst = strdup(v);
                if (!*dst) {
                        OPENSSL_cleanse(line, sizeof(line));
                        return -ENOMEM;
                }
                r = 0;
        }
        OPENSSL_cleanse(line, sizeof(line));
        return r;
}

void sk_s3_config_done(sk_s3_config *c) {
        if (!c)
                return;
        if (c->secret_key)
                OPENSSL_cleanse(c->secret_key, strlen(c->secret_key));
        if (c->session_token)
                OPENSSL_cleanse(c->session_token, strlen(c->session_token));
        free(c->endpoint);
        free(c->region);
        free(c->access_key);
        free(c->secret_key);
        free(c->session_token);
        memset(c, 0, sizeof(*c));
}

int sk_s3_config_load(const sk_store_options *o, sk_s3_config *ret) {
        sk_s3_config c = { 0 };
        uint64_t v;
        int r;
        const char *ep = sk_store_setting(o, "SNAPKEEP_S3_ENDPOINT");
        const char *region = sk_store_setting(o, "SNAPKEEP_S3_REGION");
        const char *style = sk_store_setting(o, "SNAPKEEP_S3_STYLE");
        if (!region)
                region = sk_store_setting(o, "AWS_REGION");
        if (!region)
                region = "us-east-1";
        c.endpoint = strdup(ep ? ep : "https://s3.amazonaws.com");
        c.region = strdup(region);
        if (!c.endpoint || !c.region) {
                r = -ENOMEM;
                goto fail;
        }
        if (!style)
                c.virtual_host = !ep;
        else if (strcmp(style, "path") == 0)
                c.virtual_host = false;
        else if (strcmp(style, "virtual") == 0)
                c.virtual_host = true;
        else {
                sk_store_set_detail("SNAPKEEP_S3_STYLE=%s: expected \"path\" or \"virtual\"", style);
                r = -EINVAL;
                goto fail;
        }
        if ((r = setting_u64(o, "SNAPKEEP_S3_CONNECTIONS", 8, 1, 256, &v)) < 0)
                goto fail;
        c.connections = (unsigned) v;
        if ((r = setting_u64(o, "SNAPKEEP_S3_RETRY_SECONDS", 120, 0, 86400, &v)) < 0)
                goto fail;
        c.retry_seconds = (unsigned) v;
        if ((r = setting_u64(o, "SNAPKEEP_S3_MULTIPART_THRESHOLD", 64ull << 20, MIN_PART_SIZE, 5ull << 30,
                         &c.multipart_threshold)) < 0)
                goto fail;
        if ((r = setting_u64(o, "SNAPKEEP_S3_PART_SIZE", 16ull << 20, MIN_PART_SIZE, 5ull << 30, &c.part_size)) < 0)
                goto fail;
        if ((r = setting_u64(o, "SNAPKEEP_S3_READAHEAD", 16ull << 20, 0, 256ull << 20, &c.readahead)) < 0)
                goto fail;

        if ((r = setting_u64(o, "SNAPKEEP_S3_LIST_PAGE", 0, 0, 1000, &v)) < 0)
                goto fail;
        c.list_page = (unsigned) v;

        const char *ak = sk_store_setting(o, "AWS_ACCESS_KEY_ID"), *sk = sk_store_setting(o, "AWS_SECRET_ACCESS_KEY");
        if (ak && sk) {
                const char *tok = sk_store_setting(o, "AWS_SESSION_TOKEN");
                c.access_key = strdup(ak);
                c.secret_key = strdup(sk);
                c.session_token = tok ? strdup(tok) : NULL;
                if (!c.access_key || !c.secret_key || (tok && !c.session_token)) {
                        r = -ENOMEM;
                        goto fail;
                }
        } else {
                r = read_credentials_file(o, &c);
                if (r == -ENOMEM)
                        goto fail;
                if (r < 0 || !c.access_key || !c.secret_key) {
                        sk_store_set_detail("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put them "
                                  "in ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE, profile AWS_PROFILE)");
                        r = -EACCES;
                        goto fail;
                }
        }
        *ret = c;
        return 0;
fail:
        sk_s3_config_done(&c);
        return r;
}

/* --- handle pool --- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;
static void curl_init(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static s3_conn *handle_get(s3_backend *b) {
        s3_conn *h = NULL;
        pthread_mutex_lock(&b->mu);
        for (;;) {
                if (b->n_idle > 0) {
                        h = b->idle[--b->n_idle];
                        break;
                }
                if (b->n_handles < b->cfg.connections) {
                        h = calloc(1, sizeof(*h));
                        if (h) {
                                h->fd = CURL_SOCKET_BAD;
                                h->h = curl_easy_init();
                                if (!h->h) {
                                        free(h);
                                        h = NULL;
                                } else
                                        b->n_handles++;
                        }
                        break;
                }
                pthread_cond_wait(&b->cv, &b->mu);
        }
        pthread_mutex_unlock(&b->mu);
        return h;
}

static void conn_free(s3_conn *c) {
        curl_easy_cleanup(c->h);
        free(c);
}

static void handle_put(s3_backend *b, s3_conn *h, bool broken) {
        pthread_mutex_lock(&b->mu);
        if (broken) {
                /* a handle that saw a transport error may hold a dead connection */
                conn_free(h);
                b->n_handles--;
        } else
                b->idle[b->n_idle++] = h;
        pthread_cond_signal(&b->cv);
        pthread_mutex_unlock(&b->mu);
}

/* --- one request --- */

typedef struct s3_req {
        const char *method;
        const char *key;                /* full object key; NULL = the bucket */
        const sk_sigv4_pair *query;
        size_t n_query;
        const char *range;              /* "bytes=a-b" or NULL */
        const void *body;
        size_t body_len;
        const char *payload_hash;       /* precomputed hex SHA-256 of body, or NULL */
} s3_req;

typedef struct s3_resp {
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
        s3_conn *conn;                  /* set while a request runs */
} s3_resp;

static void resp_done(s3_resp *r) {
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
}

/* The body buffer grows with the bytes that actually arrive, never beyond
 * limit + 1 (what the caller asked for plus slack): a Content-Length is only
 * a hint, used to size the buffer when it is within the limit, and a body
 * without one (chunked) is bounded the same way. */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        s3_resp *r = userdata;
        size_t n = size * nmemb;
        if (n > r->limit - r->len) {
                r->too_large = true;
                return 0;
        }
        if (r->len + n + 1 > r->cap) {
                size_t ncap = r->cap ? r->cap : 16384;
                if (r->have_length && r->content_length + 1 > ncap && r->content_length <= r->limit)
                        ncap = (size_t) r->content_length + 1;
                while (ncap < r->len + n + 1)
                        ncap *= 2;
                ncap = MIN(ncap, r->limit + 1);
                char *nb = realloc(r->body, ncap);
                if (!nb)
                        return 0;
                r->body = nb;
                r->cap = ncap;
        }
        memcpy(r->body + r->len, data, n);
        r->len += n;
        r->body[r->len] = 0;
        return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        s3_resp *r = userdata;
        size_t n = size * nmemb;
        char line[512];
        size_t l = MIN(n, sizeof(line) - 1);
        memcpy(line, data, l);
        line[l] = 0;
        if (strcmp(line, "\r\n") == 0 && r->conn && r->conn->fd != CURL_SOCKET_BAD) {
                /* End of the headers. Servers that write headers and body
                 * separately with Nagle on (radosgw's beast) wait for our ACK
                 * before sending the body, and delayed ACK makes that 40 ms
                 * per request: acknowledge now. */
                int one = 1;
                (void) setsockopt(r->conn->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
        } else if (strncmp(line, "HTTP/", 5) == 0) {
                /* a new response (after 100-continue or a redirect): forget the old headers */
                r->have_length = false;
                r->etag[0] = 0;
        } else if (strncasecmp(line, "content-length:", 15) == 0) {
                unsigned long long v;
                if (sscanf(line + 15, " %llu", &v) == 1) {
                        r->content_length = v;
                        r->have_length = true;
                }
        } else if (strncasecmp(line, "etag:", 5) == 0) {
                char *v = trim(line + 5);
                snprintf(r->etag, sizeof(r->etag), "%s", v);
        }
        return n;
}

typedef struct upload_src {
        const char *p;
        size_t left;
} upload_src;

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *userdata) {
        upload_src *s = userdata;
        size_t n = MIN(size * nmemb, s->left);
        memcpy(buf, s->p, n);
        s->p += n;
        s->left -= n;
        return n;
}

static int seek_cb(void *userdata, curl_off_t offset, int origin) {
        (void) userdata;
        (void) offset;
        (void) origin;
        return CURL_SEEKFUNC_CANTSEEK;  /* retries restart the whole request */
}

/* needle in [p, end): searches stay within the element at hand, so a page
 * of n elements costs O(page), not O(n * page). */
static const char *xml_find(const char *p, const char *end, const char *needle) {
        return p < end ? memmem(p, (size_t) (end - p), needle, strlen(needle)) : NULL;
}

/* XML: the text of the first <tag>…</tag> at or after p, entity-decoded;
 * false if absent. A longer text than outsz - 1 bytes is cut (messages), or
 * with exact is false (keys, sizes, tokens: never act on a truncated one). */
static bool xml_text_ex(const char *p, const char *end, const char *tag, char *out, size_t outsz,
                        const char **ret_after, bool exact) {
        char open[64], close[64];
        snprintf(open, sizeof(open), "<%s>", tag);
        snprintf(close, sizeof(close), "</%s>", tag);
        if (!p)
                return false;
        if (!end)
                end = p + strlen(p);
        const char *s = xml_find(p, end, open);
        if (!s)
                return false;
        s += strlen(open);
        const char *e = xml_find(s, end, close);
        if (!e)
                return false;
        size_t o = 0;
        for (const char *c = s; c < e;) {
                if (o + 1 >= outsz) {
                        if (exact)
                                return false;
                        break;
                }
                if (*c == '&') {
                        static const struct {
                                const char *ent;
                                char ch;
                        } ents[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
                                     { "&apos;", '\'' } };
                        bool done = false;
                        for (size_t i = 0; i < ARRAY_SIZE(ents) && !done; i++)
                                if (strncmp(c, ents[i].ent, strlen(ents[i].ent)) == 0) {
                                        out[o++] = ents[i].ch;
                                        c += strlen(ents[i].ent);
                                        done = true;
                                }
                        if (!done && c[1] == '#') {
                                char *q;
                                unsigned long v = c[2] == 'x' ? strtoul(c + 3, &q, 16) : strtoul(c + 2, &q, 10);
                                if (*q == ';' && v > 0 && v < 128) {
                                        out[o++] = (char) v;
                                        c = q + 1;
                                        done = true;
                                }
                        }
                        if (done)
                                continue;
                }
                out[o++] = *c++;
        }
        out[o] = 0;
        if (ret_after)
                *ret_after = e + strlen(close);
        return true;
}

static bool xml_text(const char *p, const char *end, const char *tag, char *out, size_t outsz, const char **ret_after) {
        return xml_text_ex(p, end, tag, out, outsz, ret_after, false);
}

static bool xml_value(const char *p, const char *end, const char *tag, char *out, size_t outsz) {
        return xml_text_ex(p, end, tag, out, outsz, NULL, true);
}

static bool retryable_curl(CURLcode c) {
        switch (c) {
        case CURLE_OUT_OF_MEMORY:
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_WRITE_ERROR:         /* our callback refused (size limit / ENOMEM) */
        case CURLE_ABORTED_BY_CALLBACK:
        case CURLE_BAD_FUNCTION_ARGUMENT:
                return false;
        default:
                return true;
        }
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms) {
        struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static const char *show_key(const s3_req *rq) {
        return rq->key ? rq->key : "";
}

/* Build URL and canonical URI for rq. */
static int build_target(s3_backend *b, const s3_req *rq, const char *query, char **ret_url, char **ret_uri,
                        char **ret_host) {
        _cleanup_free_ char *enc = NULL, *uri = NULL, *host = NULL, *url = NULL;
        int r = sk_sigv4_uri_encode(rq->key ? rq->key : "", true, &enc);
        if (r < 0)
                return r;
        int n;
        if (b->cfg.virtual_host) {
                n = asprintf(&uri, "/%s", enc);
                if (n >= 0)
                        n = asprintf(&host, "%s.%s", b->bucket, b->host);
        } else {
                n = asprintf(&uri, "/%s/%s", b->bucket, enc);
                if (n >= 0) {
                        host = strdup(b->host);
                        n = host ? 0 : -1;
                }
        }
        if (n < 0)
                return -ENOMEM;
        if (asprintf(&url, "%s://%s%s%s%s", b->scheme, host, uri, *query ? "?" : "", query) < 0) {
                url = NULL;
                return -ENOMEM;
        }
        *ret_url = TAKE_PTR(url);
        *ret_uri = TAKE_PTR(uri);
        *ret_host = TAKE_PTR(host);
        return 0;
}

/* Perform rq once on handle h. Returns 0 with resp filled (any HTTP status),
 * or -EIO with *ret_curl set for a transport failure, or another -errno. */
static int sockopt_cb(void *userdata, curl_socket_t fd, curlsocktype purpose) {
        (void) purpose;
        ((s3_conn *) userdata)->fd = fd;
        return CURL_SOCKOPT_OK;
}

static int perform_once(s3_backend *b, s3_conn *conn, const s3_req *rq, const char *url, const char *uri,
                        const char *host, const char *query, const char *payload_hash, s3_resp *resp,
                        CURLcode *ret_curl, char *curl_err) {
        char amz_date[17], hdr_date[64], hdr_hash[128], hdr_host[512], hdr_range[128];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);

        sk_sigv4_pair sh[6];
        size_t nsh = 0;
        sh[nsh++] = (sk_sigv4_pair) { "host", host };
        sh[nsh++] = (sk_sigv4_pair) { "x-amz-content-sha256", payload_hash };
        sh[nsh++] = (sk_sigv4_pair) { "x-amz-date", amz_date };
        if (rq->range)
                sh[nsh++] = (sk_sigv4_pair) { "range", rq->range };
        if (b->cfg.session_token)
                sh[nsh++] = (sk_sigv4_pair) { "x-amz-security-token", b->cfg.session_token };
        sk_sigv4_request sr = {
                .method = rq->method, .canonical_uri = uri, .canonical_query = query, .headers = sh,
                .n_headers = nsh, .payload_hash = payload_hash, .amz_date = amz_date, .region = b->cfg.region,
                .service = "s3",
        };
        _cleanup_free_ char *auth = NULL, *auth_hdr = NULL, *tok_hdr = NULL;
        int r = sk_sigv4_authorization(&sr, b->cfg.access_key, b->cfg.secret_key, &auth, NULL);
        if (r < 0)
                return r;
        if (asprintf(&auth_hdr, "Authorization: %s", auth) < 0) {
                auth_hdr = NULL;
                return -ENOMEM;
        }
        if (b->cfg.session_token && asprintf(&tok_hdr, "x-amz-security-token: %s", b->cfg.session_token) < 0) {
                tok_hdr = NULL;
                return -ENOMEM;
        }
        snprintf(hdr_date, sizeof(hdr_date), "x-amz-date: %s", amz_date);
        snprintf(hdr_hash, sizeof(hdr_hash), "x-amz-content-sha256: %s", payload_hash);
        snprintf(hdr_host, sizeof(hdr_host), "Host: %s", host);
        snprintf(hdr_range, sizeof(hdr_range), "Range: %s", rq->range ? rq->range : "");

        struct curl_slist *hl = NULL, *t;
        const char *hs[] = { auth_hdr, hdr_date, hdr_hash, hdr_host, "Expect:", "Content-Type:",
                             rq->range ? hdr_range : NULL, tok_hdr };
        for (size_t i = 0; i < ARRAY_SIZE(hs); i++) {
                if (!hs[i])
                        continue;
                t = curl_slist_append(hl, hs[i]);
                if (!t) {
                        curl_slist_free_all(hl);
                        return -ENOMEM;
                }
                hl = t;
        }

        CURL *h = conn->h;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
        curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, conn);
        upload_src src = { rq->body, rq->body_len };
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "snapkeep");
        if (strcmp(rq->method, "GET") == 0)
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        else if (strcmp(rq->method, "HEAD") == 0)
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (strcmp(rq->method, "PUT") == 0) {
                /* UPLOAD always sends Content-Length, 0 included (RGW needs it) */
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
                curl_easy_setopt(h, CURLOPT_READDATA, &src);
                curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) rq->body_len);
        } else if (strcmp(rq->method, "POST") == 0) {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) rq->body_len);
        } else
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);

        curl_err[0] = 0;
        atomic_fetch_add(&b->requests, 1);
        CURLcode cc = curl_easy_perform(h);
        curl_slist_free_all(hl);
        if (cc != CURLE_OK) {
                *ret_curl = cc;
                return -EIO;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        atomic_fetch_add(&b->bytes_up, rq->body_len);
        atomic_fetch_add(&b->bytes_down, resp->len);
        return 0;
}

/* Run rq with retries. On return 0 the response has a 2xx/3xx/4xx status
 * (the caller interprets it); 5xx and transport errors are retried until the
 * budget is spent, then -EIO with the detail set. */
static int s3_request(s3_backend *b, const s3_req *rq, s3_resp *resp) {
        _cleanup_free_ char *query = NULL, *url = NULL, *uri = NULL, *host = NULL;
        char hash[65], curl_err[CURL_ERROR_SIZE];
        int r = sk_sigv4_canonical_query(rq->query, rq->n_query, &query);
        if (r < 0)
                return r;
        r = build_target(b, rq, query, &url, &uri, &host);
        if (r < 0)
                return r;
        const char *payload_hash = rq->payload_hash;
        if (!payload_hash) {
                sk_sigv4_sha256_hex(rq->body ? rq->body : "", rq->body_len, hash);
                payload_hash = hash;
        }
        if (!resp->limit)
                resp->limit = (size_t) 1 << 34;

        uint64_t start = now_ms(), budget = (uint64_t) b->cfg.retry_seconds * 1000;
        for (unsigned attempt = 0;; attempt++) {
                s3_conn *h = handle_get(b);
                if (!h)
                        return -ENOMEM;
                CURLcode cc = CURLE_OK;
                resp->len = 0;
                resp->status = 0;
                resp->have_length = false;
                resp->too_large = false;
                resp->etag[0] = resp->code[0] = resp->message[0] = 0;
                resp->conn = h;
                r = perform_once(b, h, rq, url, uri, host, query, payload_hash, resp, &cc, curl_err);
                resp->conn = NULL;
                handle_put(b, h, r == -EIO);
                if (r < 0 && r != -EIO)
                        return r;
                bool transient;
                if (r == -EIO) {
                        if (!retryable_curl(cc)) {
                                if (cc == CURLE_WRITE_ERROR && resp->too_large) {
                                        sk_store_set_detail("%s %s/%s: response larger than the %zu bytes this read allows", rq->method,
                                                  b->display, show_key(rq), resp->limit);
                                        return -EFBIG;
                                }
                                sk_store_set_detail("%s %s/%s: %s", rq->method, b->display, show_key(rq),
                                          cc == CURLE_WRITE_ERROR ? "out of memory"
                                                                  : (curl_err[0] ? curl_err : curl_easy_strerror(cc)));
                                return cc == CURLE_WRITE_ERROR ? -ENOMEM : -EIO;
                        }
                        transient = true;
                } else
                        transient = resp->status >= 500;
                if (!transient)
                        break;
                uint64_t elapsed = now_ms() - start;
                /* exponential backoff (100 ms doubling, 10 s cap) with full jitter */
                uint64_t cap = MIN(10000ull, 100ull << MIN(attempt, 10u));
                uint32_t rnd = 0;
                (void) RAND_bytes((unsigned char *) &rnd, sizeof(rnd));
                uint64_t delay = cap / 2 + rnd % (cap / 2 + 1);
                if (elapsed + delay > budget) {
                        if (r == -EIO)
                                sk_store_set_detail("%s %s/%s: %s (gave up after %u attempts in %.1f s)", rq->method,
                                          b->display, show_key(rq), curl_err[0] ? curl_err : curl_easy_strerror(cc),
                                          attempt + 1, (double) elapsed / 1000);
                        else {
                                char code[128] = "";
                                if (resp->body)
                                        xml_text(resp->body, NULL, "Code", code, sizeof(code), NULL);
                                sk_store_set_detail("%s %s/%s: HTTP %ld %s (gave up after %u attempts in %.1f s)", rq->method,
                                          b->display, show_key(rq), resp->status, code, attempt + 1,
                                          (double) elapsed / 1000);
                        }
                        return -EIO;
                }
                atomic_fetch_add(&b->retries, 1);
                sleep_ms(delay);
        }
        if (resp->status >= 300 && resp->body) {
                xml_text(resp->body, NULL, "Code", resp->code, sizeof(resp->code), NULL);
                xml_text(resp->body, NULL, "Message", resp->message, sizeof(resp->message), NULL);
        }
        return 0;
}

/* Map a non-2xx response to -errno with the detail set. */
static int s3_fail(s3_backend *b, const s3_req *rq, const s3_resp *resp) {
        const char *code = resp->code;
        if (strcmp(code, "NoSuchBucket") == 0 || (resp->status == 404 && !rq->key && !*code)) {
                sk_store_set_detail("bucket %s does not exist at %s://%s (create it first)", b->bucket, b->scheme, b->host);
                return -ENOENT;
        }
        const char *hint = "";
        if (strcmp(code, "SignatureDoesNotMatch") == 0)
                hint = " (wrong credentials: check AWS_SECRET_ACCESS_KEY for this access key)";
        else if (strcmp(code, "InvalidAccessKeyId") == 0)
                hint = " (wrong credentials: the access key AWS_ACCESS_KEY_ID is not known to the server)";
        else if (strcmp(code, "RequestTimeTooSkewed") == 0)
                hint = " (this machine's clock differs too much from the server's)";
        else if (resp->status == 403 && !*code)
                hint = " (access denied; wrong credentials?)";
        sk_store_set_detail("%s %s/%s: HTTP %ld %s%s%s%s", rq->method, b->display, show_key(rq), resp->status,
                  *code ? code : "", *resp->message ? ": " : "", resp->message, hint);
        if (resp->status == 403)
                return -EACCES;
        if (resp->status == 404)
                return -ENOENT;
        return -EIO;
}

static char *object_key(s3_backend *b, const char *name) {
        char *k;
        if (asprintf(&k, "%s%s", b->prefix, name) < 0)
                return NULL;
        return k;
}

/* --- operations --- */

static int put_single(s3_backend *b, const char *key, const void *buf, size_t len) {
        s3_req rq = { .method = "PUT", .key = key, .body = buf, .body_len = len };
        s3_resp resp = { .limit = 1 << 20 };
        int r = s3_request(b, &rq, &resp);
        if (r >= 0 && resp.status / 100 != 2)
                r = s3_fail(b, &rq, &resp);
        resp_done(&resp);
        return r;
}

static void abort_multipart(s3_backend *b, const char *key, const char *upload_id) {
        sk_sigv4_pair q[] = { { "uploadId", upload_id } };
        s3_req rq = { .method = "DELETE", .key = key, .query = q, .n_query = 1 };
        s3_resp resp = { .limit = 1 << 20 };
        char saved[1024];
        snprintf(saved, sizeof(saved), "%s", sk_store_last_detail());  /* keep the cause, not the cleanup's outcome */
        (void) s3_request(b, &rq, &resp);
        resp_done(&resp);
        sk_store_set_detail("%s", saved);
}

static int put_multipart(s3_backend *b, const char *key, const uint8_t *buf, size_t len) {
        uint64_t part = MAX(b->cfg.part_size, MIN_PART_SIZE);
        while ((len + part - 1) / part > MAX_PARTS)
                part *= 2;
        size_t nparts = (len + part - 1) / part;
        char upload_id[512];
        int r;
        {
                sk_sigv4_pair q[] = { { "uploads", NULL } };
                s3_req rq = { .method = "POST", .key = key, .query = q, .n_query = 1 };
                s3_resp resp = { .limit = 1 << 20 };
                r = s3_request(b, &rq, &resp);
                if (r >= 0 && resp.status / 100 != 2)
                        r = s3_fail(b, &rq, &resp);
                if (r >= 0 && !xml_value(resp.body, NULL, "UploadId", upload_id, sizeof(upload_id))) {
                        sk_store_set_detail("POST %s/%s?uploads: no UploadId in the reply", b->display, key);
                        r = -EIO;
                }
                resp_done(&resp);
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
                s3_req rq = { .method = "PUT", .key = key, .query = q, .n_query = 2, .body = buf + off, .body_len = n };
                s3_resp resp = { .limit = 1 << 20 };
                r = s3_request(b, &rq, &resp);
                if (r >= 0 && resp.status / 100 != 2)
                        r = s3_fail(b, &rq, &resp);
                if (r >= 0 && !resp.etag[0]) {
                        sk_store_set_detail("PUT %s/%s part %zu: no ETag in the reply", b->display, key, i + 1);
                        r = -EIO;
                }
                if (r >= 0) {
                        /* the ETag is quoted already; escape nothing else (hex digits) */
                        used += (size_t) snprintf(complete + used, cap - used,
                                                  "<Part><PartNumber>%zu</PartNumber><ETag>%.300s</ETag></Part>", i + 1,
                                                  resp.etag);
                }
                resp_done(&resp);
                if (r < 0) {
                        abort_multipart(b, key, upload_id);
                        return r;
                }
        }
        used += (size_t) snprintf(complete + used, cap - used, "</CompleteMultipartUpload>");
        sk_sigv4_pair q[] = { { "uploadId", upload_id } };
        s3_req rq = { .method = "POST", .key = key, .query = q, .n_query = 1, .body = complete, .body_len = used };
        s3_resp resp = { .limit = 1 << 20 };
        r = s3_request(b, &rq, &resp);
        if (r >= 0 && resp.status / 100 != 2)
                r = s3_fail(b, &rq, &resp);
        else if (r >= 0 && resp.body && strstr(resp.body, "<Error>")) {
                /* S3 may report a failed completion inside a 200 reply */
                xml_text(resp.body, NULL, "Code", resp.code, sizeof(resp.code), NULL);
                xml_text(resp.body, NULL, "Message", resp.message, sizeof(resp.message), NULL);
                resp.status = 500;
                r = s3_fail(b, &rq, &resp);
        }
        resp_done(&resp);
        if (r < 0) {
                abort_multipart(b, key, upload_id);
                return r;
        }
        /* Completion replies of some servers carry no usable ETag; a HEAD
         * confirms the object is there with the full size. */
        s3_req hq = { .method = "HEAD", .key = key };
        s3_resp hr = { .limit = 1 << 20 };
        r = s3_request(b, &hq, &hr);
        if (r >= 0 && hr.status / 100 != 2)
                r = s3_fail(b, &hq, &hr);
        if (r >= 0 && (!hr.have_length || hr.content_length != len)) {
                sk_store_set_detail("PUT %s/%s: multipart upload completed with size %llu, expected %zu", b->display, key,
                          (unsigned long long) hr.content_length, len);
                r = -EIO;
        }
        resp_done(&hr);
        return r;
}

static int s3_put(sk_backend *base, const char *name, const void *buf, size_t len) {
        s3_backend *b = (s3_backend *) base;
        _cleanup_free_ char *key = object_key(b, name);
        if (!key)
                return -ENOMEM;
        sk_store_clear_detail();
        if (len > b->cfg.multipart_threshold)
                return put_multipart(b, key, buf, len);
        return put_single(b, key, buf, len);
}

static int head_key(s3_backend *b, const char *key, uint64_t *ret_size) {
        s3_req rq = { .method = "HEAD", .key = key };
        s3_resp resp = { .limit = 1 << 20 };
        int r = s3_request(b, &rq, &resp);
        if (r >= 0 && resp.status / 100 != 2)
                r = s3_fail(b, &rq, &resp);
        if (r >= 0 && !resp.have_length) {
                sk_store_set_detail("HEAD %s/%s: no Content-Length in the reply", b->display, key);
                r = -EIO;
        }
        if (r >= 0)
                *ret_size = resp.content_length;
        resp_done(&resp);
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

static int get_range(s3_backend *b, const char *key, uint64_t offset, size_t len, void **ret_buf, size_t *ret_len) {
        char range[96];
        uint64_t size;
        int r;
        if (len == 0) {
                r = head_key(b, key, &size);
                return r < 0 ? r : empty_buf(ret_buf, ret_len);
        }
        s3_req rq = { .method = "GET", .key = key };
        if (offset > 0 || len != SIZE_MAX) {
                if (len == SIZE_MAX || offset + len < offset)
                        snprintf(range, sizeof(range), "bytes=%llu-", (unsigned long long) offset);
                else
                        snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long) offset,
                                 (unsigned long long) (offset + len - 1));
                rq.range = range;
        }
        /* a whole-object read is bounded by the largest object (a pack) */
        s3_resp resp = { .limit = (len >= SK_S3_GET_MAX ? SK_S3_GET_MAX : len) + (1 << 16) };
        r = s3_request(b, &rq, &resp);
        if (r < 0) {
                resp_done(&resp);
                return r;
        }
        if (resp.status == 416) {
                /* range starts at or beyond the end: what exists there is nothing */
                resp_done(&resp);
                r = head_key(b, key, &size);
                return r < 0 ? r : empty_buf(ret_buf, ret_len);
        }
        if (resp.status / 100 != 2) {
                r = s3_fail(b, &rq, &resp);
                resp_done(&resp);
                return r;
        }
        if (rq.range && resp.status == 200 && offset > 0) {
                /* server ignored Range: cut the window out ourselves */
                size_t n = offset >= resp.len ? 0 : MIN(resp.len - (size_t) offset, len);
                if (n)
                        memmove(resp.body, resp.body + offset, n);
                resp.len = n;
        }
        if (resp.len > len)
                resp.len = len;
        if (!resp.body) {
                resp_done(&resp);
                return empty_buf(ret_buf, ret_len);
        }
        resp.body[resp.len] = 0;
        *ret_buf = resp.body;
        *ret_len = resp.len;
        return 0;
}

/* Read-ahead for packs. A restore reads the blobs of a pack one after the
 * other, each with its own ranged GET: for small files one request per file.
 * A read of a pack's first blob, or any second read of the same pack, makes
 * the backend fetch the aligned window of SNAPKEEP_S3_READAHEAD bytes around
 * it (default 16 MiB, the default pack size: normally the whole pack) and
 * serve the following reads from memory; other first reads stay exact, so a
 * single-blob read from the middle of a pack costs no extra transfer. At
 * most RA_SLOTS windows are kept (LRU); a thread that needs a window another
 * thread is loading waits for it instead of fetching it again. */
static bool ra_covers(const ra_slot *s, const char *name, uint64_t offset, size_t len) {
        if (!s->name || s->loading || strcmp(s->name, name) != 0 || offset < s->start || offset - s->start > s->len)
                return false;
        /* a window shorter than asked for ends at the end of the pack */
        return len <= s->len - (offset - s->start) || s->len < s->asked;
}

static bool ra_loading(const ra_slot *s, const char *name, uint64_t offset) {
        return s->name && s->loading && strcmp(s->name, name) == 0 && offset >= s->start &&
               offset - s->start < s->asked;
}

/* Was name read before? Records it either way. */
static bool ra_seen(s3_backend *b, const char *name) {
        uint32_t h = 2166136261u;
        for (const char *c = name; *c; c++)
                h = (h ^ (uint8_t) *c) * 16777619u;
        h |= 1;
        for (size_t i = 0; i < RA_SEEN; i++)
                if (b->ra_seen[i] == h)
                        return true;
        b->ra_seen[b->ra_seen_next++ % RA_SEEN] = h;
        return false;
}

static int copy_out(const uint8_t *src, size_t n, void **ret_buf, size_t *ret_len) {
        char *o = malloc(n + 1);
        if (!o)
                return -ENOMEM;
        memcpy(o, src, n);
        o[n] = 0;
        *ret_buf = o;
        *ret_len = n;
        return 0;
}

static int ra_serve(const ra_slot *s, uint64_t offset, size_t len, void **ret_buf, size_t *ret_len) {
        size_t at = (size_t) (offset - s->start);
        return copy_out((const uint8_t *) s->buf + at, MIN(len, s->len - at), ret_buf, ret_len);
}

static int s3_get(sk_backend *base, const char *name, uint64_t offset, size_t len, void **ret_buf, size_t *ret_len) {
        s3_backend *b = (s3_backend *) base;
        _cleanup_free_ char *key = object_key(b, name);
        if (!key)
                return -ENOMEM;
        sk_store_clear_detail();
        if (b->ra_window == 0 || strncmp(name, "data/", 5) != 0 || len == 0 || len >= b->ra_window / 2)
                return get_range(b, key, offset, len, ret_buf, ret_len);

        ra_slot *s = NULL;
        int r;
        pthread_mutex_lock(&b->ra_mu);
        for (;;) {
                bool wait = false;
                for (size_t i = 0; i < RA_SLOTS; i++) {
                        if (ra_covers(&b->ra[i], name, offset, len)) {
                                b->ra[i].stamp = ++b->ra_clock;
                                r = ra_serve(&b->ra[i], offset, len, ret_buf, ret_len);
                                pthread_mutex_unlock(&b->ra_mu);
                                return r;
                        }
                        wait = wait || ra_loading(&b->ra[i], name, offset);
                }
                if (!wait)
                        break;
                pthread_cond_wait(&b->ra_cv, &b->ra_mu);
        }
        /* Windows are aligned, so threads reading the same pack in any order
         * share one. A read of a pack's first blob (a restore starts there)
         * fetches a window at once; any other first read stays exact. */
        uint64_t wstart = offset - offset % b->ra_window;
        /* Ask for half a window more: a pack of the default size ends a
         * little past it (its last blob), and a blob crossing the aligned
         * boundary extends the window. The store returns only what exists. */
        size_t wlen = (size_t) MAX((uint64_t) b->ra_window + b->ra_window / 2, offset + len - wstart);
        bool first_blob = offset < 64 * 1024;
        if (ra_seen(b, name) || first_blob) {
                for (size_t i = 0; i < RA_SLOTS; i++)
                        if (!b->ra[i].loading && (!s || b->ra[i].stamp < s->stamp))
                                s = &b->ra[i];
        }
        if (s) {
                free(s->name);
                free(s->buf);
                *s = (ra_slot) { .name = strdup(name), .start = wstart, .asked = wlen, .loading = true };
                if (!s->name) {
                        s->loading = false;
                        s = NULL;
                }
        }
        pthread_mutex_unlock(&b->ra_mu);
        if (!s)
                return get_range(b, key, offset, len, ret_buf, ret_len);

        void *buf = NULL;
        size_t got = 0;
        r = get_range(b, key, wstart, wlen, &buf, &got);
        pthread_mutex_lock(&b->ra_mu);
        s->loading = false;
        if (r >= 0) {
                s->buf = buf;
                s->len = got;
                s->stamp = ++b->ra_clock;
                r = ra_serve(s, offset, len, ret_buf, ret_len);
        } else {
                free(s->name);
                *s = (ra_slot) { 0 };
        }
        pthread_cond_broadcast(&b->ra_cv);
        pthread_mutex_unlock(&b->ra_mu);
        return r;
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
                if (b->cfg.list_page) {
                        snprintf(page, sizeof(page), "%u", b->cfg.list_page);
                        q[nq++] = (sk_sigv4_pair) { "max-keys", page };
                }
                if (token)
                        q[nq++] = (sk_sigv4_pair) { "continuation-token", token };
                s3_req rq = { .method = "GET", .key = NULL, .query = q, .n_query = nq };
                s3_resp resp = { .limit = LIST_PAGE_MAX };
                r = s3_request(b, &rq, &resp);
                if (r >= 0 && resp.status / 100 != 2)
                        r = s3_fail(b, &rq, &resp);
                if (r < 0) {
                        resp_done(&resp);
                        return r;
                }
                /* Parse the whole page before calling back: the callbacks make
                 * requests of their own and must find a free handle. */
                list_entry *v = NULL;
                size_t n = 0, cap = 0;
                const char *p = resp.body ? resp.body : "", *pend = p + resp.len;
                for (;;) {
                        const char *c = xml_find(p, pend, "<Contents>");
                        if (!c)
                                break;
                        const char *e = xml_find(c, pend, "</Contents>");
                        if (!e) {
                                r = -EIO;
                                break;
                        }
                        char keybuf[2048], sizebuf[32];
                        if (!xml_value(c, e, "Key", keybuf, sizeof(keybuf)) ||
                            !xml_value(c, e, "Size", sizebuf, sizeof(sizebuf))) {
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
                        xml_text(resp.body, NULL, "IsTruncated", trunc, sizeof(trunc), NULL);
                        xml_value(resp.body, NULL, "NextContinuationToken", next, sizeof(next));
                } else if (r == -EIO)
                        sk_store_set_detail("GET %s (list %s): malformed ListObjectsV2 reply", b->display, prefix);
                resp_done(&resp);
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
                        sk_store_set_detail("GET %s (list %s): truncated listing without a continuation token", b->display,
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
        s3_req rq = { .method = "DELETE", .key = key };
        s3_resp resp = { .limit = 1 << 20 };
        int r = s3_request(b, &rq, &resp);
        if (r >= 0 && resp.status / 100 != 2)
                r = s3_fail(b, &rq, &resp);
        resp_done(&resp);
        return r;
}

static void s3_free(sk_backend *base) {
        s3_backend *b = (s3_backend *) base;
        if (!b)
                return;
        for (size_t i = 0; i < b->n_idle; i++)
                conn_free(b->idle[i]);
        free(b->idle);
        for (size_t i = 0; i < RA_SLOTS; i++) {
                free(b->ra[i].name);
                free(b->ra[i].buf);
        }
        pthread_mutex_destroy(&b->ra_mu);
        pthread_cond_destroy(&b->ra_cv);
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b->scheme);
        free(b->host);
        free(b->bucket);
        free(b->prefix);
        free(b->display);
        sk_s3_config_done(&b->cfg);
        free(b);
}

static const sk_backend_ops s3_ops = {
        .put = s3_put, .get = s3_get, .head = s3_head, .list = s3_list, .del = s3_del, .free = s3_free,
};

int sk_backend_s3_stats(sk_backend *base, sk_s3_stats *ret) {
        base = sk_backend_cache_inner(base);
        if (!base || base->ops != &s3_ops)
                return -EINVAL;
        s3_backend *b = (s3_backend *) base;
        *ret = (sk_s3_stats) {
                .requests = atomic_load(&b->requests), .retries = atomic_load(&b->retries),
                .bytes_up = atomic_load(&b->bytes_up), .bytes_down = atomic_load(&b->bytes_down),
        };
        return 0;
}

static bool valid_bucket(const char *s) {
        size_t n = strlen(s);
        if (n < 3 || n > 63)
                return false;
        for (const char *c = s; *c; c++)
                if (!(('a' <= *c && *c <= 'z') || ('0' <= *c && *c <= '9') || *c == '-' || *c == '.' ||
                      ('A' <= *c && *c <= 'Z') || *c == '_'))
                        return false;
        return true;
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

int sk_backend_s3_open_config(const char *url, const sk_s3_config *cfg, int create, sk_backend **ret) {
        sk_store_clear_detail();
        if (!url || strncmp(url, "s3://", 5) != 0)
                return -EINVAL;
        if (pthread_once(&curl_once, curl_init) != 0 || curl_init_result != CURLE_OK) {
                sk_store_set_detail("libcurl initialisation failed");
                return -EIO;
        }
        const char *bs = url + 5, *slash = strchr(bs, '/');
        _cleanup_free_ char *bucket = slash ? strndup(bs, (size_t) (slash - bs)) : strdup(bs);
        if (!bucket)
                return -ENOMEM;
        if (!valid_bucket(bucket)) {
                sk_store_set_detail("%s: \"%s\" is not a valid bucket name", url, bucket);
                return -EINVAL;
        }
        /* prefix: collapse to "a/b/" with no empty, "." or ".." components */
        const char *p = slash ? slash + 1 : "";
        size_t pl = strlen(p);
        _cleanup_free_ char *prefix = malloc(pl + 2);
        if (!prefix)
                return -ENOMEM;
        char *o = prefix;
        while (*p) {
                const char *e = strchrnul(p, '/');
                size_t n = (size_t) (e - p);
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
                        sk_store_set_detail("%s: \".\" and \"..\" are not allowed in the prefix", url);
                        return -EINVAL;
                }
                if (n) {
                        memcpy(o, p, n);
                        o += n;
                        *o++ = '/';
                }
                p = *e ? e + 1 : e;
        }
        *o = 0;

        const char *ep = cfg->endpoint, *sep = strstr(ep, "://");
        if (!sep || (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)) {
                sk_store_set_detail("S3 endpoint %s: expected http://host[:port] or https://host[:port]", ep);
                return -EINVAL;
        }
        const char *hs = sep + 3;
        size_t hl = strcspn(hs, "/?#");
        if (hl == 0 || (hs[hl] && strspn(hs + hl, "/") != strlen(hs + hl))) {
                sk_store_set_detail("S3 endpoint %s: expected http://host[:port] with no path", ep);
                return -EINVAL;
        }
        if (cfg->connections < 1 || !cfg->access_key || !cfg->secret_key || !cfg->region)
                return -EINVAL;

        s3_backend *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->base.ops = &s3_ops;
        b->base.scheme = "s3";
        pthread_mutex_init(&b->mu, NULL);
        pthread_mutex_init(&b->ra_mu, NULL);
        pthread_cond_init(&b->ra_cv, NULL);
        b->ra_window = (size_t) cfg->readahead;
        pthread_cond_init(&b->cv, NULL);
        b->scheme = strndup(ep, (size_t) (sep - ep));
        b->host = strndup(hs, hl);
        b->bucket = TAKE_PTR(bucket);
        b->prefix = TAKE_PTR(prefix);
        b->cfg = *cfg;
        b->cfg.endpoint = strdup(cfg->endpoint);
        b->cfg.region = strdup(cfg->region);
        b->cfg.access_key = strdup(cfg->access_key);
        b->cfg.secret_key = strdup(cfg->secret_key);
        b->cfg.session_token = dup_or_null(cfg->session_token);
        b->idle = calloc(cfg->connections, sizeof(s3_conn *));
        /* messages print display + "/" + full key */
        if (asprintf(&b->display, "s3://%s", b->bucket) < 0)
                b->display = NULL;
        if (!b->scheme || !b->host || !b->cfg.endpoint || !b->cfg.region || !b->cfg.access_key ||
            !b->cfg.secret_key || (cfg->session_token && !b->cfg.session_token) || !b->idle || !b->display) {
                s3_free(&b->base);
                return -ENOMEM;
        }

        /* Before creating a repository, one listing request proves the
         * bucket exists and the credentials and signature are accepted, with
         * an error body naming the cause, so that nothing is written on a
         * bad start. Opening an existing repository skips it: its first
         * request (reading the config) fails with the same error body. */
        if (create) {
                sk_sigv4_pair q[] = { { "list-type", "2" }, { "max-keys", "1" }, { "prefix", b->prefix } };
                s3_req rq = { .method = "GET", .key = NULL, .query = q, .n_query = 3 };
                s3_resp resp = { .limit = 1 << 20 };
                int r = s3_request(b, &rq, &resp);
                if (r >= 0 && resp.status / 100 != 2)
                        r = s3_fail(b, &rq, &resp);
                resp_done(&resp);
                if (r < 0) {
                        s3_free(&b->base);
                        return r;
                }
        }
        *ret = &b->base;
        return 0;
}

int sk_backend_s3_open(const char *url, int create, const sk_store_options *opts, sk_backend **ret) {
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
        _cleanup_free_ char *cache = sk_backend_cache_default_dir(opts);
        if (!cache) {
                *ret = b;
                return 0;
        }
        return sk_backend_cache_wrap(b, cache, ret);
}
