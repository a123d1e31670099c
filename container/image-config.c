#include "container/image-config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macro.h"
#include "container/oci-internal.h"

#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

bool sk_oci_media_is_index(const char *mt) {
        return mt && (strcmp(mt, MEDIA_INDEX) == 0 || strcmp(mt, MEDIA_DOCKER_LIST) == 0);
}

bool sk_oci_media_is_manifest(const char *mt) {
        return mt && (strcmp(mt, MEDIA_MANIFEST) == 0 || strcmp(mt, MEDIA_DOCKER_MANIFEST) == 0);
}

bool sk_oci_digest_valid(const char *digest, const void *buf, size_t len) {
        if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != SK_OCI_DIGEST_MAX)
                return false;
        for (const char *p = digest + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        if (!buf)
                return true;
        char hex[SK_BLOB_ID_HEX + 1];
        sk_oci_sha256_hex(buf, len, hex);
        return strcmp(hex, digest + 7) == 0;
}

/* Parse a bounded document; NULL if it is not a JSON object. */
static json_t *load(const char *json, size_t len) {
        if (!json || len > SK_IMAGE_BLOB_MAX)
                return NULL;
        json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
        if (doc && !json_is_object(doc)) {
                json_decref(doc);
                return NULL;
        }
        return doc;
}

/* A descriptor object into ret: mediaType (any string that fits), a valid
 * digest, a size >= 0. */
static int desc_from(const json_t *o, sk_oci_desc *ret) {
        const char *mt = json_string_value(json_object_get(o, "mediaType"));
        const char *dg = json_string_value(json_object_get(o, "digest"));
        const json_t *sz = json_object_get(o, "size");
        if (!json_is_object(o) || !mt || strlen(mt) >= sizeof(ret->media_type) || !sk_oci_digest_valid(dg, NULL, 0) ||
            !json_is_integer(sz) || json_integer_value(sz) < 0)
                return -EBADMSG;
        snprintf(ret->media_type, sizeof(ret->media_type), "%s", mt);
        snprintf(ret->digest, sizeof(ret->digest), "%s", dg);
        ret->size = json_integer_value(sz);
        return 0;
}

int sk_oci_index_pick(const char *json, size_t len, sk_oci_desc *ret) {
        json_auto_t *doc = load(json, len);
        const json_t *ms = doc ? json_object_get(doc, "manifests") : NULL;
        if (!json_is_array(ms))
                return -EBADMSG;
        size_t i;
        const json_t *m;
        json_array_foreach(ms, i, m) {
                const json_t *pl = json_object_get(m, "platform");
                const char *os = json_string_value(json_object_get(pl, "os"));
                const char *arch = json_string_value(json_object_get(pl, "architecture"));
                if (!os || !arch || strcmp(os, "linux") != 0 || strcmp(arch, OCI_ARCH) != 0)
                        continue;
                int r = desc_from(m, ret);
                if (r < 0)
                        return r;
                return sk_oci_media_is_manifest(ret->media_type) ? 0 : -EBADMSG;
        }
        return -ENOENT;
}

int sk_oci_manifest_config(const char *json, size_t len, sk_oci_desc *ret) {
        json_auto_t *doc = load(json, len);
        if (!doc || !json_is_array(json_object_get(doc, "layers")))
                return -EBADMSG;
        return desc_from(json_object_get(doc, "config"), ret);
}

void sk_oci_chain_next(const char *parent_chain, const char *diff_id, char out[SK_OCI_DIGEST_MAX + 1]) {
        if (!parent_chain) {
                snprintf(out, SK_OCI_DIGEST_MAX + 1, "%s", diff_id);
                return;
        }
        char buf[2 * SK_OCI_DIGEST_MAX + 2], hex[SK_BLOB_ID_HEX + 1];
        int n = snprintf(buf, sizeof(buf), "%s %s", parent_chain, diff_id);
        sk_oci_sha256_hex(buf, (size_t) n, hex);
        snprintf(out, SK_OCI_DIGEST_MAX + 1, "sha256:%s", hex);
}

