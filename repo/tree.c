/* Tree and manifest codec (docs/FORMAT-tree.md).
 *
 * DESIGN: a tiny bounds-checked reader/writer pair over byte buffers. The
 * writer grows a buffer; the reader never reads past its end and turns every
 * violation of the canonical form into -EBADMSG, so that only one encoding of
 * a directory state is ever accepted (what makes trees deterministic is also
 * what makes them safe to parse). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo/tree.h"
#include "repo/bytebuf.h"

#include "repo/crypto.h"
#include "repo/filehash.h"
#include "common/le.h"
#include "common/macro.h"

#define TREE_MAGIC "SKTR"
/* Tree blob versions: a leaf holding a file whose content hash follows rule 2
 * (repo/filehash.h) is version 2, every other tree version 1, so a reader
 * knows each file's rule from the blob it came in (FORMAT-tree.md). */
#define TREE_VERSION 1
#define TREE_VERSION_CHUNK_HASH 2
#define KIND_LEAF 0
#define KIND_SPLIT 1
#define TREE_HEADER_SIZE 12
#define SPLIT_THRESHOLD (1u << 20)
#define PART_MIN (256u << 10)
#define PART_MAX (4u << 20)
#define XATTR_VALUE_MAX 65536
#define TARGET_MAX 65535

/* ---- nodes ----------------------------------------------------------------- */

void sk_node_clear(sk_node *n) {
        if (!n)
                return;
        free(n->name);
        free(n->target);
        for (size_t i = 0; i < n->n_xattrs; i++) {
                free(n->xattrs[i].name);
                free(n->xattrs[i].value);
        }
        free(n->xattrs);
        free(n->extents);
        free(n->chunks);
        memset(n, 0, sizeof(*n));
}

int sk_node_copy_xattrs(const sk_node *src, sk_node *dst) {
        if (!src->n_xattrs)
                return 0;
        dst->xattrs = calloc(src->n_xattrs, sizeof(sk_xattr));
        if (!dst->xattrs)
                return -ENOMEM;
        for (size_t i = 0; i < src->n_xattrs; i++) {
                dst->n_xattrs = i + 1;
                dst->xattrs[i].name = strdup(src->xattrs[i].name);
                dst->xattrs[i].value = memdup_nul(src->xattrs[i].value, src->xattrs[i].value_len);
                dst->xattrs[i].value_len = src->xattrs[i].value_len;
                if (!dst->xattrs[i].name || !dst->xattrs[i].value)
                        return -ENOMEM;
        }
        return 0;
}

int sk_node_copy(const sk_node *src, sk_node *ret) {
        sk_node n = *src;
        n.name = NULL;
        n.target = NULL;
        n.xattrs = NULL;
        n.n_xattrs = 0;
        n.extents = NULL;
        n.chunks = NULL;
        n.n_extents = n.n_chunks = 0;

        if (src->name && !(n.name = strdup(src->name)))
                goto oom;
        if (src->target && !(n.target = strdup(src->target)))
                goto oom;
        if (sk_node_copy_xattrs(src, &n) < 0)
                goto oom;
        if (src->n_extents) {
                n.extents = malloc(src->n_extents * sizeof(sk_extent));
                if (!n.extents)
                        goto oom;
                memcpy(n.extents, src->extents, src->n_extents * sizeof(sk_extent));
                n.n_extents = src->n_extents;
        }
        if (src->n_chunks) {
                n.chunks = malloc(src->n_chunks * sizeof(sk_chunk_ref));
                if (!n.chunks)
                        goto oom;
                memcpy(n.chunks, src->chunks, src->n_chunks * sizeof(sk_chunk_ref));
                n.n_chunks = src->n_chunks;
        }
        *ret = n;
        return 0;
oom:
        sk_node_clear(&n);
        return -ENOMEM;
}

