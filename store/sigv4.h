/* AWS Signature Version 4 (request signing for S3-compatible stores).
 *
 * DESIGN: pure functions over strings, no I/O and no libcurl, so that the
 * signer can be unit-tested against the published AWS examples byte for
 * byte. The S3 backend builds the canonical query here and sends exactly
 * that string on the wire: what is signed is what is sent. HMAC and SHA-256
 * come from OpenSSL (libcrypto).
 *
 * All returned strings are owned by the caller (free()). Out of memory ->
 * -ENOMEM. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One query parameter or header. For query parameters, value NULL or ""
 * both produce "key=" (S3 sub-resources such as "uploads"). */
typedef struct sk_sigv4_pair {
        const char *name;
        const char *value;
} sk_sigv4_pair;

/* RFC 3986 percent-encoding: A-Z a-z 0-9 - _ . ~ are kept, every other byte
 * becomes %XX (uppercase hex; a space is %20, never '+'). With keep_slash,
 * '/' is kept too (object key paths). */
int sk_sigv4_uri_encode(const char *s, bool keep_slash, char **ret);

/* Canonical query string: each name and value encoded, pairs sorted by
 * encoded name then value, joined as "a=1&b=&c=3". n == 0 -> "". */
int sk_sigv4_canonical_query(const sk_sigv4_pair *params, size_t n, char **ret);

/* Lowercase hex SHA-256 of buf (65 bytes with NUL). */
void sk_sigv4_sha256_hex(const void *buf, size_t len, char out[65]);

/* The signing key: HMAC chain over "AWS4"+secret, date (YYYYMMDD), region,
 * service, "aws4_request". Returns 0 or -EIO if libcrypto fails. */
int sk_sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
                         uint8_t out[32]);

typedef struct sk_sigv4_request {
        const char *method;             /* "GET", "PUT", ... */
        const char *canonical_uri;      /* already encoded path, e.g. "/bucket/key" */
        const char *canonical_query;    /* from sk_sigv4_canonical_query, "" if none */
        const sk_sigv4_pair *headers;   /* every header to sign; names any case */
        size_t n_headers;
        const char *payload_hash;       /* hex SHA-256 of the body or "UNSIGNED-PAYLOAD" */
        const char *amz_date;           /* "YYYYMMDDTHHMMSSZ", also sent as x-amz-date */
        const char *region;
        const char *service;            /* "s3" */
} sk_sigv4_request;

/* The canonical request text (method, uri, query, sorted lowercase headers
 * with trimmed values, signed header list, payload hash). ret_signed_headers
 * (may be NULL) gets "host;range;x-amz-date". -EINVAL on a malformed
 * amz_date or a header name/value containing a newline. */
int sk_sigv4_canonical_request(const sk_sigv4_request *rq, char **ret, char **ret_signed_headers);

/* The string to sign for a canonical request. */
int sk_sigv4_string_to_sign(const sk_sigv4_request *rq, const char *canonical_request, char **ret);

/* The complete Authorization header value ("AWS4-HMAC-SHA256 Credential=…,
 * SignedHeaders=…, Signature=…"). ret_signature (may be NULL) gets the 64
 * hex digits alone. The secret is never copied into the result. */
int sk_sigv4_authorization(const sk_sigv4_request *rq, const char *access_key, const char *secret,
                           char **ret, char **ret_signature);
