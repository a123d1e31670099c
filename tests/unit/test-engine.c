/* Blob identity includes the blob type (engine.c, repo.c; FORMAT.md section
 * 6). A file whose bytes equal a tree's encoding has that tree's id: an
 * empty directory's tree is 12 bytes, so a 12-byte file can hold them.
 *
 * - test_collision: the sequence from the issue (back up such a file, then
 *   any empty directory): the second backup must restore, check clean and
 *   prune. Before blob types were part of the identity, the tree was
 *   deduplicated against the file's data blob and restore failed with "blob
 *   is not of type tree", check reported damage and prune refused.
 * - test_prune_walks_tree: a file whose bytes equal a NON-empty directory's
 *   tree, listed before that directory: prune marked live blobs by id alone,
 *   so having seen the id as a file chunk it never walked the tree, and
 *   deleted the directory's file data.
 * - test_check_maps_by_type: a damaged file chunk is reported for the file,
 *   not for a directory whose tree has the same id.
 * - test_legacy_tree / test_legacy_data: a repository an older snapkeep wrote
 *   (the tree exists only as a data blob, or a file chunk only as a tree
 *   blob), made by dropping the proper entry from the index: restore still
 *   works, check names backup and path with a warning that says how to
 *   repair, and prune stores the blob under the type its reference needs. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/backup.h"
#include "backup/check.h"
#include "backup/forget.h"
#include "backup/browse.h"
#include "backup/prune.h"
#include "repo/repo.h"
#include "backup/restore.h"
#include "repo/tree.h"
#include "common/fsutil.h"
#include "tests/lib/testbackup.h"
#include "tests/lib/testrepo.h"

typedef struct env {
        sk_test_repo r;         /* first: the fixture is an sk_test_repo too */
        char *src;
        void *empty_tree;       /* the 12-byte encoding of an empty directory */
        size_t empty_len;
        sk_blob_id empty_id;
} env;

typedef sk_test_problems problems;

static int setup(void **state) {
        env *e = sk_test_repo_new(state, sizeof(*e), "sk-test-engine");
        e->src = sk_test_path(e->r.dir, "src");
        assert_int_equal(mkdir(e->src, 0755), 0);
        sk_test_repo_init(&e->r, e->r.repo_path, "pw",
                          &(sk_repo_init_opts){ .scrypt_log2n = 10, .chunk_min = 16 << 10, .chunk_avg = 64 << 10,
                                                .chunk_max = 256 << 10, .pack_size = 1 << 20 });
        assert_int_equal(sk_tree_encode_leaf(NULL, 0, &e->empty_tree, &e->empty_len), 0);
        assert_int_equal(e->empty_len, 12);
        assert_int_equal(sk_repo_blob_id(e->r.repo, e->empty_tree, e->empty_len, &e->empty_id), 0);
        return 0;
}

static int teardown(void **state) {
        env *e = *state;
        free(e->src);
        free(e->empty_tree);
        return sk_test_repo_free(e);
}

static void write_src(env *e, const char *name, const void *data, size_t len) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", e->src, name) > 0);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        close(fd);
        free(p);
}

static void src_file(env *e) {
        write_src(e, "f", e->empty_tree, e->empty_len);
}

static void src_empty_dir(env *e) {
        char *p;
        assert_true(asprintf(&p, "%s/e", e->src) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);
}

/* Another file, so that no pack holds only the blob a test drops. */
static void src_clear(env *e) {
        sk_rm_rf(e->src);
        assert_int_equal(mkdir(e->src, 0755), 0);
        write_src(e, "other", "other", 5);
}

static void backup(env *e, char id[SK_BACKUP_ID_HEX + 1]) {
        problems pr = {};
        const char *srcs[] = { e->src };
        sk_backup_options o = { .sources = srcs, .n_sources = 1, .hostname = "h", .no_parent = true,
                                .problem = sk_test_on_problem, .userdata = &pr };
        sk_backup_result res;
        assert_int_equal(sk_backup_run(e->r.repo, &o, &res), 0);
        assert_int_equal(pr.n_err, 0);
        snprintf(id, SK_BACKUP_ID_HEX + 1, "%s", res.id);
}

