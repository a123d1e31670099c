#include "cli/json.h"
#include "common/macro.h"
#include "common/utf8.h"

#include <jansson.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void before_value(sk_json *j) {
        if (j->after_key) {
                j->after_key = false;
                return;
        }
        if (j->depth > 0 && j->depth <= SK_JSON_MAX_DEPTH) {
                if (j->need_comma[j->depth - 1])
                        fputc(',', j->f);
                j->need_comma[j->depth - 1] = true;
        }
}

static void open_(sk_json *j, char c) {
        before_value(j);
        fputc(c, j->f);
        if (j->depth < SK_JSON_MAX_DEPTH)
                j->need_comma[j->depth] = false;
        j->depth++;
}

static void close_(sk_json *j, char c) {
        j->depth--;
        fputc(c, j->f);
        if (j->depth == 0)
                fputc('\n', j->f);
}

void sk_json_begin_object(sk_json *j) { open_(j, '{'); }
void sk_json_end_object(sk_json *j) { close_(j, '}'); }
void sk_json_begin_array(sk_json *j) { open_(j, '['); }
void sk_json_end_array(sk_json *j) { close_(j, ']'); }

static void write_string(sk_json *j, const void *p, size_t n);

void sk_json_key(sk_json *j, const char *key) {
        before_value(j);
        write_string(j, key, strlen(key));
        fputc(':', j->f);
        j->after_key = true;
}

/* jansson encodes the string; it takes only valid UTF-8, so a byte that is not
 * part of a valid sequence is first turned into the code point of the same
 * value (Latin-1), which jansson then writes as that character. The mapping is
 * ambiguous; sk_json_path() adds the exact bytes as "<key>_base64". */
static void write_string(sk_json *j, const void *p, size_t n) {
        const unsigned char *s = p;
        size_t bad = 0;
        for (size_t i = 0; i < n;) {
                size_t l = sk_utf8_seq_len(s + i, n - i);
                bad += l == 0;
                i += l ? l : 1;
        }
        _cleanup_free_ char *copy = NULL;
        const char *text = p;
        size_t len = n;
        if (bad) {
                /* each bad byte (>= 0x80) becomes two bytes of UTF-8 */
                copy = malloc(n + bad);
                if (!copy) {
                        j->error = -ENOMEM;     /* reported at exit; the output stays valid JSON */
                        fputs("\"\"", j->f);
                        return;
                }
                len = 0;
                for (size_t i = 0; i < n;) {
                        size_t l = sk_utf8_seq_len(s + i, n - i);
                        if (l == 0) {
                                copy[len++] = (char) (0xc0 | s[i] >> 6);
                                copy[len++] = (char) (0x80 | (s[i] & 0x3f));
                                i++;
                        } else {
                                memcpy(copy + len, s + i, l);
                                len += l;
                                i += l;
                        }
                }
                text = copy;
        }
        json_t *v = json_stringn_nocheck(text, len);
        if (!v || json_dumpf(v, j->f, JSON_ENCODE_ANY) < 0) {
                j->error = -ENOMEM;
                fputs("\"\"", j->f);
        }
        json_decref(v);
}

void sk_json_bytes(sk_json *j, const void *p, size_t n) {
        before_value(j);
        write_string(j, p, n);
}

void sk_json_string(sk_json *j, const char *s) {
        if (!s) {
                sk_json_null(j);
                return;
        }
        sk_json_bytes(j, s, strlen(s));
}

void sk_json_u64(sk_json *j, uint64_t v) {
        before_value(j);
        fprintf(j->f, "%" PRIu64, v);
}

void sk_json_i64(sk_json *j, int64_t v) {
        before_value(j);
        fprintf(j->f, "%" PRId64, v);
}

void sk_json_double(sk_json *j, double v) {
        before_value(j);
        if (isfinite(v))
                fprintf(j->f, "%.6g", v);
        else
                fputs("null", j->f);
}

void sk_json_bool(sk_json *j, bool v) {
        before_value(j);
        fputs(v ? "true" : "false", j->f);
}

void sk_json_null(sk_json *j) {
        before_value(j);
        fputs("null", j->f);
}

void sk_format_time(char *buf, size_t size, const struct timespec *ts) {
        struct tm tm;
        time_t t = ts->tv_sec;
        if (!gmtime_r(&t, &tm)) {
                snprintf(buf, size, "invalid-time");
                return;
        }
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (long) ts->tv_nsec);
}

void sk_json_time(sk_json *j, const struct timespec *ts) {
        char buf[64];
        sk_format_time(buf, sizeof(buf), ts);
        sk_json_string(j, buf);
}

char *sk_base64(const void *p, size_t n) {
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *s = p;
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) s[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) s[i + 1] << 8;
                if (i + 2 < n)
                        v |= s[i + 2];
                *o++ = tbl[(v >> 18) & 63];
                *o++ = tbl[(v >> 12) & 63];
                *o++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
                *o++ = i + 2 < n ? tbl[v & 63] : '=';
        }
        *o = 0;
        return out;
}

void sk_json_path(sk_json *j, const char *key, const char *value) {
        sk_json_key(j, key);
        if (!value) {
                sk_json_null(j);
                return;
        }
        size_t n = strlen(value);
        sk_json_bytes(j, value, n);
        if (!sk_utf8_valid(value, n)) {
                char k[128];
                char *b = sk_base64(value, n);
                snprintf(k, sizeof(k), "%s_base64", key);
                sk_json_key(j, k);
                if (b)
                        sk_json_string(j, b);
                else
                        sk_json_null(j);
                free(b);
        }
}

void sk_json_kv_str(sk_json *j, const char *key, const char *value) {
        sk_json_key(j, key);
        sk_json_string(j, value);
}
void sk_json_kv_u64(sk_json *j, const char *key, uint64_t v) {
        sk_json_key(j, key);
        sk_json_u64(j, v);
}
void sk_json_kv_i64(sk_json *j, const char *key, int64_t v) {
        sk_json_key(j, key);
        sk_json_i64(j, v);
}
void sk_json_kv_bool(sk_json *j, const char *key, bool v) {
        sk_json_key(j, key);
        sk_json_bool(j, v);
}
void sk_json_kv_double(sk_json *j, const char *key, double v) {
        sk_json_key(j, key);
        sk_json_double(j, v);
}
