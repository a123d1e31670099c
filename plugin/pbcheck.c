#include "plugin/pbcheck.h"

#include <string.h>

#include "common/utf8.h"

/* protobuf-c refuses deeper nesting itself; the messages served here are at
 * most three levels deep. */
#define MAX_DEPTH 32

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *ret) {
        uint64_t v = 0;
        for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
                uint8_t b = *(*p)++;
                v |= (uint64_t) (b & 0x7f) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return true;
                }
        }
        return false;
}

/* 1: all strings valid, 0: a bad string (field named), -1: malformed wire
 * data (protobuf-c's unpack reports that). */
static int wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, unsigned depth,
                      const char **ret_field) {
        const uint8_t *end = p + len;

        if (depth > MAX_DEPTH)
                return -1;
        while (p < end) {
                uint64_t tag, n;
                if (!read_varint(&p, end, &tag))
                        return -1;
                switch (tag & 7) {
                case 0: /* varint */
                        if (!read_varint(&p, end, &n))
                                return -1;
                        break;
                case 1: /* fixed64 */
                        if (end - p < 8)
                                return -1;
                        p += 8;
                        break;
                case 5: /* fixed32 */
                        if (end - p < 4)
                                return -1;
                        p += 4;
                        break;
                case 2: { /* length-delimited */
                        if (!read_varint(&p, end, &n) || n > (uint64_t) (end - p))
                                return -1;
                        const ProtobufCFieldDescriptor *f =
                                protobuf_c_message_descriptor_get_field(d, (unsigned) (tag >> 3));
                        if (f && f->type == PROTOBUF_C_TYPE_STRING) {
                                if (memchr(p, 0, n) || !sk_utf8_valid(p, n)) {
                                        if (ret_field)
                                                *ret_field = f->name;
                                        return 0;
                                }
                        } else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                                int r = wire_check(f->descriptor, p, n, depth + 1, NULL);
                                if (r <= 0) {
                                        if (r == 0 && ret_field)
                                                *ret_field = f->name;
                                        return r;
                                }
                        }
                        p += n;
                        break;
                }
                default: /* groups are not proto3 */
                        return -1;
                }
        }
        return 1;
}

bool sk_pb_wire_strings_valid(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                              const char **ret_field) {
        return wire_check(d, data, len, 0, ret_field) != 0;
}