/* Restore backup id without problems; it must hold the empty directory "e"
 * (want_dir) or the file "f" with the 12 bytes. */
static void restore_ok(env *e, const char *id, const char *name, bool want_dir) {
        char *dst, *p;
        problems pr = {};
        assert_true(asprintf(&dst, "%s/%s", e->r.dir, name) > 0);
        sk_restore_options ro = { .target = dst, .problem = sk_test_on_problem, .userdata = &pr };
        sk_restore_result rr;
        assert_int_equal(sk_restore_run(e->r.repo, id, &ro, &rr), 0);
        assert_int_equal(pr.n_err, 0);
        struct stat st;
        assert_true(asprintf(&p, "%s/src/%s", dst, want_dir ? "e" : "f") > 0);
        assert_int_equal(lstat(p, &st), 0);
        if (want_dir)
                assert_true(S_ISDIR(st.st_mode));
        else {
                char buf[64];
                int fd = open(p, O_RDONLY);
                assert_true(fd >= 0);
                assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t) e->empty_len);
                assert_memory_equal(buf, e->empty_tree, e->empty_len);
                close(fd);
        }
        free(p);
        free(dst);
}

static void check(env *e, problems *pr) {
        sk_check_options co = { .read_data = true, .problem = sk_test_on_problem, .userdata = pr };
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), 0);
        assert_int_equal(cr.errors, 0);
        assert_int_equal(cr.warnings, (uint64_t) pr->n_warn);
}

/* The sequence: back up the 12-byte file, then an empty directory. */
static void file_then_empty_dir(env *e, char b1[SK_BACKUP_ID_HEX + 1], char b2[SK_BACKUP_ID_HEX + 1]) {
        src_file(e);
        backup(e, b1);
        src_clear(e);
        src_empty_dir(e);
        backup(e, b2);
}

static void test_collision(void **state) {
        env *e = *state;
        char b1[SK_BACKUP_ID_HEX + 1], b2[SK_BACKUP_ID_HEX + 1];
        file_then_empty_dir(e, b1, b2);

        restore_ok(e, b2, "dst2", true);
        restore_ok(e, b1, "dst1", false);
        problems pr = {};
        check(e, &pr);
        assert_int_equal(pr.n_warn, 0);
        sk_prune_options po = { .problem = sk_test_on_problem, .userdata = &pr };
        sk_prune_result res;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &res), 0);
        assert_int_equal(res.backups, 2);
        assert_int_equal(res.blobs_retyped, 0);
        assert_int_equal(pr.n_err, 0);
        /* Both blobs exist: the file's and the directory's. */
        assert_int_equal(sk_repo_has_blob(e->r.repo, SK_BLOB_DATA, &e->empty_id), 1);
        assert_int_equal(sk_repo_has_blob(e->r.repo, SK_BLOB_TREE, &e->empty_id), 1);
}