static bool ts_eq(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int sk_node_hash_rule(const sk_node *n) {
        return n->hash_rule == SK_FILEHASH_RULE_CHUNKS ? SK_FILEHASH_RULE_CHUNKS : SK_FILEHASH_RULE_DATA;
}

int sk_node_content_digest(const sk_node *n, uint8_t out[SK_NODE_DIGEST_BYTES]) {
        size_t tl = n->type == SK_NODE_SYMLINK && n->target ? strlen(n->target) : 0;
        _cleanup_free_ uint8_t *b = malloc(2 + 8 + 8 + SK_CONTENT_HASH_BYTES + tl);
        if (!b)
                return -ENOMEM;
        size_t k = 0;
        b[k++] = (uint8_t) n->type;
        b[k++] = n->type == SK_NODE_FILE ? (uint8_t) sk_node_hash_rule(n) : 0;
        sk_put_le64(b + k, n->size);
        k += 8;
        sk_put_le32(b + k, n->rdev_major);
        sk_put_le32(b + k + 4, n->rdev_minor);
        k += 8;
        if (n->type == SK_NODE_FILE) {
                memcpy(b + k, n->content_hash, SK_CONTENT_HASH_BYTES);
                k += SK_CONTENT_HASH_BYTES;
        }
        if (tl) {
                memcpy(b + k, n->target, tl);
                k += tl;
        }
        return sk_sha256(b, k, out);
}

static bool content_equal(const sk_node *a, const sk_node *b) {
        if (a->type != b->type || a->size != b->size)
                return false;
        switch (a->type) {
        case SK_NODE_FILE:
                return sk_node_hash_rule(a) == sk_node_hash_rule(b) &&
                       memcmp(a->content_hash, b->content_hash, SK_CONTENT_HASH_BYTES) == 0;
        case SK_NODE_SYMLINK:
                return strcmp(a->target ?: "", b->target ?: "") == 0;
        case SK_NODE_CHR:
        case SK_NODE_BLK:
                return a->rdev_major == b->rdev_major && a->rdev_minor == b->rdev_minor;
        case SK_NODE_DIR:
                return memcmp(a->subtree, b->subtree, SK_TREE_ID_BYTES) == 0;
        default:
                return true;
        }
}

bool sk_node_meta_equal(const sk_node *a, const sk_node *b) {
        if (!content_equal(a, b))
                return false;
        if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid || !ts_eq(&a->mtime, &b->mtime))
                return false;
        if (a->n_xattrs != b->n_xattrs)
                return false;
        for (size_t i = 0; i < a->n_xattrs; i++)
                if (strcmp(a->xattrs[i].name, b->xattrs[i].name) != 0 ||
                    a->xattrs[i].value_len != b->xattrs[i].value_len ||
                    (a->xattrs[i].value_len &&
                     memcmp(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].value_len) != 0))
                        return false;
        return true;
}

char sk_node_type_char(sk_node_type t) {
        switch (t) {
        case SK_NODE_FILE: return '-';
        case SK_NODE_DIR: return 'd';
        case SK_NODE_SYMLINK: return 'l';
        case SK_NODE_CHR: return 'c';
        case SK_NODE_BLK: return 'b';
        case SK_NODE_FIFO: return 'p';
        case SK_NODE_SOCKET: return 's';
        }
        return '?';
}

/* ---- hex ---------------------------------------------------------------------- */

/* Thin forms of crypto.h's hex codec for the tree code: sk_unhex also insists
 * on the exact length, as ids in trees and manifests are fixed-size. */
void sk_hex(const uint8_t *in, size_t len, char *out) { sk_hex_encode(in, len, out); }

int sk_unhex(const char *in, uint8_t *out, size_t len) {
        if (strlen(in) != 2 * len)
                return -EINVAL;
        return sk_hex_decode(in, out, len);
}

/* ---- entry codec ------------------------------------------------------------------- */

static bool node_valid_for_encode(const sk_node *n) {
        size_t nl = n->name ? strlen(n->name) : 0;
        if (nl < 1 || nl > 255 || strchr(n->name, '/') || !strcmp(n->name, ".") || !strcmp(n->name, ".."))
                return false;
        if (n->type < SK_NODE_FILE || n->type > SK_NODE_SOCKET || (n->mode & ~07777u))
                return false;
        if (n->n_xattrs > UINT16_MAX)
                return false;
        for (size_t i = 0; i < n->n_xattrs; i++) {
                size_t l = strlen(n->xattrs[i].name);
                if (l < 1 || l > 255 || n->xattrs[i].value_len > XATTR_VALUE_MAX)
                        return false;
                if (i > 0 && name_cmp(n->xattrs[i - 1].name, n->xattrs[i].name) >= 0)
                        return false;
        }
        if (n->type == SK_NODE_SYMLINK) {
                size_t tl = n->target ? strlen(n->target) : 0;
                if (tl < 1 || tl > TARGET_MAX || n->size != tl)
                        return false;
        }
        if (n->type == SK_NODE_FILE) {
                if (n->n_extents > UINT32_MAX || n->n_chunks > UINT32_MAX)
                        return false;
                uint64_t end = 0;
                size_t c = 0;
                for (size_t i = 0; i < n->n_extents; i++) {
                        const sk_extent *e = &n->extents[i];
                        if (e->length == 0 || e->n_chunks == 0 || e->first_chunk != c || e->offset < end ||
                            e->offset + e->length < e->offset || e->offset + e->length > n->size ||
                            e->n_chunks > n->n_chunks - c)
                                return false;
                        uint64_t sum = 0;
                        for (uint32_t k = 0; k < e->n_chunks; k++) {
                                if (n->chunks[c + k].len == 0)
                                        return false;
                                sum += n->chunks[c + k].len;
                        }
                        if (sum != e->length)
                                return false;
                        c += e->n_chunks;
                        end = e->offset + e->length;
                }
                if (c != n->n_chunks)
                        return false;
        }
        return true;
}

