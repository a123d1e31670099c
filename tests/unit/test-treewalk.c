/* Unit tests for backup/treewalk.c: order and events, split directories
 * walked part by part, and the depth bound (a chain of tree blobs deeper than
 * SK_TREE_MAX_DEPTH, written directly: no writer of ours makes one). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/dir.h"
#include "repo/repo.h"
#include "backup/treewalk.h"
#include "common/fsutil.h"
#include "tests/lib/testrepo.h"

typedef sk_test_repo env;

static int setup(void **state) {
        env *e = sk_test_repo_new(state, sizeof(*e), "sk-test-treewalk");
        sk_test_repo_init(e, e->repo_path, "pw", &(sk_repo_init_opts){ .scrypt_log2n = 10, .pack_size = 4 << 20 });
        return 0;
}

static sk_node dir_node(const char *name, const uint8_t sub[SK_TREE_ID_BYTES]) {
        sk_node n = { .type = SK_NODE_DIR, .mode = 0755, .nlink = 2 };
        n.name = strdup(name);
        assert_non_null(n.name);
        memcpy(n.subtree, sub, SK_TREE_ID_BYTES);
        return n;
}

/* A chain of n directories named "d" ending in an empty one; *top: the tree
 * holding the first "d" (so n + 1 trees). */
static void make_chain(env *e, size_t n, uint8_t top[SK_TREE_ID_BYTES]) {
        sk_tree_builder *b = NULL;
        assert_int_equal(sk_tree_builder_new(&b), 0);
        assert_int_equal(sk_tree_builder_finish(b, sk_tree_blob_store, e->repo, top), 0);
        for (size_t i = 0; i < n; i++) {
                sk_node d = dir_node("d", top);
                assert_int_equal(sk_tree_builder_add(b, &d), 0);
                assert_int_equal(sk_tree_builder_finish(b, sk_tree_blob_store, e->repo, top), 0);
        }
        sk_tree_builder_free(b);
}

/* Entries in name order, depth first, LEAVE after a directory's entries,
 * accumulators summed per directory, and a skipped directory not entered. */
static void test_order(void **state) {
        env *e = *state;
        uint8_t empty[SK_TREE_ID_BYTES], sub[SK_TREE_ID_BYTES], root[SK_TREE_ID_BYTES];
        make_chain(e, 0, empty);
        sk_tree_builder *b = NULL;
        assert_int_equal(sk_tree_builder_new(&b), 0);
        sk_node f = { .type = SK_NODE_FILE, .mode = 0644, .nlink = 1 };
        f.name = strdup("x");
        assert_int_equal(sk_tree_builder_add(b, &f), 0);
        assert_int_equal(sk_tree_builder_finish(b, sk_tree_blob_store, e->repo, sub), 0);
        sk_node a = dir_node("a", sub), z = dir_node("z", empty), s = dir_node("skip", sub);
        f = (sk_node) { .type = SK_NODE_FILE, .mode = 0644, .nlink = 1 };
        f.name = strdup("m");
        assert_int_equal(sk_tree_builder_add(b, &z), 0);
        assert_int_equal(sk_tree_builder_add(b, &f), 0);
        assert_int_equal(sk_tree_builder_add(b, &a), 0);
        assert_int_equal(sk_tree_builder_add(b, &s), 0);
        assert_int_equal(sk_tree_builder_finish(b, sk_tree_blob_store, e->repo, root), 0);
        sk_tree_builder_free(b);

        sk_treewalk *w = NULL;
        assert_int_equal(sk_treewalk_new(e->repo, root, "pre", &w), 0);
        char log[512] = "";
        sk_walk_item it;
        for (;;) {
                assert_int_equal(sk_treewalk_step(w, &it), 0);
                if (it.event == SK_WALK_END)
                        break;
                assert_int_not_equal(it.event, SK_WALK_UNREADABLE);
                char line[96];
                if (it.event == SK_WALK_ENTRY) {
                        snprintf(line, sizeof(line), "E%zu:%s;", it.depth, it.path);
                        if (it.node->type == SK_NODE_FILE)
                                it.acc[0]++;
                        if (strcmp(it.node->name, "skip") == 0)
                                sk_treewalk_skip(w);
                } else {
                        snprintf(line, sizeof(line), "L%zu:%s=%llu;", it.depth, it.path,
                                 (unsigned long long) it.sub[0]);
                        it.acc[0] += it.sub[0];
                }
                strcat(log, line);
        }
        assert_string_equal(log, "E0:pre;E1:pre/a;E2:pre/a/x;L1:pre/a=1;E1:pre/m;E1:pre/skip;E1:pre/z;L1:pre/z=0;"
                                 "L0:pre=2;");
        sk_treewalk_free(w);
}

