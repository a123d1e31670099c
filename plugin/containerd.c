#include "plugin/containerd.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "rpc/client.h"
#include "container/image-config.h"
#include "containers.pb-c.h"
#include "content.pb-c.h"
#include "images.pb-c.h"
#include "tasks.pb-c.h"

#define CONTAINERD_TIMEOUT_MS 10000

/* Two channels, each one call at a time (an sk_rpc handle is not shared
 * between threads): pauses and resumes never wait behind the reads of an
 * identity or an image, which a backup makes while a task may be paused. */
static pthread_mutex_t tk_mutex = PTHREAD_MUTEX_INITIALIZER;
static sk_rpc *tk_rpc;
static pthread_mutex_t cd_mutex = PTHREAD_MUTEX_INITIALIZER;
static sk_rpc *cd_rpc;
static char *cd_socket; /* set once at open, read by both */

int sk_containerd_open(const char *containerd_socket) {
        pthread_mutex_lock(&tk_mutex);
        pthread_mutex_lock(&cd_mutex);
        int r = 0;
        if (!cd_rpc) {
                cd_socket = strdup(containerd_socket);
                r = cd_socket ? sk_rpc_open(containerd_socket, &cd_rpc) : -ENOMEM;
                if (r >= 0)
                        r = sk_rpc_open(containerd_socket, &tk_rpc);
        }
        pthread_mutex_unlock(&cd_mutex);
        pthread_mutex_unlock(&tk_mutex);
        return r;
}

void sk_containerd_close(void) {
        pthread_mutex_lock(&tk_mutex);
        pthread_mutex_lock(&cd_mutex);
        sk_rpc_close(tk_rpc);
        tk_rpc = NULL;
        sk_rpc_close(cd_rpc);
        cd_rpc = NULL;
        free(cd_socket);
        cd_socket = NULL;
        pthread_mutex_unlock(&cd_mutex);
        pthread_mutex_unlock(&tk_mutex);
}

static int status_errno(grpc_status_code s) {
        return s == GRPC_STATUS_NOT_FOUND             ? -ENOENT
               : s == GRPC_STATUS_UNAVAILABLE         ? -ENOTCONN
               : s == GRPC_STATUS_DEADLINE_EXCEEDED   ? -ETIMEDOUT
               : s == GRPC_STATUS_FAILED_PRECONDITION ? -EBUSY
                                                      : -EIO;
}

int sk_tasks_pause(const char *ns, const char *id, bool pause, char **ret_error, void *userdata) {
        (void) userdata;
        const char *what = pause ? "pause" : "resume";
        Containerd__Services__Tasks__V1__PauseTaskRequest preq = CONTAINERD__SERVICES__TASKS__V1__PAUSE_TASK_REQUEST__INIT;
        Containerd__Services__Tasks__V1__ResumeTaskRequest rreq = CONTAINERD__SERVICES__TASKS__V1__RESUME_TASK_REQUEST__INIT;
        preq.container_id = rreq.container_id = (char *) id;
        sk_rpc_metadata md = { "containerd-namespace", ns };
        char *details = NULL;
        grpc_status_code s;

        pthread_mutex_lock(&tk_mutex);
        if (!tk_rpc) {
                pthread_mutex_unlock(&tk_mutex);
                if (ret_error && asprintf(ret_error, "cannot %s task %s/%s: no containerd socket configured", what, ns,
                                          id) < 0)
                        *ret_error = NULL;
                return -ENOTCONN;
        }
        s = sk_rpc_call(tk_rpc, pause ? "/containerd.services.tasks.v1.Tasks/Pause"
                                         : "/containerd.services.tasks.v1.Tasks/Resume",
                        &md, 1, CONTAINERD_TIMEOUT_MS, pause ? &preq.base : &rreq.base,
                        &google__protobuf__empty__descriptor, NULL, NULL, &details);
        pthread_mutex_unlock(&tk_mutex);
        if (s == GRPC_STATUS_OK) {
                free(details);
                return 0;
        }
        int r = status_errno(s);
        if (ret_error && asprintf(ret_error, "cannot %s task %s/%s through containerd (%s): %s", what, ns, id,
                                  cd_socket, details && *details ? details : "no details") < 0)
                *ret_error = NULL;
        free(details);
        return r;
}

