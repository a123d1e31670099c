/* Cron expressions: when snapkeepd's automatic backups run. A backup policy
 * names its schedule as a cron expression (or as times of day, built with
 * sk_cron_daily()); the scheduler of room auto/ parses it once, then asks
 * sk_cron_next() for the next run after the previous one.
 *
 * DESIGN: a parsed expression is a plain value of bit masks, one per field,
 * so it is copied, compared and stored without allocation. The parser is a
 * bounded loop over at most SK_CRON_EXPR_MAX bytes (no recursion; macros are
 * replaced by their 5-field text before the one parse), and it refuses an
 * expression that can never match, so a policy that would silently never
 * run is an error at configuration time instead.
 *
 * Time is wall-clock time in the process's local time zone (TZ or
 * /etc/localtime, re-read through tzset() at each sk_cron_next). Around DST
 * changes a schedule runs at most once per wall-clock time: a time skipped
 * by a spring-forward does not run that day, and a time that a fall-back
 * repeats runs only at its first occurrence (so "*" minutes stop for the
 * repeated hour). That keeps successive results strictly increasing when
 * each call passes the previous result, which is what the scheduler does.
 *
 * Day rule (vixie cron): when both day of month and day of week are
 * restricted, a day matches if EITHER does; if either of them is "*" (or
 * "*" with a step, such as "*\/2"), both must. So "0 0 *\/2 * mon" means
 * "odd days that are Mondays". (In comments here "*\/" stands for "*" "/".) */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The longest expression sk_cron_parse accepts, in bytes. */
#define SK_CRON_EXPR_MAX 256
/* The latest `after` sk_cron_next accepts: 9999-12-31 23:59:59 UTC. */
#define SK_CRON_TIME_MAX INT64_C(253402300799)
/* How far sk_cron_next looks ahead, in days (8 years, counting leap days). */
#define SK_CRON_SEARCH_DAYS (8 * 366)

typedef struct sk_cron {            /* a plain value, no allocation */
        uint64_t minutes;           /* bit m set: minute m (0..59) */
        uint32_t hours;             /* 0..23 */
        uint32_t mdays;             /* bit d: day of month d (1..31) */
        uint16_t months;            /* bit m: month m (1..12) */
        uint8_t wdays;              /* bit w: weekday w (0 = Sunday .. 6) */
        bool mday_star, wday_star;  /* the field was "*" (or "*\/n"): vixie-cron day rule */
} sk_cron;

/* Parse a 5-field expression "MIN HOUR DOM MON DOW" into *ret.
 *
 * Each field is a comma list of: "*", a number, a range "a-b", and any of
 * those with a step: "*\/n", "a-b/n", and "a/n" (a to the field's maximum
 * in steps of n). Months may be named jan..dec and weekdays sun..sat (three
 * letters, case-insensitive); weekday 7 is Sunday too, and a weekday range
 * ending in Sunday after its start ("fri-sun", "5-0") runs through 7. Steps
 * are 1 up to the field's span (1..59 for minutes, 1..6 for weekdays).
 * Instead of the 5 fields the expression may be one of the macros @hourly,
 * @daily, @midnight, @weekly (Sunday), @monthly, @yearly and @annually.
 * Fields are separated by spaces or tabs; blanks around the expression are
 * ignored.
 *
 * Returns 0, or -EINVAL for anything else (including an expression longer
 * than SK_CRON_EXPR_MAX bytes or one that can never match, such as
 * "0 0 30 2 *"); then *ret is untouched and *ret_why (if ret_why is not
 * NULL) points to a static English string saying what is wrong, such as
 * "minute out of range 0-59". *ret_why is written only on failure. */
int sk_cron_parse(const char *expr, sk_cron *ret, const char **ret_why);

/* Fill *ret with "minute hour * * *": every day at that time of day, how a
 * policy's "times of day" are scheduled. -EINVAL (and *ret untouched) unless
 * hour <= 23 and minute <= 59. */
int sk_cron_daily(unsigned hour, unsigned minute, sk_cron *ret);

/* The first time strictly after `after` (unix seconds) whose local
 * wall-clock time matches *c, at second 0; see the top of this file for the
 * DST and day rules. `after` must be in 0..SK_CRON_TIME_MAX (the result and
 * the errors share the return value), else -EINVAL. -ERANGE if nothing
 * matches within SK_CRON_SEARCH_DAYS days. For a parsed expression that
 * happens only when a day of month given as "*\/n" meets a restricted
 * weekday (AND rule) rarely enough, e.g. "0 0 *\/30 2 mon" (February 1st
 * on a Monday, up to 11 years apart); treat it as "no run scheduled" and
 * ask again later. Costs one pass over the days (cheap
 * arithmetic) and a few localtime_r calls per candidate time. */
int64_t sk_cron_next(const sk_cron *c, int64_t after);
