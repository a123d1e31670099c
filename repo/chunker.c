/* FastCDC chunker; see chunker.h and docs/FORMAT.md section 10.
 *
 * DESIGN: the hot loop is split into the two normalisation regions (before
 * and after the average size) so that each runs a tight loop with one mask
 * and no per-byte region test. The first min bytes of a chunk are skipped
 * without hashing (a cut there is forbidden anyway), which is where most of
 * FastCDC's speed comes from. The hash uses the high bits of a 64-bit gear
 * hash: bit k of h depends on the last k+1 bytes, so high bits see a full
 * window. */
#include "repo/chunker.h"

#include <errno.h>
#include <string.h>

#include "repo/crypto.h"

int sk_gear_table_derive(const uint8_t key[32], sk_gear_table *ret) {
        uint8_t stream[256 * 8];
        int r = sk_aes_ctr_keystream(key, stream, sizeof(stream));
        if (r < 0)
                return r;
        for (size_t i = 0; i < 256; i++) {
                uint64_t v = 0;
                for (int b = 7; b >= 0; b--)
                        v = v << 8 | stream[i * 8 + (size_t) b];
                ret->g[i] = v;
        }
        sk_wipe(stream, sizeof(stream));
        return 0;
}

static uint64_t high_mask(unsigned bits) {
        if (bits == 0)
                return 0;
        if (bits >= 64)
                return UINT64_MAX;
        return ~UINT64_C(0) << (64 - bits);
}

int sk_chunker_init(sk_chunker *c, const sk_gear_table *gear, uint32_t min, uint32_t avg, uint32_t max) {
        if (!gear || min < 64 || min >= avg || avg >= max)
                return -EINVAL;
        /* Cuts are only possible after min, so aim the mask at avg - min:
         * the expected chunk length then lands close to avg. */
        uint32_t span = avg - min;
        unsigned bits = 0;
        while (bits < 31 && (UINT32_C(1) << (bits + 1)) <= span)
                bits++;
        /* round to nearest power of two */
        if (bits < 31 && span - (UINT32_C(1) << bits) > (UINT32_C(1) << bits) / 2)
                bits++;
        if (bits < 2)
                bits = 2;
        *c = (sk_chunker) {
                .gear = gear->g,
                .mask_s = high_mask(bits + 1),
                .mask_l = high_mask(bits - 1),
                .min = min,
                .avg = avg,
                .max = max,
        };
        return 0;
}

void sk_chunker_reset(sk_chunker *c) {
        c->hash = 0;
        c->pos = 0;
}

size_t sk_chunker_scan(sk_chunker *c, const void *buf, size_t len) {
        const uint8_t *p = buf;
        const uint64_t *g = c->gear;
        size_t base = c->pos, i = 0;
        uint64_t h = c->hash;

        if (len == 0)
                return SK_CHUNKER_NO_CUT;
        if (base < c->min) {
                i = c->min - base;
                if (i >= len) {
                        c->pos = base + len;
                        return SK_CHUNKER_NO_CUT;
                }
        }

        size_t lim1 = c->avg > base ? c->avg - base : 0;
        size_t lim2 = c->max - base;
        size_t end1 = lim1 < len ? lim1 : len;
        size_t end2 = lim2 < len ? lim2 : len;
        uint64_t m = c->mask_s;
        for (; i < end1; i++) {
                h = (h << 1) + g[p[i]];
                if (!(h & m))
                        goto cut;
        }
        m = c->mask_l;
        for (; i < end2; i++) {
                h = (h << 1) + g[p[i]];
                if (!(h & m))
                        goto cut;
        }
        if (end2 == lim2) {
                /* hit max inside this buffer */
                c->pos = 0;
                c->hash = 0;
                return lim2;
        }
        c->pos = base + len;
        c->hash = h;
        return SK_CHUNKER_NO_CUT;
cut:
        c->pos = 0;
        c->hash = 0;
        return i + 1;
}
