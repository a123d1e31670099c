/* container/capture.c: layer-aware backup and rehydration against a real
 * snapshotter root and a real repository in a temp dir (no containerd). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>

#include "backup/manifest.h"
#include "repo/keyring.h"
#include "repo/repo.h"
#include "common/fsutil.h"
#include "container/capture.h"
#include "snapshot/snapshotter.h"
#include "tests/lib/testutil.h"

#define CHAIN1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define CHAIN2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

typedef struct fixture {
        char *tmp, *repo, *keyfile;
        sk_snapshotter *snap;
        sk_capture *cap;
} fixture;

static void write_at(const char *dir, const char *name, const char *content) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
        free(p);
}

static char *read_at(const char *dir, const char *name) {
        char *p, *buf = calloc(1, 4096);
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        FILE *f = fopen(p, "re");
        free(p);
        if (!f) {
                free(buf);
                return NULL;
        }
        size_t n = fread(buf, 1, 4095, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static char *fs_of(sk_snapshotter *s, const char *key) {
        uint64_t id;
        char *dir, *fs;
        assert_int_equal(sk_snapshotter_dir(s, key, &id, &dir), 0);
        assert_true(asprintf(&fs, "%s/fs", dir) > 0);
        free(dir);
        return fs;
}

/* A committed layer chain (two layers) and a container on top of it. */
static void make_chain(sk_snapshotter *s, const char *ns) {
        sk_mounts m = {};
        char k[256], n1[256], n2[256];
        snprintf(k, sizeof(k), "%s/1/extract-1 " CHAIN1, ns);
        snprintf(n1, sizeof(n1), "%s/2/" CHAIN1, ns);
        assert_int_equal(sk_snapshotter_prepare(s, k, NULL, NULL, 0, &m), 0);
        sk_mounts_free(&m);
        char *fs = fs_of(s, k);
        write_at(fs, "base.txt", "base\n");
        write_at(fs, "gone.txt", "to be deleted\n");
        free(fs);
        assert_int_equal(sk_snapshotter_commit(s, n1, k, NULL, 0), 0);

        snprintf(k, sizeof(k), "%s/3/extract-2 " CHAIN2, ns);
        snprintf(n2, sizeof(n2), "%s/4/" CHAIN2, ns);
        assert_int_equal(sk_snapshotter_prepare(s, k, n1, NULL, 0, &m), 0);
        sk_mounts_free(&m);
        fs = fs_of(s, k);
        write_at(fs, "layer2.txt", "two\n");
        free(fs);
        assert_int_equal(sk_snapshotter_commit(s, n2, k, NULL, 0), 0);
}

static int setup(void **state) {
        fixture *f = sk_test_fixture_new(state, sizeof(*f), "test-capture");
        f->repo = sk_test_path(f->tmp, "repo");
        f->keyfile = sk_test_path(f->tmp, "key");
        write_at(f->tmp, "key", "0123456789abcdef0123456789abcdef");
        sk_secret *sec;
        assert_int_equal(sk_secret_from_file(SK_SECRET_KEYFILE, f->keyfile, &sec), 0);
        sk_repo_init_opts o = { .scrypt_log2n = 10 };
        sk_repo *repo;
        assert_int_equal(sk_repo_init(f->repo, &o, sec, &repo), 0);
        sk_repo_free(repo);
        sk_secret_free(sec);

        char *root;
        assert_true(asprintf(&root, "%s/a", f->tmp) > 0);
        assert_int_equal(sk_snapshotter_open(root, NULL, &f->snap), 0);
        free(root);
        sk_capture_options co = { .repo_url = f->repo, .key_file = f->keyfile, .remote_layers = true };
        assert_int_equal(sk_capture_new(f->snap, &co, &f->cap), 0);
        make_chain(f->snap, "ns");
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        sk_capture_free(f->cap);
        sk_snapshotter_free(f->snap);
        free(f->repo);
        free(f->keyfile);
        return sk_test_fixture_free(f);
}

