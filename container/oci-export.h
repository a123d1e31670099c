/* Export backed-up filesystem layers as an OCI image archive.
 *
 * DESIGN: each layer is a directory inside a backup, stored the way overlayfs
 * keeps an upper directory (whiteouts are char devices 0:0, opaque
 * directories carry trusted.overlay.opaque=y). It is streamed straight from
 * the repository (every blob verified, every file's content hash checked)
 * into a pax tar in a temporary file, converting whiteouts to ".wh.NAME" and
 * opaque directories to "DIR/.wh..wh..opq", hashing the bytes as they are
 * written: that SHA-256 is the layer's diff_id, and also its digest unless
 * the layer is zstd-compressed on the way out (then the compressed bytes are
 * hashed too, for the digest). Hardlink groups become tar hardlinks (to the first member of the
 * group in the same layer); xattrs go into SCHILY.xattr records, except
 * trusted.overlay.*, which only means something to overlayfs. Then config
 * (rootfs.diff_ids), manifest, index.json (io.containerd.image.name and
 * org.opencontainers.image.ref.name) and oci-layout are generated and
 * everything is put into the output tar, written to a temporary name and
 * renamed into place only when complete. The layout is the OCI image layout
 * 1.0.0 that `ctr images import` (any snapshotter), `docker load` (>= 25),
 * podman and skopeo read. Of containerd it knows only the annotation the
 * image name goes into; the caller says which directories are the layers.
 * oci-export.c writes the layer tars, oci-image.c the rest. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backup/engine.h"

/* One layer: a directory `path` ("" = the backup's root) inside backup
 * `backup_id` (full id, unique prefix or "latest"). Strings borrowed. */
typedef struct sk_oci_layer_src {
        const char *backup_id;
        const char *path;
} sk_oci_layer_src;

typedef struct sk_oci_export_options {
        const sk_oci_layer_src *layers;  /* bottom layer first; n_layers >= 1 */
        size_t n_layers;
        /* Image reference NAME[:TAG]; normalised like docker does
         * ("busybox" -> "docker.io/library/busybox:latest"). The full name goes
         * into io.containerd.image.name, the tag into
         * org.opencontainers.image.ref.name. */
        const char *ref;
        const char *output;             /* archive file; replaced atomically */
        const char *tmpdir;             /* layer tars; NULL: the output's directory */
        const char *const *cmd;         /* config Cmd; NULL/0: ["/bin/sh"] */
        size_t n_cmd;
        int64_t created;                /* config "created", unix seconds; 0: now */
        /* 0: uncompressed tar layers (readable by every OCI runtime); 1..19:
         * zstd-compressed layers (tar+zstd: containerd >= 1.5, podman,
         * Docker >= 23), digest over the compressed blob, diff_id over the
         * tar. */
        int zstd_level;
        sk_progress_fn progress;        /* may be NULL */
        sk_problem_fn problem;          /* may be NULL */
        void *userdata;
} sk_oci_export_options;

typedef struct sk_oci_export_result {
        char ref[512];                  /* the normalised reference written */
        char manifest_digest[72];       /* "sha256:<hex>" */
        uint64_t layers;
        uint64_t entries;               /* tar entries over all layers */
        uint64_t bytes;                 /* file content bytes over all layers */
        uint64_t archive_size;
} sk_oci_export_result;

/* Normalise an image reference as described above into buf. -EINVAL if ref
 * is empty, too long or has characters a reference cannot hold. */
int sk_oci_normalize_ref(const char *ref, char *buf, size_t size);

/* Write the archive. On any failure (a missing or corrupt blob, a content
 * hash mismatch, I/O) the problem is reported through opts->problem (naming
 * the layer path and file), no output file is left behind and a negative
 * errno is returned: -EBADMSG corrupt data, -ENOENT missing backup, path or
 * blob, -ENOTDIR a layer path that is not a directory, -EINVAL bad options
 * (also a command argument or layer name that is not UTF-8, which the JSON
 * documents cannot hold), -ECANCELED when progress asked to stop. ret may be
 * NULL. */
int sk_oci_export_run(sk_repo *repo, const sk_oci_export_options *opts, sk_oci_export_result *ret);

/* The diff_id (SHA-256 of the uncompressed tar, lowercase hex) and length of
 * the layer tar sk_oci_export_run would write for src, computed without
 * writing it anywhere: `restore --as-image` needs the layer's identity, not
 * its blob. Every chunk and content hash is verified as for an export;
 * problems go to problem (may be NULL). */
int sk_oci_layer_identity(sk_repo *repo, const sk_oci_layer_src *src, sk_problem_fn problem, void *userdata,
                          char diff_id[65], uint64_t *ret_size);
