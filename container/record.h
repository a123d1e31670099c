/* The repository's container records: the codec of the objects snapkeepd
 * writes beside each container or layer backup (docs/FORMAT.md section 7a).
 *
 *   containers/<backup-id>   what restore needs without reading the tree
 *   layers/<algo>-<hex>      which backup holds the layer with that chain id
 *
 * DESIGN: one parser per format. snapkeepd (restore, layer rehydration,
 * ListBackups) and the CLI (restore, export) read these objects, so both call
 * this codec rather than each reading the lines its own way. Decoding is
 * strict: every field is checked here, so callers may use the values as
 * repository object names and array bounds without checking again. The
 * objects are sealed (an attacker without the key cannot forge one), but a
 * buggy or newer writer, or a hand-made test object, must still meet a named
 * error, never undefined behaviour.
 *
 * This room knows the repository's records and nothing of gRPC or of the
 * snapshotter: keys and chain ids are plain strings here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backup/engine.h"

/* Backup tags of the backups the records describe. */
#define SK_TAG_CONTAINER "snapkeep:container"
#define SK_TAG_LAYER "snapkeep:layer"
/* Identity tags (container backups: namespace and name from the snapshot's
 * backend key "ns/N/name"; layer backups: the chain id), so that listings
 * name what was backed up and "latest:NAME" can find it. A value that would
 * make the tag longer than a tag may be (255 bytes) is left out. */
#define SK_TAG_NAMESPACE_PREFIX "snapkeep:namespace="
#define SK_TAG_NAME_PREFIX "snapkeep:name="
#define SK_TAG_CHAIN_PREFIX "snapkeep:chain="
#define SK_TAG_MAX 255

/* Object directories, and the entries of a container backup's root tree. */
#define SK_CONTAINER_OBJ_DIR "containers"
#define SK_LAYER_OBJ_DIR "layers"
#define SK_CONTAINER_FS_DIR "fs"
#define SK_CONTAINER_META_FILE "snapkeep-container.json"

#define SK_CONTAINER_RECORD_VERSION 1
/* Bounds a decoder enforces (and an encoder refuses to exceed). */
#define SK_CONTAINER_RECORD_MAX (1024 * 1024) /* bytes of one containers/ object */
#define SK_CONTAINER_MAX_LAYERS 1024
#define SK_CONTAINER_KEY_MAX 4096 /* bytes of the decoded snapshot key */
#define SK_CHAIN_ALGO_MAX 16
#define SK_CHAIN_ID_MAX 128 /* "<algo>:<hex>", so "<algo>-<hex>" is a valid object name */

/* One layer below the snapshot, bottom first. */
typedef struct sk_container_layer {
        char *chain_id;
        char *backup_id;
} sk_container_layer;

/* A containers/<id> object as a plain value. A decoded record owns its
 * strings and array (release with sk_container_record_clear()); a record a
 * caller fills in for sk_container_record_encode() may borrow them all and is
 * then not cleared. */
typedef struct sk_container_record {
        bool committed;             /* kind committed (an image layer) or active */
        char *snapshot;             /* the snapshot's key, unescaped */
        char *chain_id;             /* NULL or "" when none ("-", an active snapshot) */
        sk_container_layer *layers; /* the layers below, bottom first */
        size_t n_layers;
        char *storage_; /* decoded records only: the buffer the strings point into */
} sk_container_record;

/* Whether a backup with these tags is one snapkeepd made of a snapshot
 * (tagged SK_TAG_CONTAINER or SK_TAG_LAYER), and so has a containers/ record. */
bool sk_container_tagged(char *const *tags, size_t n_tags);

/* Whether s is a chain id "<algo>:<hex>" as FORMAT.md 7a defines it. */
bool sk_chain_id_valid(const char *s);
/* Whether s is a full backup id: exactly SK_BACKUP_ID_HEX lowercase hex digits. */
bool sk_backup_id_valid(const char *s);

/* The layers/ object name of chain_id ("sha256:<hex>" -> "sha256-<hex>") into
 * out. -EINVAL if chain_id is not a valid chain id. */
int sk_layer_object_name(const char *chain_id, char out[SK_CHAIN_ID_MAX + 1]);

/* Encode rec as a containers/ object. -EINVAL (nothing written) if a field
 * breaks a rule a decoder enforces. *ret_buf is owned, not NUL-terminated. */
int sk_container_record_encode(const sk_container_record *rec, char **ret_buf, size_t *ret_len);

/* Decode the len bytes at data (need not be NUL-terminated). -EBADMSG if they
 * break any rule of FORMAT.md 7a, -EPROTONOSUPPORT for another version,
 * -ENOMEM. On failure, if why is not NULL, it receives a message naming the
 * line and the rule (why_size bytes at most). */
int sk_container_record_decode(const void *data, size_t len, sk_container_record *ret, char *why,
                               size_t why_size);

/* Free what a decoded record owns and zero it. Accepts a zeroed record. */
void sk_container_record_clear(sk_container_record *rec);

/* Whether rec's layer chain ids are exactly ids[0..n), bottom first. */
bool sk_container_record_same_chain(const sk_container_record *rec, char *const *ids, size_t n);

/* A layers/ object: "<backup id>\n". encode writes it into out and returns
 * its length, or -EINVAL; decode returns 0 or -EBADMSG. */
int sk_layer_object_encode(const char *backup_id, char out[SK_BACKUP_ID_HEX + 2]);
int sk_layer_object_decode(const void *data, size_t len, char ret_id[SK_BACKUP_ID_HEX + 1]);
