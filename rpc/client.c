#include "rpc/client.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RPC_METADATA_MAX 8

struct sk_rpc {
        grpc_channel *channel;
        grpc_completion_queue *cq; /* for pluck: one call at a time per handle */
};

int sk_rpc_open(const char *socket_path, sk_rpc **ret) {
        sk_rpc *r = calloc(1, sizeof(*r));
        char *target = NULL;
        if (!r || asprintf(&target, "unix:%s", socket_path) < 0) {
                free(r);
                return -ENOMEM;
        }
        /* Reference-counted: the daemon has called it already, the CLI has not. */
        grpc_init();
        grpc_channel_credentials *creds = grpc_insecure_credentials_create();
        r->channel = grpc_channel_create(target, creds, NULL);
        grpc_channel_credentials_release(creds);
        free(target);
        r->cq = grpc_completion_queue_create_for_pluck(NULL);
        if (!r->channel || !r->cq) {
                sk_rpc_close(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

void sk_rpc_close(sk_rpc *r) {
        if (!r)
                return;
        if (r->channel)
                grpc_channel_destroy(r->channel);
        if (r->cq) {
                grpc_completion_queue_shutdown(r->cq);
                grpc_completion_queue_destroy(r->cq);
        }
        free(r);
        grpc_shutdown();
}

static bool run_batch(sk_rpc *r, grpc_call *call, const grpc_op *ops, size_t n, void *tag) {
        if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK)
                return false;
        grpc_event ev = grpc_completion_queue_pluck(r->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/* Read replies until the stream ends; < 0 if one did not unpack or fn
 * refused it. */
static int read_replies(sk_rpc *r, grpc_call *call, const ProtobufCMessageDescriptor *out_desc, sk_rpc_reply_fn fn,
                        void *userdata) {
        for (;;) {
                grpc_byte_buffer *recv = NULL;
                grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };
                op.data.recv_message.recv_message = &recv;
                if (!run_batch(r, call, &op, 1, (void *) 2) || !recv)
                        return 0;
                grpc_byte_buffer_reader reader;
                grpc_slice all = grpc_empty_slice();
                if (grpc_byte_buffer_reader_init(&reader, recv)) {
                        all = grpc_byte_buffer_reader_readall(&reader);
                        grpc_byte_buffer_reader_destroy(&reader);
                }
                grpc_byte_buffer_destroy(recv);
                ProtobufCMessage *msg = protobuf_c_message_unpack(out_desc, NULL, GRPC_SLICE_LENGTH(all),
                                                                  GRPC_SLICE_START_PTR(all));
                grpc_slice_unref(all);
                if (!msg)
                        return -EBADMSG;
                int e = fn ? fn(msg, userdata) : 0;
                protobuf_c_message_free_unpacked(msg, NULL);
                if (e < 0)
                        return e;
        }
}

grpc_status_code sk_rpc_call(sk_rpc *r, const char *method, const sk_rpc_metadata *md, size_t n_md,
                             unsigned timeout_ms, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *out_desc, sk_rpc_reply_fn fn, void *userdata,
                             char **ret_details) {
        if (ret_details)
                *ret_details = NULL;
        if (n_md > RPC_METADATA_MAX)
                return GRPC_STATUS_INVALID_ARGUMENT;
        size_t len = protobuf_c_message_get_packed_size(req);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
                return GRPC_STATUS_RESOURCE_EXHAUSTED;
        protobuf_c_message_pack(req, buf);
        grpc_slice s = grpc_slice_from_copied_buffer((const char *) buf, len);
        free(buf);
        grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);

        gpr_timespec deadline = timeout_ms
                ? gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN))
                : gpr_inf_future(GPR_CLOCK_REALTIME);
        grpc_slice m = grpc_slice_from_static_string(method);
        grpc_call *call =
                grpc_channel_create_call(r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, m, NULL, deadline, NULL);
        grpc_metadata meta[RPC_METADATA_MAX];
        for (size_t i = 0; i < n_md; i++)
                meta[i] = (grpc_metadata) { .key = grpc_slice_from_static_string(md[i].key),
                                            .value = grpc_slice_from_copied_string(md[i].value) };
        grpc_metadata_array initial_md, trailing_md;
        grpc_metadata_array_init(&initial_md);
        grpc_metadata_array_init(&trailing_md);
        grpc_status_code status = GRPC_STATUS_UNKNOWN;
        grpc_slice details = grpc_empty_slice();

        grpc_op ops[4] = {};
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[0].data.send_initial_metadata.count = n_md;
        ops[0].data.send_initial_metadata.metadata = n_md ? meta : NULL;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = send;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
        int cb_error = run_batch(r, call, ops, 4, (void *) 1) ? read_replies(r, call, out_desc, fn, userdata) : 0;

        grpc_op st = { .op = GRPC_OP_RECV_STATUS_ON_CLIENT };
        st.data.recv_status_on_client.trailing_metadata = &trailing_md;
        st.data.recv_status_on_client.status = &status;
        st.data.recv_status_on_client.status_details = &details;
        if (!run_batch(r, call, &st, 1, (void *) 3))
                status = GRPC_STATUS_UNAVAILABLE;
        if (status == GRPC_STATUS_OK && cb_error < 0) {
                status = GRPC_STATUS_DATA_LOSS;
                if (ret_details)
                        *ret_details = strdup("malformed reply");
        } else if (ret_details)
                *ret_details = strndup((const char *) GRPC_SLICE_START_PTR(details), GRPC_SLICE_LENGTH(details));
        for (size_t i = 0; i < n_md; i++)
                grpc_slice_unref(meta[i].value);
        grpc_slice_unref(details);
        grpc_metadata_array_destroy(&initial_md);
        grpc_metadata_array_destroy(&trailing_md);
        grpc_byte_buffer_destroy(send);
        grpc_call_unref(call);
        return status;
}
