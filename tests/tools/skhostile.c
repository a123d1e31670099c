/* skhostile: write well-formed but malicious backups with the repository key,
 * for tests only (the hostile-repository suite, test-restore-hostile.sh and
 * test-containers-hostile.sh).
 *
 *   skhostile URL PASSWORD_FILE [--id ID] [--tag TAG]... SCENARIO [ARG]
 *
 * Writes the blobs of SCENARIO and a manifest naming them, and prints the
 * backup id. Without --id a new backup is made (source "/hostile"); with
 * --id the existing backup ID (a container backup taken by snapkeepd, say)
 * keeps its id, tags and containers/ record, and its root tree's entries
 * are replaced by the scenario's where names clash. Scenarios (entries of
 * the root tree; "fs" is what container restores and Prepare read):
 *
 *   fs-symlink TARGET   "fs" is a symlink to TARGET
 *   fs-file             "fs" is a regular file
 *   specials            fs/ holds a char device 1:1 and a block device 8:0
 *                       (mode 0666), a whiteout (char 0:0), a FIFO (0666), a
 *                       setuid-root, a setgid-root and a cap_setuid file
 *   names KIND [T]      fs/ holds a symlink "a" -> T (/etc) and a file whose name
 *                       is KIND: dotdot (".."), dot ("."), slash ("a/passwd"),
 *                       abs ("/etc") (the encoder refuses these: the bytes
 *                       are patched after encoding)
 *   hardlink TARGET     a hardlink group whose first member ("aaa", outside
 *                       fs) is left out by --include fs, and a group mixing
 *                       a symlink to TARGET with a file
 *   oversized           fs/ holds a sparse file of 2^62 bytes, a file with a
 *                       64 KiB xattr and a directory whose tree claims
 *                       0xffffffff entries
 *   type-confused       fs/ holds a directory whose tree id is a data blob
 *                       and a file whose chunk is a tree blob
 *   deep N              fs/d/d/.../d (N levels) with a file at the bottom
 *   deep-links N        fs/D/D/.../D (N levels, D a 255-byte name), each level
 *                       holding a file "h" of a hardlink group of its own
 *                       (nlink 2, the other member absent): a restore that
 *                       kept each group's first path as a string would
 *                       hold N^2 x 128 bytes
 *   hardlink-differ     fs/a and fs/b are one hardlink group (same dev, ino)
 *                       stored with different contents
 *   hash-mismatch RULE  fs/ holds "good" and "bad", two-chunk files whose content
 *                       hashes follow RULE (1: over the data, 2: over the chunk
 *                       ids; FORMAT-tree.md), "bad"'s with one byte flipped
 *   deep-wide N         fs/z/z/.../z (N levels), each level a split directory
 *                       of the same 4,000 files (same inodes, long names) and
 *                       "z": every level names the same part blobs, so a few
 *                       MiB stored decode to N x ~2.5 MiB along one path
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup/manifest.h"
#include "tests/lib/toolrepo.h"

static sk_repo *repo;
static uint64_t next_ino = 1000;
/* The content hash rule the repository's own writer uses (its format
 * version): scenario files follow it, so that they can share a directory
 * with the entries of a backup taken by snapkeep (--id). */
static int repo_rule = 1;

static void die(int r, const char *what) {
        fprintf(stderr, "skhostile: %s: %s (%s)\n", what, strerror(r < 0 ? -r : r), repo ? sk_repo_last_error(repo) : "");
        exit(1);
}

static void put(sk_blob_type t, const void *buf, size_t len, uint8_t ret[SK_TREE_ID_BYTES]) {
        sk_blob_id id;
        int r = sk_repo_put_blob(repo, t, buf, len, &id, NULL);
        if (r < 0)
                die(r, "put blob");
        memcpy(ret, id.b, SK_TREE_ID_BYTES);
}

