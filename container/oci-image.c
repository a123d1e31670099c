/* OCI export, the image: the config (rootfs.diff_ids), manifest and index
 * documents around the layer tars oci-export.c writes, and the outer archive
 * (oci-layout, index.json, blobs/sha256/) written to a temporary name and
 * renamed into place only when complete. The documents are written with
 * jansson, compact and in the key order below: the manifest's digest is
 * taken over exactly these bytes. See oci-export.h for the design. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/engine.h"
#include "common/fsutil.h"
#include "common/macro.h"
#include "container/oci-internal.h"

#define COPY_BUF (1024 * 1024)

/* libarchive's error as -errno (its errno, else -EIO). */
static int ar_errno(struct archive *a) {
        int e = archive_errno(a);
        return e > 0 ? -e : -EIO;
}

/* ---- JSON documents ------------------------------------------------------ */

void sk_oci_sha256_hex(const void *buf, size_t len, char out[SK_BLOB_ID_HEX + 1]) {
        uint8_t h[32];
        unsigned int hl = 0;
        if (EVP_Digest(buf, len, h, &hl, EVP_sha256(), NULL) != 1)
                memset(h, 0, sizeof(h));
        sk_hex(h, sizeof(h), out);
}

int sk_oci_normalize_ref(const char *ref, char *buf, size_t size) {
        if (!ref || !*ref || strlen(ref) > 255 || strchr(ref, '@'))
                return -EINVAL;
        for (const char *p = ref; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("._-/:", *p)))
                        return -EINVAL;
        const char *slash = strrchr(ref, '/');
        const char *colon = strrchr(ref, ':');
        bool has_tag = colon && (!slash || colon > slash);
        size_t name_len = has_tag ? (size_t) (colon - ref) : strlen(ref);
        if (name_len == 0 || (has_tag && colon[1] == '\0') || ref[0] == '/' || ref[name_len - 1] == '/')
                return -EINVAL;
        const char *first_slash = memchr(ref, '/', name_len);
        const char *prefix = "";
        if (!first_slash)
                prefix = "docker.io/library/";
        else {
                size_t fl = (size_t) (first_slash - ref);
                bool domain = memchr(ref, '.', fl) || memchr(ref, ':', fl) || (fl == 9 && !strncmp(ref, "localhost", 9));
                if (!domain)
                        prefix = "docker.io/";
        }
        int n = snprintf(buf, size, "%s%.*s:%s", prefix, (int) name_len, ref, has_tag ? colon + 1 : "latest");
        if (n < 0 || (size_t) n >= size)
                return -EINVAL;
        return 0;
}