static void test_prune_walks_tree(void **state) {
        env *e = *state;
        char b1[SK_BACKUP_ID_HEX + 1], b2[SK_BACKUP_ID_HEX + 1];
        char *p;
        assert_true(asprintf(&p, "%s/d", e->src) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);
        /* 200 KiB of noise: alone in its data pack but for tiny blobs, so
         * that prune drops the pack when it thinks x is dead */
        size_t xl = 200 << 10;
        uint8_t *x = malloc(xl);
        uint32_t v = 1;
        for (size_t i = 0; i < xl; i++) {
                v = v * 1103515245u + 12345u;
                x[i] = (uint8_t) (v >> 16);
        }
        write_src(e, "d/x", x, xl);
        /* Twice: the first backup's reads may move x's atime, the second's do not. */
        backup(e, b1);
        backup(e, b1);
        sk_node d;
        assert_int_equal(sk_backup_lookup(e->r.repo, b1, "src/d", &d), 0);
        sk_blob_id tid;
        memcpy(tid.b, d.subtree, SK_BLOB_ID_SIZE);
        sk_node_clear(&d);
        void *tree;
        size_t tl;
        assert_int_equal(sk_repo_get_blob(e->r.repo, SK_BLOB_TREE, &tid, &tree, &tl), 0);
        /* "a" sorts before "d": prune sees its chunk first */
        write_src(e, "a", tree, tl);
        free(tree);
        backup(e, b2);
        assert_int_equal(sk_backup_lookup(e->r.repo, b2, "src/d", &d), 0);
        assert_memory_equal(d.subtree, tid.b, SK_BLOB_ID_SIZE);
        sk_node_clear(&d);

        /* Keep only b2; x's data is live through directory d. */
        sk_forget_policy pol = { .keep_last = 1 };
        sk_forget_result fr;
        assert_int_equal(sk_forget_run(e->r.repo, &pol, false, 0, NULL, NULL, &fr), 0);
        assert_int_equal(fr.kept, 1);
        problems pr = {};
        sk_prune_options po = { .problem = sk_test_on_problem, .userdata = &pr };
        sk_prune_result res;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &res), 0);
        assert_int_equal(pr.n_err, 0);

        check(e, &pr);
        char *dst;
        assert_true(asprintf(&dst, "%s/dst", e->r.dir) > 0);
        sk_restore_options ro = { .target = dst, .problem = sk_test_on_problem, .userdata = &pr };
        sk_restore_result rr;
        assert_int_equal(sk_restore_run(e->r.repo, b2, &ro, &rr), 0);
        assert_int_equal(pr.n_err, 0);
        free(dst);
        free(x);
}

typedef struct find_ctx {
        const sk_blob_id *id;
        sk_blob_type type;
        char pack[SK_PACK_NAME_HEX + 1];
        uint32_t offset;
} find_ctx;

static int find_blob(const char *pack, const sk_blob_info *bi, void *ud) {
        find_ctx *f = ud;
        if (bi->type == f->type && memcmp(bi->id.b, f->id->b, SK_BLOB_ID_SIZE) == 0) {
                snprintf(f->pack, sizeof(f->pack), "%s", pack);
                f->offset = bi->offset;
        }
        return 0;
}

typedef struct paths {
        bool file, dir;
} paths;

static void on_damage(const sk_problem *p, void *ud) {
        paths *ps = ud;
        print_message("problem: %s %s\n", p->path ?: "-", p->detail ?: "");
        if (p->kind == SK_PROBLEM_ERROR && p->path && strcmp(p->path, "src/f") == 0)
                ps->file = true;
        if (p->kind == SK_PROBLEM_ERROR && p->path && strcmp(p->path, "src/e") == 0)
                ps->dir = true;
}

/* A damaged data blob is mapped to the files that use it, not to a directory
 * whose tree has the same id (check keyed damaged blobs by id alone). */
static void test_check_maps_by_type(void **state) {
        env *e = *state;
        char b1[SK_BACKUP_ID_HEX + 1], b2[SK_BACKUP_ID_HEX + 1];
        file_then_empty_dir(e, b1, b2);
        find_ctx f = { .id = &e->empty_id, .type = SK_BLOB_DATA };
        assert_int_equal(sk_repo_foreach_blob(e->r.repo, find_blob, &f), 0);
        assert_true(f.pack[0]);
        char *path;
        assert_true(asprintf(&path, "%s/data/%.2s/%s", e->r.repo_path, f.pack, f.pack) > 0);
        int fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        uint8_t b;
        off_t at = (off_t) f.offset + 100;     /* inside the sealed payload */
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 1;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        close(fd);
        free(path);
        paths ps = {};
        sk_check_options co = { .read_data = true, .problem = on_damage, .userdata = &ps };
        sk_check_result cr;
        assert_int_equal(sk_check_run(e->r.repo, &co, &cr), -EBADMSG);
        assert_true(ps.file);
        assert_false(ps.dir);
}

