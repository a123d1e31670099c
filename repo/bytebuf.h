/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to repo/: the little-endian byte writer and bounds-checked reader
 * shared by the tree codec (tree.c) and the manifest codec (manifest-codec.c).
 * A writer that fails to grow sets oom and ignores later writes; a reader that
 * runs past its end sets bad and returns zeros, so a decoder checks once at the
 * end instead of after every field. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- writer --------------------------------------------------------------------- */

typedef struct wbuf {
        uint8_t *p;
        size_t len, cap;
        bool oom;
} wbuf;

static inline void w_reserve(wbuf *w, size_t n) {
        if (w->oom)
                return;
        if (w->len + n <= w->cap)
                return;
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n)
                cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
                w->oom = true;
                return;
        }
        w->p = p;
        w->cap = cap;
}

static inline void w_bytes(wbuf *w, const void *d, size_t n) {
        w_reserve(w, n);
        if (w->oom || n == 0)
                return;
        memcpy(w->p + w->len, d, n);
        w->len += n;
}

static inline void w_u8(wbuf *w, uint8_t v) { w_bytes(w, &v, 1); }
static inline void w_u16(wbuf *w, uint16_t v) { uint8_t b[2] = { v, v >> 8 }; w_bytes(w, b, 2); }
static inline void w_u32(wbuf *w, uint32_t v) {
        uint8_t b[4] = { v, v >> 8, v >> 16, v >> 24 };
        w_bytes(w, b, 4);
}
static inline void w_u64(wbuf *w, uint64_t v) {
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
        w_bytes(w, b, 8);
}
static inline void w_ts(wbuf *w, const struct timespec *t) {
        w_u64(w, (uint64_t) (int64_t) t->tv_sec);
        w_u32(w, (uint32_t) t->tv_nsec);
}
static inline void put_u32_at(uint8_t *p, uint32_t v) {
        p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

/* ---- reader ---------------------------------------------------------------------- */

typedef struct rbuf {
        const uint8_t *p;
        size_t len, off;
        bool bad;
} rbuf;

static inline const uint8_t *r_bytes(rbuf *r, size_t n) {
        if (r->bad || n > r->len - r->off) {
                r->bad = true;
                return NULL;
        }
        const uint8_t *p = r->p + r->off;
        r->off += n;
        return p;
}
static inline uint8_t r_u8(rbuf *r) { const uint8_t *p = r_bytes(r, 1); return p ? p[0] : 0; }
static inline uint16_t r_u16(rbuf *r) { const uint8_t *p = r_bytes(r, 2); return p ? (uint16_t) (p[0] | p[1] << 8) : 0; }
static inline uint32_t r_u32(rbuf *r) {
        const uint8_t *p = r_bytes(r, 4);
        return p ? (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24 : 0;
}
static inline uint64_t r_u64(rbuf *r) {
        const uint8_t *p = r_bytes(r, 8);
        uint64_t v = 0;
        if (p)
                for (int i = 7; i >= 0; i--)
                        v = v << 8 | p[i];
        return v;
}
static inline void r_ts(rbuf *r, struct timespec *t) {
        t->tv_sec = (time_t) (int64_t) r_u64(r);
        uint32_t ns = r_u32(r);
        if (ns >= 1000000000u)
                r->bad = true;
        t->tv_nsec = ns;
}
static inline void r_copy(rbuf *r, void *dst, size_t n) {
        const uint8_t *p = r_bytes(r, n);
        if (p)
                memcpy(dst, p, n);
}

/* Bytes must be free of NUL (and of '/' if is_name). */
static inline bool clean_bytes(const uint8_t *p, size_t n, bool is_name) {
        if (memchr(p, 0, n))
                return false;
        if (is_name && memchr(p, '/', n))
                return false;
        return true;
}

static inline int name_cmp(const char *a, const char *b) {
        /* strcmp compares as unsigned char: exactly memcmp order with a
         * proper prefix first, which is the canonical order. */
        return strcmp(a, b);
}

/* A copy of len bytes with a NUL after them (names and values in records). */
static inline void *memdup_nul(const void *p, size_t len) {
        char *r = malloc(len + 1);
        if (!r)
                return NULL;
        if (len)
                memcpy(r, p, len);
        r[len] = 0;
        return r;
}
