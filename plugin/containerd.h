/* snapkeepd as a client of containerd, over containerd's own socket, with the
 * namespace in the "containerd-namespace" header as every containerd client
 * sends it:
 *   - Tasks API: pause and resume a container's task (policy consistency =
 *     pause);
 *   - Containers API: who a container snapshot belongs to in Kubernetes (the
 *     CRI labels io.kubernetes.* of the container whose snapshot it is, and
 *     the pod's labels from its sandbox), for backup tags and policies;
 *   - Containers, Images and Content APIs: the container's image (manifest
 *     and config), recorded with its backup for `restore --as-image`.
 * One channel, opened at start (nothing connects until the first call);
 * calls are serialised (rare, and each bounded by a deadline). */
#pragma once

#include <stdbool.h>

#include "container/k8s.h"

/* Open the channel to containerd's socket (nothing connects yet). */
int sk_containerd_open(const char *containerd_socket);
void sk_containerd_close(void);

/* sk_task_pause_fn of auto/scheduler.h: pause (or resume) the task of
 * container id in namespace ns. -ENOENT: the container has no task (not
 * running: nothing to pause); -ENOTCONN: containerd is not reachable; other
 * -errno with *ret_error (owned) naming the cause. */
int sk_tasks_pause(const char *ns, const char *id, bool pause, char **ret_error, void *userdata);

/* sk_identify_fn of container/capture.h: the Kubernetes identity of the
 * container in namespace ns whose snapshot key is `key` (CRI names a
 * container's snapshot after the container). 1: *ret filled (release with
 * sk_k8s_identity_clear); 0: not a pod's container; -ENOENT: no container
 * has that snapshot (yet); -ENOTCONN, -ETIMEDOUT, -EIO with *ret_error
 * (owned). The pod's labels are taken only from the one sandbox with the
 * pod's uid, name and namespace; with none or several, they are not known. */
int sk_containerd_identify(const char *ns, const char *key, sk_k8s_identity *ret, char **ret_error, void *userdata);

/* sk_image_fn of container/capture.h: the manifest (for this machine's
 * platform when the image is an index) and config of the image of the
 * container in namespace ns whose snapshot key is `key`, each checked
 * against its digest and at most SK_IMAGE_BLOB_MAX bytes. */
int sk_containerd_image(const char *ns, const char *key, char **ret_manifest, size_t *ret_manifest_len,
                        char **ret_config, size_t *ret_config_len, char **ret_error, void *userdata);