static int iso8601(int64_t t, char out[32]) {
        struct tm tm;
        time_t tt = (time_t) t;
        if (!gmtime_r(&tt, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        return 0;
}

/* The compact text of doc into *ret (owned) and *ret_len, and the SHA-256 of
 * those bytes into digest. doc NULL: it could not be built. */
static int json_finish(const json_t *doc, char **ret, size_t *ret_len, char digest[SK_BLOB_ID_HEX + 1]) {
        char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (!s)
                return -ENOMEM;
        *ret = s;
        *ret_len = strlen(s);
        if (digest)
                sk_oci_sha256_hex(s, *ret_len, digest);
        return 0;
}

/* A new JSON string of "sha256:<hex>". */
static json_t *json_sha256(const char *hex) {
        return json_sprintf("sha256:%s", hex);
}

/* The image config: Cmd, the layers' diff_ids, and one history entry for
 * each layer. -EINVAL: a command argument or a layer's backup id or path is
 * not UTF-8, which a JSON string cannot hold. */
static int config_json(const sk_oci_export_options *o, const sk_oci_layer_out *layers, const char *when,
                       char **ret, size_t *ret_len, char digest[SK_BLOB_ID_HEX + 1]) {
        _cleanup_(json_decrefp) json_t *cmd = json_array(), *diff_ids = json_array(), *history = json_array();
        if (!cmd || !diff_ids || !history)
                return -ENOMEM;
        for (size_t i = 0; i < (o->n_cmd ? o->n_cmd : 1); i++)
                if (json_array_append_new(cmd, json_string(o->n_cmd ? o->cmd[i] : "/bin/sh")) < 0)
                        return -EINVAL;
        for (size_t i = 0; i < o->n_layers; i++) {
                if (json_array_append_new(diff_ids, json_sha256(layers[i].diff_id)) < 0)
                        return -ENOMEM;
                json_t *by = json_sprintf("snapkeep export %s:%s", o->layers[i].backup_id, o->layers[i].path ?: "");
                if (!by)
                        return -EINVAL;
                if (json_array_append_new(history, json_pack("{s:s, s:o}", "created", when, "created_by", by)) < 0)
                        return -ENOMEM;
        }
        _cleanup_(json_decrefp) json_t *doc = json_pack(
                "{s:s, s:s, s:s, s:{s:[s], s:O}, s:{s:s, s:O}, s:O}", "created", when, "architecture", OCI_ARCH, "os",
                "linux", "config", "Env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "Cmd",
                cmd, "rootfs", "type", "layers", "diff_ids", diff_ids, "history", history);
        return json_finish(doc, ret, ret_len, digest);
}

/* The image manifest: the config's and the layers' descriptors. */
static int manifest_json(const sk_oci_export_options *o, const sk_oci_layer_out *layers, const char *cfg_digest,
                         size_t cfg_len, char **ret, size_t *ret_len, char digest[SK_BLOB_ID_HEX + 1]) {
        _cleanup_(json_decrefp) json_t *ls = json_array();
        if (!ls)
                return -ENOMEM;
        for (size_t i = 0; i < o->n_layers; i++)
                if (json_array_append_new(ls, json_pack("{s:s, s:o, s:I}", "mediaType",
                                                        o->zstd_level > 0 ? MEDIA_LAYER_ZSTD : MEDIA_LAYER, "digest",
                                                        json_sha256(layers[i].digest), "size",
                                                        (json_int_t) layers[i].size)) < 0)
                        return -ENOMEM;
        _cleanup_(json_decrefp) json_t *doc =
                json_pack("{s:i, s:s, s:{s:s, s:o, s:I}, s:O}", "schemaVersion", 2, "mediaType", MEDIA_MANIFEST,
                          "config", "mediaType", MEDIA_CONFIG, "digest", json_sha256(cfg_digest), "size",
                          (json_int_t) cfg_len, "layers", ls);
        return json_finish(doc, ret, ret_len, digest);
}

/* The image index: the one manifest, its platform, and the image name in the
 * annotations containerd (io.containerd.image.name) and OCI tools read. */
static int index_json(const char *man_digest, size_t man_len, const char *ref, const char *tag, char **ret,
                      size_t *ret_len) {
        _cleanup_(json_decrefp) json_t *doc = json_pack(
                "{s:i, s:s, s:[{s:s, s:o, s:I, s:{s:s, s:s}, s:{s:s, s:s}}]}", "schemaVersion", 2, "mediaType",
                MEDIA_INDEX, "manifests", "mediaType", MEDIA_MANIFEST, "digest", json_sha256(man_digest), "size",
                (json_int_t) man_len, "platform", "architecture", OCI_ARCH, "os", "linux", "annotations",
                "io.containerd.image.name", ref, "org.opencontainers.image.ref.name", tag);
        return json_finish(doc, ret, ret_len, NULL);
}

/* ---- the outer archive --------------------------------------------------- */

/* The header of one entry of the outer archive (size: regular files only). */
static int outer_header(struct archive *a, const char *name, unsigned type, unsigned perm, uint64_t size,
                        int64_t mtime) {
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return -ENOMEM;
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        if (type == AE_IFREG)
                archive_entry_set_size(e, (la_int64_t) size);
        archive_entry_set_mtime(e, mtime, 0);
        int r = archive_write_header(a, e) == ARCHIVE_OK ? 0 : ar_errno(a);
        archive_entry_free(e);
        return r;
}

static int outer_add_mem(struct archive *a, const char *name, const void *buf, size_t len, int64_t mtime) {
        int r = outer_header(a, name, AE_IFREG, 0644, len, mtime);
        if (r >= 0 && len && archive_write_data(a, buf, len) != (la_ssize_t) len)
                r = ar_errno(a);
        return r;
}

static int outer_add_dir(struct archive *a, const char *name, int64_t mtime) {
        return outer_header(a, name, AE_IFDIR, 0755, 0, mtime);
}

static int outer_add_file(struct archive *a, const char *name, const char *src, uint64_t size, int64_t mtime) {
        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        int r = outer_header(a, name, AE_IFREG, 0644, size, mtime);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *buf = malloc(COPY_BUF);
        if (!buf)
                return -ENOMEM;
        uint64_t done = 0;
        while (done < size) {
                ssize_t k = sk_read_all(fd, buf, COPY_BUF);
                if (k < 0)
                        return (int) k;
                if (k == 0)
                        return -EIO; /* the layer file shrank under us */
                if (archive_write_data(a, buf, (size_t) k) != k)
                        return ar_errno(a);
                done += (uint64_t) k;
        }
        return 0;
}

/* ---- the export ------------------------------------------------------------ */

/* A failure of the export as a whole, at the output file. */
static void report(const sk_oci_export_options *o, int err, const char *detail) {
        if (!o->problem)
                return;
        sk_problem p = { .kind = SK_PROBLEM_ERROR, .error = err, .path = o->output, .detail = detail };
        o->problem(&p, o->userdata);
}

int sk_oci_export_run(sk_repo *repo, const sk_oci_export_options *o, sk_oci_export_result *ret) {
        if (!repo || !o || !o->layers || o->n_layers == 0 || !o->output || !o->ref)
                return -EINVAL;
        sk_oci_export_result res = { 0 };
        int r = sk_oci_normalize_ref(o->ref, res.ref, sizeof(res.ref));
        if (r < 0)
                return r;
        const char *tag = strrchr(res.ref, ':') + 1;

        _cleanup_free_ char *outdir = NULL;
        const char *slash = strrchr(o->output, '/');
        if (!slash)
                outdir = strdup(".");
        else if (slash == o->output)
                outdir = strdup("/");
        else
                outdir = strndup(o->output, (size_t) (slash - o->output));
        if (!outdir)
                return -ENOMEM;
        const char *tmpdir = o->tmpdir ?: outdir;
        int64_t created = o->created ? o->created : (int64_t) time(NULL);

        sk_oci_layer_out *layers = calloc(o->n_layers, sizeof(*layers));
        if (!layers)
                return -ENOMEM;
        char *cfg = NULL, *man = NULL, *idx = NULL, *tmp_out = NULL;
        size_t cfg_len = 0, man_len = 0, idx_len = 0;
        struct archive *a = NULL;
        int out_fd = -1;

        r = sk_oci_write_layers(repo, o, tmpdir, layers, &res.entries, &res.bytes);
        if (r < 0)
                goto out;

        char when[32], cfg_digest[SK_BLOB_ID_HEX + 1], man_digest[SK_BLOB_ID_HEX + 1];
        r = iso8601(created, when);
        if (r >= 0) {
                r = config_json(o, layers, when, &cfg, &cfg_len, cfg_digest);
                if (r == -EINVAL)
                        report(o, r, "a command argument or layer name is not UTF-8");
        }
        if (r >= 0)
                r = manifest_json(o, layers, cfg_digest, cfg_len, &man, &man_len, man_digest);
        if (r >= 0)
                r = index_json(man_digest, man_len, res.ref, tag, &idx, &idx_len);
        if (r < 0)
                goto out;

        /* the archive */
        tmp_out = sk_oci_tmp_name(outdir, "export");
        if (!tmp_out) {
                r = -ENOMEM;
                goto out;
        }
        out_fd = mkostemp(tmp_out, O_CLOEXEC);
        if (out_fd < 0) {
                r = negative_errno();
                free(tmp_out);
                tmp_out = NULL;
                report(o, r, "cannot create the output file");
                goto out;
        }
        a = archive_write_new();
        if (!a) {
                r = -ENOMEM;
                goto out;
        }
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK || archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
                r = ar_errno(a);
                goto out;
        }
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        char name[128];
        r = outer_add_mem(a, "oci-layout", layout, strlen(layout), created);
        if (r >= 0)
                r = outer_add_mem(a, "index.json", idx, idx_len, created);
        if (r >= 0)
                r = outer_add_dir(a, "blobs", created);
        if (r >= 0)
                r = outer_add_dir(a, "blobs/sha256", created);
        if (r >= 0) {
                snprintf(name, sizeof(name), "blobs/sha256/%s", man_digest);
                r = outer_add_mem(a, name, man, man_len, created);
        }
        if (r >= 0) {
                snprintf(name, sizeof(name), "blobs/sha256/%s", cfg_digest);
                r = outer_add_mem(a, name, cfg, cfg_len, created);
        }
        for (size_t i = 0; i < o->n_layers && r >= 0; i++) {
                bool dup = false;
                for (size_t j = 0; j < i; j++)
                        dup = dup || strcmp(layers[j].digest, layers[i].digest) == 0;
                if (dup)
                        continue;
                snprintf(name, sizeof(name), "blobs/sha256/%s", layers[i].digest);
                r = outer_add_file(a, name, layers[i].tmp_path, layers[i].size, created);
        }
        if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
                r = ar_errno(a);
        if (r < 0) {
                report(o, r, "writing the archive failed");
                goto out;
        }
        struct stat st;
        if (fsync(out_fd) < 0 || fstat(out_fd, &st) < 0 || fchmod(out_fd, 0644) < 0) {
                r = negative_errno();
                report(o, r, "writing the archive failed");
                goto out;
        }
        if (rename(tmp_out, o->output) < 0) {
                r = negative_errno();
                report(o, r, "cannot rename the archive into place");
                goto out;
        }
        free(tmp_out);
        tmp_out = NULL;
        (void) sk_fsync_path_dir(o->output);

        snprintf(res.manifest_digest, sizeof(res.manifest_digest), "sha256:%s", man_digest);
        res.layers = o->n_layers;
        res.archive_size = (uint64_t) st.st_size;
        if (ret)
                *ret = res;
        r = 0;
out:
        if (a)
                archive_write_free(a);
        if (out_fd >= 0)
                close(out_fd);
        if (tmp_out) {
                unlink(tmp_out);
                free(tmp_out);
        }
        for (size_t i = 0; i < o->n_layers; i++)
                if (layers[i].tmp_path) {
                        unlink(layers[i].tmp_path);
                        free(layers[i].tmp_path);
                }
        free(layers);
        free(cfg);
        free(man);
        free(idx);
        return r;
}
