/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The backup manifest codec (docs/FORMAT.md, "Manifests"): encode and decode
 * one sk_manifest, checking every length and the canonical order of tags and
 * sources, so a hostile repository cannot make a reader allocate more than the
 * record itself holds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/manifest-codec.h"
#include "repo/bytebuf.h"
#include "common/macro.h"

#define MANIFEST_MAGIC "SKBM"
#define MANIFEST_VERSION 1

sk_manifest *sk_manifest_free(sk_manifest *m) {
        if (!m)
                return NULL;
        free(m->hostname);
        for (size_t i = 0; i < m->n_sources; i++)
                free(m->sources[i]);
        free(m->sources);
        for (size_t i = 0; i < m->n_tags; i++)
                free(m->tags[i]);
        free(m->tags);
        free(m->program_version);
        free(m);
        return NULL;
}

int sk_manifest_encode(const sk_manifest *m, void **ret_buf, size_t *ret_len) {
        uint8_t id[SK_BACKUP_ID_BYTES], parent[SK_BACKUP_ID_BYTES] = {};
        if (sk_unhex(m->id, id, sizeof(id)) < 0)
                return -EINVAL;
        if (m->has_parent && sk_unhex(m->parent_id, parent, sizeof(parent)) < 0)
                return -EINVAL;
        size_t hl = m->hostname ? strlen(m->hostname) : 0, vl = m->program_version ? strlen(m->program_version) : 0;
        if (hl > UINT16_MAX || vl > UINT16_MAX || m->n_sources < 1 || m->n_sources > UINT16_MAX ||
            m->n_tags > UINT16_MAX)
                return -EINVAL;
        if (m->time.tv_nsec < 0 || m->time.tv_nsec >= 1000000000L)
                return -EINVAL;
        for (size_t i = 0; i < m->n_sources; i++) {
                size_t l = strlen(m->sources[i]);
                if (l < 1 || l > UINT16_MAX)
                        return -EINVAL;
        }
        for (size_t i = 0; i < m->n_tags; i++) {
                size_t l = strlen(m->tags[i]);
                if (l < 1 || l > 255 || (i > 0 && name_cmp(m->tags[i - 1], m->tags[i]) >= 0))
                        return -EINVAL;
        }

        wbuf w = {};
        w_bytes(&w, MANIFEST_MAGIC, 4);
        w_u16(&w, MANIFEST_VERSION);
        w_u16(&w, 0);
        w_bytes(&w, id, sizeof(id));
        w_ts(&w, &m->time);
        w_bytes(&w, m->root, SK_TREE_ID_BYTES);
        w_u8(&w, m->has_parent ? 1 : 0);
        w_bytes(&w, parent, sizeof(parent));
        const sk_backup_summary *s = &m->summary;
        w_u64(&w, s->files);
        w_u64(&w, s->dirs);
        w_u64(&w, s->bytes);
        w_u64(&w, s->added_bytes);
        w_u64(&w, s->added_stored);
        w_u64(&w, s->files_new);
        w_u64(&w, s->files_changed);
        w_u64(&w, s->files_unmodified);
        w_u64(&w, s->errors);
        w_u64(&w, (uint64_t) s->duration_ns);
        w_u16(&w, (uint16_t) hl);
        w_bytes(&w, m->hostname, hl);
        w_u16(&w, (uint16_t) vl);
        w_bytes(&w, m->program_version, vl);
        w_u32(&w, (uint32_t) m->n_sources);
        for (size_t i = 0; i < m->n_sources; i++) {
                size_t l = strlen(m->sources[i]);
                w_u32(&w, (uint32_t) l);
                w_bytes(&w, m->sources[i], l);
        }
        w_u32(&w, (uint32_t) m->n_tags);
        for (size_t i = 0; i < m->n_tags; i++) {
                size_t l = strlen(m->tags[i]);
                w_u16(&w, (uint16_t) l);
                w_bytes(&w, m->tags[i], l);
        }
        if (w.oom) {
                free(w.p);
                return -ENOMEM;
        }
        *ret_buf = w.p;
        *ret_len = w.len;
        return 0;
}

