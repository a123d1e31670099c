/* Tree and manifest codec: round trip, determinism, splitting, strict rejection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "repo/filehash.h"
#include "repo/tree.h"
#include "repo/manifest-codec.h"
#include "tests/lib/testutil.h"

/* An in-memory blob store: id = SHA-256 of the bytes. */
typedef struct mem_store {
        struct {
                uint8_t id[32];
                void *buf;
                size_t len;
        } b[4096];
        size_t n;
} mem_store;

static int mem_put(const void *buf, size_t len, uint8_t ret_id[32], void *ud) {
        mem_store *s = ud;
        SHA256(buf, len, ret_id);
        for (size_t i = 0; i < s->n; i++)
                if (!memcmp(s->b[i].id, ret_id, 32))
                        return 0;
        if (s->n == 4096)
                return -ENOSPC;
        memcpy(s->b[s->n].id, ret_id, 32);
        s->b[s->n].buf = malloc(len);
        memcpy(s->b[s->n].buf, buf, len);
        s->b[s->n].len = len;
        s->n++;
        return 0;
}

static const void *mem_get(mem_store *s, const uint8_t id[32], size_t *len) {
        for (size_t i = 0; i < s->n; i++)
                if (!memcmp(s->b[i].id, id, 32)) {
                        *len = s->b[i].len;
                        return s->b[i].buf;
                }
        return NULL;
}

static void mem_free(mem_store *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->b[i].buf);
        free(s);
}

static void set_xattr(sk_node *n, const char *name, const void *v, uint32_t len) {
        n->xattrs = realloc(n->xattrs, (n->n_xattrs + 1) * sizeof(sk_xattr));
        n->xattrs[n->n_xattrs].name = strdup(name);
        n->xattrs[n->n_xattrs].value = malloc(len + 1);
        memcpy(n->xattrs[n->n_xattrs].value, v, len);
        n->xattrs[n->n_xattrs].value_len = len;
        n->n_xattrs++;
}

/* One node of every kind, sorted by name. */
static size_t make_nodes(sk_node *v) {
        memset(v, 0, 8 * sizeof(sk_node));
        /* a sparse file: two extents, three chunks */
        v[0] = (sk_node) { .name = strdup("a-file"), .type = SK_NODE_FILE, .mode = 04755, .uid = 1, .gid = 2,
                           .mtime = { 1700000000, 123456789 }, .atime = { 1700000001, 5 }, .ctime = { 3, 4 },
                           .dev = 77, .ino = 88, .nlink = 2, .size = 1ULL << 30 };
        memset(v[0].content_hash, 0xab, 32);
        v[0].n_extents = 2;
        v[0].extents = calloc(2, sizeof(sk_extent));
        v[0].extents[0] = (sk_extent) { .offset = 0, .length = 300, .first_chunk = 0, .n_chunks = 2 };
        v[0].extents[1] = (sk_extent) { .offset = (1ULL << 30) - 100, .length = 100, .first_chunk = 2, .n_chunks = 1 };
        v[0].n_chunks = 3;
        v[0].chunks = calloc(3, sizeof(sk_chunk_ref));
        for (int i = 0; i < 3; i++)
                memset(v[0].chunks[i].id, 0x10 + i, 32);
        v[0].chunks[0].len = 200;
        v[0].chunks[1].len = 100;
        v[0].chunks[2].len = 100;
        set_xattr(&v[0], "security.capability", "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
        set_xattr(&v[0], "user.empty", "", 0);
        v[1] = (sk_node) { .name = strdup("b-dir"), .type = SK_NODE_DIR, .mode = 01777, .nlink = 3 };
        memset(v[1].subtree, 0x42, 32);
        set_xattr(&v[1], "trusted.overlay.opaque", "y", 1);
        v[2] = (sk_node) { .name = strdup("c-link"), .type = SK_NODE_SYMLINK, .mode = 0777, .size = 9 };
        v[2].target = strdup("../\xff\xfe/x");
        v[2].size = strlen(v[2].target);
        v[3] = (sk_node) { .name = strdup("d-whiteout"), .type = SK_NODE_CHR, .mode = 0, .rdev_major = 0, .rdev_minor = 0 };
        v[4] = (sk_node) { .name = strdup("e-blk"), .type = SK_NODE_BLK, .mode = 0660, .rdev_major = 8, .rdev_minor = 1 };
        v[5] = (sk_node) { .name = strdup("f-fifo"), .type = SK_NODE_FIFO, .mode = 0644 };
        v[6] = (sk_node) { .name = strdup("g-sock"), .type = SK_NODE_SOCKET, .mode = 0755 };
        v[7] = (sk_node) { .name = strdup("\xc3\x28-not-utf8"), .type = SK_NODE_FILE, .mode = 0600 };
        return 8;
}

static void assert_node_equal(const sk_node *a, const sk_node *b) {
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->mode, b->mode);
        assert_int_equal(a->uid, b->uid);
        assert_int_equal(a->gid, b->gid);
        assert_int_equal(a->mtime.tv_sec, b->mtime.tv_sec);
        assert_int_equal(a->mtime.tv_nsec, b->mtime.tv_nsec);
        assert_int_equal(a->atime.tv_nsec, b->atime.tv_nsec);
        assert_int_equal(a->ctime.tv_sec, b->ctime.tv_sec);
        assert_int_equal(a->dev, b->dev);
        assert_int_equal(a->ino, b->ino);
        assert_int_equal(a->nlink, b->nlink);
        assert_int_equal(a->rdev_major, b->rdev_major);
        assert_int_equal(a->rdev_minor, b->rdev_minor);
        assert_int_equal(a->size, b->size);
        assert_true(sk_node_meta_equal(a, b));
        assert_int_equal(a->n_xattrs, b->n_xattrs);
        assert_int_equal(a->n_extents, b->n_extents);
        assert_int_equal(a->n_chunks, b->n_chunks);
        for (size_t i = 0; i < a->n_extents; i++)
                assert_memory_equal(&a->extents[i], &b->extents[i], sizeof(sk_extent));
        for (size_t i = 0; i < a->n_chunks; i++)
                assert_memory_equal(&a->chunks[i], &b->chunks[i], sizeof(sk_chunk_ref));
        if (a->type == SK_NODE_DIR)
                assert_memory_equal(a->subtree, b->subtree, 32);
}

