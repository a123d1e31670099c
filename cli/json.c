#include "cli/json.h"
#include "common/utf8.h"

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

static void write_string(sk_json *j, const void *p, size_t n) {
        const unsigned char *s = p;
        fputc('"', j->f);
        while (n > 0) {
                size_t l = sk_utf8_seq_len(s, n);
                if (l == 0) {
                        /* Not UTF-8: the byte as a Latin-1 code point. */
                        fprintf(j->f, "\\u%04x", s[0]);
                        l = 1;
                } else if (l == 1) {
                        unsigned char c = s[0];
                        switch (c) {
                        case '"': fputs("\\\"", j->f); break;
                        case '\\': fputs("\\\\", j->f); break;
                        case '\n': fputs("\\n", j->f); break;
                        case '\t': fputs("\\t", j->f); break;
                        case '\r': fputs("\\r", j->f); break;
                        default:
                                if (c < 0x20 || c == 0x7f)
                                        fprintf(j->f, "\\u%04x", c);
                                else
                                        fputc(c, j->f);
                        }
                } else
                        fwrite(s, 1, l, j->f);
                s += l;
                n -= l;
        }
        fputc('"', j->f);
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
