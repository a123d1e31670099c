/* S3 request machinery; see s3-internal.h.
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
 * request limit.
 *
 * Hostile servers: a response body is bounded by what the caller asked for
 * (sk_s3_resp.limit), never by the server's Content-Length; XML values that
 * do not fit their buffer are refused, not cut. */
#include "store/s3-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/rand.h>

#include "common/macro.h"

/* --- handle pool --- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;
static void curl_init(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sk_s3_http_global_init(void) {
        if (pthread_once(&curl_once, curl_init) != 0 || curl_init_result != CURLE_OK) {
                sk_store_set_detail("libcurl initialisation failed");
                return -EIO;
        }
        return 0;
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

int sk_s3_http_init(sk_s3_http *b, char *bucket, const sk_s3_config *cfg) {
        pthread_mutex_init(&b->mu, NULL);
        pthread_cond_init(&b->cv, NULL);
        b->bucket = bucket;
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
        b->scheme = strndup(ep, (size_t) (sep - ep));
        b->host = strndup(hs, hl);
        b->cfg = *cfg;
        b->cfg.endpoint = strdup(cfg->endpoint);
        b->cfg.region = strdup(cfg->region);
        b->cfg.access_key = strdup(cfg->access_key);
        b->cfg.secret_key = strdup(cfg->secret_key);
        b->cfg.session_token = dup_or_null(cfg->session_token);
        b->idle = calloc(cfg->connections, sizeof(sk_s3_conn *));
        if (asprintf(&b->display, "s3://%s", b->bucket) < 0)
                b->display = NULL;
        if (!b->scheme || !b->host || !b->cfg.endpoint || !b->cfg.region || !b->cfg.access_key ||
            !b->cfg.secret_key || (cfg->session_token && !b->cfg.session_token) || !b->idle || !b->display)
                return -ENOMEM;
        return 0;
}

static sk_s3_conn *handle_get(sk_s3_http *b) {
        sk_s3_conn *h = NULL;
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

static void conn_free(sk_s3_conn *c) {
        curl_easy_cleanup(c->h);
        free(c);
}

static void handle_put(sk_s3_http *b, sk_s3_conn *h, bool broken) {
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

void sk_s3_http_done(sk_s3_http *b) {
        for (size_t i = 0; i < b->n_idle; i++)
                conn_free(b->idle[i]);
        free(b->idle);
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b->scheme);
        free(b->host);
        free(b->bucket);
        free(b->display);
        sk_s3_config_done(&b->cfg);
}

/* --- one request --- */

void sk_s3_resp_done(sk_s3_resp *r) {
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
}

/* The body buffer grows with the bytes that actually arrive, never beyond
 * limit + 1 (what the caller asked for plus slack): a Content-Length is only
 * a hint, used to size the buffer when it is within the limit, and a body
 * without one (chunked) is bounded the same way. */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata) {
        sk_s3_resp *r = userdata;
        size_t n = size * nmemb;
        if (r->into && !r->body_seen) {
                /* the status of the response whose body this is, from curl
                 * (a header line is the server's to choose) */
                long code = 0;
                r->body_seen = true;
                r->partial = r->conn && curl_easy_getinfo(r->conn->h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
                             code == 206;
        }
        if (r->into && r->partial) {
                /* the caller's buffer, filled again for every span: no fresh
                 * pages to fault in, no growing. Bytes past it are dropped,
                 * up to the slack a get allows (limit), then refused. */
                if (n > r->limit - r->len) {
                        r->too_large = true;
                        return 0;
                }
                if (r->len < r->into_cap)
                        memcpy(r->into + r->len, data, MIN(n, r->into_cap - r->len));
                r->len += n;
                return n;
        }
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
        sk_s3_resp *r = userdata;
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
                char *v = sk_s3_trim(line + 5);
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
const char *sk_s3_xml_find(const char *p, const char *end, const char *needle) {
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
        const char *s = sk_s3_xml_find(p, end, open);
        if (!s)
                return false;
        s += strlen(open);
        const char *e = sk_s3_xml_find(s, end, close);
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

bool sk_s3_xml_text(const char *p, const char *end, const char *tag, char *out, size_t outsz, const char **ret_after) {
        return xml_text_ex(p, end, tag, out, outsz, ret_after, false);
}

bool sk_s3_xml_value(const char *p, const char *end, const char *tag, char *out, size_t outsz) {
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

static const char *show_key(const sk_s3_req *rq) {
        return rq->key ? rq->key : "";
}

/* Build URL and canonical URI for rq. */
static int build_target(sk_s3_http *b, const sk_s3_req *rq, const char *query, char **ret_url, char **ret_uri,
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
        ((sk_s3_conn *) userdata)->fd = fd;
        return CURL_SOCKOPT_OK;
}

static int perform_once(sk_s3_http *b, sk_s3_conn *conn, const sk_s3_req *rq, const char *url, const char *uri,
                        const char *host, const char *query, const char *payload_hash, sk_s3_resp *resp,
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

int sk_s3_request(sk_s3_http *b, const sk_s3_req *rq, sk_s3_resp *resp) {
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
                sk_s3_conn *h = handle_get(b);
                if (!h)
                        return -ENOMEM;
                CURLcode cc = CURLE_OK;
                resp->len = 0;
                resp->status = 0;
                resp->have_length = false;
                resp->too_large = false;
                resp->partial = resp->body_seen = false;
                if (resp->body)
                        resp->body[0] = 0;      /* not a failed attempt's error text */
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
                                        sk_s3_xml_text(resp->body, NULL, "Code", code, sizeof(code), NULL);
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
                sk_s3_xml_text(resp->body, NULL, "Code", resp->code, sizeof(resp->code), NULL);
                sk_s3_xml_text(resp->body, NULL, "Message", resp->message, sizeof(resp->message), NULL);
        }
        return 0;
}

int sk_s3_fail(sk_s3_http *b, const sk_s3_req *rq, const sk_s3_resp *resp) {
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

int sk_s3_request_ok(sk_s3_http *b, const sk_s3_req *rq, sk_s3_resp *resp) {
        int r = sk_s3_request(b, rq, resp);
        if (r >= 0 && resp->status / 100 != 2)
                r = sk_s3_fail(b, rq, resp);
        return r;
}