static sk_node node(const char *name, sk_node_type t, uint32_t mode) {
        sk_node n = { .type = t, .mode = mode, .nlink = 1, .dev = 1, .ino = next_ino++ };
        n.name = strdup(name);
        n.mtime.tv_sec = n.atime.tv_sec = n.ctime.tv_sec = 1700000000;
        return n;
}

static void le64(uint8_t b[8], uint64_t v) {
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
}

/* The content hash of FORMAT-tree.md for a file of size bytes holding buf
 * (len bytes, one extent at 0; len 0: no extent). */
static void content_hash(const void *buf, size_t len, uint64_t size, uint8_t out[32]) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t tail[16];
        unsigned int hl = 0;
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        if (len) {
                EVP_DigestUpdate(md, buf, len);
                le64(tail, 0);
                le64(tail + 8, len);
                EVP_DigestUpdate(md, tail, 16);
        }
        le64(tail, size);
        EVP_DigestUpdate(md, tail, 8);
        EVP_DigestFinal_ex(md, out, &hl);
        EVP_MD_CTX_free(md);
}

/* Rule 2 of FORMAT-tree.md for a dense file (one extent, or none when it is
 * all hole or empty), written here from the specification rather than with
 * repo/filehash.c. */
static void content_hash2(const sk_node *n, uint8_t out[32]) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t b[36];
        unsigned int hl = 0;
        EVP_DigestInit_ex(md, EVP_sha256(), NULL);
        EVP_DigestUpdate(md, "SKFHASH2", 8);
        for (size_t i = 0; i < n->n_chunks; i++) {
                memcpy(b, n->chunks[i].id, 32);
                for (int k = 0; k < 4; k++)
                        b[32 + k] = (uint8_t) (n->chunks[i].len >> (8 * k));
                EVP_DigestUpdate(md, b, 36);
        }
        if (n->n_extents) { /* dense: one extent [0, size) */
                le64(b, 0);
                le64(b + 8, n->size);
                EVP_DigestUpdate(md, b, 16);
        }
        le64(b, n->size);
        EVP_DigestUpdate(md, b, 8);
        EVP_DigestFinal_ex(md, out, &hl);
        EVP_MD_CTX_free(md);
}

/* n's content hash by the repository's rule; buf is its data (len bytes at
 * offset 0, or none). */
static void hash_by_repo_rule(sk_node *n, const void *buf, size_t len) {
        if (repo_rule == 2) {
                n->hash_rule = 2;
                content_hash2(n, n->content_hash);
        } else {
                content_hash(buf, len, n->size, n->content_hash);
        }
}

/* A dense file of two chunks (a, b), its content hash by rule. */
static sk_node two_chunk_file(const char *name, const char *a, const char *b, int rule) {
        sk_node n = node(name, SK_NODE_FILE, 0644);
        size_t la = strlen(a), lb = strlen(b);
        n.size = la + lb;
        n.extents = calloc(1, sizeof(sk_extent));
        n.chunks = calloc(2, sizeof(sk_chunk_ref));
        n.n_extents = 1;
        n.n_chunks = 2;
        n.extents[0] = (sk_extent) { .offset = 0, .length = n.size, .first_chunk = 0, .n_chunks = 2 };
        put(SK_BLOB_DATA, a, la, n.chunks[0].id);
        put(SK_BLOB_DATA, b, lb, n.chunks[1].id);
        n.chunks[0].len = (uint32_t) la;
        n.chunks[1].len = (uint32_t) lb;
        n.hash_rule = (uint8_t) rule;
        if (rule == 2) {
                content_hash2(&n, n.content_hash);
        } else {
                char *all = malloc(n.size);
                memcpy(all, a, la);
                memcpy(all + la, b, lb);
                content_hash(all, n.size, n.size, n.content_hash);
                free(all);
        }
        return n;
}

