/* libFuzzer harness for snapshot/filter.c: the input is split at '\n' into
 * filter strings (ORed); every parse must either fail with -EINVAL and a
 * message, or succeed and match without crashing. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static sk_label labels[] = {
                { .key = "containerd.io/gc.root", .value = "x" },
                { .key = "a.b", .value = "c" },
                { .key = "", .value = "empty key" },
        };
        static const sk_info infos[] = {
                { .name = "default/1/k", .parent = "p", .kind = SK_KIND_ACTIVE, .labels = labels, .n_labels = 3 },
                { .name = "p", .kind = SK_KIND_COMMITTED },
                { .name = "v", .parent = "p", .kind = SK_KIND_VIEW, .labels = labels, .n_labels = 1 },
        };
        if (size > 4096)
                return 0;
        char *buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = 0;
        const char *fs[16];
        size_t n = 0;
        for (char *p = buf; n < 16;) {
                fs[n++] = p;
                char *nl = strchr(p, '\n');
                if (!nl)
                        break;
                *nl = 0;
                p = nl + 1;
        }
        sk_filter *f = NULL;
        char *err = NULL;
        int r = sk_filter_parse(fs, n, &f, &err);
        if (r == 0) {
                for (size_t i = 0; i < sizeof(infos) / sizeof(infos[0]); i++)
                        (void) sk_filter_match(f, &infos[i]);
                sk_filter_free(f);
        } else if (r == -EINVAL && !err)
                abort(); /* a syntax error must come with a message */
        free(err);
        free(buf);
        return 0;
}
