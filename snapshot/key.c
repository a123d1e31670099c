#include "snapshot/key.h"

#include <string.h>

const char *sk_key_namespace(const char *key, size_t *ret_len) {
        const char *s1 = strchr(key, '/');
        if (!s1 || s1 == key || !strchr(s1 + 1, '/'))
                return NULL;
        *ret_len = (size_t) (s1 - key);
        return key;
}

const char *sk_key_name(const char *key) {
        const char *s1 = strchr(key, '/');
        const char *name = s1 ? strchr(s1 + 1, '/') : NULL;
        return name ? name + 1 : key;
}

bool sk_key_is_unpack(const char *key) {
        const char *name = sk_key_name(key);
        /* "extract-%s %s": no client-chosen container id has a space, and a
         * prefix check alone would also catch a container named extract-x. */
        return strncmp(name, "extract-", 8) == 0 || strchr(name, ' ') != NULL;
}
