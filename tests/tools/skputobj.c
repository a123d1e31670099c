/* skputobj: store stdin as a sealed repository object, for tests only.
 *
 *   skputobj URL PASSWORD_FILE DIR NAME < data
 *
 * Lets tests build container-backup metadata (object containers/<id>) without
 * a daemon, to exercise `snapkeep restore/export` on hand-made backups. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/toolrepo.h"

int main(int argc, char **argv) {
        if (argc != 5) {
                fprintf(stderr, "usage: skputobj URL PASSWORD_FILE DIR NAME < data\n");
                return 1;
        }
        sk_repo *repo = NULL;
        int r = sk_tool_open(argv[1], argv[2], &repo);
        if (r < 0) {
                fprintf(stderr, "skputobj: open %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        size_t cap = 65536, n = 0;
        char *buf = malloc(cap);
        size_t k;
        while (buf && (k = fread(buf + n, 1, cap - n, stdin)) > 0) {
                n += k;
                if (n == cap) {
                        char *nb = realloc(buf, cap *= 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                        }
                        buf = nb;
                }
        }
        if (!buf) {
                sk_repo_free(repo);
                return 1;
        }
        r = sk_repo_put_object(repo, argv[3], argv[4], buf, n);
        free(buf);
        if (r < 0)
                fprintf(stderr, "skputobj: put %s/%s: %s (%s)\n", argv[3], argv[4], strerror(-r),
                        sk_repo_last_error(repo));
        sk_repo_free(repo);
        return r < 0 ? 1 : 0;
}
