/* The Kubernetes identity of a container snapshot: pod namespace, pod name
 * and container name (the labels kubelet puts on every CRI container, which
 * containerd's CRI plugin keeps on the containerd container) and the pod's own
 * labels (kept on the pod sandbox's container). snapkeepd learns them from
 * containerd's Containers API (plugin/containerd.c); this file holds the plain
 * value, the checks every field passes before it is used, and the backup tags
 * made of it.
 *
 * DESIGN: the values come from containerd's clients, so from whoever may
 * create a container: they are checked against what Kubernetes itself allows
 * (names are DNS labels or subdomains, label keys and values are short and of
 * a small alphabet). A value that fails is dropped, never shortened or
 * escaped, so a tag or a policy match never sees bytes Kubernetes would not
 * have accepted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* CRI container labels (set by kubelet, kept by containerd's CRI plugin). */
#define SK_CRI_LABEL_POD_NAMESPACE "io.kubernetes.pod.namespace"
#define SK_CRI_LABEL_POD_NAME "io.kubernetes.pod.name"
#define SK_CRI_LABEL_POD_UID "io.kubernetes.pod.uid"
#define SK_CRI_LABEL_CONTAINER_NAME "io.kubernetes.container.name"
/* containerd's CRI plugin: "container" or "sandbox". */
#define SK_CRI_LABEL_KIND "io.cri-containerd.kind"

/* Backup tags of a pod container's backups. */
#define SK_TAG_K8S_NAMESPACE_PREFIX "snapkeep:k8s-namespace="
#define SK_TAG_K8S_POD_PREFIX "snapkeep:k8s-pod="
#define SK_TAG_K8S_CONTAINER_PREFIX "snapkeep:k8s-container="

#define SK_K8S_NAME_MAX 253      /* a DNS subdomain */
#define SK_K8S_POD_LABELS_MAX 64 /* more are ignored */

typedef struct sk_k8s_identity {
        bool sandbox;                            /* the pod's sandbox ("pause") container */
        char namespace_[SK_K8S_NAME_MAX + 1];    /* "" when not a pod container */
        char pod[SK_K8S_NAME_MAX + 1];
        char container[SK_K8S_NAME_MAX + 1];
        char uid[SK_K8S_NAME_MAX + 1];
        char *pod_label_keys[SK_K8S_POD_LABELS_MAX]; /* owned */
        char *pod_label_values[SK_K8S_POD_LABELS_MAX];
        size_t n_pod_labels;
} sk_k8s_identity;

void sk_k8s_identity_clear(sk_k8s_identity *id);

/* Whether s is a DNS subdomain as Kubernetes names are (RFC 1123: lowercase
 * alphanumerics, '-' and '.', starting and ending alphanumeric, <= 253). */
bool sk_k8s_name_valid(const char *s);
/* Whether key=value is a Kubernetes label (key: [DNS-subdomain '/'] name,
 * name and value <= 63 of [A-Za-z0-9._-], alphanumeric at both ends; the
 * value may be empty). */
bool sk_k8s_label_valid(const char *key, const char *value);

/* Take one label of a CRI container: the identity labels above (and
 * SK_CRI_LABEL_KIND); anything else, and a value that is not valid, is
 * ignored. Returns 1 if it was taken. */
int sk_k8s_identity_take(sk_k8s_identity *id, const char *key, const char *value);
/* Whether the container labels gave a pod container's identity (namespace,
 * pod and container name all set, or a sandbox with namespace and pod). */
bool sk_k8s_identity_known(const sk_k8s_identity *id);
/* Add one label of the pod (from its sandbox): kept when valid and not
 * kubelet's or CRI's own ("io.kubernetes.", "io.cri-containerd."). 0 or -ENOMEM. */
int sk_k8s_identity_add_pod_label(sk_k8s_identity *id, const char *key, const char *value);
/* The pod label's value, or NULL. */
const char *sk_k8s_identity_pod_label(const sk_k8s_identity *id, const char *key);

/* The tags SK_TAG_K8S_* of a known identity into bufs, pointers to them into
 * out[0..3); returns how many. */
size_t sk_k8s_identity_tags(const sk_k8s_identity *id, char bufs[3][300], const char **out);
