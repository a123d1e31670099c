/* libFuzzer harness for the TOML line editor of `snapkeep setup containerd`
 * (cli/tomledit.c): the input is a containerd config. A refused one must come
 * with a message; an accepted one must take the setup's edits (or refuse
 * them as a clash), render, and parse again with the edits in place, and a
 * second round of the same edits must change nothing. Seeds in
 * tests/fuzz/corpus/fuzz-tomledit/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tomledit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const PROXY[] = { "proxy_plugins", "snapkeep" };
static const char *const CRI[] = { "plugins", "io.containerd.grpc.v1.cri", "containerd" };

/* The setup's edits; the number that changed, or -1 if one was refused. */
static int edit(sk_toml *t) {
        int r1 = sk_toml_set(t, PROXY, 2, "address", "\"/run/snapkeep/snapkeep.sock\"");
        int r2 = sk_toml_set(t, CRI, 3, "snapshotter", "\"snapkeep\"");
        if (r1 < 0 || r2 < 0) {
                if ((r1 < 0 && r1 != -EEXIST) || (r2 < 0 && r2 != -EEXIST))
                        abort();
                return -1;
        }
        return r1 + r2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 256 * 1024)
                return 0;
        char err[256] = "";
        sk_toml *t = NULL;
        if (sk_toml_parse((const char *) data, size, &t, err, sizeof(err)) < 0) {
                if (!err[0])
                        abort();
                return 0;
        }
        if (edit(t) >= 0) {
                size_t len = 0;
                char *text = sk_toml_render(t, &len);
                if (!text)
                        abort();
                sk_toml *u = NULL;
                if (sk_toml_parse(text, len, &u, err, sizeof(err)) < 0)
                        abort(); /* the editor wrote something it cannot read */
                const char *a = sk_toml_get(u, PROXY, 2, "address");
                if (!a || strcmp(a, "\"/run/snapkeep/snapkeep.sock\"") != 0 || edit(u) != 0)
                        abort();
                sk_toml_free(u);
                free(text);
        }
        sk_toml_free(t);
        return 0;
}
