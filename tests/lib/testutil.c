#include "tests/lib/testutil.h"

#include <stdio.h>
#include <stdlib.h>

char *sk_test_mkdtemp(const char *prefix) {
        const char *tmp = getenv("TMPDIR");
        char *path = NULL;
        if (asprintf(&path, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) < 0)
                return NULL;
        if (!mkdtemp(path)) {
                free(path);
                return NULL;
        }
        return path;
}
