/* What the two halves of OCI export share: oci-export.c writes the layer
 * tars, oci-image.c the image around them (config, manifest, index) and the
 * outer archive. Private to container/. */
#pragma once

#include <stdint.h>

#include "container/oci-export.h"
#include "repo/repo.h"

#if defined(__x86_64__)
#define OCI_ARCH "amd64"
#elif defined(__aarch64__)
#define OCI_ARCH "arm64"
#elif defined(__i386__)
#define OCI_ARCH "386"
#elif defined(__arm__)
#define OCI_ARCH "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define OCI_ARCH "ppc64le"
#elif defined(__s390x__)
#define OCI_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define OCI_ARCH "riscv64"
#else
#define OCI_ARCH "amd64"
#endif

#define MEDIA_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MEDIA_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_INDEX "application/vnd.oci.image.index.v1+json"

/* The SHA-256 of buf as lowercase hex. */
void sk_oci_sha256_hex(const void *buf, size_t len, char out[SK_BLOB_ID_HEX + 1]);

/* One layer written: a temporary tar file and its hashes (lowercase hex). */
typedef struct sk_oci_layer_out {
        char *tmp_path;                   /* temporary tar file (owned; NULL until created) */
        char digest[SK_BLOB_ID_HEX + 1];  /* of the blob as stored */
        char diff_id[SK_BLOB_ID_HEX + 1]; /* of the uncompressed tar */
        uint64_t size;                    /* of the blob as stored */
} sk_oci_layer_out;

/* Write o->layers[i] into out[i] (o->n_layers of them), each a new temporary
 * file in tmpdir, verifying every chunk and content hash as it goes. Tar
 * entries and content bytes are counted into *ret_entries, *ret_bytes. On
 * failure the problem has been reported through o->problem; the files named
 * in out so far are the caller's to remove either way. */
int sk_oci_write_layers(sk_repo *repo, const sk_oci_export_options *o, const char *tmpdir, sk_oci_layer_out *out,
                        uint64_t *ret_entries, uint64_t *ret_bytes);

/* A template "<dir>/.snapkeep-<what>.XXXXXX" for mkostemp() (owned), or NULL. */
char *sk_oci_tmp_name(const char *dir, const char *what);
