/* AWS Signature Version 4; see sigv4.h. */
#include "store/sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/macro.h"

static bool unreserved(unsigned char c) {
        return ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' ||
               c == '.' || c == '~';
}

int sk_sigv4_uri_encode(const char *s, bool keep_slash, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *out = malloc(n * 3 + 1), *o = out;
        if (!out)
                return -ENOMEM;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (unreserved(*p) || (keep_slash && *p == '/'))
                        *o++ = (char) *p;
                else {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                }
        }
        *o = 0;
        *ret = out;
        return 0;
}

typedef struct enc_pair {
        char *name, *value;
} enc_pair;

static int cmp_enc_pair(const void *a, const void *b) {
        const enc_pair *x = a, *y = b;
        int c = strcmp(x->name, y->name);
        return c ? c : strcmp(x->value, y->value);
}

int sk_sigv4_canonical_query(const sk_sigv4_pair *params, size_t n, char **ret) {
        enc_pair *v = calloc(n ? n : 1, sizeof(*v));
        size_t total = 1;
        int r = 0;
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = sk_sigv4_uri_encode(params[i].name, false, &v[i].name);
                if (r >= 0)
                        r = sk_sigv4_uri_encode(params[i].value ? params[i].value : "", false, &v[i].value);
                if (r >= 0)
                        total += strlen(v[i].name) + strlen(v[i].value) + 2;
        }
        char *out = NULL;
        if (r >= 0) {
                qsort(v, n, sizeof(*v), cmp_enc_pair);
                out = malloc(total);
                if (!out)
                        r = -ENOMEM;
        }
        if (r >= 0) {
                char *o = out;
                for (size_t i = 0; i < n; i++)
                        o += sprintf(o, "%s%s=%s", i ? "&" : "", v[i].name, v[i].value);
                *o = 0;
                *ret = out;
        }
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].value);
        }
        free(v);
        return r;
}

void sk_sigv4_sha256_hex(const void *buf, size_t len, char out[65]) {
        static const char hex[] = "0123456789abcdef";
        uint8_t md[SHA256_DIGEST_LENGTH];
        SHA256(buf, len, md);
        for (size_t i = 0; i < sizeof(md); i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 15];
        }
        out[64] = 0;
}

static int hmac(const uint8_t *key, size_t keylen, const void *msg, size_t len, uint8_t out[32]) {
        unsigned outlen = 32;
        if (!HMAC(EVP_sha256(), key, (int) keylen, msg, len, out, &outlen) || outlen != 32)
                return -EIO;
        return 0;
}

int sk_sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
                         uint8_t out[32]) {
        size_t sl = strlen(secret);
        uint8_t k[32];
        char *first = malloc(sl + 5);
        int r;
        if (!first)
                return -ENOMEM;
        memcpy(first, "AWS4", 4);
        memcpy(first + 4, secret, sl + 1);
        r = hmac((const uint8_t *) first, sl + 4, date, strlen(date), k);
        OPENSSL_cleanse(first, sl + 4);
        free(first);
        if (r >= 0)
                r = hmac(k, 32, region, strlen(region), k);
        if (r >= 0)
                r = hmac(k, 32, service, strlen(service), k);
        if (r >= 0)
                r = hmac(k, 32, "aws4_request", 12, out);
        OPENSSL_cleanse(k, sizeof(k));
        return r;
}

typedef struct canon_header {
        char *name;     /* lowercase */
        char *value;    /* trimmed, inner runs of spaces collapsed */
} canon_header;

static int cmp_header(const void *a, const void *b) {
        return strcmp(((const canon_header *) a)->name, ((const canon_header *) b)->name);
}

static char *trim_value(const char *v) {
        char *out = malloc(strlen(v) + 1), *o = out;
        if (!out)
                return NULL;
        while (*v == ' ' || *v == '\t')
                v++;
        bool space = false;
        for (; *v; v++) {
                if (*v == ' ' || *v == '\t') {
                        space = true;
                        continue;
                }
                if (space && o > out)
                        *o++ = ' ';
                space = false;
                *o++ = *v;
        }
        *o = 0;
        return out;
}

static bool valid_amz_date(const char *d) {
        if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
                return false;
        for (int i = 0; i < 15; i++)
                if (i != 8 && !isdigit((unsigned char) d[i]))
                        return false;
        return true;
}

