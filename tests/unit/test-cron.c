/* Cron expressions (auto/cron.h): every syntax and error of the parser, the
 * "never matches" check, and next times in UTC (against a minute-by-minute
 * reference too), the vixie day rule, leap days, the 8-year bound, and DST
 * in Europe/Berlin. Every time is fixed (timegm), none is "now"; each test
 * starts in TZ=UTC. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auto/cron.h"
#include "common/macro.h"
#include "tests/lib/testutil.h"

static int setup(void **state) {
        (void) state;
        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();
        return 0;
}

static int teardown(void **state) {
        return setup(state);
}

/* Switch to Europe/Berlin, or skip the test where the zone is missing. */
static void berlin(void) {
        if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) < 0) {
                print_message("no /usr/share/zoneinfo/Europe/Berlin: skipping the DST test\n");
                skip();
        }
        assert_int_equal(setenv("TZ", "Europe/Berlin", 1), 0);
        tzset();
}

static int64_t utc(int y, int mo, int d, int h, int mi) {
        struct tm tm = {
                .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
        };
        return (int64_t) timegm(&tm);
}

/* Bits lo, lo+step, ..., up to hi. */
static uint64_t bits(unsigned lo, unsigned hi, unsigned step) {
        uint64_t m = 0;
        for (unsigned v = lo; v <= hi; v += step)
                m |= UINT64_C(1) << v;
        return m;
}

static sk_cron parse_ok(const char *expr) {
        sk_cron c;
        const char *why = "(untouched)";
        int r = sk_cron_parse(expr, &c, &why);
        if (r < 0)
                fail_msg("\"%s\": %d %s", expr, r, why);
        assert_string_equal(why, "(untouched)");       /* written only on failure */
        return c;
}

static void parse_fails(const char *expr, const char *want_why) {
        sk_cron c;
        memset(&c, 0xab, sizeof(c));
        const char *why = NULL;
        assert_int_equal(sk_cron_parse(expr, &c, &why), -EINVAL);
        assert_non_null(why);
        if (want_why && strcmp(why, want_why) != 0)
                fail_msg("\"%s\": got \"%s\", want \"%s\"", expr, why, want_why);
        /* *ret is untouched on failure */
        for (size_t i = 0; i < sizeof(c); i++)
                assert_int_equal(((unsigned char *) &c)[i], 0xab);
        /* ret_why may be NULL */
        assert_int_equal(sk_cron_parse(expr, &c, NULL), -EINVAL);
}

static void assert_cron_equal(const sk_cron *a, const sk_cron *b) {
        assert_int_equal(a->minutes, b->minutes);
        assert_int_equal(a->hours, b->hours);
        assert_int_equal(a->mdays, b->mdays);
        assert_int_equal(a->months, b->months);
        assert_int_equal(a->wdays, b->wdays);
        assert_int_equal(a->mday_star, b->mday_star);
        assert_int_equal(a->wday_star, b->wday_star);
}

static void assert_cron(const char *expr, uint64_t minutes, uint64_t hours, uint64_t mdays,
                        uint64_t months, uint64_t wdays, bool mday_star, bool wday_star) {
        sk_cron c = parse_ok(expr);
        sk_cron want = {
                .minutes = minutes, .hours = (uint32_t) hours, .mdays = (uint32_t) mdays,
                .months = (uint16_t) months, .wdays = (uint8_t) wdays,
                .mday_star = mday_star, .wday_star = wday_star,
        };
        assert_cron_equal(&c, &want);
}

static int64_t next(const char *expr, int64_t after) {
        sk_cron c = parse_ok(expr);
        return sk_cron_next(&c, after);
}

#define ALL_MIN bits(0, 59, 1)
#define ALL_HOUR bits(0, 23, 1)
#define ALL_MDAY bits(1, 31, 1)
#define ALL_MON bits(1, 12, 1)
#define ALL_WDAY bits(0, 6, 1)