/* A regular file holding buf, as one chunk of blob type t. */
static sk_node file_of(const char *name, uint32_t mode, const void *buf, size_t len, sk_blob_type t) {
        sk_node n = node(name, SK_NODE_FILE, mode);
        n.size = len;
        if (len) {
                n.extents = calloc(1, sizeof(sk_extent));
                n.chunks = calloc(1, sizeof(sk_chunk_ref));
                n.n_extents = n.n_chunks = 1;
                n.extents[0] = (sk_extent) { .offset = 0, .length = len, .first_chunk = 0, .n_chunks = 1 };
                put(t, buf, len, n.chunks[0].id);
                n.chunks[0].len = (uint32_t) len;
        }
        hash_by_repo_rule(&n, buf, len);
        return n;
}

static sk_node file(const char *name, uint32_t mode, const char *text) {
        return file_of(name, mode, text, strlen(text), SK_BLOB_DATA);
}

static sk_node special(const char *name, sk_node_type t, uint32_t mode, uint32_t maj, uint32_t min) {
        sk_node n = node(name, t, mode);
        n.rdev_major = maj;
        n.rdev_minor = min;
        return n;
}

static sk_node symlink_to(const char *name, const char *target) {
        sk_node n = node(name, SK_NODE_SYMLINK, 0777);
        n.target = strdup(target);
        n.size = strlen(target);
        return n;
}

static void add_xattr(sk_node *n, const char *name, const void *v, size_t len) {
        n->xattrs = realloc(n->xattrs, (n->n_xattrs + 1) * sizeof(sk_xattr));
        sk_xattr *x = &n->xattrs[n->n_xattrs++];
        x->name = strdup(name);
        x->value = malloc(len ? len : 1);
        memcpy(x->value, v, len);
        x->value_len = (uint32_t) len;
}

static int cmp_node(const void *a, const void *b) {
        return strcmp(((const sk_node *) a)->name, ((const sk_node *) b)->name);
}

/* Encode entries (any order) as one leaf; *ret_buf owned. */
static void encode(sk_node *e, size_t n, void **ret_buf, size_t *ret_len) {
        qsort(e, n, sizeof(sk_node), cmp_node);
        int r = sk_tree_encode_leaf(e, n, ret_buf, ret_len);
        if (r < 0)
                die(r, "encode tree");
}

/* A directory node whose tree holds entries e (consumed). */
static sk_node dir_of(const char *name, sk_node *e, size_t n) {
        void *buf;
        size_t len;
        encode(e, n, &buf, &len);
        sk_node d = node(name, SK_NODE_DIR, 0755);
        put(SK_BLOB_TREE, buf, len, d.subtree);
        free(buf);
        for (size_t i = 0; i < n; i++)
                sk_node_clear(&e[i]);
        return d;
}

/* Replace the name bytes of the (unique) record named from, with to (same
 * length): how names the encoder refuses get into a tree. */
static void patch_name(void *buf, size_t len, const char *from, const char *to) {
        size_t l = strlen(from);
        uint8_t key[2 + 255];
        key[0] = (uint8_t) l;
        key[1] = 0;
        memcpy(key + 2, from, l);
        uint8_t *p = memmem(buf, len, key, l + 2);
        if (!p || strlen(to) != l)
                die(-EINVAL, "patch name");
        memcpy(p + 2, to, l);
}

static int store_tree(const void *buf, size_t len, uint8_t ret_id[SK_TREE_ID_BYTES], void *userdata) {
        (void) userdata;
        put(SK_BLOB_TREE, buf, len, ret_id);
        return 0;
}