static bool is_dev(sk_node_type t) { return t == SK_NODE_CHR || t == SK_NODE_BLK; }

static int encode_entry(wbuf *w, const sk_node *n) {
        if (!node_valid_for_encode(n))
                return -EINVAL;
        size_t start = w->len;
        w_u32(w, 0);
        size_t nl = strlen(n->name);
        w_u8(w, (uint8_t) n->type);
        w_u8(w, 0);
        w_u16(w, (uint16_t) nl);
        w_bytes(w, n->name, nl);
        w_u32(w, n->mode);
        w_u32(w, n->uid);
        w_u32(w, n->gid);
        w_ts(w, &n->mtime);
        w_ts(w, &n->atime);
        w_ts(w, &n->ctime);
        w_u64(w, n->dev);
        w_u64(w, n->ino);
        w_u32(w, n->nlink);
        w_u32(w, is_dev(n->type) ? n->rdev_major : 0);
        w_u32(w, is_dev(n->type) ? n->rdev_minor : 0);
        w_u64(w, (n->type == SK_NODE_FILE || n->type == SK_NODE_SYMLINK) ? n->size : 0);
        w_u16(w, (uint16_t) n->n_xattrs);
        for (size_t i = 0; i < n->n_xattrs; i++) {
                size_t l = strlen(n->xattrs[i].name);
                w_u16(w, (uint16_t) l);
                w_bytes(w, n->xattrs[i].name, l);
                w_u32(w, n->xattrs[i].value_len);
                w_bytes(w, n->xattrs[i].value, n->xattrs[i].value_len);
        }
        switch (n->type) {
        case SK_NODE_FILE:
                w_bytes(w, n->content_hash, SK_CONTENT_HASH_BYTES);
                w_u32(w, (uint32_t) n->n_extents);
                for (size_t i = 0; i < n->n_extents; i++) {
                        w_u64(w, n->extents[i].offset);
                        w_u64(w, n->extents[i].length);
                        w_u32(w, n->extents[i].n_chunks);
                }
                for (size_t i = 0; i < n->n_chunks; i++) {
                        w_bytes(w, n->chunks[i].id, SK_TREE_ID_BYTES);
                        w_u32(w, n->chunks[i].len);
                }
                break;
        case SK_NODE_DIR:
                w_bytes(w, n->subtree, SK_TREE_ID_BYTES);
                break;
        case SK_NODE_SYMLINK: {
                size_t tl = strlen(n->target);
                w_u32(w, (uint32_t) tl);
                w_bytes(w, n->target, tl);
                break;
        }
        default:
                break;
        }
        if (w->oom)
                return -ENOMEM;
        size_t rec = w->len - start - 4;
        if (rec > UINT32_MAX)
                return -EFBIG;
        put_u32_at(w->p + start, (uint32_t) rec);
        return 0;
}