static void test_parse_syntax(void **state) {
        (void) state;
        assert_cron("* * * * *", ALL_MIN, ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, true, true);
        assert_cron("5 4 3 2 1", bits(5, 5, 1), bits(4, 4, 1), bits(3, 3, 1), bits(2, 2, 1),
                    bits(1, 1, 1), false, false);
        assert_cron("59 23 31 12 6", bits(59, 59, 1), bits(23, 23, 1), bits(31, 31, 1),
                    bits(12, 12, 1), bits(6, 6, 1), false, false);
        /* ranges, "*\/n" steps and lists */
        assert_cron("1-5 */6 1,15 1-3 0", bits(1, 5, 1), bits(0, 18, 6),
                    bits(1, 1, 1) | bits(15, 15, 1), bits(1, 3, 1), bits(0, 0, 1), false, false);
        /* "a-b/n"; "*\/n" in a day field counts as "*" for the day rule */
        assert_cron("10-50/20 8-18/5 */10 */3 1-5", bits(10, 50, 20), bits(8, 18, 5),
                    bits(1, 31, 10), bits(1, 10, 3), bits(1, 5, 1), true, false);
        /* "a/n": a to the maximum */
        assert_cron("45/5 20/2 28/2 11/1 4/2", bits(45, 55, 5), bits(20, 22, 2),
                    bits(28, 30, 2), bits(11, 12, 1), bits(4, 6, 2), false, false);
        /* lists mixing every kind; "*" in a list is not a lone "*" */
        assert_cron("0,*/30,7-9,50/4 * *,5 * *,1", bits(0, 30, 30) | bits(7, 9, 1) | bits(50, 58, 4),
                    ALL_HOUR, ALL_MDAY, ALL_MON, ALL_WDAY, false, false);
        /* the largest steps */
        assert_cron("*/59 */23 */30 */11 */6", bits(0, 59, 59), bits(0, 23, 23), bits(1, 31, 30),
                    bits(1, 12, 11), bits(0, 6, 6), true, true);
        /* names, in any case, also in ranges and lists */
        assert_cron("0 0 * JAN,Dec,mAr-May SUN,sAt", bits(0, 0, 1), bits(0, 0, 1), ALL_MDAY,
                    bits(1, 1, 1) | bits(12, 12, 1) | bits(3, 5, 1), bits(0, 0, 1) | bits(6, 6, 1),
                    true, false);
        assert_cron("0 0 * jan-dec/2 mon-fri", 1, 1, ALL_MDAY, bits(1, 11, 2), bits(1, 5, 1),
                    true, false);
        assert_cron("0 0 * feb/5 tue/2", 1, 1, ALL_MDAY, bits(2, 12, 5), bits(2, 6, 2), true, false);
        /* 7 is Sunday too; a range ending in Sunday runs through 7 */
        assert_cron("0 0 * * 7", 1, 1, ALL_MDAY, ALL_MON, bits(0, 0, 1), true, false);
        assert_cron("0 0 * * 5-7", 1, 1, ALL_MDAY, ALL_MON, bits(0, 0, 1) | bits(5, 6, 1), true, false);
        assert_cron("0 0 * * fri-sun", 1, 1, ALL_MDAY, ALL_MON, bits(0, 0, 1) | bits(5, 6, 1), true, false);
        assert_cron("0 0 * * 5-0", 1, 1, ALL_MDAY, ALL_MON, bits(0, 0, 1) | bits(5, 6, 1), true, false);
        assert_cron("0 0 * * 0-7", 1, 1, ALL_MDAY, ALL_MON, ALL_WDAY, true, false);
        assert_cron("0 0 * * 1-7/2", 1, 1, ALL_MDAY, ALL_MON, bits(1, 5, 2) | 1, true, false);
        /* leading zeros; blanks and tabs around and between fields */
        assert_cron(" \t05\t\t004  *   *\t* \t", bits(5, 5, 1), bits(4, 4, 1), ALL_MDAY, ALL_MON,
                    ALL_WDAY, true, true);
}

