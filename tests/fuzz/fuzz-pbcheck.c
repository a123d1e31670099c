/* libFuzzer harness for plugin/pbcheck.c, the wire walk that refuses request
 * strings holding invalid UTF-8 or NUL before protobuf-c unpacks them. The
 * first byte picks the request type of one method of the two services
 * snapkeepd serves; the rest is the request. Differential oracle: when the
 * walk passes the bytes and protobuf-c unpacks them, every string of the
 * unpacked message must be valid UTF-8 (else a bad key reaches the store).
 * Seeds in tests/fuzz/corpus/fuzz-pbcheck/. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/utf8.h"
#include "control.pb-c.h"
#include "plugin/pbcheck.h"
#include "snapshots.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCServiceDescriptor *const services[] = {
        &containerd__services__snapshots__v1__snapshots__descriptor,
        &snapkeep__control__v1__control__descriptor,
};

static const ProtobufCMessageDescriptor *pick(uint8_t b) {
        unsigned n = 0;
        for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
                n += services[s]->n_methods;
        unsigned i = b % n;
        for (size_t s = 0;; s++) {
                if (i < services[s]->n_methods)
                        return services[s]->methods[i].input;
                i -= services[s]->n_methods;
        }
}

static bool str_ok(const char *s) {
        return !s || sk_utf8_valid(s, strlen(s));
}

/* Whether every string field of m, nested ones included, is valid UTF-8. */
static bool strings_ok(const ProtobufCMessage *m, unsigned depth) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        if (depth > 64)
                __builtin_trap(); /* no request type nests this deep */
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const char *base = (const char *) m;
                if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                    *(const uint32_t *) (base + f->quantifier_offset) != f->id)
                        continue;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *) (base + f->quantifier_offset);
                        void *const *arr = *(void *const *const *) (base + f->offset);
                        for (size_t j = 0; j < n; j++)
                                if (f->type == PROTOBUF_C_TYPE_STRING ? !str_ok(arr[j])
                                                                      : !strings_ok(arr[j], depth + 1))
                                        return false;
                } else {
                        const void *v = *(const void *const *) (base + f->offset);
                        if (f->type == PROTOBUF_C_TYPE_STRING ? !str_ok(v) : v && !strings_ok(v, depth + 1))
                                return false;
                }
        }
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        const ProtobufCMessageDescriptor *d = pick(data[0]);
        const char *field = NULL;
        bool valid = sk_pb_wire_strings_valid(d, data + 1, size - 1, &field);
        if (!valid && !field)
                __builtin_trap(); /* a refusal names the field */
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size - 1, data + 1);
        if (m) {
                if (valid && !strings_ok(m, 0))
                        __builtin_trap();
                protobuf_c_message_free_unpacked(m, NULL);
        }
        return 0;
}