static int decode_entry(rbuf *r, sk_node *ret) {
        sk_node n = {};
        int ret_r = -EBADMSG;
        uint32_t rec_len = r_u32(r);
        if (r->bad || rec_len > r->len - r->off)
                return -EBADMSG;
        size_t end = r->off + rec_len;

        n.type = r_u8(r);
        if (r_u8(r) != 0 || n.type < SK_NODE_FILE || n.type > SK_NODE_SOCKET)
                goto fail;
        uint16_t nl = r_u16(r);
        const uint8_t *name = r_bytes(r, nl);
        if (!name || nl < 1 || nl > 255 || !clean_bytes(name, nl, true) || (nl == 1 && name[0] == '.') ||
            (nl == 2 && name[0] == '.' && name[1] == '.'))
                goto fail;
        n.name = memdup_nul(name, nl);
        if (!n.name) {
                ret_r = -ENOMEM;
                goto fail;
        }
        n.mode = r_u32(r);
        n.uid = r_u32(r);
        n.gid = r_u32(r);
        r_ts(r, &n.mtime);
        r_ts(r, &n.atime);
        r_ts(r, &n.ctime);
        n.dev = r_u64(r);
        n.ino = r_u64(r);
        n.nlink = r_u32(r);
        n.rdev_major = r_u32(r);
        n.rdev_minor = r_u32(r);
        n.size = r_u64(r);
        if (r->bad || (n.mode & ~07777u))
                goto fail;
        if (!is_dev(n.type) && (n.rdev_major || n.rdev_minor))
                goto fail;
        if (n.type != SK_NODE_FILE && n.type != SK_NODE_SYMLINK && n.size)
                goto fail;

        uint16_t nx = r_u16(r);
        /* Each xattr takes at least 2 + 1 + 4 bytes: bound before allocating. */
        if (r->bad || nx > (end - MIN(end, r->off)) / 7)
                goto fail;
        if (nx) {
                n.xattrs = calloc(nx, sizeof(sk_xattr));
                if (!n.xattrs) {
                        ret_r = -ENOMEM;
                        goto fail;
                }
        }
        for (uint16_t i = 0; i < nx; i++) {
                uint16_t l = r_u16(r);
                const uint8_t *xn = r_bytes(r, l);
                if (!xn || l < 1 || l > 255 || !clean_bytes(xn, l, false))
                        goto fail;
                uint32_t vl = r_u32(r);
                if (vl > XATTR_VALUE_MAX)
                        goto fail;
                const uint8_t *xv = r_bytes(r, vl);
                if (!xv)
                        goto fail;
                n.n_xattrs = i + 1;
                n.xattrs[i].name = memdup_nul(xn, l);
                n.xattrs[i].value = memdup_nul(xv, vl);
                n.xattrs[i].value_len = vl;
                if (!n.xattrs[i].name || !n.xattrs[i].value) {
                        ret_r = -ENOMEM;
                        goto fail;
                }
                if (i > 0 && name_cmp(n.xattrs[i - 1].name, n.xattrs[i].name) >= 0)
                        goto fail;
        }

        switch (n.type) {
        case SK_NODE_FILE: {
                r_copy(r, n.content_hash, SK_CONTENT_HASH_BYTES);
                uint32_t ne = r_u32(r);
                /* Each extent needs >= 20 bytes + >= 1 chunk of 36: bound before allocating. */
                if (r->bad || ne > (end - MIN(end, r->off)) / 56)
                        goto fail;
                if (ne) {
                        n.extents = calloc(ne, sizeof(sk_extent));
                        if (!n.extents) {
                                ret_r = -ENOMEM;
                                goto fail;
                        }
                }
                n.n_extents = ne;
                uint64_t nc = 0, prev_end = 0;
                for (uint32_t i = 0; i < ne; i++) {
                        sk_extent *e = &n.extents[i];
                        e->offset = r_u64(r);
                        e->length = r_u64(r);
                        e->n_chunks = r_u32(r);
                        e->first_chunk = (uint32_t) nc;
                        if (r->bad || e->length == 0 || e->n_chunks == 0 || e->offset < prev_end ||
                            e->offset + e->length < e->offset || e->offset + e->length > n.size)
                                goto fail;
                        nc += e->n_chunks;
                        prev_end = e->offset + e->length;
                        if (nc > (end - MIN(end, r->off)) / 36)
                                goto fail;
                }
                if (nc) {
                        n.chunks = calloc(nc, sizeof(sk_chunk_ref));
                        if (!n.chunks) {
                                ret_r = -ENOMEM;
                                goto fail;
                        }
                }
                n.n_chunks = nc;
                for (uint64_t i = 0; i < nc; i++) {
                        r_copy(r, n.chunks[i].id, SK_TREE_ID_BYTES);
                        n.chunks[i].len = r_u32(r);
                        if (r->bad || n.chunks[i].len == 0)
                                goto fail;
                }
                for (uint32_t i = 0; i < ne; i++) {
                        uint64_t sum = 0;
                        for (uint32_t k = 0; k < n.extents[i].n_chunks; k++)
                                sum += n.chunks[n.extents[i].first_chunk + k].len;
                        if (sum != n.extents[i].length)
                                goto fail;
                }
                break;
        }
        case SK_NODE_DIR:
                r_copy(r, n.subtree, SK_TREE_ID_BYTES);
                break;
        case SK_NODE_SYMLINK: {
                uint32_t tl = r_u32(r);
                const uint8_t *t = r_bytes(r, tl);
                if (!t || tl < 1 || tl > TARGET_MAX || tl != n.size || !clean_bytes(t, tl, false))
                        goto fail;
                n.target = memdup_nul(t, tl);
                if (!n.target) {
                        ret_r = -ENOMEM;
                        goto fail;
                }
                break;
        }
        default:
                break;
        }
        if (r->bad || r->off != end)
                goto fail;
        *ret = n;
        return 0;
fail:
        r->bad = true;
        sk_node_clear(&n);
        return ret_r;
}

