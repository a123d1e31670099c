/* OCI export, the layers: each layer directory of a backup streamed from the
 * repository into a pax tar in a temporary file, whiteouts and opaque
 * directories converted, hashed (diff_id, digest) as it is written. The image
 * around the layers (config, manifest, index, the outer archive) is
 * oci-image.c. See oci-export.h for the design. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "backup/report.h"
#include "backup/browse.h"
#include "backup/manifest.h"
#include "repo/filehash.h"
#include "container/oci-internal.h"
#include "backup/treewalk.h"
#include "common/fsutil.h"
#include "common/inomap.h"
#include "common/macro.h"


/* Hardlink groups of one layer: (dev, ino) -> the first member's tar path
 * (owned) and content digest; the table is made on first use. */
typedef struct hl_map {
        sk_inomap *m;
} hl_map;

typedef struct hl_first {
        char *path;
        uint8_t digest[SK_NODE_DIGEST_BYTES];
} hl_first;

typedef struct ectx {
        sk_repo *repo;
        const sk_oci_export_options *o;
        sk_progress prog;
        /* current layer */
        const char *backup_id;
        const char *layer_path;
        struct archive *a;
        int fd;
        EVP_MD_CTX *md;                 /* uncompressed tar: diff_id */
        EVP_MD_CTX *md_blob;            /* compressed blob: digest (zstd only) */
        ZSTD_CCtx *zc;                  /* NULL: layers stay uncompressed */
        uint8_t *zbuf;
        size_t zbuf_size;
        uint64_t written;
        int io_err;                     /* first write error of the callback */
        hl_map hl;
        const char *path;               /* tar path of the current entry (the walk's), or NULL */
        uint64_t entries, bytes;
} ectx;

static void report(ectx *c, sk_problem_kind kind, int err, const char *path, const char *blob, const char *detail) {
        sk_engine_problem(c->o->problem, c->o->userdata, kind, err, c->backup_id, path, NULL, blob, detail);
}

static int progress(ectx *c) {
        if (!c->o->progress)
                return 0;
        c->prog.current = c->path ?: "";
        return c->o->progress(&c->prog, c->o->userdata);
}

/* ---- hardlink map ------------------------------------------------------- */

static void hl_done(hl_map *m) {
        size_t it = 0;
        for (hl_first *p; (p = sk_inomap_next(m->m, &it));)
                free(p->path);
        m->m = sk_inomap_free(m->m);
}

/* Returns the first member's path (borrowed) or NULL after recording n, at
 * path, as the first member. A member whose content differs from the
 * first's (members are stored in full) gets NULL and *ret_differs: it is
 * written in full rather than as a link to other content. -ENOMEM through
 * *ret_err. */
static const char *hl_get_or_add(hl_map *m, const sk_node *n, const char *path, bool *ret_differs, int *ret_err) {
        *ret_err = 0;
        *ret_differs = false;
        uint8_t digest[SK_NODE_DIGEST_BYTES];
        if ((*ret_err = sk_node_content_digest(n, digest)) < 0)
                return NULL;
        if (!m->m && (*ret_err = sk_inomap_new(sizeof(hl_first), 0, &m->m)) < 0)
                return NULL;
        hl_first *first = NULL;
        int r = sk_inomap_get(m->m, n->dev, n->ino, (void **) &first);
        if (r < 0) {
                *ret_err = r;
                return NULL;
        }
        if (first->path) {
                if (memcmp(first->digest, digest, sizeof(digest)) == 0)
                        return first->path;
                *ret_differs = true;
                return NULL;
        }
        /* New, or left empty by a failed strdup: path becomes the first member. */
        if (!(first->path = strdup(path)))
                *ret_err = -ENOMEM;
        memcpy(first->digest, digest, sizeof(digest));
        return NULL;
}

/* ---- layer tar writing -------------------------------------------------- */

static int blob_out(ectx *c, const void *buf, size_t len) {
        int r = c->fd >= 0 ? sk_write_all(c->fd, buf, len) : 0; /* no file: hashed only */
        if (r < 0)
                return r;
        if (EVP_DigestUpdate(c->zc ? c->md_blob : c->md, buf, len) != 1)
                return -EIO;
        c->written += len;
        return 0;
}