/* A directory of many entries is split into parts (FORMAT-tree.md); the walk
 * loads them one at a time and reports every entry once, in order. */
static void test_split(void **state) {
        env *e = *state;
        const size_t n = 40000; /* > 1 MiB of records: a split tree */
        uint8_t root[SK_TREE_ID_BYTES];
        sk_tree_builder *b = NULL;
        assert_int_equal(sk_tree_builder_new(&b), 0);
        for (size_t i = 0; i < n; i++) {
                sk_node f = { .type = SK_NODE_FILE, .mode = 0644, .nlink = 1 };
                assert_true(asprintf(&f.name, "file-with-a-longish-name-%06zu", i) > 0);
                assert_int_equal(sk_tree_builder_add(b, &f), 0);
        }
        assert_int_equal(sk_tree_builder_finish(b, sk_tree_blob_store, e->repo, root), 0);
        sk_tree_builder_free(b);
        sk_tree *t = NULL;
        assert_int_equal(sk_tree_blob_load(e->repo, root, &t, NULL), 0);
        assert_true(sk_tree_is_split(t));
        sk_tree_free(t);

        sk_treewalk *w = NULL;
        assert_int_equal(sk_treewalk_new(e->repo, root, NULL, &w), 0);
        sk_walk_item it;
        size_t seen = 0;
        for (;;) {
                assert_int_equal(sk_treewalk_step(w, &it), 0);
                if (it.event == SK_WALK_END)
                        break;
                if (it.event != SK_WALK_ENTRY || it.depth == 0)
                        continue;
                char want[64];
                snprintf(want, sizeof(want), "file-with-a-longish-name-%06zu", seen++);
                assert_string_equal(it.path, want);
        }
        assert_int_equal(seen, n);
        sk_treewalk_free(w);
}

/* Exactly SK_TREE_MAX_DEPTH levels below the top walk through; one more is
 * reported as a malformed tree at the level where it starts, and the walk
 * neither recurses nor fails otherwise. */
static void test_depth_bound(void **state) {
        env *e = *state;
        uint8_t top[SK_TREE_ID_BYTES];
        make_chain(e, SK_TREE_MAX_DEPTH + 1, top);
        for (int extra = 1; extra >= 0; extra--) {
                uint8_t start[SK_TREE_ID_BYTES];
                memcpy(start, top, sizeof(start));
                if (!extra) {
                        /* One level down: the chain below is SK_TREE_MAX_DEPTH long. */
                        sk_tree *t = NULL;
                        assert_int_equal(sk_tree_blob_load(e->repo, top, &t, NULL), 0);
                        memcpy(start, sk_tree_entry(t, 0)->subtree, sizeof(start));
                        sk_tree_free(t);
                }
                sk_treewalk *w = NULL;
                assert_int_equal(sk_treewalk_new(e->repo, start, NULL, &w), 0);
                sk_walk_item it;
                size_t entries = 0, unreadable = 0, max_depth = 0;
                for (;;) {
                        assert_int_equal(sk_treewalk_step(w, &it), 0);
                        if (it.event == SK_WALK_END)
                                break;
                        if (it.event == SK_WALK_ENTRY && it.depth > 0)
                                entries++;
                        if (it.depth > max_depth)
                                max_depth = it.depth;
                        if (it.event == SK_WALK_UNREADABLE) {
                                unreadable++;
                                assert_int_equal(it.error, -EBADMSG);
                                assert_non_null(strstr(it.detail, "deeper than"));
                        }
                }
                sk_treewalk_free(w);
                if (extra) {
                        assert_int_equal(unreadable, 1);
                        assert_int_equal(entries, SK_TREE_MAX_DEPTH + 1);
                } else {
                        assert_int_equal(unreadable, 0);
                        assert_int_equal(entries, SK_TREE_MAX_DEPTH);
                        assert_int_equal(max_depth, SK_TREE_MAX_DEPTH);
                }
        }
}

SK_TEST_MAIN(cmocka_unit_test_setup_teardown(test_order, setup, sk_test_repo_teardown),
             cmocka_unit_test_setup_teardown(test_split, setup, sk_test_repo_teardown),
             cmocka_unit_test_setup_teardown(test_depth_bound, setup, sk_test_repo_teardown))
