/* Cron expressions (cron.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "auto/cron.h"
#include "common/macro.h"

/* ---- parsing ----------------------------------------------------------- */

typedef struct field_spec {
        unsigned min, max;      /* the values a number may take */
        unsigned top;           /* where "*" and "a/n" end: max, but 6 for
                                 * weekdays, whose 7 is a second Sunday */
        const char *const *names; /* three-letter names of min, min+1, ..., or NULL */
        const char *why_range, *why_step, *why_syntax;
} field_spec;

static const char *const month_names[] = {
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL,
};
static const char *const wday_names[] = {
        "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL,
};

enum { F_MINUTE, F_HOUR, F_MDAY, F_MONTH, F_WDAY, N_FIELDS };

static const field_spec fields[N_FIELDS] = {
        [F_MINUTE] = { 0, 59, 59, NULL,
                       "minute out of range 0-59", "step must be 1..59", "invalid minute field" },
        [F_HOUR] = { 0, 23, 23, NULL,
                     "hour out of range 0-23", "step must be 1..23", "invalid hour field" },
        [F_MDAY] = { 1, 31, 31, NULL,
                     "day of month out of range 1-31", "step must be 1..30",
                     "invalid day-of-month field" },
        [F_MONTH] = { 1, 12, 12, month_names,
                      "month out of range 1-12", "step must be 1..11", "invalid month field" },
        [F_WDAY] = { 0, 7, 6, wday_names,
                     "day of week out of range 0-7", "step must be 1..6",
                     "invalid day-of-week field" },
};

static const struct {
        const char *name, *expansion;
} macros[] = {
        { "@hourly", "0 * * * *" },
        { "@daily", "0 0 * * *" },
        { "@midnight", "0 0 * * *" },
        { "@weekly", "0 0 * * 0" },
        { "@monthly", "0 0 1 * *" },
        { "@yearly", "0 0 1 1 *" },
        { "@annually", "0 0 1 1 *" },
};

