#include "plugin/pbcheck.h"

#include <stdint.h>
#include <string.h>

bool sk_utf8_valid(const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *) str;
        size_t i = 0;

        while (i < len) {
                unsigned char c = s[i];
                if (c < 0x80) {
                        i++;
                        continue;
                }
                size_t n;
                uint32_t cp, min;
                if ((c & 0xe0) == 0xc0) {
                        n = 2, cp = c & 0x1f, min = 0x80;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 3, cp = c & 0x0f, min = 0x800;
                } else if ((c & 0xf8) == 0xf0) {
                        n = 4, cp = c & 0x07, min = 0x10000;
                } else
                        return false;
                if (len - i < n)
                        return false;
                for (size_t k = 1; k < n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n;
        }
        return true;
}

/* Nesting is bounded by protobuf-c's own unpack recursion limit, and the
 * messages served here are at most three levels deep. */
static bool check_value(const ProtobufCFieldDescriptor *f, const void *p) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(char *const *) p;
                return !s || sk_utf8_valid(s, strlen(s));
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *m = *(ProtobufCMessage *const *) p;
                return !m || sk_pb_strings_valid(m, NULL);
        }
        default:
                return true;
        }
}

bool sk_pb_strings_valid(const ProtobufCMessage *m, const char **ret_field) {
        const ProtobufCMessageDescriptor *d = m->descriptor;

        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                const char *base = (const char *) m + f->offset;
                bool ok = true;
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                        /* Members share storage: only the set one is valid. */
                        if (*(const uint32_t *) ((const char *) m + f->quantifier_offset) != f->id)
                                continue;
                        ok = check_value(f, base);
                } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *) ((const char *) m + f->quantifier_offset);
                        const char *arr = *(char *const *) base;
                        for (size_t k = 0; ok && k < n; k++)
                                ok = check_value(f, arr + k * sizeof(void *));
                } else
                        ok = check_value(f, base);
                if (!ok) {
                        if (ret_field)
                                *ret_field = f->name;
                        return false;
                }
        }
        return true;
}
