/* Problem reports and their details (report.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "backup/report.h"

char *sk_engine_detail(sk_repo *repo, const char *fmt, ...) {
        char *prefix = NULL, *out = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&prefix, fmt, ap);
        va_end(ap);
        if (r < 0)
                return NULL;
        const char *d = sk_repo_last_error(repo);
        if (d && *d)
                r = asprintf(&out, "%s: %s", prefix, d);
        else
                r = asprintf(&out, "%s", prefix);
        free(prefix);
        return r < 0 ? NULL : out;
}

void sk_engine_problem(sk_problem_fn fn, void *ud, sk_problem_kind kind, int error, const char *backup_id,
                       const char *path, const char *pack, const char *blob, const char *detail) {
        if (!fn)
                return;
        sk_problem p = {
                .kind = kind, .error = error, .backup_id = backup_id, .path = path,
                .pack = pack, .blob = blob, .detail = detail,
        };
        fn(&p, ud);
}
