/* A small streaming JSON writer for the CLI's --json output.
 *
 * Strings from the backup engine are byte strings that need not be UTF-8
 * (engine.h). sk_json_bytes() writes valid UTF-8 sequences as they are and
 * every byte that is not part of one as the character of the same value
 * (Latin-1, U+0080..U+00FF); since that mapping is ambiguous, sk_json_path() additionally
 * writes a sibling field "<key>_base64" holding the exact bytes whenever the
 * value is not valid UTF-8. Consumers that need exact names use that field
 * when it is present (documented in snapkeep(1), section JSON OUTPUT).
 *
 * Strings are encoded by jansson. The writer tracks nesting to place commas;
 * it does not fail mid-document: output goes to a stdio stream whose errors are
 * checked at exit, and a string it could not encode (out of memory) is written
 * as "" with error set, which the CLI also checks at exit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define SK_JSON_MAX_DEPTH 32

typedef struct sk_json {
        FILE *f;
        int depth;
        bool need_comma[SK_JSON_MAX_DEPTH];
        bool after_key;
        bool pretty;
        int error;              /* -ENOMEM if a string was lost; 0 otherwise */
} sk_json;

#define SK_JSON_INIT(stream) ((sk_json){ .f = (stream) })

void sk_json_begin_object(sk_json *j);
void sk_json_end_object(sk_json *j);
void sk_json_begin_array(sk_json *j);
void sk_json_end_array(sk_json *j);
/* Object key; must be followed by exactly one value. key is ASCII. */
void sk_json_key(sk_json *j, const char *key);

/* Values. */
void sk_json_string(sk_json *j, const char *s);         /* NUL-terminated bytes */
void sk_json_bytes(sk_json *j, const void *s, size_t n); /* any bytes, escaped as above */
void sk_json_u64(sk_json *j, uint64_t v);
void sk_json_i64(sk_json *j, int64_t v);
void sk_json_double(sk_json *j, double v);
void sk_json_bool(sk_json *j, bool v);
void sk_json_null(sk_json *j);
/* RFC 3339 UTC with nanoseconds, e.g. "2026-11-21T14:36:50.962807943Z". */
void sk_json_time(sk_json *j, const struct timespec *ts);

/* key + string value; the key_base64 sibling is added for non-UTF-8 values.
 * NULL value writes null. */
void sk_json_path(sk_json *j, const char *key, const char *value);
/* Shorthands: key then value. */
void sk_json_kv_str(sk_json *j, const char *key, const char *value);
void sk_json_kv_u64(sk_json *j, const char *key, uint64_t v);
void sk_json_kv_i64(sk_json *j, const char *key, int64_t v);
void sk_json_kv_bool(sk_json *j, const char *key, bool v);
void sk_json_kv_double(sk_json *j, const char *key, double v);

/* UTF-8 helpers shared with the text output live in common/utf8.h. */
#include "common/utf8.h"
/* Base64 (RFC 4648, padded) of n bytes into a malloc'd string; NULL on OOM. */
char *sk_base64(const void *s, size_t n);
/* RFC 3339 with ns into buf (at least 40 bytes). */
void sk_format_time(char *buf, size_t size, const struct timespec *ts);