/* --- Containers API: Kubernetes identity ------------------------------------------ */

typedef Containerd__Services__Containers__V1__Container cd_container;

typedef struct identify_ctx {
        const char *key;
        sk_k8s_identity *id;
        bool found;
        int error;
        char *image; /* sk_containerd_image: the container's image name (owned) */
} identify_ctx;

static int take_container(const ProtobufCMessage *msg, void *userdata) {
        const Containerd__Services__Containers__V1__GetContainerResponse *resp = (const void *) msg;
        identify_ctx *x = userdata;
        const cd_container *c = resp->container;
        /* CRI names a container's snapshot after the container; a container
         * of that id with another snapshot is not this snapshot's owner. */
        if (!c || !c->snapshot_key || strcmp(c->snapshot_key, x->key) != 0)
                return 0;
        x->found = true;
        if (!x->id) {
                x->image = c->image && *c->image ? strdup(c->image) : NULL;
                return 0;
        }
        for (size_t i = 0; i < c->n_labels; i++)
                (void) sk_k8s_identity_take(x->id, c->labels[i]->key, c->labels[i]->value);
        return 0;
}

static int take_sandbox(const ProtobufCMessage *msg, void *userdata) {
        const Containerd__Services__Containers__V1__ListContainersResponse *resp = (const void *) msg;
        identify_ctx *x = userdata;
        /* One sandbox per pod; more means some client made a look-alike:
         * then the pod's labels are not known (none rather than its). */
        if (resp->n_containers != 1)
                return 0;
        const cd_container *c = resp->containers[0];
        for (size_t i = 0; i < c->n_labels && x->error >= 0; i++)
                x->error = sk_k8s_identity_add_pod_label(x->id, c->labels[i]->key, c->labels[i]->value);
        return 0;
}

static int call_failed(grpc_status_code s, const char *what, const char *ns, const char *key, char *details,
                       char **ret_error) {
        if (ret_error && asprintf(ret_error, "cannot %s of %s/%s through containerd (%s): %s", what, ns, key,
                                  cd_socket ? cd_socket : "no socket", details && *details ? details : "no details") < 0)
                *ret_error = NULL;
        free(details);
        return status_errno(s);
}

int sk_containerd_identify(const char *ns, const char *key, sk_k8s_identity *ret, char **ret_error, void *userdata) {
        (void) userdata;
        sk_k8s_identity id = {};
        identify_ctx x = { .key = key, .id = &id };
        Containerd__Services__Containers__V1__GetContainerRequest greq =
                CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
        greq.id = (char *) key;
        sk_rpc_metadata md = { "containerd-namespace", ns };
        char *details = NULL;

        pthread_mutex_lock(&cd_mutex);
        if (!cd_rpc) {
                pthread_mutex_unlock(&cd_mutex);
                return 0; /* no containerd client configured: nothing known */
        }
        grpc_status_code s = sk_rpc_call(cd_rpc, "/containerd.services.containers.v1.Containers/Get", &md, 1,
                                         CONTAINERD_TIMEOUT_MS, &greq.base,
                                         &containerd__services__containers__v1__get_container_response__descriptor,
                                         take_container, &x, &details);
        if (s == GRPC_STATUS_NOT_FOUND || (s == GRPC_STATUS_OK && (!x.found || !sk_k8s_identity_known(&id)))) {
                pthread_mutex_unlock(&cd_mutex);
                free(details);
                sk_k8s_identity_clear(&id);
                /* No container (yet: containerd's client makes the snapshot
                 * before the container) is not the same answer as "not a pod". */
                return s == GRPC_STATUS_NOT_FOUND || !x.found ? -ENOENT : 0;
        }
        if (s != GRPC_STATUS_OK) {
                pthread_mutex_unlock(&cd_mutex);
                sk_k8s_identity_clear(&id);
                return call_failed(s, "read container", ns, key, details, ret_error);
        }
        free(details);
        details = NULL;
        /* The pod's labels live on its sandbox: the CRI container of kind
         * sandbox with the same pod uid, name and namespace (all checked by
         * sk_k8s_identity_take as DNS names: none can break out of the
         * quotes). */
        if (id.uid[0]) {
                char f[1200];
                snprintf(f, sizeof(f),
                         "labels.\"" SK_CRI_LABEL_POD_UID "\"==\"%s\",labels.\"" SK_CRI_LABEL_POD_NAME
                         "\"==\"%s\",labels.\"" SK_CRI_LABEL_POD_NAMESPACE "\"==\"%s\",labels.\"" SK_CRI_LABEL_KIND
                         "\"==sandbox",
                         id.uid, id.pod, id.namespace_);
                char *filters[1] = { f };
                Containerd__Services__Containers__V1__ListContainersRequest lreq =
                        CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
                lreq.filters = filters;
                lreq.n_filters = 1;
                s = sk_rpc_call(cd_rpc, "/containerd.services.containers.v1.Containers/List", &md, 1,
                                CONTAINERD_TIMEOUT_MS, &lreq.base,
                                &containerd__services__containers__v1__list_containers_response__descriptor,
                                take_sandbox, &x, &details);
                if (s != GRPC_STATUS_OK || x.error < 0) {
                        pthread_mutex_unlock(&cd_mutex);
                        sk_k8s_identity_clear(&id);
                        if (x.error < 0) {
                                free(details);
                                return x.error;
                        }
                        return call_failed(s, "read the pod sandbox", ns, key, details, ret_error);
                }
                free(details);
        }
        pthread_mutex_unlock(&cd_mutex);
        *ret = id;
        return 1;
}

