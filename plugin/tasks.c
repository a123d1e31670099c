#include "plugin/tasks.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "rpc/client.h"
#include "tasks.pb-c.h"

#define TASKS_TIMEOUT_MS 10000

static pthread_mutex_t tasks_mutex = PTHREAD_MUTEX_INITIALIZER;
static sk_rpc *tasks_rpc;
static char *tasks_socket;

int sk_tasks_open(const char *containerd_socket) {
        pthread_mutex_lock(&tasks_mutex);
        int r = 0;
        if (!tasks_rpc) {
                tasks_socket = strdup(containerd_socket);
                r = tasks_socket ? sk_rpc_open(containerd_socket, &tasks_rpc) : -ENOMEM;
        }
        pthread_mutex_unlock(&tasks_mutex);
        return r;
}

void sk_tasks_close(void) {
        pthread_mutex_lock(&tasks_mutex);
        sk_rpc_close(tasks_rpc);
        tasks_rpc = NULL;
        free(tasks_socket);
        tasks_socket = NULL;
        pthread_mutex_unlock(&tasks_mutex);
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

        pthread_mutex_lock(&tasks_mutex);
        if (!tasks_rpc) {
                pthread_mutex_unlock(&tasks_mutex);
                if (ret_error && asprintf(ret_error, "cannot %s task %s/%s: no containerd socket configured", what, ns,
                                          id) < 0)
                        *ret_error = NULL;
                return -ENOTCONN;
        }
        s = sk_rpc_call(tasks_rpc, pause ? "/containerd.services.tasks.v1.Tasks/Pause"
                                         : "/containerd.services.tasks.v1.Tasks/Resume",
                        &md, 1, TASKS_TIMEOUT_MS, pause ? &preq.base : &rreq.base,
                        &google__protobuf__empty__descriptor, NULL, NULL, &details);
        pthread_mutex_unlock(&tasks_mutex);
        if (s == GRPC_STATUS_OK) {
                free(details);
                return 0;
        }
        int r = s == GRPC_STATUS_NOT_FOUND           ? -ENOENT
                : s == GRPC_STATUS_UNAVAILABLE       ? -ENOTCONN
                : s == GRPC_STATUS_DEADLINE_EXCEEDED ? -ETIMEDOUT
                : s == GRPC_STATUS_FAILED_PRECONDITION ? -EBUSY
                                                     : -EIO;
        if (ret_error && asprintf(ret_error, "cannot %s task %s/%s through containerd (%s): %s", what, ns, id,
                                  tasks_socket, details && *details ? details : "no details") < 0)
                *ret_error = NULL;
        free(details);
        return r;
}
