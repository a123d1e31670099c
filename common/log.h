/* Levelled logging to stderr, for plugin/ and cli/ only: library code in
 * backup/, io/ and snapshot/ returns errors and never prints.
 *
 * The level check sits inside the macros, so arguments are not evaluated
 * when the message is filtered out. log_*_errno() return -abs(err), so
 * `return log_error_errno(r, "…")` both reports and propagates. */
#pragma once

#include <stdbool.h>
#include "common/macro.h"

enum sk_log_level { SK_LOG_ERROR = 0, SK_LOG_WARN = 1, SK_LOG_INFO = 2, SK_LOG_DEBUG = 3 };

extern int sk_log_max_level;

/* Parse "error", "warn", "info" or "debug"; -EINVAL for anything else. */
int sk_log_parse_level(const char *s);
void sk_log_set_level(int level);
/* Prefix every line with the program name (borrowed; must outlive logging). */
void sk_log_set_ident(const char *ident);
/* Emit one line; err != 0 appends ": strerror(err)". Returns -abs(err). */
int sk_log_internal(int level, int err, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define sk_log_full(level, err, ...) \
        ((level) <= sk_log_max_level ? sk_log_internal((level), (err), __FILE__, __LINE__, __VA_ARGS__) \
                                     : -abs(err))

#define log_debug(...) (void) sk_log_full(SK_LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) (void) sk_log_full(SK_LOG_INFO, 0, __VA_ARGS__)
#define log_warning(...) (void) sk_log_full(SK_LOG_WARN, 0, __VA_ARGS__)
#define log_error(...) (void) sk_log_full(SK_LOG_ERROR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) sk_log_full(SK_LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) sk_log_full(SK_LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) sk_log_full(SK_LOG_WARN, (e), __VA_ARGS__)
#define log_error_errno(e, ...) sk_log_full(SK_LOG_ERROR, (e), __VA_ARGS__)