/* Compress (zstd) what is in `in` and write it; end = finish the frame. */
static int zstd_out(ectx *c, const void *buf, size_t len, bool end) {
        ZSTD_inBuffer in = { buf, len, 0 };
        for (;;) {
                ZSTD_outBuffer out = { c->zbuf, c->zbuf_size, 0 };
                size_t left = ZSTD_compressStream2(c->zc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
                if (ZSTD_isError(left))
                        return -EIO;
                if (out.pos > 0) {
                        int r = blob_out(c, c->zbuf, out.pos);
                        if (r < 0)
                                return r;
                }
                if (end ? left == 0 : in.pos == in.size)
                        return 0;
        }
}

static la_ssize_t layer_write_cb(struct archive *a, void *ud, const void *buf, size_t len) {
        ectx *c = ud;
        int r = 0;
        if (c->zc) {
                if (EVP_DigestUpdate(c->md, buf, len) != 1)
                        r = -EIO;
                else
                        r = zstd_out(c, buf, len, false);
        } else
                r = blob_out(c, buf, len);
        if (r < 0) {
                c->io_err = r;
                archive_set_error(a, -r, "writing layer tar: %s", strerror(-r));
                return -1;
        }
        return (la_ssize_t) len;
}

/* libarchive's error as -errno (its errno, else -EIO), preferring the error
 * our write callback saw. */
static int ar_err(ectx *c, struct archive *a) {
        if (c && c->io_err < 0)
                return c->io_err;
        int e = archive_errno(a);
        return e > 0 ? -e : -EIO;
}

static int ar_fail(ectx *c, struct archive *a, const char *what) {
        int r = ar_err(c, a);
        _cleanup_free_ char *d = NULL;
        if (asprintf(&d, "%s: %s", what, archive_error_string(a) ?: strerror(-r)) < 0)
                d = NULL;
        report(c, SK_PROBLEM_ERROR, r, c->path, NULL, d ?: what);
        return r;
}

static bool is_whiteout(const sk_node *n) {
        return n->type == SK_NODE_CHR && n->rdev_major == 0 && n->rdev_minor == 0;
}

static bool is_opaque(const sk_node *n) {
        for (size_t i = 0; i < n->n_xattrs; i++)
                if (strcmp(n->xattrs[i].name, "trusted.overlay.opaque") == 0)
                        return n->xattrs[i].value_len >= 1 && n->xattrs[i].value[0] == 'y';
        return false;
}

static void fill_common(struct archive_entry *e, const sk_node *n, const char *path) {
        archive_entry_set_pathname(e, path);
        archive_entry_set_perm(e, n->mode & 07777);
        archive_entry_set_uid(e, n->uid);
        archive_entry_set_gid(e, n->gid);
        archive_entry_set_mtime(e, n->mtime.tv_sec, n->mtime.tv_nsec);
        for (size_t i = 0; i < n->n_xattrs; i++) {
                if (strncmp(n->xattrs[i].name, "trusted.overlay.", 16) == 0)
                        continue;
                archive_entry_xattr_add_entry(e, n->xattrs[i].name, n->xattrs[i].value, n->xattrs[i].value_len);
        }
}

/* An empty regular file marker (".wh.NAME", ".wh..wh..opq"). */
static int write_marker(ectx *c, const char *dirpath, size_t dirlen, const char *name, const sk_node *like) {
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%.*s%s%s", (int) dirlen, dirpath, dirlen ? "/" : "", name) < 0)
                return -ENOMEM;
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return -ENOMEM;
        archive_entry_set_pathname(e, p);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 0);
        archive_entry_set_mtime(e, like->mtime.tv_sec, like->mtime.tv_nsec);
        int r = archive_write_header(c->a, e) == ARCHIVE_OK ? 0 : ar_fail(c, c->a, "tar header");
        archive_entry_free(e);
        c->entries++;
        return r;
}

static int write_zeros(ectx *c, uint64_t len) {
        static const uint8_t zeros[65536];
        while (len > 0) {
                size_t k = len < sizeof(zeros) ? (size_t) len : sizeof(zeros);
                if (archive_write_data(c->a, zeros, k) != (la_ssize_t) k)
                        return ar_fail(c, c->a, "tar data");
                len -= k;
        }
        return 0;
}

/* Stream a file's chunks into the archive (holes as zeros) and check its
 * content hash over exactly the bytes written. */