static bool has_label(sk_snapshotter *s, const char *key, const char *label, const char *value) {
        sk_info info = {};
        assert_int_equal(sk_snapshotter_stat(s, key, &info), 0);
        bool found = false;
        for (size_t i = 0; i < info.n_labels; i++)
                if (strcmp(info.labels[i].key, label) == 0 && (!value || strcmp(info.labels[i].value, value) == 0))
                        found = true;
        sk_info_clear(&info);
        return found;
}

static void make_container(fixture *f, const char *key) {
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_prepare(f->snap, key, "ns/4/" CHAIN2, NULL, 0, &m), 0);
        sk_mounts_free(&m);
        char *fs = fs_of(f->snap, key);
        write_at(fs, "new.txt", "hello\n");
        /* an overlayfs whiteout (char 0/0) and an xattr, if we may */
        char *p;
        assert_true(asprintf(&p, "%s/gone.txt", fs) > 0);
        if (mknod(p, S_IFCHR | 0000, makedev(0, 0)) < 0)
                assert_int_equal(errno, EPERM);
        free(p);
        assert_true(asprintf(&p, "%s/new.txt", fs) > 0);
        (void) setxattr(p, "user.sk", "v", 1, 0);
        free(p);
        free(fs);
}

static void test_backup_restore(void **state) {
        fixture *f = *state;
        make_container(f, "ns/5/c1");

        char *key = NULL;
        assert_int_equal(sk_capture_resolve_container(f->cap, "ns", "c1", &key), 0);
        assert_string_equal(key, "ns/5/c1");
        free(key);
        assert_int_equal(sk_capture_resolve_container(f->cap, "other", "c1", &key), -ENOENT);

        sk_capture_result r1 = {}, r2 = {}, r3 = {};
        char *err = NULL;
        assert_int_equal(sk_capture_backup(f->cap, "ns/5/c1", NULL, 0, &r1, &err), 0);
        assert_null(err);
        assert_false(r1.committed);
        assert_int_equal(r1.layers_captured, 2);
        assert_int_equal(r1.layers_reused, 0);
        assert_int_equal(strlen(r1.backup_id), 64);
        assert_true(has_label(f->snap, "ns/5/c1", SK_LABEL_BACKUP, r1.backup_id));
        assert_true(has_label(f->snap, "ns/5/c1", SK_LABEL_BACKUP_TIME, NULL));
        assert_true(has_label(f->snap, "ns/4/" CHAIN2, SK_LABEL_BACKUP, NULL));

        /* Again: layers are referred to, not captured; nothing changed. */
        assert_int_equal(sk_capture_backup(f->cap, "ns/5/c1", NULL, 0, &r2, &err), 0);
        assert_int_equal(r2.layers_captured, 0);
        assert_int_equal(r2.layers_reused, 2);
        assert_string_not_equal(r2.backup_id, r1.backup_id);
        assert_true(r2.bytes_read < 2048); /* only the metadata file is re-read */

        /* A committed layer already captured is reused as is. */
        assert_int_equal(sk_capture_backup(f->cap, "ns/2/" CHAIN1, NULL, 0, &r3, &err), 0);
        assert_true(r3.committed);
        assert_int_equal(r3.layers_reused, 1);
        assert_string_equal(r3.chain_id, CHAIN1);

        /* Restore into a new snapshot on the same chain. */
        sk_mounts m = {};
        sk_label lbl = { (char *) SK_LABEL_RESTORE, r1.backup_id };
        assert_int_equal(sk_capture_prepare_restore(f->cap, "ns/6/r1", "ns/4/" CHAIN2, &lbl, 1, r1.backup_id, &m, &err),
                         0);
        assert_null(err);
        assert_true(m.n_mounts >= 1);
        sk_mounts_free(&m);
        char *fs = fs_of(f->snap, "ns/6/r1");
        char *c = read_at(fs, "new.txt");
        assert_non_null(c);
        assert_string_equal(c, "hello\n");
        free(c);
        char *p;
        struct stat st;
        assert_true(asprintf(&p, "%s/gone.txt", fs) > 0);
        if (geteuid() == 0) {
                assert_int_equal(lstat(p, &st), 0);
                assert_true(S_ISCHR(st.st_mode));
                assert_int_equal(st.st_rdev, makedev(0, 0));
        }
        free(p);
        free(fs);
        assert_false(has_label(f->snap, "ns/6/r1", SK_LABEL_RESTORING, NULL));

        /* On another chain: FailedPrecondition-worthy -EXDEV, nothing left. */
        assert_int_equal(sk_capture_prepare_restore(f->cap, "ns/7/r2", "ns/2/" CHAIN1, &lbl, 1, r1.backup_id, &m, &err),
                         -EXDEV);
        assert_non_null(err);
        assert_non_null(strstr(err, "image differs"));
        free(err);
        err = NULL;
        sk_info info = {};
        assert_int_equal(sk_snapshotter_stat(f->snap, "ns/7/r2", &info), -ENOENT);

        /* Unknown backup: -ENOENT with a message. */
        assert_int_equal(sk_capture_prepare_restore(f->cap, "ns/8/r3", "ns/4/" CHAIN2, &lbl, 1, "ffffffff", &m, &err),
                         -ENOENT);
        free(err);
        err = NULL;
        assert_int_equal(sk_snapshotter_stat(f->snap, "ns/8/r3", &info), -ENOENT);

        /* Into a directory. */
        char *target;
        uint64_t files = 0, bytes = 0;
        assert_true(asprintf(&target, "%s/out", f->tmp) > 0);
        assert_int_equal(sk_capture_restore_dir(f->cap, r1.backup_id, target, &files, &bytes, &err), 0);
        c = read_at(target, "new.txt");
        assert_string_equal(c, "hello\n");
        free(c);
        free(target);

        sk_capture_entry *l = NULL;
        size_t n = 0;
        assert_int_equal(sk_capture_list(f->cap, &l, &n, &err), 0);
        assert_int_equal(n, 4); /* two layers, two container backups */
        sk_capture_list_free(l, n);

        sk_capture_status st2;
        sk_capture_get_status(f->cap, &st2);
        assert_int_equal(st2.restores_done, 1);
        assert_true(st2.backups_done >= 4);
        sk_capture_event ev[8];
        assert_true(sk_capture_events(f->cap, 0, 0, ev, 8) > 0);
}