/* One level of deep-wide: the shared files and, unless sub is NULL, "z". */
static sk_node wide_level(sk_node *sub) {
        sk_tree_builder *b = NULL;
        if (sk_tree_builder_new(&b) < 0)
                die(-ENOMEM, "tree builder");
        for (int i = 0; i < 4000; i++) {
                char name[256];
                snprintf(name, sizeof(name), "f%05d-%0240d", i, 0);
                sk_node f = node(name, SK_NODE_FILE, 0644);
                f.ino = 500000 + (uint64_t) i; /* the same at every level: parts are shared */
                hash_by_repo_rule(&f, "", 0);
                if (sk_tree_builder_add(b, &f) < 0)
                        die(-ENOMEM, "tree builder add");
        }
        if (sub && sk_tree_builder_add(b, sub) < 0)
                die(-ENOMEM, "tree builder add");
        sk_node d = node("z", SK_NODE_DIR, 0755);
        int r = sk_tree_builder_finish(b, store_tree, NULL, d.subtree);
        if (r < 0)
                die(r, "tree builder finish");
        sk_tree_builder_free(b);
        return d;
}

/* The level count of the deep-* scenarios: at least 1, else usage fails. */
static long levels_of(const char *arg, const char *usage) {
        long levels = arg ? strtol(arg, NULL, 10) : 0;
        if (levels < 1)
                die(-EINVAL, usage);
        return levels;
}

/* The top of a deep-* chain becomes the snapshot's "fs". */
static sk_node named_fs(sk_node top) {
        free(top.name);
        top.name = strdup("fs");
        return top;
}