static void test_roundtrip(void **state) {
        (void) state;
        sk_node v[8];
        size_t n = make_nodes(v);
        void *buf = NULL, *buf2 = NULL;
        size_t len, len2;
        assert_int_equal(sk_tree_encode_leaf(v, n, &buf, &len), 0);
        sk_tree *t = NULL;
        assert_int_equal(sk_tree_decode(buf, len, &t), 0);
        assert_false(sk_tree_is_split(t));
        assert_int_equal(sk_tree_n_entries(t), n);
        for (size_t i = 0; i < n; i++)
                assert_node_equal(&v[i], sk_tree_entry(t, i));
        /* Decoded and re-encoded: the very same bytes. */
        sk_node *copy = calloc(n, sizeof(sk_node));
        for (size_t i = 0; i < n; i++)
                assert_int_equal(sk_node_copy(sk_tree_entry(t, i), &copy[i]), 0);
        assert_int_equal(sk_tree_encode_leaf(copy, n, &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        /* A changed mode is a metadata difference. */
        copy[0].mode = 0755;
        assert_false(sk_node_meta_equal(&v[0], &copy[0]));
        for (size_t i = 0; i < n; i++) {
                sk_node_clear(&v[i]);
                sk_node_clear(&copy[i]);
        }
        free(copy);
        sk_tree_free(t);
        free(buf);
        free(buf2);
}

static void test_determinism(void **state) {
        (void) state;
        mem_store *s = calloc(1, sizeof(*s));
        uint8_t id1[32], id2[32];
        sk_tree_builder *b = NULL;
        assert_int_equal(sk_tree_builder_new(&b), 0);
        sk_node v[8];
        size_t n = make_nodes(v);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(sk_tree_builder_add(b, &v[i]), 0);
        assert_int_equal(sk_tree_builder_finish(b, mem_put, s, id1), 0);
        n = make_nodes(v);
        for (size_t i = n; i-- > 0;) /* reverse order */
                assert_int_equal(sk_tree_builder_add(b, &v[i]), 0);
        assert_int_equal(sk_tree_builder_finish(b, mem_put, s, id2), 0);
        assert_memory_equal(id1, id2, 32);
        assert_int_equal(s->n, 1);
        /* Duplicate names are refused. */
        n = make_nodes(v);
        sk_node dup;
        assert_int_equal(sk_node_copy(&v[3], &dup), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(sk_tree_builder_add(b, &v[i]), 0);
        assert_int_equal(sk_tree_builder_add(b, &dup), 0);
        assert_int_equal(sk_tree_builder_finish(b, mem_put, s, id2), -EEXIST);
        /* Empty directory: a valid empty leaf. */
        assert_int_equal(sk_tree_builder_finish(b, mem_put, s, id2), 0);
        size_t len = 0;
        const void *buf = mem_get(s, id2, &len);
        sk_tree *t = NULL;
        assert_non_null(buf);
        assert_int_equal(sk_tree_decode(buf, len, &t), 0);
        assert_int_equal(sk_tree_n_entries(t), 0);
        sk_tree_free(t);
        sk_tree_builder_free(b);
        mem_free(s);
}

static void add_many(sk_tree_builder *b, size_t count, const char *extra) {
        for (size_t i = 0; i < count; i++) {
                sk_node n = { .type = SK_NODE_FILE, .mode = 0644 };
                assert_true(asprintf(&n.name, "file-with-a-rather-long-name-to-fill-the-tree-%08zu", i) > 0);
                assert_int_equal(sk_tree_builder_add(b, &n), 0);
        }
        if (extra) {
                sk_node n = { .type = SK_NODE_FIFO, .name = strdup(extra) };
                assert_int_equal(sk_tree_builder_add(b, &n), 0);
        }
}

static size_t collect(mem_store *s, const uint8_t id[32], uint8_t parts[][32], size_t max, size_t *ret_entries) {
        size_t len = 0;
        const void *buf = mem_get(s, id, &len);
        sk_tree *t = NULL;
        assert_non_null(buf);
        assert_int_equal(sk_tree_decode(buf, len, &t), 0);
        assert_true(sk_tree_is_split(t));
        size_t np = sk_tree_n_parts(t), total = 0;
        assert_true(np <= max);
        const char *prev = NULL;
        char *prev_copy = NULL;
        for (size_t i = 0; i < np; i++) {
                memcpy(parts[i], sk_tree_part(t, i), 32);
                const void *pb = mem_get(s, parts[i], &len);
                sk_tree *p = NULL;
                assert_non_null(pb);
                assert_true(len <= (4u << 20) + 12);
                assert_int_equal(sk_tree_decode(pb, len, &p), 0);
                assert_false(sk_tree_is_split(p));
                for (size_t k = 0; k < sk_tree_n_entries(p); k++) {
                        const char *nm = sk_tree_entry(p, k)->name;
                        if (prev)
                                assert_true(strcmp(prev, nm) < 0);
                        free(prev_copy);
                        prev = prev_copy = strdup(nm);
                }
                total += sk_tree_n_entries(p);
                sk_tree_free(p);
        }
        free(prev_copy);
        sk_tree_free(t);
        *ret_entries = total;
        return np;
}

static void test_split(void **state) {
        (void) state;
        mem_store *s = calloc(1, sizeof(*s));
        sk_tree_builder *b = NULL;
        uint8_t id1[32], id2[32], p1[256][32], p2[256][32];
        size_t e1, e2;
        assert_int_equal(sk_tree_builder_new(&b), 0);
        add_many(b, 40000, NULL);
        assert_int_equal(sk_tree_builder_finish(b, mem_put, s, id1), 0);
        size_t n1 = collect(s, id1, p1, 256, &e1);
        assert_int_equal(e1, 40000);
        assert_true(n1 >= 2);
        /* One more entry in the middle changes few parts (content-defined cuts). */
        add_many(b, 40000, "file-with-a-rather-long-name-to-fill-the-tree-00020000x");
        assert_int_equal(sk_tree_builder_finish(b, mem_put, s, id2), 0);
        size_t n2 = collect(s, id2, p2, 256, &e2);
        assert_int_equal(e2, 40001);
        size_t same = 0;
        for (size_t i = 0; i < n2; i++)
                for (size_t k = 0; k < n1; k++)
                        if (!memcmp(p2[i], p1[k], 32))
                                same++;
        assert_true(same + 2 >= n2);
        assert_true(same < n2);
        sk_tree_builder_free(b);
        mem_free(s);
}

static void test_reject(void **state) {
        (void) state;
        sk_node v[8];
        size_t n = make_nodes(v);
        uint8_t *buf = NULL;
        size_t len = 0;
        sk_tree *t = NULL;
        assert_int_equal(sk_tree_encode_leaf(v, n, (void **) &buf, &len), 0);
        /* Every truncation and any trailing byte is rejected. */
        for (size_t l = 0; l < len; l++)
                assert_int_equal(sk_tree_decode(buf, l, &t), l < 6 ? -EBADMSG : -EBADMSG);
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, buf, len);
        longer[len] = 0;
        assert_int_equal(sk_tree_decode(longer, len + 1, &t), -EBADMSG);
        free(longer);
        /* Unknown version. */
        buf[4] = 3;
        assert_int_equal(sk_tree_decode(buf, len, &t), -EPROTONOSUPPORT);
        buf[4] = 1;
        /* Bad magic, bad kind, nonzero flags. */
        buf[0] ^= 1;
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        buf[0] ^= 1;
        buf[6] = 7;
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        buf[6] = 0;
        buf[7] = 1;
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        buf[7] = 0;
        /* First entry: name "a-file" at offset 12+4+4; make it contain '/'. */
        assert_int_equal(buf[20], 'a');
        buf[21] = '/';
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        buf[21] = '-';
        /* Swap order: rename "a-file" to "z-file" breaks the sort. */
        buf[20] = 'z';
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        buf[20] = 'a';
        /* Mode with type bits set. */
        buf[26 + 2] = 0x80;
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        buf[26 + 2] = 0;
        assert_int_equal(sk_tree_decode(buf, len, &t), 0);
        sk_tree_free(t);
        free(buf);
        /* The encoder refuses invalid nodes too. */
        free(v[0].name);
        v[0].name = strdup("a/b");
        assert_int_equal(sk_tree_encode_leaf(v, n, (void **) &buf, &len), -EINVAL);
        v[0].extents[1].length = 99; /* chunks no longer sum to the extent */
        free(v[0].name);
        v[0].name = strdup("a-file");
        assert_int_equal(sk_tree_encode_leaf(v, n, (void **) &buf, &len), -EINVAL);
        for (size_t i = 0; i < n; i++)
                sk_node_clear(&v[i]);
}

/* A dir entry whose xattr count says 65535 but whose record has 32 bytes
 * left: rejected before allocating 65535 xattrs (1.5 MiB). */
/* Tree versions (FORMAT-tree.md): a leaf whose files follow content hash
 * rule 2 is version 2, and its decoded files say so; a leaf of rule-1 files
 * is version 1; no leaf mixes them, and a version-2 blob without a file or a
 * version-2 split is not canonical. */
static void test_hash_rule_versions(void **state) {
        (void) state;
        sk_node v[8];
        size_t n = make_nodes(v);
        uint8_t *buf = NULL;
        size_t len = 0;
        sk_tree *t = NULL;

        assert_int_equal(sk_tree_encode_leaf(v, n, (void **) &buf, &len), 0);
        assert_int_equal(buf[4], 1);
        assert_int_equal(sk_tree_decode(buf, len, &t), 0);
        assert_int_equal(sk_tree_entry(t, 0)->hash_rule, SK_FILEHASH_RULE_DATA);
        sk_tree_free(t);
        /* the same bytes as version 2: every file is read as rule 2 */
        buf[4] = 2;
        assert_int_equal(sk_tree_decode(buf, len, &t), 0);
        assert_int_equal(sk_tree_entry(t, 0)->hash_rule, SK_FILEHASH_RULE_CHUNKS);
        assert_int_equal(sk_tree_entry(t, 7)->hash_rule, SK_FILEHASH_RULE_CHUNKS);
        assert_int_equal(sk_tree_entry(t, 1)->hash_rule, 0); /* not a file */
        /* equal hashes under different rules are different content */
        assert_false(sk_node_meta_equal(sk_tree_entry(t, 0), &v[0]));
        sk_tree_free(t);
        free(buf);

        /* mixed rules: refused */
        v[0].hash_rule = SK_FILEHASH_RULE_CHUNKS;
        assert_int_equal(sk_tree_encode_leaf(v, n, (void **) &buf, &len), -EINVAL);
        v[7].hash_rule = SK_FILEHASH_RULE_CHUNKS;
        assert_int_equal(sk_tree_encode_leaf(v, n, (void **) &buf, &len), 0);
        assert_int_equal(buf[4], 2);
        assert_int_equal(sk_tree_decode(buf, len, &t), 0);
        assert_true(sk_node_meta_equal(sk_tree_entry(t, 0), &v[0]));
        sk_tree_free(t);
        free(buf);

        /* no file: version 1 whatever the rule, and version 2 is rejected */
        assert_int_equal(sk_tree_encode_leaf(v + 1, 6, (void **) &buf, &len), 0);
        assert_int_equal(buf[4], 1);
        buf[4] = 2;
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        free(buf);
        uint8_t split[12 + 64] = { 'S', 'K', 'T', 'R', 2, 0, 1, 0, 2, 0, 0, 0 };
        memset(split + 12, 0x42, 64);
        assert_int_equal(sk_tree_decode(split, sizeof(split), &t), -EBADMSG);
        split[4] = 1;
        assert_int_equal(sk_tree_decode(split, sizeof(split), &t), 0);
        sk_tree_free(t);
        for (size_t i = 0; i < n; i++)
                sk_node_clear(&v[i]);
}

static void test_xattr_count_bound(void **state) {
        (void) state;
        sk_node n = { .type = SK_NODE_DIR, .mode = 0755, .name = (char *) "d" };
        uint8_t *buf;
        size_t len = 0;
        assert_int_equal(sk_tree_encode_leaf(&n, 1, (void **) &buf, &len), 0);
        /* header 12, rec_len 4, type 1, flags 1, name_len 2, name 1, fixed fields 84 */
        size_t nx = 12 + 4 + 4 + 1 + 84;
        assert_int_equal(buf[nx] | buf[nx + 1] << 8, 0);
        assert_int_equal(len, nx + 2 + 32);
        buf[nx] = buf[nx + 1] = 0xff;
        bool tracked = sk_test_track_allocs();
        sk_tree *t = NULL;
        assert_int_equal(sk_tree_decode(buf, len, &t), -EBADMSG);
        size_t max_alloc = sk_test_max_alloc();
        if (tracked) {
                print_message("largest allocation while decoding: %zu bytes\n", max_alloc);
                assert_true(max_alloc < 4096);
        } else
                print_message("no allocator hook (not an ASan build): allocation size not checked\n");
        free(buf);
}

static sk_manifest *make_manifest(void) {
        sk_manifest *m = calloc(1, sizeof(*m));
        memset(m->id, 'a', SK_BACKUP_ID_HEX);
        m->time = (struct timespec) { 1700000000, 999999999 };
        m->hostname = strdup("host\xff");
        m->program_version = strdup("snapkeep test");
        m->n_sources = 2;
        m->sources = calloc(2, sizeof(char *));
        m->sources[0] = strdup("/srv/data");
        m->sources[1] = strdup("/etc");
        m->n_tags = 2;
        m->tags = calloc(2, sizeof(char *));
        m->tags[0] = strdup("daily");
        m->tags[1] = strdup("weekly");
        memset(m->root, 7, 32);
        m->has_parent = true;
        memset(m->parent_id, 'b', SK_BACKUP_ID_HEX);
        m->summary = (sk_backup_summary) { .files = 1, .dirs = 2, .bytes = 3, .added_bytes = 4, .added_stored = 5,
                                           .files_new = 6, .files_changed = 7, .files_unmodified = 8, .errors = 9,
                                           .duration_ns = 10 };
        return m;
}

static void test_manifest(void **state) {
        (void) state;
        sk_manifest *m = make_manifest(), *d = NULL;
        uint8_t *buf = NULL, *buf2 = NULL;
        size_t len, len2;
        assert_int_equal(sk_manifest_encode(m, (void **) &buf, &len), 0);
        assert_int_equal(sk_manifest_decode(buf, len, &d), 0);
        assert_string_equal(d->id, m->id);
        assert_string_equal(d->parent_id, m->parent_id);
        assert_true(d->has_parent);
        assert_string_equal(d->hostname, m->hostname);
        assert_int_equal(d->n_sources, 2);
        assert_string_equal(d->sources[1], "/etc");
        assert_int_equal(d->n_tags, 2);
        assert_string_equal(d->tags[1], "weekly");
        assert_memory_equal(d->root, m->root, 32);
        assert_memory_equal(&d->summary, &m->summary, sizeof(m->summary));
        assert_int_equal(d->time.tv_nsec, 999999999);
        assert_int_equal(sk_manifest_encode(d, (void **) &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        sk_manifest_free(d);
        for (size_t l = 0; l < len; l++)
                assert_true(sk_manifest_decode(buf, l, &d) < 0);
        buf[4] = 9;
        assert_int_equal(sk_manifest_decode(buf, len, &d), -EPROTONOSUPPORT);
        buf[4] = 1;
        buf[0] = 'X';
        assert_int_equal(sk_manifest_decode(buf, len, &d), -EBADMSG);
        free(buf);
        free(buf2);
        /* Unsorted tags are not canonical. */
        char *t = m->tags[0];
        m->tags[0] = m->tags[1];
        m->tags[1] = t;
        assert_int_equal(sk_manifest_encode(m, (void **) &buf, &len), -EINVAL);
        sk_manifest_free(m);
}

SK_TEST_MAIN(cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_determinism),
             cmocka_unit_test(test_split), cmocka_unit_test(test_reject), cmocka_unit_test(test_hash_rule_versions),
             cmocka_unit_test(test_manifest),
             cmocka_unit_test(test_xattr_count_bound))