static void test_fresh_node_layers(void **state) {
        fixture *f = *state;
        sk_capture_result r = {};
        char *err = NULL;
        assert_int_equal(sk_capture_backup(f->cap, "ns/4/" CHAIN2, NULL, 0, &r, &err), 0);
        assert_int_equal(r.layers_captured, 2);

        /* Node B: an empty root on the same repository. */
        char *root;
        sk_snapshotter *b;
        sk_capture *cb;
        assert_true(asprintf(&root, "%s/b", f->tmp) > 0);
        assert_int_equal(sk_snapshotter_open(root, NULL, &b), 0);
        sk_capture_options co = { .repo_url = f->repo, .key_file = f->keyfile, .remote_layers = true };
        assert_int_equal(sk_capture_new(b, &co, &cb), 0);

        sk_label l1 = { (char *) SK_LABEL_SNAPSHOT_REF, (char *) CHAIN1 };
        assert_int_equal(sk_capture_prepare_layer(cb, "ns/1/extract-9 " CHAIN1, NULL, &l1, 1, CHAIN1, &err), 1);
        assert_true(has_label(b, "ns/1/" CHAIN1, SK_LABEL_LAYER_BACKUP, NULL));
        assert_true(has_label(b, "ns/1/" CHAIN1, SK_LABEL_SNAPSHOT_REF, CHAIN1));
        sk_info info = {};
        assert_int_equal(sk_snapshotter_stat(b, "ns/1/extract-9 " CHAIN1, &info), -ENOENT);
        assert_int_equal(sk_snapshotter_stat(b, "ns/1/" CHAIN1, &info), 0);
        assert_int_equal(info.kind, SK_KIND_COMMITTED);
        sk_info_clear(&info);
        char *fs = fs_of(b, "ns/1/" CHAIN1);
        char *c = read_at(fs, "base.txt");
        assert_string_equal(c, "base\n");
        free(c);
        free(fs);

        sk_label l2 = { (char *) SK_LABEL_SNAPSHOT_REF, (char *) CHAIN2 };
        assert_int_equal(sk_capture_prepare_layer(cb, "ns/3/extract-9 " CHAIN2, "ns/1/" CHAIN1, &l2, 1, CHAIN2, &err), 1);
        assert_int_equal(sk_snapshotter_stat(b, "ns/3/" CHAIN2, &info), 0);
        assert_string_equal(info.parent, "ns/1/" CHAIN1);
        sk_info_clear(&info);

        /* A layer the repository does not hold: 0, nothing created. */
        const char *other = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
        sk_label l3 = { (char *) SK_LABEL_SNAPSHOT_REF, (char *) other };
        assert_int_equal(sk_capture_prepare_layer(cb, "ns/5/extract-9 x", NULL, &l3, 1, other, &err), 0);

        /* Switched off: 0. */
        sk_capture *off;
        co.remote_layers = false;
        assert_int_equal(sk_capture_new(b, &co, &off), 0);
        assert_int_equal(sk_capture_prepare_layer(off, "ns/6/extract-9 " CHAIN1, NULL, &l1, 1, CHAIN1, &err), 0);
        sk_capture_free(off);

        sk_capture_status st;
        sk_capture_get_status(cb, &st);
        assert_int_equal(st.layers_rehydrated, 2);
        sk_capture_free(cb);
        sk_snapshotter_free(b);
        free(root);
}