static int write_content(ectx *c, const sk_node *n) {
        _cleanup_(sk_filehash_freep) sk_filehash *fh = NULL;
        int r = sk_filehash_new(sk_node_hash_rule(n), &fh);
        if (r < 0)
                return r;
        uint64_t pos = 0;
        size_t k = 0;
        for (size_t x = 0; x < n->n_extents; x++) {
                const sk_extent *ext = &n->extents[x];
                if (ext->offset < pos || ext->first_chunk + ext->n_chunks > n->n_chunks) {
                        r = -EBADMSG;
                        report(c, SK_PROBLEM_ERROR, r, c->path, NULL, "malformed extent list");
                        goto out;
                }
                r = write_zeros(c, ext->offset - pos);
                if (r < 0)
                        goto out;
                pos = ext->offset;
                k = ext->first_chunk;
                for (uint32_t i = 0; i < ext->n_chunks; i++, k++) {
                        const sk_chunk_ref *cr = &n->chunks[k];
                        void *buf = NULL;
                        size_t len = 0;
                        r = sk_repo_get_blob(c->repo, SK_BLOB_DATA, (const sk_blob_id *) cr->id, &buf, &len);
                        char hex[SK_BLOB_ID_HEX + 1];
                        if (r < 0 || len != cr->len) {
                                sk_hex(cr->id, SK_TREE_ID_BYTES, hex);
                                _cleanup_free_ char *d = NULL;
                                if (r < 0)
                                        d = sk_engine_detail(c->repo, "chunk %s of this file could not be read",
                                                             hex);
                                else if (asprintf(&d, "blob %s has length %zu, tree says %u", hex, len, cr->len) < 0)
                                        d = NULL;
                                if (r >= 0)
                                        r = -EBADMSG;
                                report(c, SK_PROBLEM_ERROR, r, c->path, hex, d ?: "chunk unreadable");
                                free(buf);
                                goto out;
                        }
                        r = sk_filehash_update(fh, buf, len);
                        if (r >= 0)
                                r = sk_filehash_chunk(fh, cr->id, (uint32_t) len);
                        if (r < 0) {
                                free(buf);
                                goto out;
                        }
                        la_ssize_t w = archive_write_data(c->a, buf, len);
                        free(buf);
                        if (w != (la_ssize_t) len) {
                                r = ar_fail(c, c->a, "tar data");
                                goto out;
                        }
                        pos += len;
                        c->bytes += len;
                        c->prog.bytes_done += len;
                }
                r = sk_filehash_extent(fh, ext->offset, ext->length);
                if (r < 0)
                        goto out;
        }
        if (pos > n->size) {
                r = -EBADMSG;
                report(c, SK_PROBLEM_ERROR, r, c->path, NULL, "extents exceed the file size");
                goto out;
        }
        r = write_zeros(c, n->size - pos);
        if (r < 0)
                goto out;
        r = sk_filehash_verify(fh, n->size, n->content_hash);
        if (r == -EBADMSG)
                report(c, SK_PROBLEM_ERROR, r, c->path, NULL,
                       "content hash mismatch: data read from the repository differs from the backed-up file");
out:
        return r;
}

/* One entry, at c->path. Directories are entered by the walk. */
static int write_node(ectx *c, const sk_node *n) {
        int r = 0;
        if (is_whiteout(n)) {
                _cleanup_free_ char *wh = NULL;
                if (asprintf(&wh, ".wh.%s", n->name) < 0)
                        return -ENOMEM;
                /* The marker goes in the entry's directory: its path minus the name. */
                const char *slash = strrchr(c->path, '/');
                return write_marker(c, c->path, slash ? (size_t) (slash - c->path) : 0, wh, n);
        }
        if (n->type == SK_NODE_SOCKET) {
                report(c, SK_PROBLEM_WARNING, -EOPNOTSUPP, c->path, NULL, "socket not exported");
                return 0;
        }
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return -ENOMEM;
        fill_common(e, n, c->path);
        bool content = false;
        switch (n->type) {
        case SK_NODE_DIR: archive_entry_set_filetype(e, AE_IFDIR); break;
        case SK_NODE_SYMLINK:
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_symlink(e, n->target ?: "");
                break;
        case SK_NODE_CHR:
        case SK_NODE_BLK:
                archive_entry_set_filetype(e, n->type == SK_NODE_CHR ? AE_IFCHR : AE_IFBLK);
                archive_entry_set_rdevmajor(e, n->rdev_major);
                archive_entry_set_rdevminor(e, n->rdev_minor);
                break;
        case SK_NODE_FIFO: archive_entry_set_filetype(e, AE_IFIFO); break;
        case SK_NODE_FILE: {
                archive_entry_set_filetype(e, AE_IFREG);
                const char *first = NULL;
                if (n->nlink > 1) {
                        bool differs;
                        first = hl_get_or_add(&c->hl, n, c->path, &differs, &r);
                        if (r < 0)
                                goto out;
                        if (differs)
                                report(c, SK_PROBLEM_WARNING, -EBADMSG, c->path, NULL,
                                       "hardlinked in the backup, but stored with other content than the first "
                                       "member: written as a separate file");
                }
                if (first) {
                        archive_entry_set_hardlink(e, first);
                        archive_entry_set_size(e, 0);
                } else {
                        archive_entry_set_size(e, (la_int64_t) n->size);
                        content = true;
                }
                break;
        }
        default:
                r = -EBADMSG;
                report(c, SK_PROBLEM_ERROR, r, c->path, NULL, "unknown entry type");
                goto out;
        }
        if (archive_write_header(c->a, e) != ARCHIVE_OK) {
                r = ar_fail(c, c->a, "tar header");
                goto out;
        }
        c->entries++;
        c->prog.files_done++;
        if (content)
                r = write_content(c, n);
        if (r >= 0 && n->type == SK_NODE_DIR && is_opaque(n))
                r = write_marker(c, c->path, strlen(c->path), ".wh..wh..opq", n);
out:
        archive_entry_free(e);
        return r;
}