/* ---- tree decode ---------------------------------------------------------------- */

struct sk_tree {
        uint8_t kind;
        sk_node *entries;
        size_t n_entries;
        uint8_t (*parts)[SK_TREE_ID_BYTES];
        size_t n_parts;
        size_t footprint;
};

sk_tree *sk_tree_free(sk_tree *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_entries; i++)
                sk_node_clear(&t->entries[i]);
        free(t->entries);
        free(t->parts);
        free(t);
        return NULL;
}

/* What a decoded entry allocates beyond its encoded bytes: malloc's
 * overhead per block (about 32 bytes for small ones) and the arrays. An
 * xattr of 8 encoded bytes costs ~90 decoded: counting only the encoded size
 * would let a part of tiny xattrs pass the walk budget ten times over. */
static size_t node_footprint(const sk_node *n) {
        return 4 * 32 + n->n_xattrs * (sizeof(sk_xattr) + 2 * 32) + n->n_extents * sizeof(sk_extent) +
               n->n_chunks * sizeof(sk_chunk_ref);
}

int sk_tree_decode(const void *buf, size_t len, sk_tree **ret_tree) {
        rbuf r = { .p = buf, .len = len };
        const uint8_t *magic = r_bytes(&r, 4);
        if (!magic || memcmp(magic, TREE_MAGIC, 4) != 0)
                return -EBADMSG;
        uint16_t version = r_u16(&r);
        if (r.bad)
                return -EBADMSG;
        if (version != TREE_VERSION && version != TREE_VERSION_CHUNK_HASH)
                return -EPROTONOSUPPORT;
        uint8_t kind = r_u8(&r), flags = r_u8(&r);
        uint32_t count = r_u32(&r);
        if (r.bad || flags != 0 || (kind != KIND_LEAF && kind != KIND_SPLIT))
                return -EBADMSG;

        sk_tree *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->kind = kind;
        /* The encoded bytes stand for the bytes entries point to; the node
         * array and each entry's allocations come on top (node_footprint). */
        t->footprint = sizeof(*t) + len + (kind == KIND_LEAF ? (size_t) count * sizeof(sk_node) : 0);
        int rr = -EBADMSG;
        if (kind == KIND_SPLIT) {
                if (count < 2 || (uint64_t) count * SK_TREE_ID_BYTES != len - r.off)
                        goto fail;
                t->parts = malloc((size_t) count * SK_TREE_ID_BYTES);
                if (!t->parts) {
                        rr = -ENOMEM;
                        goto fail;
                }
                memcpy(t->parts, r.p + r.off, (size_t) count * SK_TREE_ID_BYTES);
                t->n_parts = count;
        } else {
                /* Each entry takes at least 4 + 88 bytes: bound before allocating. */
                if (count > (len - r.off) / 92)
                        goto fail;
                if (count) {
                        t->entries = calloc(count, sizeof(sk_node));
                        if (!t->entries) {
                                rr = -ENOMEM;
                                goto fail;
                        }
                }
                for (uint32_t i = 0; i < count; i++) {
                        rr = decode_entry(&r, &t->entries[i]);
                        if (rr < 0)
                                goto fail;
                        t->n_entries = i + 1;
                        t->footprint += node_footprint(&t->entries[i]);
                        if (i > 0 && name_cmp(t->entries[i - 1].name, t->entries[i].name) >= 0) {
                                rr = -EBADMSG;
                                goto fail;
                        }
                }
                if (r.off != len) {
                        rr = -EBADMSG;
                        goto fail;
                }
                /* Canonical: version 2 exactly when a file follows rule 2. */
                bool files = false;
                for (uint32_t i = 0; i < count; i++)
                        if (t->entries[i].type == SK_NODE_FILE) {
                                t->entries[i].hash_rule = version == TREE_VERSION_CHUNK_HASH ?
                                        SK_FILEHASH_RULE_CHUNKS : SK_FILEHASH_RULE_DATA;
                                files = true;
                        }
                if (version == TREE_VERSION_CHUNK_HASH && !files) {
                        rr = -EBADMSG;
                        goto fail;
                }
        }
        if (kind == KIND_SPLIT && version != TREE_VERSION) {
                rr = -EBADMSG;
                goto fail;
        }
        *ret_tree = t;
        return 0;
fail:
        sk_tree_free(t);
        return rr;
}

