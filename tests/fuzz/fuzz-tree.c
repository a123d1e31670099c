/* libFuzzer harness for repo/tree.c: the input is tried as a tree blob and
 * as a backup manifest. Every decode must either fail cleanly (-EBADMSG,
 * -EPROTONOSUPPORT, -ENOMEM) or succeed; and because the format is
 * canonical, whatever decodes must re-encode to exactly the input bytes. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/tree.h"
#include "repo/manifest-codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int r) {
        if (r < 0 && r != -EBADMSG && r != -EPROTONOSUPPORT && r != -ENOMEM)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        sk_tree *t = NULL;
        int r = sk_tree_decode(data, size, &t);
        check_rc(r);
        if (r >= 0) {
                if (!sk_tree_is_split(t)) {
                        size_t n = sk_tree_n_entries(t);
                        sk_node *copy = calloc(n ? n : 1, sizeof(sk_node));
                        void *buf = NULL;
                        size_t len = 0;
                        if (copy) {
                                for (size_t i = 0; i < n; i++)
                                        if (sk_node_copy(sk_tree_entry(t, i), &copy[i]) < 0)
                                                __builtin_trap();
                                if (sk_tree_encode_leaf(copy, n, &buf, &len) < 0)
                                        __builtin_trap();
                                if (len != size || memcmp(buf, data, size) != 0)
                                        __builtin_trap();
                                for (size_t i = 0; i < n; i++) {
                                        (void) sk_node_meta_equal(&copy[i], sk_tree_entry(t, i));
                                        sk_node_clear(&copy[i]);
                                }
                        }
                        free(buf);
                        free(copy);
                } else if (sk_tree_n_parts(t) < 2 || !sk_tree_part(t, 0))
                        __builtin_trap();
                sk_tree_free(t);
        }

        sk_manifest *m = NULL;
        r = sk_manifest_decode(data, size, &m);
        check_rc(r);
        if (r >= 0) {
                void *buf = NULL;
                size_t len = 0;
                if (sk_manifest_encode(m, &buf, &len) < 0)
                        __builtin_trap();
                if (len != size || memcmp(buf, data, size) != 0)
                        __builtin_trap();
                free(buf);
                sk_manifest_free(m);
        }
        return 0;
}