/* Every entry below tree, in tar order (a directory before its entries).
 * Iterative (treewalk.h): the depth of a tree is up to whoever wrote the
 * repository. */
static int walk(ectx *c, const uint8_t tree[SK_TREE_ID_BYTES]) {
        sk_treewalk *w = NULL;
        int r = sk_treewalk_new(c->repo, tree, NULL, &w);
        sk_walk_item it;
        while (r >= 0 && (r = sk_treewalk_step(w, &it)) >= 0 && it.event != SK_WALK_END) {
                c->path = it.path;
                if (it.event == SK_WALK_UNREADABLE) {
                        char hex[SK_TREE_ID_BYTES * 2 + 1];
                        sk_hex(it.node->subtree, SK_TREE_ID_BYTES, hex);
                        report(c, SK_PROBLEM_ERROR, it.error, it.path, hex, it.detail);
                        r = it.error;
                } else if (it.event == SK_WALK_ENTRY && it.depth > 0) {
                        r = write_node(c, it.node);
                        if (r >= 0 && (c->prog.files_done & 255) == 0)
                                r = progress(c);
                }
        }
        c->path = NULL;
        sk_treewalk_free(w);
        return r < 0 ? r : 0;
}

char *sk_oci_tmp_name(const char *dir, const char *what) {
        char *p = NULL;
        if (asprintf(&p, "%s/.snapkeep-%s.XXXXXX", dir, what) < 0)
                return NULL;
        return p;
}