typedef struct drop_ctx {
        const sk_blob_id *id;
        sk_blob_type type;
} drop_ctx;

static bool drop_one(const char *pack, const sk_blob_info *bi, void *ud) {
        drop_ctx *d = ud;
        (void) pack;
        return bi->type == d->type && memcmp(bi->id.b, d->id->b, SK_BLOB_ID_SIZE) == 0;
}

/* A repository as an older snapkeep left it: (id, missing) is not in the
 * index, only the other type's blob with the same id. */
static void make_legacy(env *e, sk_blob_type missing) {
        drop_ctx d = { .id = &e->empty_id, .type = missing };
        assert_int_equal(sk_repo_rewrite_index(e->r.repo, drop_one, &d), 0);
        sk_repo_free(e->r.repo);
        assert_int_equal(sk_repo_open(e->r.repo_path, e->r.secret, &e->r.repo), 0);
        assert_int_equal(sk_repo_has_blob(e->r.repo, missing, &e->empty_id), 0);
}

static void legacy(env *e, sk_blob_type missing) {
        char b1[SK_BACKUP_ID_HEX + 1], b2[SK_BACKUP_ID_HEX + 1];
        bool tree_missing = missing == SK_BLOB_TREE;
        /* The one referring to the missing type is backed up second. */
        if (tree_missing)
                src_file(e);
        else
                src_empty_dir(e);
        backup(e, b1);
        src_clear(e);
        if (tree_missing)
                src_empty_dir(e);
        else
                src_file(e);
        backup(e, b2);
        make_legacy(e, missing);

        /* Still restorable: the other blob has the same bytes. */
        restore_ok(e, b2, "dst2", tree_missing);

        /* check: a warning naming backup and path, and how to repair. */
        problems pr = {};
        check(e, &pr);
        assert_int_equal(pr.n_warn, 1);
        assert_string_equal(pr.last_backup, b2);
        assert_string_equal(pr.last_path, tree_missing ? "src/e" : "src/f");
        assert_non_null(strstr(pr.last_detail, tree_missing ? "tree blob exists only as a data blob"
                                                      : "data blob exists only as a tree blob"));
        assert_non_null(strstr(pr.last_detail, "snapkeep prune"));

        /* A dry run changes nothing; prune repairs. */
        sk_prune_options po = { .dry_run = true, .problem = sk_test_on_problem, .userdata = &pr };
        sk_prune_result res;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &res), 0);
        assert_int_equal(res.blobs_retyped, 1);
        assert_int_equal(sk_repo_has_blob(e->r.repo, missing, &e->empty_id), 0);
        po.dry_run = false;
        assert_int_equal(sk_prune_run(e->r.repo, &po, &res), 0);
        assert_int_equal(res.blobs_retyped, 1);
        assert_int_equal(pr.n_err, 0);

        sk_repo_free(e->r.repo);
        assert_int_equal(sk_repo_open(e->r.repo_path, e->r.secret, &e->r.repo), 0);
        assert_int_equal(sk_repo_has_blob(e->r.repo, missing, &e->empty_id), 1);
        problems pr2 = {};
        check(e, &pr2);
        assert_int_equal(pr2.n_warn, 0);
        restore_ok(e, b2, "dst3", tree_missing);
        restore_ok(e, b1, "dst4", !tree_missing);
}

static void test_legacy_tree(void **state) {
        legacy(*state, SK_BLOB_TREE);
}

static void test_legacy_data(void **state) {
        legacy(*state, SK_BLOB_DATA);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_collision), SK_FIXTURE_TEST(test_prune_walks_tree),
             SK_FIXTURE_TEST(test_check_maps_by_type), SK_FIXTURE_TEST(test_legacy_tree),
             SK_FIXTURE_TEST(test_legacy_data))