/* --- Images and Content APIs: the container's image ----------------------------- */

typedef struct blob_ctx {
        char *buf;
        size_t len;
        sk_oci_desc desc;
        bool have_desc;
} blob_ctx;

static int take_chunk(const ProtobufCMessage *msg, void *userdata) {
        const Containerd__Services__Content__V1__ReadContentResponse *resp = (const void *) msg;
        blob_ctx *x = userdata;
        if (resp->data.len > SK_IMAGE_BLOB_MAX - x->len)
                return -EFBIG;
        char *n = realloc(x->buf, x->len + resp->data.len + 1);
        if (!n)
                return -ENOMEM;
        memcpy(n + x->len, resp->data.data, resp->data.len);
        x->buf = n;
        x->len += resp->data.len;
        x->buf[x->len] = 0;
        return 0;
}

static int take_image(const ProtobufCMessage *msg, void *userdata) {
        const Containerd__Services__Images__V1__GetImageResponse *resp = (const void *) msg;
        blob_ctx *x = userdata;
        const Containerd__Types__Descriptor *t = resp->image ? resp->image->target : NULL;
        if (!t || !t->media_type || !t->digest || strlen(t->media_type) >= sizeof(x->desc.media_type) ||
            !sk_oci_digest_valid(t->digest, NULL, 0) || t->size < 0)
                return 0;
        snprintf(x->desc.media_type, sizeof(x->desc.media_type), "%s", t->media_type);
        snprintf(x->desc.digest, sizeof(x->desc.digest), "%s", t->digest);
        x->desc.size = t->size;
        x->have_desc = true;
        return 0;
}

/* Read blob desc from containerd's content store into *ret (owned, NUL-
 * terminated), checking its size and digest. Caller holds cd_mutex. */
static int read_blob(const sk_rpc_metadata *md, const sk_oci_desc *desc, char **ret, size_t *ret_len,
                     char **ret_error) {
        if (desc->size > SK_IMAGE_BLOB_MAX) {
                if (ret_error && asprintf(ret_error, "blob %s is %lld bytes, more than an image document may be",
                                          desc->digest, (long long) desc->size) < 0)
                        *ret_error = NULL;
                return -EFBIG;
        }
        Containerd__Services__Content__V1__ReadContentRequest req =
                CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
        req.digest = (char *) desc->digest;
        blob_ctx x = {};
        char *details = NULL;
        grpc_status_code s = sk_rpc_call(cd_rpc, "/containerd.services.content.v1.Content/Read", md, 1,
                                         CONTAINERD_TIMEOUT_MS, &req.base,
                                         &containerd__services__content__v1__read_content_response__descriptor,
                                         take_chunk, &x, &details);
        if (s != GRPC_STATUS_OK) {
                free(x.buf);
                return call_failed(s, "read image blob", md->value, desc->digest, details, ret_error);
        }
        free(details);
        if ((int64_t) x.len != desc->size || !sk_oci_digest_valid(desc->digest, x.buf, x.len)) {
                free(x.buf);
                if (ret_error && asprintf(ret_error, "blob %s in containerd's content store does not match its "
                                                     "digest or size", desc->digest) < 0)
                        *ret_error = NULL;
                return -EBADMSG;
        }
        *ret = x.buf ? x.buf : strdup("");
        *ret_len = x.len;
        return *ret ? 0 : -ENOMEM;
}

