#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

int sk_log_max_level = SK_LOG_INFO;
static const char *log_ident = "snapkeep";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int sk_log_parse_level(const char *s) {
        for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
                if (strcmp(s, level_names[i]) == 0)
                        return (int) i;
        if (strcmp(s, "warning") == 0)
                return SK_LOG_WARN;
        return -EINVAL;
}

void sk_log_set_level(int level) { sk_log_max_level = level; }

void sk_log_set_ident(const char *ident) { log_ident = ident; }

int sk_log_internal(int level, int err, const char *file, int line, const char *fmt, ...) {
        char msg[2048];
        va_list ap;
        int saved = errno;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);

        pthread_mutex_lock(&log_lock);
        fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%s] %s", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
                level_names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
        if (err != 0)
                fprintf(stderr, ": %s", strerror(abs(err)));
        if (sk_log_max_level >= SK_LOG_DEBUG)
                fprintf(stderr, " (%s:%d)", file, line);
        fputc('\n', stderr);
        pthread_mutex_unlock(&log_lock);
        errno = saved;
        return -abs(err);
}