static size_t scenario(const char *what, const char *arg, const char *arg2, sk_node *out) {
        size_t n = 0;
        if (!strcmp(what, "fs-symlink")) {
                out[n++] = symlink_to("fs", arg);
        } else if (!strcmp(what, "fs-file")) {
                out[n++] = file("fs", 0644, "not a directory\n");
        } else if (!strcmp(what, "specials")) {
                static const uint8_t cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x80, 0x00 }; /* v2, cap_setuid permitted+effective */
                sk_node e[8];
                size_t k = 0;
                e[k++] = special("mem", SK_NODE_CHR, 0666, 1, 1);
                e[k++] = special("disk", SK_NODE_BLK, 0666, 8, 0);
                e[k++] = special("whiteout", SK_NODE_CHR, 0, 0, 0);
                e[k++] = special("fifo", SK_NODE_FIFO, 0666, 0, 0);
                e[k++] = file("suid", 04755, "#!/bin/sh\nid\n");
                e[k++] = file("sgid", 02755, "#!/bin/sh\nid\n");
                e[k] = file("cap", 0755, "#!/bin/sh\nid\n");
                add_xattr(&e[k++], "security.capability", cap, sizeof(cap));
                out[n++] = dir_of("fs", e, k);
        } else if (!strcmp(what, "names")) {
                /* Placeholders of the same length, sorted where the real name sorts. */
                const char *real = !strcmp(arg, "dotdot") ? ".." : !strcmp(arg, "dot") ? "." :
                                   !strcmp(arg, "slash") ? "a/passwd" : !strcmp(arg, "abs") ? "/etc" : NULL;
                const char *ph = !strcmp(arg, "dotdot") ? ".X" : !strcmp(arg, "dot") ? "X" :
                                 !strcmp(arg, "slash") ? "aXpasswd" : !strcmp(arg, "abs") ? "Xetc" : NULL;
                if (!real)
                        die(-EINVAL, "names: dotdot, dot, slash or abs");
                sk_node e[3];
                e[0] = symlink_to("a", arg2 ? arg2 : "/etc");
                e[1] = file(ph, 0644, "root::0:0::/root:/bin/sh\n");
                void *buf;
                size_t len;
                encode(e, 2, &buf, &len);
                patch_name(buf, len, ph, real);
                sk_node d = node("fs", SK_NODE_DIR, 0755);
                put(SK_BLOB_TREE, buf, len, d.subtree);
                free(buf);
                sk_node_clear(&e[0]);
                sk_node_clear(&e[1]);
                out[n++] = d;
        } else if (!strcmp(what, "hardlink")) {
                sk_node a = file("aaa", 0644, "first member, outside fs\n");
                a.nlink = 2;
                a.dev = 7;
                a.ino = 7;
                out[n++] = a;
                sk_node e[3];
                e[0] = file("h", 0644, "first member, outside fs\n");
                e[0].nlink = 2;
                e[0].dev = 7;
                e[0].ino = 7;
                e[1] = symlink_to("l", arg);
                e[1].nlink = 2;
                e[1].dev = 8;
                e[1].ino = 8;
                e[2] = file("m", 0644, "pwned\n");
                e[2].nlink = 2;
                e[2].dev = 8;
                e[2].ino = 8;
                out[n++] = dir_of("fs", e, 3);
        } else if (!strcmp(what, "hardlink-differ")) {
                sk_node e[2];
                e[0] = file("a", 0644, "AAAA\n");
                e[1] = file("b", 0644, "BBBB\n");
                for (int i = 0; i < 2; i++) {
                        e[i].nlink = 2;
                        e[i].dev = 9;
                        e[i].ino = 9;
                }
                out[n++] = dir_of("fs", e, 2);
        } else if (!strcmp(what, "oversized")) {
                sk_node e[3];
                e[0] = node("big", SK_NODE_FILE, 0644);
                e[0].size = 1ull << 62; /* all hole: legal, no extents */
                hash_by_repo_rule(&e[0], NULL, 0);
                e[1] = file("xattr", 0644, "x\n");
                void *v = calloc(1, 65536);
                add_xattr(&e[1], "user.big", v, 65536);
                free(v);
                /* A tree whose count claims 0xffffffff entries. */
                sk_node one = file("one", 0644, "1\n");
                void *buf;
                size_t len;
                encode(&one, 1, &buf, &len);
                sk_node_clear(&one);
                memset((uint8_t *) buf + 8, 0xff, 4);
                e[2] = node("count", SK_NODE_DIR, 0755);
                put(SK_BLOB_TREE, buf, len, e[2].subtree);
                free(buf);
                out[n++] = dir_of("fs", e, 3);
        } else if (!strcmp(what, "type-confused")) {
                sk_node e[2];
                /* The bytes of an empty tree, stored as data: named as a tree. */
                void *buf;
                size_t len;
                encode(NULL, 0, &buf, &len);
                e[0] = node("d", SK_NODE_DIR, 0755);
                put(SK_BLOB_DATA, buf, len, e[0].subtree);
                free(buf);
                /* A tree blob named as a file's chunk (hash over its bytes). */
                sk_node t = file("t", 0644, "inner\n");
                encode(&t, 1, &buf, &len);
                sk_node_clear(&t);
                e[1] = file_of("f", 0644, buf, len, SK_BLOB_TREE);
                free(buf);
                out[n++] = dir_of("fs", e, 2);
        } else if (!strcmp(what, "deep")) {
                long levels = levels_of(arg, "deep N");
                sk_node cur = file("bottom", 0644, "bottom\n");
                for (long i = 0; i < levels; i++)
                        cur = dir_of("d", &cur, 1);
                out[n++] = named_fs(cur);
        } else if (!strcmp(what, "deep-links")) {
                long levels = levels_of(arg, "deep-links N");
                char name[256];
                memset(name, 'D', 255);
                name[255] = 0;
                sk_node h = file("h", 0644, "h\n");
                h.nlink = 2;
                sk_node cur = dir_of(name, &h, 1);
                for (long i = 1; i < levels; i++) {
                        sk_node e[2] = { cur, file("h", 0644, "h\n") }; /* sorted: 'D' < 'h' */
                        e[1].nlink = 2;
                        cur = dir_of(name, e, 2);
                }
                out[n++] = named_fs(cur);
        } else if (!strcmp(what, "hash-mismatch")) {
                int rule = arg ? atoi(arg) : 0;
                if (rule != 1 && rule != 2)
                        die(-EINVAL, "hash-mismatch: RULE is 1 or 2");
                sk_node e[2];
                e[0] = two_chunk_file("bad", "first chunk of bad\n", "second chunk of bad\n", rule);
                e[0].content_hash[7] ^= 1;
                e[1] = two_chunk_file("good", "first chunk of good\n", "second chunk of good\n", rule);
                out[n++] = dir_of("fs", e, 2);
        } else if (!strcmp(what, "deep-wide")) {
                long levels = levels_of(arg, "deep-wide N");
                sk_node cur = wide_level(NULL);
                for (long i = 1; i < levels; i++)
                        cur = wide_level(&cur);
                out[n++] = named_fs(cur);
        } else
                die(-EINVAL, "unknown scenario");
        return n;
}

