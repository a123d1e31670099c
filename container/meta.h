/* snapkeep-container.json, the description snapkeepd stores in each
 * container or layer backup's tree beside fs/ (docs/FORMAT.md section 7a).
 * It is for people and other tools: snapkeep itself reads the containers/
 * record (container/record.h), never this file. */
#pragma once

#include <stddef.h>

#include "container/record.h"

/* All borrowed, for the duration of the call. */
typedef struct sk_container_meta {
        const sk_container_record *record;   /* kind, snapshot key, chain id, layers */
        const char *parent;                  /* the parent snapshot's key, or NULL */
        const char *time;                    /* RFC 3339 */
        const char *const *labels;           /* n_labels pairs: key labels[2i], value labels[2i+1] */
        size_t n_labels;
        const char *const *layer_snapshots;  /* record->n_layers snapshot keys, bottom first */
} sk_container_meta;

/* The JSON text into *ret_buf (owned, not NUL-terminated). Bytes that are not
 * UTF-8 are written as \u00XX, so the text is always valid JSON. */
int sk_container_meta_json(const sk_container_meta *m, char **ret_buf, size_t *ret_len);