/* ASCII only: the expression's meaning must not depend on the locale. */
static bool is_blank(char ch) { return ch == ' ' || ch == '\t'; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static char lower(char ch) { return ch >= 'A' && ch <= 'Z' ? (char) (ch - 'A' + 'a') : ch; }
static bool is_alpha(char ch) { return lower(ch) >= 'a' && lower(ch) <= 'z'; }

/* Whether the n bytes at s are name (all lower case) in any case. */
static bool name_is(const char *s, size_t n, const char *name) {
        if (strlen(name) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (lower(s[i]) != name[i])
                        return false;
        return true;
}

static int fail(const char **why, const char *msg) {
        *why = msg;
        return -EINVAL;
}

/* Digits at *p (before end) as a number, saturating at 1000 so that a long
 * run of digits is "out of range", not an overflow. */
static int parse_number(const char **p, const char *end, unsigned *ret) {
        const char *q = *p;
        unsigned v = 0;
        if (q == end || !is_digit(*q))
                return -EINVAL;
        for (; q < end && is_digit(*q); q++)
                v = MIN(v * 10 + (unsigned) (*q - '0'), 1000u);
        *p = q;
        *ret = v;
        return 0;
}

/* One value of field f at *p: a number or, where f has names, a name. */
static int parse_value(const char **p, const char *end, const field_spec *f, unsigned *ret,
                       const char **why) {
        const char *q = *p;
        unsigned v;

        if (q < end && is_digit(*q)) {
                (void) parse_number(&q, end, &v);
                if (v < f->min || v > f->max)
                        return fail(why, f->why_range);
        } else {
                /* exactly three letters: "janx" is no month */
                if (!f->names || end - q < 3 || !is_alpha(q[0]) || !is_alpha(q[1]) ||
                    !is_alpha(q[2]) || (end - q > 3 && is_alpha(q[3])))
                        return fail(why, f->why_syntax);
                size_t i;
                for (i = 0; f->names[i]; i++)
                        if (name_is(q, 3, f->names[i]))
                                break;
                if (!f->names[i])
                        return fail(why, f->why_syntax);
                v = f->min + (unsigned) i;
                q += 3;
        }
        *p = q;
        *ret = v;
        return 0;
}

/* The field [s, end) as a mask of bits min..max; *ret_star if it is a lone
 * "*" or "*\/n", which the day rule needs to know. */
static int parse_field(const char *s, const char *end, const field_spec *f, uint64_t *ret_mask,
                       bool *ret_star, const char **why) {
        const char *p = s;
        uint64_t mask = 0;
        unsigned items = 0;
        bool first_star = false;
        int r;

        for (;;) {
                unsigned lo, hi, step = 1;
                bool star = false, range = false;

                if (p == end || *p == ',')
                        return fail(why, "empty list element");
                if (*p == '*') {
                        p++;
                        lo = f->min;
                        hi = f->top;
                        star = true;
                } else {
                        r = parse_value(&p, end, f, &lo, why);
                        if (r < 0)
                                return r;
                        hi = lo;
                        if (p < end && *p == '-') {
                                p++;
                                r = parse_value(&p, end, f, &hi, why);
                                if (r < 0)
                                        return r;
                                /* "fri-sun": Sunday as the end of a range is 7 */
                                if (f->max == 7 && hi == 0 && lo > 0)
                                        hi = 7;
                                range = true;
                        }
                }
                if (p < end && *p == '/') {
                        p++;
                        if (parse_number(&p, end, &step) < 0)
                                return fail(why, f->why_syntax);
                        if (step < 1 || step > f->top - f->min)
                                return fail(why, f->why_step);
                        if (!star && !range)
                                hi = f->top;    /* "a/n": a to the maximum */
                }
                if (lo > hi)
                        return fail(why, "range start after end");
                for (unsigned v = lo; v <= hi; v += step)
                        mask |= UINT64_C(1) << v;
                if (items++ == 0)
                        first_star = star;

                if (p == end)
                        break;
                if (*p != ',')
                        return fail(why, f->why_syntax);
                p++;
        }
        *ret_mask = mask;
        *ret_star = items == 1 && first_star;
        return 0;
}

static bool is_leap(int64_t y) {
        return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static unsigned days_in_month(int64_t y, unsigned m) {
        static const uint8_t days[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && is_leap(y) ? 29 : days[m];
}

/* Whether some month of c has one of c's days of month (February with its
 * 29th): under the AND day rule, the only way a parsed expression can fail
 * to match ever. */
static bool some_day_exists(const sk_cron *c) {
        for (unsigned m = 1; m <= 12; m++) {
                if (!(c->months >> m & 1))
                        continue;
                unsigned n = m == 2 ? 29 : days_in_month(1, m);
                uint64_t days = ((UINT64_C(1) << (n + 1)) - 1) & ~UINT64_C(1);
                if (c->mdays & days)
                        return true;
        }
        return false;
}

static int parse(const char *expr, sk_cron *ret, const char **why) {
        if (!expr)
                return fail(why, "no expression");
        size_t len = strnlen(expr, SK_CRON_EXPR_MAX + 1);
        if (len > SK_CRON_EXPR_MAX)
                return fail(why, "expression longer than 256 bytes");

        const char *s = expr, *end = expr + len;
        while (s < end && is_blank(*s))
                s++;
        while (end > s && is_blank(end[-1]))
                end--;
        if (s == end)
                return fail(why, "empty expression");

        if (*s == '@') {
                size_t n = (size_t) (end - s), i;
                for (i = 0; i < ARRAY_SIZE(macros); i++)
                        if (name_is(s, n, macros[i].name))
                                break;
                if (i == ARRAY_SIZE(macros))
                        return fail(why, "unknown macro");
                s = macros[i].expansion;
                end = s + strlen(s);
        }

        const char *start[N_FIELDS], *stop[N_FIELDS];
        const char *p = s;
        for (unsigned i = 0; i < N_FIELDS; i++) {
                while (p < end && is_blank(*p))
                        p++;
                if (p == end)
                        return fail(why, "expected 5 fields");
                start[i] = p;
                while (p < end && !is_blank(*p))
                        p++;
                stop[i] = p;
        }
        if (p != end)   /* blanks were trimmed: anything left is a 6th field */
                return fail(why, "expected 5 fields");

        uint64_t mask[N_FIELDS];
        bool star[N_FIELDS];
        for (unsigned i = 0; i < N_FIELDS; i++) {
                int r = parse_field(start[i], stop[i], &fields[i], &mask[i], &star[i], why);
                if (r < 0)
                        return r;
        }

        sk_cron c = {
                .minutes = mask[F_MINUTE],
                .hours = (uint32_t) mask[F_HOUR],
                .mdays = (uint32_t) mask[F_MDAY],
                .months = (uint16_t) mask[F_MONTH],
                /* weekday 7 is Sunday */
                .wdays = (uint8_t) ((mask[F_WDAY] | mask[F_WDAY] >> 7) & 0x7f),
                .mday_star = star[F_MDAY],
                .wday_star = star[F_WDAY],
        };
        /* With both days restricted (OR rule) every weekday comes round in
         * every month, so only the AND rule can fail to match ever. */
        if ((c.mday_star || c.wday_star) && !some_day_exists(&c))
                return fail(why, "never matches");
        *ret = c;
        return 0;
}

int sk_cron_parse(const char *expr, sk_cron *ret, const char **ret_why) {
        const char *why = NULL;
        sk_cron c;
        int r = parse(expr, &c, &why);
        if (r < 0) {
                if (ret_why)
                        *ret_why = why;
                return r;
        }
        *ret = c;
        return 0;
}

int sk_cron_daily(unsigned hour, unsigned minute, sk_cron *ret) {
        if (hour > 23 || minute > 59)
                return -EINVAL;
        *ret = (sk_cron) {
                .minutes = UINT64_C(1) << minute,
                .hours = UINT32_C(1) << hour,
                .mdays = UINT32_C(0xfffffffe),  /* 1..31 */
                .months = UINT16_C(0x1ffe),     /* 1..12 */
                .wdays = UINT8_C(0x7f),
                .mday_star = true,
                .wday_star = true,
        };
        return 0;
}

/* ---- the next match -------------------------------------------------------
 *
 * A wall-clock time is handled as "wall seconds": the unix time it would be
 * if the zone were UTC, days_from_civil(date) * 86400 + time of day. An
 * instant t shows wall time t + gmtoff(t), so the instants of wall time w
 * are w - o for the zone's offsets o around it; each candidate is checked
 * with localtime_r, which makes skipped times (no candidate checks out) and
 * repeated ones (two do; the first one counts) fall out of the same test
 * without trusting mktime's guess for tm_isdst = -1, which depends on its
 * previous call. */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

static unsigned weekday(int64_t days) {
        return (unsigned) (((days % 7) + 11) % 7);     /* 1970-01-01 was a Thursday */
}

static bool local_time(int64_t t, struct tm *ret) {
        time_t tt = (time_t) t;
        if ((int64_t) tt != t)
                return false;
        return localtime_r(&tt, ret);
}

static bool offset_at(int64_t t, int64_t *ret) {
        struct tm tm;
        if (!local_time(t, &tm))
                return false;
        *ret = tm.tm_gmtoff;
        return true;
}

/* Whether instant t shows wall time w. */
static bool shows(int64_t t, int64_t w) {
        struct tm tm;
        if (!local_time(t, &tm))
                return false;
        int64_t wall = days_from_civil((int64_t) tm.tm_year + 1900, (unsigned) tm.tm_mon + 1,
                                       (unsigned) tm.tm_mday) * 86400 +
                       tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
        return wall == w;
}

/* The first instant showing wall time w, given the offsets o1 and o2 in
 * force before and after w's day; false if w does not exist. */
static bool first_instant(int64_t w, int64_t o1, int64_t o2, int64_t *ret) {
        int64_t t1 = w - o1, t2 = w - o2;
        bool ok1 = shows(t1, w), ok2 = o2 != o1 && shows(t2, w);

        if (!ok1 && !ok2) {
                /* Two offset changes in a few days (rare in the tz data):
                 * the offsets at the candidates themselves, as mktime would
                 * iterate. A skipped time stays skipped. */
                int64_t o;
                if (offset_at(t1, &o) && o != o1 && o != o2 && shows(w - o, w)) {
                        t1 = w - o;
                        ok1 = true;
                }
                if (offset_at(t2, &o) && o != o1 && o != o2 && shows(w - o, w)) {
                        t2 = w - o;
                        ok2 = true;
                }
        }
        if (ok1 && ok2)
                *ret = MIN(t1, t2);
        else if (ok1 || ok2)
                *ret = ok1 ? t1 : t2;
        return ok1 || ok2;
}

/* The first matching time of day on the day `days` whose first instant is
 * after `after`. Wall times and their first instants rise together, so the
 * first slot in wall order that is late enough is the answer. */
static bool first_in_day(const sk_cron *c, int64_t days, int64_t after, int64_t *ret) {
        int64_t midnight = days * 86400, o1, o2;
        /* offsets well before and after the day: the instants of its wall
         * times lie within a day of it (offsets are under 26 hours) */
        if (!offset_at(midnight - 2 * 86400, &o1) || !offset_at(midnight + 3 * 86400, &o2))
                return false;
        int64_t omin = MIN(o1, o2);

        for (unsigned h = 0; h < 24; h++) {
                if (!(c->hours >> h & 1))
                        continue;
                int64_t hour = midnight + h * 3600;
                /* a cheap skip of the hours before `after` on its own day */
                if (hour + 59 * 60 - omin <= after)
                        continue;
                for (unsigned m = 0; m < 60; m++) {
                        if (!(c->minutes >> m & 1))
                                continue;
                        int64_t w = hour + m * 60, t;
                        if (w - omin <= after)  /* every candidate instant is too early */
                                continue;
                        if (!first_instant(w, o1, o2, &t))
                                continue;       /* skipped by a spring-forward */
                        if (t <= after)
                                continue;       /* its first occurrence has passed */
                        *ret = t;
                        return true;
                }
        }
        return false;
}

static bool day_matches(const sk_cron *c, unsigned mday, unsigned wday) {
        bool dom = c->mdays >> mday & 1, dow = c->wdays >> wday & 1;
        if (c->mday_star || c->wday_star)
                return dom && dow;
        return dom || dow;
}

int64_t sk_cron_next(const sk_cron *c, int64_t after) {
        if (!c || after < 0 || after > SK_CRON_TIME_MAX)
                return -EINVAL;

        /* localtime_r need not notice a change of TZ or /etc/localtime;
         * tzset does, so a long-running daemon follows the system's zone */
        tzset();
        struct tm tm;
        if (!local_time(after, &tm))
                return -EINVAL;
        int64_t y = (int64_t) tm.tm_year + 1900;
        unsigned mon = (unsigned) tm.tm_mon + 1, d = (unsigned) tm.tm_mday;
        /* Start on after's own day: an earlier day's wall time, even if a
         * fall-back shows it again after `after`, had its first occurrence
         * before. */
        int64_t first = days_from_civil(y, mon, d), days = first;

        while (days - first <= SK_CRON_SEARCH_DAYS) {
                unsigned dim = days_in_month(y, mon);
                if (!(c->months >> mon & 1)) {
                        days += dim - d + 1;    /* to the 1st of the next month */
                        d = dim + 1;
                } else {
                        int64_t t;
                        if (day_matches(c, d, weekday(days)) && first_in_day(c, days, after, &t))
                                return t;
                        days++;
                        d++;
                }
                if (d > dim) {
                        d = 1;
                        if (++mon > 12) {
                                mon = 1;
                                y++;
                        }
                }
        }
        return -ERANGE;
}
