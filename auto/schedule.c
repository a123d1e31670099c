#include "auto/schedule.h"

#include <string.h>

uint32_t sk_sched_jitter(const char *node, const char *source, uint32_t jitter) {
        if (jitter == 0)
                return 0;
        /* FNV-1a over "node\0source": stable across restarts and builds. */
        uint64_t h = 0xcbf29ce484222325ull;
        for (const char *s = node; ; s++) {
                h = (h ^ (uint8_t) *s) * 0x100000001b3ull;
                if (!*s)
                        break;
        }
        for (const char *s = source; *s; s++)
                h = (h ^ (uint8_t) *s) * 0x100000001b3ull;
        return (uint32_t) (h % jitter);
}

int64_t sk_sched_next(const sk_policy *p, const sk_sched_state *s, uint32_t jitter_offset, uint32_t retry_min,
                      uint32_t retry_max) {
        int64_t base = s->last_start > 0 ? s->last_start : s->first_seen;
        int64_t next = INT64_MAX;

        if (p->interval)
                next = base + p->interval;
        for (size_t i = 0; i < p->n_crons; i++) {
                int64_t t = sk_cron_next(&p->crons[i], base - (int64_t) jitter_offset);
                if (t >= 0 && t + (int64_t) jitter_offset < next)
                        next = t + (int64_t) jitter_offset;
        }
        if (s->failures > 0 && s->last_start > 0) {
                uint64_t delay = retry_min;
                for (uint32_t i = 1; i < s->failures && delay < retry_max; i++)
                        delay *= 2;
                if (delay > retry_max)
                        delay = retry_max;
                if (delay == 0)
                        delay = 1;
                if (s->last_start + (int64_t) delay < next)
                        next = s->last_start + (int64_t) delay;
        }
        return next;
}