/* Write one layer's tar into a new temporary file in tmpdir. */
static int export_layer(ectx *c, const sk_oci_layer_src *src, const char *tmpdir, sk_oci_layer_out *out) {
        char id[SK_BACKUP_ID_HEX + 1];
        int r = sk_backup_resolve(c->repo, src->backup_id, id);
        if (r < 0) {
                report(c, SK_PROBLEM_ERROR, r, NULL, NULL, "backup not found");
                return r;
        }
        c->backup_id = id;
        c->layer_path = src->path ?: "";
        sk_node root = { 0 };
        r = sk_backup_lookup(c->repo, id, c->layer_path, &root);
        if (r < 0) {
                _cleanup_free_ char *d = NULL;
                if (asprintf(&d, "layer directory '%s' not found in the backup", c->layer_path) < 0)
                        d = NULL;
                report(c, SK_PROBLEM_ERROR, r, c->layer_path, NULL, d ?: "layer directory not found");
                return r;
        }
        if (root.type != SK_NODE_DIR) {
                sk_node_clear(&root);
                report(c, SK_PROBLEM_ERROR, -ENOTDIR, c->layer_path, NULL, "layer path is not a directory");
                return -ENOTDIR;
        }

        if (!tmpdir)
                goto hashed_only;
        out->tmp_path = sk_oci_tmp_name(tmpdir, "layer");
        if (!out->tmp_path) {
                sk_node_clear(&root);
                return -ENOMEM;
        }
        c->fd = mkostemp(out->tmp_path, O_CLOEXEC);
        if (c->fd < 0) {
                r = negative_errno();
                free(out->tmp_path);
                out->tmp_path = NULL;
                sk_node_clear(&root);
                report(c, SK_PROBLEM_ERROR, r, tmpdir, NULL, "cannot create a temporary layer file");
                return r;
        }
hashed_only:
        c->md = EVP_MD_CTX_new();
        c->a = archive_write_new();
        c->written = 0;
        c->io_err = 0;
        if (!c->md || !c->a) {
                r = -ENOMEM;
                goto out;
        }
        if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
                r = -EIO;
                goto out;
        }
        if (c->o->zstd_level > 0) {
                c->md_blob = EVP_MD_CTX_new();
                c->zc = ZSTD_createCCtx();
                c->zbuf_size = ZSTD_CStreamOutSize();
                c->zbuf = malloc(c->zbuf_size);
                if (!c->md_blob || !c->zc || !c->zbuf) {
                        r = -ENOMEM;
                        goto out;
                }
                if (EVP_DigestInit_ex(c->md_blob, EVP_sha256(), NULL) != 1 ||
                    ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, c->o->zstd_level)) ||
                    ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 1))) {
                        r = -EINVAL;
                        goto out;
                }
        }
        if (archive_write_set_format_pax(c->a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(c->a, 1) != ARCHIVE_OK ||
            archive_write_open2(c->a, c, NULL, layer_write_cb, NULL, NULL) != ARCHIVE_OK) {
                r = ar_fail(c, c->a, "layer tar");
                goto out;
        }
        r = walk(c, root.subtree);
        if (r < 0)
                goto out;
        if (archive_write_close(c->a) != ARCHIVE_OK) {
                r = ar_fail(c, c->a, "layer tar");
                goto out;
        }
        if (c->zc && (r = zstd_out(c, NULL, 0, true)) < 0) {
                report(c, SK_PROBLEM_ERROR, r, c->layer_path, NULL, "compressing the layer failed");
                goto out;
        }
        uint8_t h[32];
        unsigned int hl = 0;
        if (EVP_DigestFinal_ex(c->md, h, &hl) != 1) {
                r = -EIO;
                goto out;
        }
        sk_hex(h, sizeof(h), out->diff_id);
        if (c->zc) {
                if (EVP_DigestFinal_ex(c->md_blob, h, &hl) != 1) {
                        r = -EIO;
                        goto out;
                }
                sk_hex(h, sizeof(h), out->digest);
        } else
                memcpy(out->digest, out->diff_id, sizeof(out->digest));
        out->size = c->written;
out:
        ZSTD_freeCCtx(c->zc);
        c->zc = NULL;
        free(c->zbuf);
        c->zbuf = NULL;
        EVP_MD_CTX_free(c->md_blob);
        c->md_blob = NULL;
        hl_done(&c->hl);
        if (c->a)
                archive_write_free(c->a);
        c->a = NULL;
        EVP_MD_CTX_free(c->md);
        c->md = NULL;
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        sk_node_clear(&root);
        c->backup_id = NULL;
        return r;
}

int sk_oci_write_layers(sk_repo *repo, const sk_oci_export_options *o, const char *tmpdir, sk_oci_layer_out *out,
                        uint64_t *ret_entries, uint64_t *ret_bytes) {
        ectx c = { .repo = repo, .o = o, .fd = -1, .prog.phase = SK_PHASE_RESTORE };
        int r = 0;
        for (size_t i = 0; i < o->n_layers && r >= 0; i++)
                r = export_layer(&c, &o->layers[i], tmpdir, &out[i]);
        *ret_entries = c.entries;
        *ret_bytes = c.bytes;
        return r;
}

int sk_oci_layer_identity(sk_repo *repo, const sk_oci_layer_src *src, sk_problem_fn problem, void *userdata,
                          char diff_id[65], uint64_t *ret_size) {
        sk_oci_export_options o = { .layers = src, .n_layers = 1, .problem = problem, .userdata = userdata };
        ectx c = { .repo = repo, .o = &o, .fd = -1, .prog.phase = SK_PHASE_RESTORE };
        sk_oci_layer_out out = {};
        int r = export_layer(&c, src, NULL, &out);
        if (r >= 0) {
                _Static_assert(sizeof(out.diff_id) == 65, "a SHA-256 in hex");
                memcpy(diff_id, out.diff_id, sizeof(out.diff_id));
                *ret_size = out.size;
        }
        return r;
}
