#include "plugin/containerd.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "rpc/client.h"
#include "containers.pb-c.h"
#include "tasks.pb-c.h"

#define CONTAINERD_TIMEOUT_MS 10000

static pthread_mutex_t cd_mutex = PTHREAD_MUTEX_INITIALIZER;
static sk_rpc *cd_rpc;
static char *cd_socket;

int sk_containerd_open(const char *containerd_socket) {
        pthread_mutex_lock(&cd_mutex);
        int r = 0;
        if (!cd_rpc) {
                cd_socket = strdup(containerd_socket);
                r = cd_socket ? sk_rpc_open(containerd_socket, &cd_rpc) : -ENOMEM;
        }
        pthread_mutex_unlock(&cd_mutex);
        return r;
}

void sk_containerd_close(void) {
        pthread_mutex_lock(&cd_mutex);
        sk_rpc_close(cd_rpc);
        cd_rpc = NULL;
        free(cd_socket);
        cd_socket = NULL;
        pthread_mutex_unlock(&cd_mutex);
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

        pthread_mutex_lock(&cd_mutex);
        if (!cd_rpc) {
                pthread_mutex_unlock(&cd_mutex);
                if (ret_error && asprintf(ret_error, "cannot %s task %s/%s: no containerd socket configured", what, ns,
                                          id) < 0)
                        *ret_error = NULL;
                return -ENOTCONN;
        }
        s = sk_rpc_call(cd_rpc, pause ? "/containerd.services.tasks.v1.Tasks/Pause"
                                         : "/containerd.services.tasks.v1.Tasks/Resume",
                        &md, 1, CONTAINERD_TIMEOUT_MS, pause ? &preq.base : &rreq.base,
                        &google__protobuf__empty__descriptor, NULL, NULL, &details);
        pthread_mutex_unlock(&cd_mutex);
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
        for (size_t i = 0; i < c->n_labels; i++)
                (void) sk_k8s_identity_take(x->id, c->labels[i]->key, c->labels[i]->value);
        return 0;
}

static int take_sandbox(const ProtobufCMessage *msg, void *userdata) {
        const Containerd__Services__Containers__V1__ListContainersResponse *resp = (const void *) msg;
        identify_ctx *x = userdata;
        /* One sandbox per pod uid; more would be a client's doing: the first. */
        if (resp->n_containers == 0)
                return 0;
        const cd_container *c = resp->containers[0];
        for (size_t i = 0; i < c->n_labels && x->error >= 0; i++)
                x->error = sk_k8s_identity_add_pod_label(x->id, c->labels[i]->key, c->labels[i]->value);
        return 0;
}

static int identify_failed(grpc_status_code s, const char *what, const char *ns, const char *key, char *details,
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
                return 0;
        }
        if (s != GRPC_STATUS_OK) {
                pthread_mutex_unlock(&cd_mutex);
                sk_k8s_identity_clear(&id);
                return identify_failed(s, "read container", ns, key, details, ret_error);
        }
        free(details);
        details = NULL;
        /* The pod's labels live on its sandbox: the CRI container of kind
         * sandbox with the same pod uid (a UUID: checked by
         * sk_k8s_identity_take, so it cannot break out of the quotes). */
        if (id.uid[0]) {
                char f[512];
                snprintf(f, sizeof(f), "labels.\"" SK_CRI_LABEL_POD_UID "\"==\"%s\",labels.\"" SK_CRI_LABEL_KIND
                                       "\"==sandbox", id.uid);
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
                        return identify_failed(s, "read the pod sandbox", ns, key, details, ret_error);
                }
                free(details);
        }
        pthread_mutex_unlock(&cd_mutex);
        *ret = id;
        return 1;
}