int sk_containerd_image(const char *ns, const char *key, char **ret_manifest, size_t *ret_manifest_len,
                        char **ret_config, size_t *ret_config_len, char **ret_error, void *userdata) {
        (void) userdata;
        identify_ctx x = { .key = key };
        Containerd__Services__Containers__V1__GetContainerRequest greq =
                CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
        greq.id = (char *) key;
        sk_rpc_metadata md = { "containerd-namespace", ns };
        char *details = NULL;
        _cleanup_free_ char *man = NULL, *cfg = NULL;
        size_t man_len = 0, cfg_len = 0;
        int r;

        pthread_mutex_lock(&cd_mutex);
        if (!cd_rpc) {
                pthread_mutex_unlock(&cd_mutex);
                return 0;
        }
        grpc_status_code s = sk_rpc_call(cd_rpc, "/containerd.services.containers.v1.Containers/Get", &md, 1,
                                         CONTAINERD_TIMEOUT_MS, &greq.base,
                                         &containerd__services__containers__v1__get_container_response__descriptor,
                                         take_container, &x, &details);
        _cleanup_free_ char *image = x.image;
        if (s == GRPC_STATUS_NOT_FOUND || (s == GRPC_STATUS_OK && !image)) {
                r = 0;
                free(details);
                goto out;
        }
        if (s != GRPC_STATUS_OK) {
                r = call_failed(s, "read container", ns, key, details, ret_error);
                goto out;
        }
        free(details);
        details = NULL;

        Containerd__Services__Images__V1__GetImageRequest ireq = CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
        ireq.name = image;
        blob_ctx b = {};
        s = sk_rpc_call(cd_rpc, "/containerd.services.images.v1.Images/Get", &md, 1, CONTAINERD_TIMEOUT_MS, &ireq.base,
                        &containerd__services__images__v1__get_image_response__descriptor, take_image, &b, &details);
        if (s == GRPC_STATUS_NOT_FOUND) { /* the image was removed since: nothing to record */
                r = 0;
                free(details);
                goto out;
        }
        if (s != GRPC_STATUS_OK) {
                r = call_failed(s, "read image", ns, image, details, ret_error);
                goto out;
        }
        free(details);
        if (!b.have_desc) {
                r = -EBADMSG;
                if (ret_error && asprintf(ret_error, "image %s has no valid target", image) < 0)
                        *ret_error = NULL;
                goto out;
        }
        sk_oci_desc d = b.desc;
        r = read_blob(&md, &d, &man, &man_len, ret_error);
        if (r >= 0 && sk_oci_media_is_index(d.media_type)) {
                r = sk_oci_index_pick(man, man_len, &d);
                if (r < 0) {
                        if (ret_error && asprintf(ret_error, "image %s: %s", image,
                                                  r == -ENOENT ? "no manifest for this machine's platform"
                                                               : "malformed index") < 0)
                                *ret_error = NULL;
                        goto out;
                }
                free(man);
                man = NULL;
                r = read_blob(&md, &d, &man, &man_len, ret_error);
        }
        if (r < 0)
                goto out;
        if (!sk_oci_media_is_manifest(d.media_type) || sk_oci_manifest_config(man, man_len, &d) < 0) {
                r = -EBADMSG;
                if (ret_error && asprintf(ret_error, "image %s: its manifest is not an OCI or Docker manifest",
                                          image) < 0)
                        *ret_error = NULL;
                goto out;
        }
        r = read_blob(&md, &d, &cfg, &cfg_len, ret_error);
        if (r >= 0) {
                *ret_manifest = TAKE_PTR(man);
                *ret_manifest_len = man_len;
                *ret_config = TAKE_PTR(cfg);
                *ret_config_len = cfg_len;
                r = 1;
        }
out:
        pthread_mutex_unlock(&cd_mutex);
        return r;
}
