/* libFuzzer harness for container/record.c: the containers/<id> and layers/
 * objects. Whatever decodes must encode again, and the encoding must decode
 * to the same record (the codec never accepts what it could not write).
 * Seeds in tests/fuzz/corpus/fuzz-record/. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "container/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_trap(const sk_container_record *a, const sk_container_record *b) {
        if (a->committed != b->committed || strcmp(a->snapshot, b->snapshot) != 0 ||
            !a->chain_id != !b->chain_id || (a->chain_id && strcmp(a->chain_id, b->chain_id) != 0) ||
            a->n_layers != b->n_layers)
                __builtin_trap();
        for (size_t i = 0; i < a->n_layers; i++)
                if (strcmp(a->layers[i].chain_id, b->layers[i].chain_id) != 0 ||
                    strcmp(a->layers[i].backup_id, b->layers[i].backup_id) != 0)
                        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        sk_container_record rec = {};
        char why[256] = "";
        int r = sk_container_record_decode(data, size, &rec, why, sizeof(why));
        if (r == -EBADMSG || r == -EPROTONOSUPPORT) {
                if (!why[0])
                        __builtin_trap(); /* a refusal names its reason */
        } else if (r == 0) {
                char *buf = NULL;
                size_t len = 0;
                if (sk_container_record_encode(&rec, &buf, &len) < 0)
                        __builtin_trap();
                sk_container_record again = {};
                if (sk_container_record_decode(buf, len, &again, NULL, 0) < 0)
                        __builtin_trap();
                same_or_trap(&rec, &again);
                sk_container_record_clear(&again);
                free(buf);
                sk_container_record_clear(&rec);
        } else if (r != -ENOMEM)
                __builtin_trap();

        char id[SK_BACKUP_ID_HEX + 1], line[SK_BACKUP_ID_HEX + 2];
        if (sk_layer_object_decode(data, size, id) == 0 &&
            (sk_layer_object_encode(id, line) != (int) size || memcmp(line, data, size) != 0))
                __builtin_trap();
        return 0;
}