bool sk_tree_is_split(const sk_tree *t) { return t->kind == KIND_SPLIT; }

size_t sk_tree_footprint(const sk_tree *t) { return t->footprint; }
size_t sk_tree_n_entries(const sk_tree *t) { return t->n_entries; }
const sk_node *sk_tree_entry(const sk_tree *t, size_t i) { return i < t->n_entries ? &t->entries[i] : NULL; }
size_t sk_tree_n_parts(const sk_tree *t) { return t->n_parts; }
const uint8_t *sk_tree_part(const sk_tree *t, size_t i) { return i < t->n_parts ? t->parts[i] : NULL; }

/* ---- tree encode ----------------------------------------------------------------- */

struct sk_tree_builder {
        sk_node *entries;
        size_t n, cap;
};

int sk_tree_builder_new(sk_tree_builder **ret) {
        sk_tree_builder *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        *ret = b;
        return 0;
}

static void builder_reset(sk_tree_builder *b) {
        for (size_t i = 0; i < b->n; i++)
                sk_node_clear(&b->entries[i]);
        b->n = 0;
}

sk_tree_builder *sk_tree_builder_free(sk_tree_builder *b) {
        if (!b)
                return NULL;
        builder_reset(b);
        free(b->entries);
        free(b);
        return NULL;
}

int sk_tree_builder_add(sk_tree_builder *b, sk_node *n) {
        if (b->n == b->cap) {
                size_t cap = b->cap ? b->cap * 2 : 64;
                sk_node *e = realloc(b->entries, cap * sizeof(sk_node));
                if (!e) {
                        sk_node_clear(n);
                        return -ENOMEM;
                }
                b->entries = e;
                b->cap = cap;
        }
        b->entries[b->n++] = *n;
        memset(n, 0, sizeof(*n));
        return 0;
}

static int node_cmp(const void *a, const void *b) {
        return name_cmp(((const sk_node *) a)->name, ((const sk_node *) b)->name);
}

/* The version of a leaf holding entries[0..n): -EINVAL if its files follow
 * both rules (a tree blob has one). */
static int leaf_version(const sk_node *entries, size_t n) {
        bool rule1 = false, rule2 = false;
        for (size_t i = 0; i < n; i++)
                if (entries[i].type == SK_NODE_FILE) {
                        if (sk_node_hash_rule(&entries[i]) == SK_FILEHASH_RULE_CHUNKS)
                                rule2 = true;
                        else
                                rule1 = true;
                }
        if (rule1 && rule2)
                return -EINVAL;
        return rule2 ? TREE_VERSION_CHUNK_HASH : TREE_VERSION;
}

static void w_tree_header(wbuf *w, uint16_t version, uint8_t kind, uint32_t count) {
        w_bytes(w, TREE_MAGIC, 4);
        w_u16(w, version);
        w_u8(w, kind);
        w_u8(w, 0);
        w_u32(w, count);
}

int sk_tree_encode_leaf(const sk_node *entries, size_t n, void **ret_buf, size_t *ret_len) {
        wbuf w = {};
        if (n > UINT32_MAX)
                return -EFBIG;
        int version = leaf_version(entries, n);
        if (version < 0)
                return version;
        w_tree_header(&w, (uint16_t) version, KIND_LEAF, (uint32_t) n);
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && name_cmp(entries[i - 1].name, entries[i].name) >= 0) {
                        free(w.p);
                        return i > 0 && name_cmp(entries[i - 1].name, entries[i].name) == 0 ? -EEXIST : -EINVAL;
                }
                int r = encode_entry(&w, &entries[i]);
                if (r < 0) {
                        free(w.p);
                        return r;
                }
        }
        if (w.oom) {
                free(w.p);
                return -ENOMEM;
        }
        *ret_buf = w.p;
        *ret_len = w.len;
        return 0;
}