int sk_sigv4_canonical_request(const sk_sigv4_request *rq, char **ret, char **ret_signed_headers) {
        if (!valid_amz_date(rq->amz_date) || !rq->method || !rq->canonical_uri || !rq->payload_hash)
                return -EINVAL;
        canon_header *h = calloc(rq->n_headers ? rq->n_headers : 1, sizeof(*h));
        size_t total = strlen(rq->method) + strlen(rq->canonical_uri) +
                       strlen(rq->canonical_query ? rq->canonical_query : "") + strlen(rq->payload_hash) + 16;
        size_t signed_len = 1;
        int r = 0;
        if (!h)
                return -ENOMEM;
        for (size_t i = 0; i < rq->n_headers && r >= 0; i++) {
                const char *name = rq->headers[i].name, *value = rq->headers[i].value ? rq->headers[i].value : "";
                if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") || !*name) {
                        r = -EINVAL;
                        break;
                }
                h[i].name = strdup(name);
                h[i].value = trim_value(value);
                if (!h[i].name || !h[i].value) {
                        r = -ENOMEM;
                        break;
                }
                for (char *c = h[i].name; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
                total += 2 * strlen(h[i].name) + strlen(h[i].value) + 3;
                signed_len += strlen(h[i].name) + 1;
        }
        char *out = NULL, *sh = NULL;
        if (r >= 0) {
                qsort(h, rq->n_headers, sizeof(*h), cmp_header);
                out = malloc(total);
                sh = malloc(signed_len);
                if (!out || !sh)
                        r = -ENOMEM;
        }
        if (r >= 0) {
                char *s = sh;
                *s = 0;
                for (size_t i = 0; i < rq->n_headers; i++)
                        s += sprintf(s, "%s%s", i ? ";" : "", h[i].name);
                char *o = out;
                o += sprintf(o, "%s\n%s\n%s\n", rq->method, rq->canonical_uri,
                             rq->canonical_query ? rq->canonical_query : "");
                for (size_t i = 0; i < rq->n_headers; i++)
                        o += sprintf(o, "%s:%s\n", h[i].name, h[i].value);
                sprintf(o, "\n%s\n%s", sh, rq->payload_hash);
                *ret = TAKE_PTR(out);
                if (ret_signed_headers)
                        *ret_signed_headers = TAKE_PTR(sh);
        }
        for (size_t i = 0; i < rq->n_headers; i++) {
                free(h[i].name);
                free(h[i].value);
        }
        free(h);
        free(out);
        free(sh);
        return r;
}

int sk_sigv4_string_to_sign(const sk_sigv4_request *rq, const char *canonical_request, char **ret) {
        char hash[65];
        if (!valid_amz_date(rq->amz_date))
                return -EINVAL;
        sk_sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
        if (asprintf(ret, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", rq->amz_date, rq->amz_date,
                     rq->region, rq->service, hash) < 0)
                return -ENOMEM;
        return 0;
}

int sk_sigv4_authorization(const sk_sigv4_request *rq, const char *access_key, const char *secret, char **ret,
                           char **ret_signature) {
        _cleanup_free_ char *creq = NULL, *signed_headers = NULL, *sts = NULL;
        uint8_t key[32], sig[32];
        char date[9], sighex[65];
        static const char hex[] = "0123456789abcdef";
        int r = sk_sigv4_canonical_request(rq, &creq, &signed_headers);
        if (r < 0)
                return r;
        r = sk_sigv4_string_to_sign(rq, creq, &sts);
        if (r < 0)
                return r;
        memcpy(date, rq->amz_date, 8);
        date[8] = 0;
        r = sk_sigv4_signing_key(secret, date, rq->region, rq->service, key);
        if (r >= 0)
                r = hmac(key, sizeof(key), sts, strlen(sts), sig);
        OPENSSL_cleanse(key, sizeof(key));
        if (r < 0)
                return r;
        for (size_t i = 0; i < 32; i++) {
                sighex[2 * i] = hex[sig[i] >> 4];
                sighex[2 * i + 1] = hex[sig[i] & 15];
        }
        sighex[64] = 0;
        _cleanup_free_ char *auth = NULL;
        if (asprintf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                     access_key, date, rq->region, rq->service, signed_headers, sighex) < 0) {
                auth = NULL;
                return -ENOMEM;
        }
        if (ret_signature) {
                *ret_signature = strdup(sighex);
                if (!*ret_signature)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(auth);
        return 0;
}