static void random_id(char out[SK_BACKUP_ID_HEX + 1]) {
        uint8_t b[32];
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t) sizeof(b))
                die(-EIO, "urandom");
        close(fd);
        sk_hex(b, sizeof(b), out);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr, "usage: skhostile URL PASSWORD_FILE [--id ID] [--tag TAG]... SCENARIO [ARG]\n");
                return 1;
        }
        const char *id = NULL;
        char *tags[16];
        size_t n_tags = 0;
        int i = 3;
        for (; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--id"))
                        id = argv[i + 1];
                else if (!strcmp(argv[i], "--tag") && n_tags < 16)
                        tags[n_tags++] = argv[i + 1];
                else
                        break;
        }
        if (i >= argc)
                die(-EINVAL, "no scenario");
        const char *what = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        const char *arg2 = i + 2 < argc ? argv[i + 2] : NULL;

        int r = sk_tool_open(argv[1], argv[2], &repo);
        if (r < 0)
                die(r, "open repository");
        sk_repo_config cfg;
        if (sk_repo_get_config(repo, &cfg) >= 0 && cfg.version >= 2)
                repo_rule = 2;

        sk_node root[64];
        size_t n = scenario(what, arg, arg2, root);
        sk_manifest *m = NULL;
        if (id) {
                /* Keep the backup's other root entries: only the clashing ones change. */
                r = sk_backup_load(repo, id, &m);
                if (r < 0)
                        die(r, "load backup");
                sk_tree *t = NULL;
                r = sk_tool_load_leaf(repo, m->root, &t);
                if (r < 0)
                        die(r, "read root tree");
                size_t keep = n;
                for (size_t k = 0; k < sk_tree_n_entries(t); k++) {
                        const sk_node *e = sk_tree_entry(t, k);
                        bool clash = false;
                        for (size_t j = 0; j < keep; j++)
                                clash = clash || !strcmp(root[j].name, e->name);
                        if (!clash && n < 64 && sk_node_copy(e, &root[n]) >= 0)
                                n++;
                }
                sk_tree_free(t);
        } else {
                m = calloc(1, sizeof(*m));
                random_id(m->id);
                clock_gettime(CLOCK_REALTIME, &m->time);
                m->hostname = strdup("hostile");
                m->program_version = strdup("skhostile");
                m->sources = calloc(1, sizeof(char *));
                m->sources[0] = strdup("/hostile");
                m->n_sources = 1;
                qsort(tags, n_tags, sizeof(char *), cmp_str);
                m->tags = calloc(n_tags + 1, sizeof(char *));
                for (size_t k = 0; k < n_tags; k++)
                        m->tags[k] = strdup(tags[k]);
                m->n_tags = n_tags;
        }
        void *buf;
        size_t len;
        encode(root, n, &buf, &len);
        put(SK_BLOB_TREE, buf, len, m->root);
        free(buf);
        for (size_t k = 0; k < n; k++)
                sk_node_clear(&root[k]);
        r = sk_repo_flush(repo);
        if (r < 0)
                die(r, "flush");
        r = sk_backup_store(repo, m);
        if (r < 0)
                die(r, "store manifest");
        printf("%s\n", m->id);
        sk_manifest_free(m);
        sk_repo_free(repo);
        return 0;
}