static void test_parse_macros(void **state) {
        (void) state;
        static const struct {
                const char *macro, *same;
        } cases[] = {
                { "@hourly", "0 * * * *" },
                { "@daily", "0 0 * * *" },
                { "@midnight", "0 0 * * *" },
                { "@weekly", "0 0 * * 0" },
                { "@monthly", "0 0 1 * *" },
                { "@yearly", "0 0 1 1 *" },
                { "@annually", "0 0 1 1 *" },
                { "  @Daily\t", "0 0 * * *" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                sk_cron a = parse_ok(cases[i].macro), b = parse_ok(cases[i].same);
                assert_cron_equal(&a, &b);
        }
}

static void test_parse_errors(void **state) {
        (void) state;
        static const struct {
                const char *expr, *why;
        } cases[] = {
                { "", "empty expression" },
                { " \t ", "empty expression" },
                { "* * * *", "expected 5 fields" },
                { "*", "expected 5 fields" },
                { "* * * * * *", "expected 5 fields" },
                { "60 * * * *", "minute out of range 0-59" },
                { "99999999999999999999 * * * *", "minute out of range 0-59" },
                { "0-60 * * * *", "minute out of range 0-59" },
                { "* 24 * * *", "hour out of range 0-23" },
                { "* * 0 * *", "day of month out of range 1-31" },
                { "* * 32 * *", "day of month out of range 1-31" },
                { "* * * 0 *", "month out of range 1-12" },
                { "* * * 13 *", "month out of range 1-12" },
                { "* * * * 8", "day of week out of range 0-7" },
                { "*/0 * * * *", "step must be 1..59" },
                { "*/60 * * * *", "step must be 1..59" },
                { "1-9/0 * * * *", "step must be 1..59" },
                { "* */24 * * *", "step must be 1..23" },
                { "* * */31 * *", "step must be 1..30" },
                { "* * * */12 *", "step must be 1..11" },
                { "* * * * */7", "step must be 1..6" },
                { "5-1 * * * *", "range start after end" },
                { "* * * dec-jan *", "range start after end" },
                { "* * * * 7/2", "range start after end" },
                { "1,,2 * * * *", "empty list element" },
                { "1, * * * *", "empty list element" },
                { ",1 * * * *", "empty list element" },
                { "jan * * * *", "invalid minute field" },
                { "*5 * * * *", "invalid minute field" },
                { "1-2-3 * * * *", "invalid minute field" },
                { "1- * * * *", "invalid minute field" },
                { "-1 * * * *", "invalid minute field" },
                { "*/ * * * *", "invalid minute field" },
                { "*/1x * * * *", "invalid minute field" },
                { "*/-1 * * * *", "invalid minute field" },
                { "1.5 * * * *", "invalid minute field" },
                { "* mon * * *", "invalid hour field" },
                { "* * L * *", "invalid day-of-month field" },
                { "* * * janu *", "invalid month field" },
                { "* * * ja *", "invalid month field" },
                { "* * * */feb *", "invalid month field" },
                { "* * * * monday", "invalid day-of-week field" },
                { "* * * * mon-", "invalid day-of-week field" },
                { "* * * * xyz", "invalid day-of-week field" },
                /* only spaces and tabs separate fields */
                { "0 0 * * *\n", "invalid day-of-week field" },
                { "0\n0 * * *", "expected 5 fields" },
                { "@reboot", "unknown macro" },
                { "@daily 5", "unknown macro" },
                { "@", "unknown macro" },
                { "0 0 30 2 *", "never matches" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                parse_fails(cases[i].expr, cases[i].why);

        const char *why = NULL;
        sk_cron c;
        assert_int_equal(sk_cron_parse(NULL, &c, &why), -EINVAL);
        assert_string_equal(why, "no expression");
}

static void test_parse_length(void **state) {
        (void) state;
        char buf[SK_CRON_EXPR_MAX + 2];
        memset(buf, ' ', sizeof(buf));
        memcpy(buf, "* * * * *", 9);
        buf[SK_CRON_EXPR_MAX] = '\0';   /* 256 bytes: fine */
        sk_cron c = parse_ok(buf);
        assert_true(c.wday_star);
        buf[SK_CRON_EXPR_MAX] = ' ';
        buf[SK_CRON_EXPR_MAX + 1] = '\0';       /* 257 */
        parse_fails(buf, "expression longer than 256 bytes");
}

static void test_never_matches(void **state) {
        (void) state;
        parse_fails("0 0 31 2 *", "never matches");
        parse_fails("0 0 30 2 *", "never matches");
        parse_fails("0 0 30,31 feb *", "never matches");
        parse_fails("0 0 31 4,6,9,11 *", "never matches");
        parse_fails("0 0 31 feb,apr *", "never matches");
        /* "*\/1" is "*" for the day rule: AND, and Feb 30 does not exist */
        parse_fails("0 0 30 2 */1", "never matches");
        /* Feb 29 exists in leap years */
        parse_ok("0 0 29 2 *");
        parse_ok("0 0 31 2,3 *");
        parse_ok("0 0 29-31 2 *");
        /* both days restricted: the OR rule matches Fridays in February */
        parse_ok("0 0 31 2 fri");
}

static void test_daily(void **state) {
        (void) state;
        sk_cron a, b = parse_ok("30 2 * * *");
        assert_int_equal(sk_cron_daily(2, 30, &a), 0);
        assert_cron_equal(&a, &b);
        b = parse_ok("59 23 * * *");
        assert_int_equal(sk_cron_daily(23, 59, &a), 0);
        assert_cron_equal(&a, &b);
        b = parse_ok("0 0 * * *");
        assert_int_equal(sk_cron_daily(0, 0, &a), 0);
        assert_cron_equal(&a, &b);
        assert_int_equal(sk_cron_daily(24, 0, &a), -EINVAL);
        assert_int_equal(sk_cron_daily(0, 60, &a), -EINVAL);
        /* *ret untouched on failure */
        assert_cron_equal(&a, &b);
        assert_int_equal(sk_cron_next(&a, utc(2027, 5, 5, 12, 0)), utc(2027, 5, 6, 0, 0));
}

static void test_next_every_15(void **state) {
        (void) state;
        const char *e = "*/15 * * * *";
        assert_int_equal(next(e, utc(2027, 5, 5, 12, 0)), utc(2027, 5, 5, 12, 15));
        assert_int_equal(next(e, utc(2027, 5, 5, 12, 0) + 1), utc(2027, 5, 5, 12, 15));
        assert_int_equal(next(e, utc(2027, 5, 5, 12, 14) + 59), utc(2027, 5, 5, 12, 15));
        assert_int_equal(next(e, utc(2027, 5, 5, 12, 50)), utc(2027, 5, 5, 13, 0));
        /* across a day, a month and a year */
        assert_int_equal(next(e, utc(2027, 12, 31, 23, 45)), utc(2028, 1, 1, 0, 0));
        /* a day's worth of calls: 96 times, 900 s apart */
        int64_t t = utc(2027, 5, 5, 0, 0);
        for (int i = 0; i < 96; i++) {
                int64_t n = next(e, t);
                assert_int_equal(n, t + 900);
                t = n;
        }
        assert_int_equal(t, utc(2027, 5, 6, 0, 0));
}

static void test_next_time_of_day(void **state) {
        (void) state;
        const char *e = "30 2 * * *";
        assert_int_equal(next(e, utc(2027, 5, 5, 0, 0)), utc(2027, 5, 5, 2, 30));
        assert_int_equal(next(e, utc(2027, 5, 5, 2, 31)), utc(2027, 5, 6, 2, 30));
        assert_int_equal(next(e, utc(2027, 2, 28, 3, 0)), utc(2027, 3, 1, 2, 30));
        assert_int_equal(next(e, utc(2028, 2, 28, 3, 0)), utc(2028, 2, 29, 2, 30));
        /* "* * * * *": the next whole minute */
        assert_int_equal(next("* * * * *", utc(2027, 5, 5, 12, 0) + 30), utc(2027, 5, 5, 12, 1));
        assert_int_equal(next("59 23 31 12 *", utc(2027, 1, 1, 0, 0)), utc(2027, 12, 31, 23, 59));
        /* from the epoch; and at the latest `after` accepted */
        assert_int_equal(next("0 0 * * *", 0), utc(1970, 1, 2, 0, 0));
        assert_int_equal(next("* * * * *", SK_CRON_TIME_MAX), SK_CRON_TIME_MAX + 1);
}

static void test_next_monthly(void **state) {
        (void) state;
        const char *e = "0 0 1 * *";
        assert_int_equal(next(e, utc(2027, 1, 15, 0, 0)), utc(2027, 2, 1, 0, 0));
        assert_int_equal(next(e, utc(2027, 12, 1, 0, 0)), utc(2028, 1, 1, 0, 0));
        /* months named: only April and October */
        assert_int_equal(next("0 6 1 apr,oct *", utc(2027, 4, 1, 6, 0)), utc(2027, 10, 1, 6, 0));
        assert_int_equal(next("0 6 1 apr,oct *", utc(2027, 10, 1, 6, 0)), utc(2028, 4, 1, 6, 0));
        /* the 31st: months without one are passed over */
        assert_int_equal(next("0 0 31 * *", utc(2027, 1, 31, 0, 0)), utc(2027, 3, 31, 0, 0));
        assert_int_equal(next("0 0 31 * *", utc(2027, 3, 31, 0, 0)), utc(2027, 5, 31, 0, 0));
}

static void test_next_weekday(void **state) {
        (void) state;
        const char *e = "0 0 * * mon";
        /* 2027-01-01 is a Friday */
        assert_int_equal(next(e, utc(2027, 1, 1, 0, 0)), utc(2027, 1, 4, 0, 0));
        assert_int_equal(next(e, utc(2027, 1, 4, 0, 0)), utc(2027, 1, 11, 0, 0));
        assert_int_equal(next("0 0 * * sun", utc(2027, 1, 1, 0, 0)), utc(2027, 1, 3, 0, 0));
        assert_int_equal(next("0 0 * * 7", utc(2027, 1, 1, 0, 0)), utc(2027, 1, 3, 0, 0));
        assert_int_equal(next("0 9 * * mon-fri", utc(2027, 1, 1, 9, 0)), utc(2027, 1, 4, 9, 0));
        assert_int_equal(next("@weekly", utc(2027, 1, 1, 0, 0)), utc(2027, 1, 3, 0, 0));
}

/* Count the days of 2027 whose midnight (UTC) expr matches, by following
 * sk_cron_next, and check each against want(mday, wday). */
static void check_days_2027(const char *expr, bool (*want)(int mday, int wday)) {
        sk_cron c = parse_ok(expr);
        int64_t t = utc(2026, 12, 31, 0, 0);
        for (int64_t day = utc(2027, 1, 1, 0, 0); day < utc(2028, 1, 1, 0, 0); day += 86400) {
                time_t tt = (time_t) day;
                struct tm tm;
                assert_non_null(gmtime_r(&tt, &tm));
                if (!want(tm.tm_mday, tm.tm_wday))
                        continue;
                int64_t n = sk_cron_next(&c, t);
                if (n != day)
                        fail_msg("%s: after %lld got %lld, want %lld", expr, (long long) t,
                                 (long long) n, (long long) day);
                t = n;
        }
        assert_true(sk_cron_next(&c, t) >= utc(2028, 1, 1, 0, 0));
}

static bool thirteenth_or_friday(int mday, int wday) { return mday == 13 || wday == 5; }
static bool odd_monday(int mday, int wday) { return mday % 2 == 1 && wday == 1; }
static bool thirteenth(int mday, int wday) { (void) wday; return mday == 13; }

static void test_next_day_rule(void **state) {
        (void) state;
        /* both restricted: the 13th OR a Friday (2027-01-01 is a Friday) */
        assert_int_equal(next("0 0 13 * fri", utc(2027, 1, 1, 0, 0)), utc(2027, 1, 8, 0, 0));
        assert_int_equal(next("0 0 13 * fri", utc(2027, 1, 8, 0, 0)), utc(2027, 1, 13, 0, 0));
        assert_int_equal(next("0 0 13 * fri", utc(2027, 1, 13, 0, 0)), utc(2027, 1, 15, 0, 0));
        check_days_2027("0 0 13 * fri", thirteenth_or_friday);
        /* "*\/2" counts as "*": odd days AND Mondays */
        check_days_2027("0 0 */2 * mon", odd_monday);
        check_days_2027("0 0 13 * *", thirteenth);
        /* Feb 31 never, but Fridays of February do */
        assert_int_equal(next("0 0 31 2 fri", utc(2027, 1, 1, 0, 0)), utc(2027, 2, 5, 0, 0));
}

static void test_next_leap_day(void **state) {
        (void) state;
        const char *e = "0 0 29 2 *";
        assert_int_equal(next(e, utc(2027, 1, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
        assert_int_equal(next(e, utc(2028, 2, 29, 0, 0)), utc(2032, 2, 29, 0, 0));
        /* 2100 is no leap year: 8 years, still within the bound */
        assert_int_equal(next(e, utc(2096, 2, 29, 0, 0)), utc(2104, 2, 29, 0, 0));
}

static void test_next_strictly_after(void **state) {
        (void) state;
        const char *e = "30 2 * * *";
        int64_t m = utc(2027, 5, 5, 2, 30);
        assert_int_equal(next(e, m - 1), m);
        assert_int_equal(next(e, m), utc(2027, 5, 6, 2, 30));
        assert_int_equal(next("@yearly", utc(2027, 1, 1, 0, 0)), utc(2028, 1, 1, 0, 0));
        assert_int_equal(next("* * * * *", utc(2027, 1, 1, 0, 0)), utc(2027, 1, 1, 0, 1));
}

static void test_next_daily_year(void **state) {
        (void) state;
        sk_cron c = parse_ok("@daily");
        int64_t t = utc(2026, 12, 31, 12, 0);
        for (int i = 0; i < 365; i++) {
                int64_t n = sk_cron_next(&c, t);
                assert_true(n > t);
                assert_int_equal(n, utc(2027, 1, 1, 0, 0) + (int64_t) i * 86400);
                t = n;
        }
        assert_int_equal(t, utc(2027, 12, 31, 0, 0));
}

static void test_next_bounds(void **state) {
        (void) state;
        sk_cron c = parse_ok("* * * * *");
        assert_int_equal(sk_cron_next(&c, -1), -EINVAL);
        assert_int_equal(sk_cron_next(&c, SK_CRON_TIME_MAX + 1), -EINVAL);
        assert_int_equal(sk_cron_next(NULL, 0), -EINVAL);
        /* The one kind of parsed expression that can go past the bound:
         * "*\/30" days (the 1st and 31st) AND Mondays in February, that is
         * February 1st on a Monday: 2027, then 2038. */
        c = parse_ok("0 0 */30 2 mon");
        assert_int_equal(sk_cron_next(&c, utc(2027, 1, 1, 0, 0)), utc(2027, 2, 1, 0, 0));
        assert_int_equal(sk_cron_next(&c, utc(2027, 2, 1, 0, 0)), -ERANGE);
        assert_int_equal(sk_cron_next(&c, utc(2031, 1, 1, 0, 0)), utc(2038, 2, 1, 0, 0));
        /* a value not from the parser that never matches */
        sk_cron none = { 0 };
        assert_int_equal(sk_cron_next(&none, 0), -ERANGE);
}

/* The first minute after `after` that matches, one minute at a time in UTC:
 * the obvious reference, for short spans. */
static int64_t brute_next(const sk_cron *c, int64_t after, int64_t limit) {
        for (int64_t t = (after / 60 + 1) * 60; t <= after + limit; t += 60) {
                time_t tt = (time_t) t;
                struct tm tm;
                assert_non_null(gmtime_r(&tt, &tm));
                bool dom = c->mdays >> tm.tm_mday & 1, dow = c->wdays >> tm.tm_wday & 1;
                bool day = c->mday_star || c->wday_star ? dom && dow : dom || dow;
                if (day && (c->months >> (tm.tm_mon + 1) & 1) && (c->hours >> tm.tm_hour & 1) &&
                    (c->minutes >> tm.tm_min & 1))
                        return t;
        }
        return -1;
}

static void test_next_brute_force(void **state) {
        (void) state;
        static const char *const exprs[] = {
                "* * * * *", "*/7 * * * *", "5,55 */5 * * *", "0 12 * * sat,sun",
                "15 1-3 * * mon-fri", "0 0 1,8,15,22,29 * *", "59 23 * * *", "0 */2 13 * fri",
                "30 4 */3 * *", "0 0 * * 0",
        };
        const int64_t starts[] = {
                utc(2027, 1, 1, 0, 0), utc(2027, 2, 27, 23, 59) + 59, utc(2028, 2, 28, 23, 30),
                utc(2027, 12, 31, 23, 59), utc(2027, 6, 15, 11, 59) + 1,
        };
        for (size_t i = 0; i < ARRAY_SIZE(exprs); i++) {
                sk_cron c = parse_ok(exprs[i]);
                for (size_t j = 0; j < ARRAY_SIZE(starts); j++) {
                        int64_t t = starts[j];
                        for (int k = 0; k < 20; k++) {
                                int64_t want = brute_next(&c, t, 8 * 86400);
                                assert_true(want > 0);
                                int64_t got = sk_cron_next(&c, t);
                                if (got != want)
                                        fail_msg("%s after %lld: got %lld, want %lld", exprs[i],
                                                 (long long) t, (long long) got, (long long) want);
                                t = got;
                        }
                }
        }
}

static void test_dst_spring_forward(void **state) {
        (void) state;
        berlin();
        /* 2027-03-28: 02:00 CET (01:00 UTC) becomes 03:00 CEST; 02:30 does
         * not exist that day and is not run */
        const char *e = "30 2 * * *";
        assert_int_equal(next(e, utc(2027, 3, 26, 12, 0)), utc(2027, 3, 27, 1, 30));
        assert_int_equal(next(e, utc(2027, 3, 27, 1, 30)), utc(2027, 3, 29, 0, 30));
        /* every 15 minutes: 01:45 CET, then 03:00 CEST, 15 minutes later */
        assert_int_equal(next("*/15 * * * *", utc(2027, 3, 28, 0, 45)), utc(2027, 3, 28, 1, 0));
        /* 03:00 exists, at 01:00 UTC */
        assert_int_equal(next("0 3 * * *", utc(2027, 3, 27, 12, 0)), utc(2027, 3, 28, 1, 0));
}

static void test_dst_fall_back(void **state) {
        (void) state;
        berlin();
        /* 2027-10-31: 03:00 CEST (01:00 UTC) becomes 02:00 CET; 02:30 is
         * 00:30 UTC and again 01:30 UTC, and runs at the first only */
        const char *e = "30 2 * * *";
        assert_int_equal(next(e, utc(2027, 10, 30, 0, 30)), utc(2027, 10, 31, 0, 30));
        assert_int_equal(next(e, utc(2027, 10, 31, 0, 30)), utc(2027, 11, 1, 1, 30));
        /* between the two occurrences: the wall time has passed */
        assert_int_equal(next(e, utc(2027, 10, 31, 1, 0)), utc(2027, 11, 1, 1, 30));
        /* hourly: 02:00 CEST, then 03:00 CET (the second 02:00 is a repeat) */
        assert_int_equal(next("0 * * * *", utc(2027, 10, 30, 23, 30)), utc(2027, 10, 31, 0, 0));
        assert_int_equal(next("0 * * * *", utc(2027, 10, 31, 0, 0)), utc(2027, 10, 31, 2, 0));
        assert_int_equal(next("*/15 * * * *", utc(2027, 10, 31, 0, 45)), utc(2027, 10, 31, 2, 0));
}

static void test_dst_year(void **state) {
        (void) state;
        berlin();
        /* "*\/15" through 2027 in Berlin: strictly increasing, 900 s apart
         * but once 4500 s (the repeated hour), 4 slots fewer on the day
         * 02:00-02:59 does not exist */
        sk_cron c = parse_ok("*/15 * * * *");
        int64_t t = utc(2026, 12, 31, 22, 59), end = utc(2027, 12, 31, 23, 0);
        int n = 0, long_gaps = 0;
        for (;;) {
                int64_t x = sk_cron_next(&c, t);
                assert_true(x > t);
                if (x >= end)
                        break;
                if (n > 0 && x - t != 900) {
                        assert_int_equal(x - t, 4500);
                        long_gaps++;
                }
                n++;
                t = x;
        }
        assert_int_equal(n, 365 * 96 - 4);
        assert_int_equal(long_gaps, 1);

        /* @daily: 365 distinct local midnights */
        c = parse_ok("@daily");
        t = utc(2026, 12, 31, 12, 0);
        int last_yday = -1;
        for (int i = 0; i < 365; i++) {
                int64_t x = sk_cron_next(&c, t);
                assert_true(x > t);
                time_t tt = (time_t) x;
                struct tm tm;
                assert_non_null(localtime_r(&tt, &tm));
                assert_int_equal(tm.tm_year, 2027 - 1900);
                assert_int_equal(tm.tm_hour, 0);
                assert_int_equal(tm.tm_min, 0);
                assert_int_equal(tm.tm_sec, 0);
                assert_int_equal(tm.tm_yday, last_yday + 1);
                last_yday = tm.tm_yday;
                t = x;
        }
        assert_int_equal(last_yday, 364);
}

SK_TEST_MAIN(
        SK_FIXTURE_TEST(test_parse_syntax),
        SK_FIXTURE_TEST(test_parse_macros),
        SK_FIXTURE_TEST(test_parse_errors),
        SK_FIXTURE_TEST(test_parse_length),
        SK_FIXTURE_TEST(test_never_matches),
        SK_FIXTURE_TEST(test_daily),
        SK_FIXTURE_TEST(test_next_every_15),
        SK_FIXTURE_TEST(test_next_time_of_day),
        SK_FIXTURE_TEST(test_next_monthly),
        SK_FIXTURE_TEST(test_next_weekday),
        SK_FIXTURE_TEST(test_next_day_rule),
        SK_FIXTURE_TEST(test_next_leap_day),
        SK_FIXTURE_TEST(test_next_strictly_after),
        SK_FIXTURE_TEST(test_next_daily_year),
        SK_FIXTURE_TEST(test_next_bounds),
        SK_FIXTURE_TEST(test_next_brute_force),
        SK_FIXTURE_TEST(test_dst_spring_forward),
        SK_FIXTURE_TEST(test_dst_fall_back),
        SK_FIXTURE_TEST(test_dst_year),
)