static uint64_t fnv1a64(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++) {
                h ^= (uint8_t) *s;
                h *= 0x100000001b3ULL;
        }
        return h;
}

int sk_tree_builder_finish(sk_tree_builder *b, sk_tree_store_fn store, void *userdata,
                           uint8_t ret_id[SK_TREE_ID_BYTES]) {
        int r;
        wbuf w = {};
        size_t *sizes = NULL;
        uint8_t (*parts)[SK_TREE_ID_BYTES] = NULL;

        if (b->n > 1)
                qsort(b->entries, b->n, sizeof(sk_node), node_cmp);
        for (size_t i = 1; i < b->n; i++)
                if (name_cmp(b->entries[i - 1].name, b->entries[i].name) == 0) {
                        r = -EEXIST;
                        goto out;
                }

        /* Encode every entry once to learn sizes; the total decides leaf vs split. */
        sizes = calloc(b->n + 1, sizeof(size_t));
        if (!sizes) {
                r = -ENOMEM;
                goto out;
        }
        uint64_t total = 0;
        r = leaf_version(b->entries, b->n);
        if (r < 0)
                goto out;
        w_tree_header(&w, (uint16_t) r, KIND_LEAF, (uint32_t) b->n);
        for (size_t i = 0; i < b->n; i++) {
                size_t before = w.len;
                r = encode_entry(&w, &b->entries[i]);
                if (r < 0)
                        goto out;
                sizes[i] = w.len - before;
                total += sizes[i];
        }
        if (w.oom) {
                r = -ENOMEM;
                goto out;
        }
        if (total <= SPLIT_THRESHOLD || b->n < 2) {
                r = store(w.p, w.len, ret_id, userdata);
                goto out;
        }

        /* Split at content-defined points; each part is re-encoded from the
         * already-encoded records (they follow the header back to back). */
        size_t n_parts = 0, cap_parts = 0, first = 0, part_bytes = 0, rec_off = TREE_HEADER_SIZE, part_off = rec_off;
        for (size_t i = 0; i < b->n; i++) {
                part_bytes += sizes[i];
                rec_off += sizes[i];
                bool last = i + 1 == b->n;
                bool cut = last || (part_bytes >= PART_MIN && (fnv1a64(b->entries[i].name) & 63) == 0) ||
                           part_bytes + sizes[i + 1] > PART_MAX;
                if (!cut)
                        continue;
                if (n_parts == cap_parts) {
                        cap_parts = cap_parts ? cap_parts * 2 : 16;
                        void *np = realloc(parts, cap_parts * SK_TREE_ID_BYTES);
                        if (!np) {
                                r = -ENOMEM;
                                goto out;
                        }
                        parts = np;
                }
                wbuf pw = {};
                /* the whole directory's rules were checked above: no part mixes them */
                w_tree_header(&pw, (uint16_t) leaf_version(b->entries + first, i + 1 - first), KIND_LEAF,
                              (uint32_t) (i + 1 - first));
                w_bytes(&pw, w.p + part_off, rec_off - part_off);
                if (pw.oom) {
                        free(pw.p);
                        r = -ENOMEM;
                        goto out;
                }
                r = store(pw.p, pw.len, parts[n_parts], userdata);
                free(pw.p);
                if (r < 0)
                        goto out;
                n_parts++;
                first = i + 1;
                part_bytes = 0;
                part_off = rec_off;
        }
        if (n_parts == 1) {
                /* Everything fitted one part: that part is the leaf. */
                memcpy(ret_id, parts[0], SK_TREE_ID_BYTES);
                r = 0;
                goto out;
        }
        wbuf sw = {};
        w_tree_header(&sw, TREE_VERSION, KIND_SPLIT, (uint32_t) n_parts);
        w_bytes(&sw, parts, n_parts * SK_TREE_ID_BYTES);
        if (sw.oom)
                r = -ENOMEM;
        else
                r = store(sw.p, sw.len, ret_id, userdata);
        free(sw.p);
out:
        free(w.p);
        free(sizes);
        free(parts);
        builder_reset(b);
        return r;
}