static void test_forgotten_layer(void **state) {
        fixture *f = *state;
        sk_capture_result r1 = {}, r2 = {};
        char *err = NULL;
        assert_int_equal(sk_capture_backup(f->cap, "ns/2/" CHAIN1, NULL, 0, &r1, &err), 0);
        assert_int_equal(r1.layers_captured, 1);

        /* Forget the layer's backup behind snapkeepd's back. */
        sk_secret *sec;
        sk_repo *repo;
        assert_int_equal(sk_secret_from_file(SK_SECRET_KEYFILE, f->keyfile, &sec), 0);
        assert_int_equal(sk_repo_open(f->repo, sec, &repo), 0);
        assert_int_equal(sk_backup_delete(repo, r1.backup_id), 0);
        sk_repo_free(repo);
        sk_secret_free(sec);

        assert_int_equal(sk_capture_backup(f->cap, "ns/2/" CHAIN1, NULL, 0, &r2, &err), 0);
        assert_int_equal(r2.layers_captured, 1);
        assert_int_equal(r2.layers_reused, 0);
        assert_string_not_equal(r2.backup_id, r1.backup_id);
}

static void test_sweep(void **state) {
        fixture *f = *state;
        sk_mounts m = {};
        sk_label l = { (char *) SK_LABEL_RESTORING, (char *) "1" };
        assert_int_equal(sk_snapshotter_prepare(f->snap, "ns/9/half", "ns/4/" CHAIN2, &l, 1, &m), 0);
        sk_mounts_free(&m);
        assert_int_equal(sk_capture_sweep(f->cap), 1);
        sk_info info = {};
        assert_int_equal(sk_snapshotter_stat(f->snap, "ns/9/half", &info), -ENOENT);
        assert_int_equal(sk_capture_sweep(f->cap), 0);
}

static void test_no_repo(void **state) {
        fixture *f = *state;
        sk_capture *c;
        char *err = NULL;
        sk_capture_result r;
        sk_capture_options co = { .repo_url = f->repo, .remote_layers = true }; /* no secret */
        assert_int_equal(sk_capture_new(f->snap, &co, &c), 0);
        assert_int_equal(sk_capture_backup(c, "ns/2/" CHAIN1, NULL, 0, &r, &err), -ENOKEY);
        assert_non_null(strstr(err, "password_file"));
        free(err);
        err = NULL;
        assert_int_equal(sk_capture_backup(c, "ns/none", NULL, 0, &r, &err), -ENOENT);
        free(err);
        sk_capture_free(c);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_backup_restore), SK_FIXTURE_TEST(test_fresh_node_layers),
             SK_FIXTURE_TEST(test_forgotten_layer), SK_FIXTURE_TEST(test_sweep),
             SK_FIXTURE_TEST(test_no_repo))