void sk_oci_strv_free(char **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

int sk_oci_config_chain_ids(const char *config, size_t len, char ***ret, size_t *ret_n) {
        json_auto_t *doc = load(config, len);
        const json_t *ids = doc ? json_object_get(json_object_get(doc, "rootfs"), "diff_ids") : NULL;
        size_t n = json_array_size(ids);
        if (!json_is_array(ids) || n > SK_IMAGE_LAYERS_MAX)
                return -EBADMSG;
        char **v = calloc(n ? n : 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *d = json_string_value(json_array_get(ids, i));
                if (!sk_oci_digest_valid(d, NULL, 0)) {
                        sk_oci_strv_free(v, i);
                        return -EBADMSG;
                }
                char chain[SK_OCI_DIGEST_MAX + 1];
                sk_oci_chain_next(i ? v[i - 1] : NULL, d, chain);
                if (!(v[i] = strdup(chain))) {
                        sk_oci_strv_free(v, i);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int sk_oci_manifest_layer_digests(const char *manifest, size_t len, char ***ret, size_t *ret_n) {
        json_auto_t *doc = load(manifest, len);
        const json_t *ls = doc ? json_object_get(doc, "layers") : NULL;
        size_t n = json_array_size(ls);
        if (!json_is_array(ls) || n > SK_IMAGE_LAYERS_MAX)
                return -EBADMSG;
        char **v = calloc(n ? n : 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                sk_oci_desc d;
                int r = desc_from(json_array_get(ls, i), &d);
                if (r >= 0 && !(v[i] = strdup(d.digest)))
                        r = -ENOMEM;
                if (r < 0) {
                        sk_oci_strv_free(v, i);
                        return r;
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void sk_oci_new_image_clear(sk_oci_new_image *img) {
        free(img->config);
        free(img->manifest);
        *img = (sk_oci_new_image) {};
}

/* doc as compact text into *ret and *ret_len, and a descriptor of it. */
static int dump(const json_t *doc, const char *media_type, char **ret, size_t *ret_len, sk_oci_desc *desc) {
        char *s = json_dumps(doc, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        *ret = s;
        *ret_len = strlen(s);
        char hex[SK_BLOB_ID_HEX + 1];
        sk_oci_sha256_hex(s, *ret_len, hex);
        snprintf(desc->media_type, sizeof(desc->media_type), "%s", media_type);
        snprintf(desc->digest, sizeof(desc->digest), "sha256:%s", hex);
        desc->size = (int64_t) *ret_len;
        return 0;
}

int sk_oci_image_add_layer(const char *config, size_t config_len, const char *manifest, size_t manifest_len,
                           const char *diff_id, uint64_t size, int64_t created, const char *created_by,
                           sk_oci_new_image *ret) {
        json_auto_t *cfg = load(config, config_len);
        json_auto_t *man = load(manifest, manifest_len);
        sk_oci_desc old_cfg;
        if (!cfg || !man || !sk_oci_digest_valid(diff_id, NULL, 0) || size > INT64_MAX ||
            sk_oci_manifest_config(manifest, manifest_len, &old_cfg) < 0)
                return -EBADMSG;
        json_t *rootfs = json_object_get(cfg, "rootfs");
        json_t *ids = json_object_get(rootfs, "diff_ids");
        json_t *layers = json_object_get(man, "layers");
        if (!json_is_array(ids) || !json_is_array(layers) || json_array_size(ids) != json_array_size(layers) ||
            json_array_size(ids) >= SK_IMAGE_LAYERS_MAX)
                return -EBADMSG;
        json_t *history = json_object_get(cfg, "history");
        if (history && !json_is_array(history))
                return -EBADMSG;

        char when[32];
        struct tm tm;
        time_t t = (time_t) created;
        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        json_t *by = json_string(created_by);
        if (!by)
                return -EINVAL; /* not UTF-8 */
        if (json_array_append_new(ids, json_string(diff_id)) < 0 ||
            json_object_set_new(cfg, "created", json_string(when)) < 0) {
                json_decref(by);
                return -ENOMEM;
        }
        if (!history) {
                history = json_array();
                if (json_object_set_new(cfg, "history", history) < 0) {
                        json_decref(by);
                        return -ENOMEM;
                }
        }
        if (json_array_append_new(history, json_pack("{s:s, s:o}", "created", when, "created_by", by)) < 0)
                return -ENOMEM;

        const json_t *mt = json_object_get(man, "mediaType");
        const char *man_mt = json_string_value(mt);
        if (mt && !sk_oci_media_is_manifest(man_mt))
                return -EBADMSG; /* an index, or anything else, is not what an image's target may be here */
        bool docker = man_mt && strcmp(man_mt, MEDIA_DOCKER_MANIFEST) == 0;
        sk_oci_new_image img = {};
        int r = dump(cfg, old_cfg.media_type, &img.config, &img.config_len, &img.config_desc);
        if (r < 0)
                return r;
        if (json_object_set_new(man, "config",
                                json_pack("{s:s, s:s, s:I}", "mediaType", img.config_desc.media_type, "digest",
                                          img.config_desc.digest, "size", (json_int_t) img.config_desc.size)) < 0 ||
            json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                    docker ? MEDIA_DOCKER_LAYER : MEDIA_LAYER, "digest", diff_id,
                                                    "size", (json_int_t) size)) < 0) {
                sk_oci_new_image_clear(&img);
                return -ENOMEM;
        }
        r = dump(man, man_mt ? man_mt : MEDIA_MANIFEST, &img.manifest, &img.manifest_len, &img.manifest_desc);
        if (r < 0) {
                sk_oci_new_image_clear(&img);
                return r;
        }
        *ret = img;
        return 0;
}
