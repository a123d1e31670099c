#include "container/k8s.h"
#include "container/record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool alnum_lower(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool alnum(char c) {
        return alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

bool sk_k8s_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > SK_K8S_NAME_MAX || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!alnum_lower(s[i]) && s[i] != '-' && s[i] != '.')
                        return false;
        return true;
}

/* A label name or value: <= 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
static bool label_part_valid(const char *s, size_t n, bool may_be_empty) {
        if (n == 0)
                return may_be_empty;
        if (n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

bool sk_k8s_label_valid(const char *key, const char *value) {
        if (!key || !value)
                return false;
        const char *slash = strchr(key, '/');
        const char *name = key;
        if (slash) {
                char prefix[SK_K8S_NAME_MAX + 1];
                size_t pl = (size_t) (slash - key);
                if (pl > SK_K8S_NAME_MAX)
                        return false;
                memcpy(prefix, key, pl);
                prefix[pl] = 0;
                if (!sk_k8s_name_valid(prefix))
                        return false;
                name = slash + 1;
        }
        return label_part_valid(name, strlen(name), false) && label_part_valid(value, strlen(value), true);
}

void sk_k8s_identity_clear(sk_k8s_identity *id) {
        for (size_t i = 0; i < id->n_pod_labels; i++) {
                free(id->pod_label_keys[i]);
                free(id->pod_label_values[i]);
        }
        *id = (sk_k8s_identity) {};
}

static int take_name(char dst[SK_K8S_NAME_MAX + 1], const char *value) {
        if (!sk_k8s_name_valid(value))
                return 0;
        strcpy(dst, value);
        return 1;
}

int sk_k8s_identity_take(sk_k8s_identity *id, const char *key, const char *value) {
        if (!key || !value)
                return 0;
        if (strcmp(key, SK_CRI_LABEL_POD_NAMESPACE) == 0)
                return take_name(id->namespace_, value);
        if (strcmp(key, SK_CRI_LABEL_POD_NAME) == 0)
                return take_name(id->pod, value);
        if (strcmp(key, SK_CRI_LABEL_CONTAINER_NAME) == 0)
                return take_name(id->container, value);
        if (strcmp(key, SK_CRI_LABEL_POD_UID) == 0)
                return take_name(id->uid, value); /* a UUID: lowercase hex and '-' */
        if (strcmp(key, SK_CRI_LABEL_KIND) == 0) {
                id->sandbox = strcmp(value, "sandbox") == 0;
                return 1;
        }
        return 0;
}

bool sk_k8s_identity_known(const sk_k8s_identity *id) {
        return id->namespace_[0] && id->pod[0] && (id->container[0] || id->sandbox);
}

int sk_k8s_identity_add_pod_label(sk_k8s_identity *id, const char *key, const char *value) {
        if (strncmp(key, "io.kubernetes.", 14) == 0 || strncmp(key, "io.cri-containerd.", 18) == 0 ||
            !sk_k8s_label_valid(key, value) || id->n_pod_labels >= SK_K8S_POD_LABELS_MAX ||
            sk_k8s_identity_pod_label(id, key))
                return 0;
        char *k = strdup(key), *v = strdup(value);
        if (!k || !v) {
                free(k);
                free(v);
                return -ENOMEM;
        }
        id->pod_label_keys[id->n_pod_labels] = k;
        id->pod_label_values[id->n_pod_labels++] = v;
        return 0;
}

const char *sk_k8s_identity_pod_label(const sk_k8s_identity *id, const char *key) {
        for (size_t i = 0; i < id->n_pod_labels; i++)
                if (strcmp(id->pod_label_keys[i], key) == 0)
                        return id->pod_label_values[i];
        return NULL;
}

size_t sk_k8s_identity_tags(const sk_k8s_identity *id, char bufs[3][300], const char **out) {
        if (!sk_k8s_identity_known(id))
                return 0;
        const char *prefix[3] = { SK_TAG_K8S_NAMESPACE_PREFIX, SK_TAG_K8S_POD_PREFIX, SK_TAG_K8S_CONTAINER_PREFIX };
        const char *value[3] = { id->namespace_, id->pod, id->container };
        size_t n = 0;
        for (size_t i = 0; i < 3; i++) {
                if (!value[i][0])
                        continue;
                /* A name near 253 bytes makes a tag longer than a tag may
                 * be: left out, as record.h does with the other identity tags. */
                int l = snprintf(bufs[i], 300, "%s%s", prefix[i], value[i]);
                if (l > 0 && l <= SK_TAG_MAX)
                        out[n++] = bufs[i];
        }
        return n;
}
