/* An image's manifest and config, as recorded with a container backup and
 * turned back into an image by `snapkeep restore --as-image`.
 *
 * When snapkeepd backs up a container, it asks containerd for the container's
 * image (plugin/containerd.c) and keeps its manifest and config, byte for
 * byte, as two entries of the backup (docs/FORMAT.md 7a). They give what the
 * layers alone cannot: the layers' diff_ids (a chain id is a hash of them,
 * and cannot be undone) and the image's command, environment and user. This
 * file holds the JSON work on them, with no I/O: choosing a platform's
 * manifest from an index, finding the config, computing chain ids, and
 * writing a new config and manifest with the container's writable layer as
 * one more layer on top.
 *
 * DESIGN: these documents come from containerd's content store, which any
 * client of containerd can write, and from the repository, which any node
 * with the key can write: every field used is checked for type and form
 * (digests are "sha256:" and 64 lowercase hex digits, sizes are >= 0, at most
 * SK_IMAGE_LAYERS_MAX layers), and sizes are bounded before parsing. The new
 * documents keep every field of the old ones they do not change. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SK_IMAGE_BLOB_MAX (4 * 1024 * 1024) /* an index, manifest or config */
#define SK_IMAGE_LAYERS_MAX 1024
#define SK_OCI_DIGEST_MAX 71                /* "sha256:" + 64 */

/* Entries of a container backup's root holding its image (FORMAT.md 7a). */
#define SK_CONTAINER_IMAGE_MANIFEST "snapkeep-image-manifest.json"
#define SK_CONTAINER_IMAGE_CONFIG "snapkeep-image-config.json"

typedef struct sk_oci_desc {
        char media_type[128];
        char digest[SK_OCI_DIGEST_MAX + 1];
        int64_t size;
} sk_oci_desc;

/* An OCI index or a Docker manifest list / an OCI or Docker schema 2 manifest. */
bool sk_oci_media_is_index(const char *media_type);
bool sk_oci_media_is_manifest(const char *media_type);

/* Whether digest is "sha256:<64 lowercase hex>" and, if buf is not NULL, the
 * SHA-256 of buf[0..len). */
bool sk_oci_digest_valid(const char *digest, const void *buf, size_t len);

/* The manifest of index json for linux on this machine's architecture.
 * -ENOENT: none; -EBADMSG: not an index. */
int sk_oci_index_pick(const char *json, size_t len, sk_oci_desc *ret);
/* The config descriptor of manifest json. -EBADMSG: not a manifest. */
int sk_oci_manifest_config(const char *json, size_t len, sk_oci_desc *ret);

/* The chain id after parent_chain ("sha256:<hex>", NULL for the bottom
 * layer) of a layer with diff_id ("sha256:<hex>"), as containerd names
 * committed snapshots (OCI image spec: ChainID). */
void sk_oci_chain_next(const char *parent_chain, const char *diff_id, char out[SK_OCI_DIGEST_MAX + 1]);

/* The chain ids of config's rootfs.diff_ids, bottom first: *ret is an owned
 * array of *ret_n owned strings (sk_oci_strv_free). -EBADMSG: malformed. */
int sk_oci_config_chain_ids(const char *config, size_t len, char ***ret, size_t *ret_n);
void sk_oci_strv_free(char **v, size_t n);
/* The digests of manifest's layers, bottom first (as sk_oci_config_chain_ids). */
int sk_oci_manifest_layer_digests(const char *manifest, size_t len, char ***ret, size_t *ret_n);

/* The image with one more layer on top: an uncompressed tar whose SHA-256 is
 * diff_id ("sha256:<hex>", also its digest) and length size. The config gets
 * the diff_id, a history entry (created, created_by) and "created"; the
 * manifest gets the new config and the layer, and keeps its media type and
 * every other layer. Outputs owned; the two descriptors describe them.
 * -EBADMSG: a document is malformed; -EINVAL: created_by is not UTF-8. */
typedef struct sk_oci_new_image {
        char *config, *manifest;
        size_t config_len, manifest_len;
        sk_oci_desc config_desc, manifest_desc;
} sk_oci_new_image;

int sk_oci_image_add_layer(const char *config, size_t config_len, const char *manifest, size_t manifest_len,
                           const char *diff_id, uint64_t size, int64_t created, const char *created_by,
                           sk_oci_new_image *ret);
void sk_oci_new_image_clear(sk_oci_new_image *img);