static char *r_string(rbuf *r, size_t len, bool allow_empty, int *err) {
        const uint8_t *p = r_bytes(r, len);
        if (!p || (!allow_empty && len == 0) || !clean_bytes(p, len, false)) {
                r->bad = true;
                *err = -EBADMSG;
                return NULL;
        }
        char *s = memdup_nul(p, len);
        if (!s)
                *err = -ENOMEM;
        return s;
}

int sk_manifest_decode(const void *buf, size_t len, sk_manifest **ret) {
        rbuf r = { .p = buf, .len = len };
        const uint8_t *magic = r_bytes(&r, 4);
        if (!magic || memcmp(magic, MANIFEST_MAGIC, 4) != 0)
                return -EBADMSG;
        uint16_t version = r_u16(&r);
        if (r.bad)
                return -EBADMSG;
        if (version != MANIFEST_VERSION)
                return -EPROTONOSUPPORT;
        if (r_u16(&r) != 0 || r.bad)
                return -EBADMSG;

        sk_manifest *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        int err = -EBADMSG;
        const uint8_t *id = r_bytes(&r, SK_BACKUP_ID_BYTES);
        if (!id)
                goto fail;
        sk_hex(id, SK_BACKUP_ID_BYTES, m->id);
        r_ts(&r, &m->time);
        r_copy(&r, m->root, SK_TREE_ID_BYTES);
        uint8_t hp = r_u8(&r);
        const uint8_t *parent = r_bytes(&r, SK_BACKUP_ID_BYTES);
        if (r.bad || hp > 1)
                goto fail;
        m->has_parent = hp;
        if (hp)
                sk_hex(parent, SK_BACKUP_ID_BYTES, m->parent_id);
        else {
                for (size_t i = 0; i < SK_BACKUP_ID_BYTES; i++)
                        if (parent[i])
                                goto fail;
        }
        sk_backup_summary *s = &m->summary;
        s->files = r_u64(&r);
        s->dirs = r_u64(&r);
        s->bytes = r_u64(&r);
        s->added_bytes = r_u64(&r);
        s->added_stored = r_u64(&r);
        s->files_new = r_u64(&r);
        s->files_changed = r_u64(&r);
        s->files_unmodified = r_u64(&r);
        s->errors = r_u64(&r);
        s->duration_ns = (int64_t) r_u64(&r);
        m->hostname = r_string(&r, r_u16(&r), true, &err);
        if (!m->hostname)
                goto fail;
        m->program_version = r_string(&r, r_u16(&r), true, &err);
        if (!m->program_version)
                goto fail;
        uint32_t ns = r_u32(&r);
        if (r.bad || ns < 1 || ns > UINT16_MAX || ns > (len - r.off) / 5)
                goto fail;
        m->sources = calloc(ns, sizeof(char *));
        if (!m->sources) {
                err = -ENOMEM;
                goto fail;
        }
        for (uint32_t i = 0; i < ns; i++) {
                uint32_t l = r_u32(&r);
                if (l > UINT16_MAX) {
                        err = -EBADMSG;
                        goto fail;
                }
                m->sources[i] = r_string(&r, l, false, &err);
                if (!m->sources[i])
                        goto fail;
                m->n_sources = i + 1;
        }
        uint32_t nt = r_u32(&r);
        if (r.bad || nt > UINT16_MAX || nt > (len - r.off) / 3) {
                err = -EBADMSG;
                goto fail;
        }
        if (nt) {
                m->tags = calloc(nt, sizeof(char *));
                if (!m->tags) {
                        err = -ENOMEM;
                        goto fail;
                }
        }
        for (uint32_t i = 0; i < nt; i++) {
                uint16_t l = r_u16(&r);
                if (l > 255) {
                        err = -EBADMSG;
                        goto fail;
                }
                m->tags[i] = r_string(&r, l, false, &err);
                if (!m->tags[i])
                        goto fail;
                m->n_tags = i + 1;
                if (i > 0 && name_cmp(m->tags[i - 1], m->tags[i]) >= 0) {
                        err = -EBADMSG;
                        goto fail;
                }
        }
        if (r.bad || r.off != len) {
                err = -EBADMSG;
                goto fail;
        }
        *ret = m;
        return 0;
fail:
        sk_manifest_free(m);
        return err;
}
