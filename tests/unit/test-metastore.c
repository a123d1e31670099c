/* Unit tests for the snapshotter's metadata store and semantics
 * (snapshot/metastore.c, snapshot/snapshotter.c, snapshot/snapshotter-info.c,
 * snapshot/usage.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "common/macro.h"
#include "snapshot/snapshotter.h"
#include "tests/lib/testutil.h"

typedef struct fixture {
        char *dir;
        sk_snapshotter *s;
} fixture;

static int setup(void **state) {
        fixture *f = sk_test_fixture_new(state, sizeof(*f), "sk-metastore");
        return sk_snapshotter_open(f->dir, NULL, &f->s) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        sk_snapshotter_free(f->s);
        return sk_test_fixture_free(f);
}

static void reopen(fixture *f) {
        sk_snapshotter_free(f->s);
        f->s = NULL;
        assert_int_equal(sk_snapshotter_open(f->dir, NULL, &f->s), 0);
}

static int ts_cmp(struct timespec a, struct timespec b) {
        if (a.tv_sec != b.tv_sec)
                return a.tv_sec < b.tv_sec ? -1 : 1;
        if (a.tv_nsec != b.tv_nsec)
                return a.tv_nsec < b.tv_nsec ? -1 : 1;
        return 0;
}

static struct timespec now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return ts;
}

static void prepare(sk_snapshotter *s, const char *key, const char *parent) {
        sk_mounts m = {};
        int r = sk_snapshotter_prepare(s, key, parent, NULL, 0, &m);
        if (r < 0)
                fail_msg("prepare %s on %s: %s", key, parent ? parent : "-", strerror(-r));
        sk_mounts_free(&m);
}

static void committed(sk_snapshotter *s, const char *name, const char *parent) {
        char key[256];
        snprintf(key, sizeof(key), "%s-tmp", name);
        prepare(s, key, parent);
        assert_int_equal(sk_snapshotter_commit(s, name, key, NULL, 0), 0);
}

static const char *label(const sk_info *i, const char *key) {
        for (size_t j = 0; j < i->n_labels; j++)
                if (strcmp(i->labels[j].key, key) == 0)
                        return i->labels[j].value;
        return NULL;
}

static char *data_path(fixture *f, const char *key, const char *sub) {
        uint64_t id;
        char *d = NULL, *p = NULL;
        assert_int_equal(sk_snapshotter_dir(f->s, key, &id, &d), 0);
        assert_true(asprintf(&p, "%s/%s", d, sub) > 0);
        free(d);
        return p;
}

static void write_file(const char *path, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        char buf[4096];
        memset(buf, 'x', sizeof(buf));
        for (size_t done = 0; done < size; done += sizeof(buf))
                assert_int_equal(sk_write_all(fd, buf, MIN(sizeof(buf), size - done)), 0);
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

/* Names in <root>/snapshots, sorted, joined by ' '. */
static char *list_snapshot_dirs(fixture *f) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/snapshots", f->dir) > 0);
        struct dirent **ents;
        int n = scandir(p, &ents, NULL, alphasort);
        assert_true(n >= 0);
        free(p);
        size_t len = 1;
        for (int i = 0; i < n; i++)
                len += strlen(ents[i]->d_name) + 1;
        char *out = calloc(1, len);
        for (int i = 0; i < n; i++) {
                if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
                        if (*out)
                                strcat(out, " ");
                        strcat(out, ents[i]->d_name);
                }
                free(ents[i]);
        }
        free(ents);
        return out;
}

static void test_prepare_commit_stat(void **state) {
        fixture *f = *state;
        sk_label l1[] = { { "prep", "1" }, { "gone-empty", "" } };
        sk_mounts m = {};
        struct timespec t1 = now();
        assert_int_equal(sk_snapshotter_prepare(f->s, "a", NULL, l1, 2, &m), 0);
        struct timespec t2 = now();
        assert_int_equal(m.n_mounts, 1);
        assert_string_equal(m.mounts[0].type, "bind");
        sk_mounts_free(&m);

        sk_info i = {};
        assert_int_equal(sk_snapshotter_stat(f->s, "a", &i), 0);
        assert_string_equal(i.name, "a");
        assert_null(i.parent);
        assert_int_equal(i.kind, SK_KIND_ACTIVE);
        assert_true(ts_cmp(t1, i.created) <= 0 && ts_cmp(i.created, t2) <= 0);
        assert_int_equal(ts_cmp(i.created, i.updated), 0);
        assert_int_equal(i.n_labels, 1); /* the empty value is not stored */
        assert_string_equal(label(&i, "prep"), "1");
        sk_info_clear(&i);

        /* fs is 0755 whatever the umask; the active has a work dir */
        char *fs = data_path(f, "a", "fs"), *work = data_path(f, "a", "work");
        struct stat st;
        assert_int_equal(stat(fs, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(stat(work, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        free(fs);
        free(work);

        /* Commit replaces labels with exactly the given ones */
        sk_label l2[] = { { "c", "2" } };
        t1 = now();
        assert_int_equal(sk_snapshotter_commit(f->s, "c", "a", l2, 1), 0);
        t2 = now();
        assert_int_equal(sk_snapshotter_stat(f->s, "a", &i), -ENOENT);
        assert_int_equal(sk_snapshotter_stat(f->s, "c", &i), 0);
        assert_int_equal(i.kind, SK_KIND_COMMITTED);
        assert_true(ts_cmp(t1, i.created) <= 0 && ts_cmp(i.created, t2) <= 0);
        assert_int_equal(ts_cmp(i.created, i.updated), 0);
        assert_int_equal(i.n_labels, 1);
        assert_string_equal(label(&i, "c"), "2");
        assert_null(label(&i, "prep"));
        sk_info_clear(&i);

        /* children: active and view on top */
        assert_int_equal(sk_snapshotter_prepare(f->s, "b", "c", NULL, 0, &m), 0);
        assert_string_equal(m.mounts[0].type, "overlay");
        sk_mounts_free(&m);
        assert_int_equal(sk_snapshotter_view(f->s, "v", "c", NULL, 0, &m), 0);
        assert_string_equal(m.mounts[0].type, "bind");
        assert_string_equal(m.mounts[0].options[0], "ro");
        sk_mounts_free(&m);
        assert_int_equal(sk_snapshotter_stat(f->s, "v", &i), 0);
        assert_int_equal(i.kind, SK_KIND_VIEW);
        assert_string_equal(i.parent, "c");
        sk_info_clear(&i);
        /* a view has no work dir */
        char *vwork = data_path(f, "v", "work");
        assert_int_equal(stat(vwork, &st), -1);
        free(vwork);

        /* Mounts of an existing active/view, and its errors */
        assert_int_equal(sk_snapshotter_mounts(f->s, "b", &m), 0);
        assert_string_equal(m.mounts[0].type, "overlay");
        sk_mounts_free(&m);
        assert_int_equal(sk_snapshotter_mounts(f->s, "c", &m), -EPERM);
        assert_int_equal(sk_snapshotter_mounts(f->s, "nope", &m), -ENOENT);
}

static void test_opaque_keys(void **state) {
        fixture *f = *state;
        const char *key = "default/7/extract-123 sha256:ab..cd";
        const char *name = "default/7/sha256:0123456789abcdef ../../etc";
        prepare(f->s, key, NULL);
        assert_int_equal(sk_snapshotter_commit(f->s, name, key, NULL, 0), 0);
        prepare(f->s, "a b:c/../d", name);
        sk_info i = {};
        assert_int_equal(sk_snapshotter_stat(f->s, "a b:c/../d", &i), 0);
        assert_string_equal(i.parent, name);
        sk_info_clear(&i);
        /* only numeric ids became directories */
        char *dirs = list_snapshot_dirs(f);
        assert_string_equal(dirs, "1 2");
        free(dirs);
}

/* One process per root: a second open of a root in use is refused with
 * -EBUSY and changes nothing; once the first is closed, it opens. */
static void test_root_in_use(void **state) {
        fixture *f = *state;
        sk_snapshotter *second = NULL;
        prepare(f->s, "act", NULL);
        assert_int_equal(sk_snapshotter_open(f->dir, NULL, &second), -EBUSY);
        assert_null(second);
        reopen(f);
        sk_info i = {};
        assert_int_equal(sk_snapshotter_stat(f->s, "act", &i), 0);
        sk_info_clear(&i);
}

static void test_errors(void **state) {
        fixture *f = *state;
        sk_mounts m = {};
        sk_info i = {};
        committed(f->s, "base", NULL);
        prepare(f->s, "act", "base");
        assert_int_equal(sk_snapshotter_view(f->s, "view", "base", NULL, 0, &m), 0);
        sk_mounts_free(&m);

        /* empty keys are InvalidArgument */
        assert_int_equal(sk_snapshotter_prepare(f->s, "", NULL, NULL, 0, &m), -EINVAL);
        assert_int_equal(sk_snapshotter_view(f->s, "", NULL, NULL, 0, &m), -EINVAL);
        assert_int_equal(sk_snapshotter_commit(f->s, "", "act", NULL, 0), -EINVAL);
        assert_int_equal(sk_snapshotter_commit(f->s, "x", "", NULL, 0), -EINVAL);
        assert_int_equal(sk_snapshotter_remove(f->s, ""), -EINVAL);
        assert_int_equal(sk_snapshotter_stat(f->s, "", &i), -EINVAL);
        /* existing key */
        assert_int_equal(sk_snapshotter_prepare(f->s, "act", NULL, NULL, 0, &m), -EEXIST);
        assert_int_equal(sk_snapshotter_view(f->s, "act", "base", NULL, 0, &m), -EEXIST);
        assert_int_equal(sk_snapshotter_prepare(f->s, "base", NULL, NULL, 0, &m), -EEXIST);
        /* parents: missing is NotFound, not committed is InvalidArgument */
        assert_int_equal(sk_snapshotter_prepare(f->s, "n", "missing", NULL, 0, &m), -ENOENT);
        assert_int_equal(sk_snapshotter_view(f->s, "n", "missing", NULL, 0, &m), -ENOENT);
        assert_int_equal(sk_snapshotter_prepare(f->s, "n", "act", NULL, 0, &m), -EINVAL);
        assert_int_equal(sk_snapshotter_view(f->s, "n", "view", NULL, 0, &m), -EINVAL);
        /* commit: missing key, existing name, wrong kind */
        assert_int_equal(sk_snapshotter_commit(f->s, "x", "missing", NULL, 0), -ENOENT);
        assert_int_equal(sk_snapshotter_commit(f->s, "base", "act", NULL, 0), -EEXIST);
        assert_int_equal(sk_snapshotter_commit(f->s, "x", "view", NULL, 0), -EPERM);
        assert_int_equal(sk_snapshotter_commit(f->s, "x", "base", NULL, 0), -EPERM);
        /* remove: missing, and a parent with children */
        assert_int_equal(sk_snapshotter_remove(f->s, "missing"), -ENOENT);
        assert_int_equal(sk_snapshotter_remove(f->s, "base"), -EBUSY);
        /* stat, usage, update on a missing key */
        assert_int_equal(sk_snapshotter_stat(f->s, "missing", &i), -ENOENT);
        sk_usage u;
        assert_int_equal(sk_snapshotter_usage(f->s, "missing", &u), -ENOENT);
        sk_info upd = { .name = "missing" };
        assert_int_equal(sk_snapshotter_update(f->s, &upd, NULL, 0, &i), -ENOENT);

        /* labels: key + value up to 4096 bytes is fine, 4097 is not */
        char *big = malloc(4097);
        memset(big, 'v', 4096);
        big[4096 - 1] = 0; /* 4095 bytes of value + 1-byte key = 4096 */
        sk_label ok[] = { { "k", big } };
        assert_int_equal(sk_snapshotter_prepare(f->s, "lbl-ok", NULL, ok, 1, &m), 0);
        sk_mounts_free(&m);
        big[4095] = 'v';
        big[4096] = 0; /* 4096 + 1 = 4097 */
        sk_label tb[] = { { "k", big } };
        assert_int_equal(sk_snapshotter_prepare(f->s, "lbl-big", NULL, tb, 1, &m), -EINVAL);
        assert_int_equal(sk_snapshotter_view(f->s, "lbl-big", NULL, tb, 1, &m), -EINVAL);
        assert_int_equal(sk_snapshotter_commit(f->s, "lbl-big", "act", tb, 1), -EINVAL);
        sk_info ut = { .name = "base", .labels = tb, .n_labels = 1 };
        assert_int_equal(sk_snapshotter_update(f->s, &ut, NULL, 0, &i), -EINVAL);
        free(big);

        /* the failed calls left nothing behind */
        assert_int_equal(sk_snapshotter_stat(f->s, "lbl-big", &i), -ENOENT);
        assert_int_equal(sk_snapshotter_stat(f->s, "n", &i), -ENOENT);
        assert_int_equal(sk_snapshotter_stat(f->s, "x", &i), -ENOENT);
        assert_int_equal(sk_snapshotter_stat(f->s, "act", &i), 0);
        assert_int_equal(i.kind, SK_KIND_ACTIVE);
        sk_info_clear(&i);
        assert_int_equal(sk_snapshotter_cleanup(f->s), 0);
        char *dirs = list_snapshot_dirs(f);
        assert_string_equal(dirs, "1 2 3 4"); /* base, act, view, lbl-ok */
        free(dirs);
}

static void test_remove(void **state) {
        fixture *f = *state;
        committed(f->s, "p", NULL);
        prepare(f->s, "child", "p");
        char *pfs = data_path(f, "child", "fs");
        assert_int_equal(sk_snapshotter_remove(f->s, "p"), -EBUSY);
        assert_int_equal(sk_snapshotter_remove(f->s, "child"), 0);
        struct stat st;
        assert_int_equal(stat(pfs, &st), -1); /* its data is gone at once */
        free(pfs);
        /* reuse of the key, as containerd's checkRemove does */
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_view(f->s, "child", "p", NULL, 0, &m), 0);
        sk_mounts_free(&m);
        assert_int_equal(sk_snapshotter_remove(f->s, "p"), -EBUSY);
        assert_int_equal(sk_snapshotter_remove(f->s, "child"), 0);
        assert_int_equal(sk_snapshotter_remove(f->s, "p"), 0);
        sk_info i;
        assert_int_equal(sk_snapshotter_stat(f->s, "p", &i), -ENOENT);
        /* a committed child of a committed parent also blocks removal */
        committed(f->s, "g1", NULL);
        committed(f->s, "g2", "g1");
        assert_int_equal(sk_snapshotter_remove(f->s, "g1"), -EBUSY);
        assert_int_equal(sk_snapshotter_remove(f->s, "g2"), 0);
        assert_int_equal(sk_snapshotter_remove(f->s, "g1"), 0);
        char *dirs = list_snapshot_dirs(f);
        assert_string_equal(dirs, "");
        free(dirs);
}

static void test_update(void **state) {
        fixture *f = *state;
        sk_label l[] = { { "l1", "v1" }, { "l2", "v2" } };
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_prepare(f->s, "a", NULL, l, 2, &m), 0);
        sk_mounts_free(&m);
        sk_info orig = {};
        assert_int_equal(sk_snapshotter_stat(f->s, "a", &orig), 0);

        /* no paths: replace all; parent in info is ignored */
        sk_label r1[] = { { "l1", "v1" }, { "l2", "v2" }, { "l3", "v3" } };
        sk_info in = { .name = "a", .parent = "doesnotexist", .labels = r1, .n_labels = 3 };
        sk_info out = {};
        struct timespec t1 = now();
        assert_int_equal(sk_snapshotter_update(f->s, &in, NULL, 0, &out), 0);
        struct timespec t2 = now();
        assert_string_equal(out.name, "a");
        assert_null(out.parent);
        assert_int_equal(out.kind, SK_KIND_ACTIVE);
        assert_int_equal(ts_cmp(out.created, orig.created), 0);
        assert_true(ts_cmp(t1, out.updated) <= 0 && ts_cmp(out.updated, t2) <= 0);
        assert_int_equal(out.n_labels, 3);
        sk_info_clear(&out);

        /* labels.K sets one; labels.K absent from the input deletes it */
        sk_label r2[] = { { "l1", "updated" }, { "l4", "v4" } };
        sk_info in2 = { .name = "a", .labels = r2, .n_labels = 2 };
        const char *paths[] = { "labels.l1", "labels.l2" };
        assert_int_equal(sk_snapshotter_update(f->s, &in2, paths, 2, &out), 0);
        assert_int_equal(out.n_labels, 2);
        assert_string_equal(label(&out, "l1"), "updated");
        assert_string_equal(label(&out, "l3"), "v3");
        assert_null(label(&out, "l4"));
        sk_info_clear(&out);

        /* an empty value deletes */
        sk_label r3[] = { { "l3", "" } };
        sk_info in3 = { .name = "a", .labels = r3, .n_labels = 1 };
        const char *p3[] = { "labels.l3" };
        assert_int_equal(sk_snapshotter_update(f->s, &in3, p3, 1, &out), 0);
        assert_int_equal(out.n_labels, 1);
        assert_null(label(&out, "l3"));
        sk_info_clear(&out);

        /* "labels" replaces all */
        sk_label r4[] = { { "l4", "v4" } };
        sk_info in4 = { .name = "a", .labels = r4, .n_labels = 1 };
        const char *p4[] = { "labels" };
        assert_int_equal(sk_snapshotter_update(f->s, &in4, p4, 1, &out), 0);
        assert_int_equal(out.n_labels, 1);
        assert_string_equal(label(&out, "l4"), "v4");
        sk_info_clear(&out);

        /* update_keep: a full replacement keeps the named stored labels (the
         * daemon's own), unless the input sets them too */
        sk_label r6[] = { { "d1", "kept" }, { "d2", "also" }, { "l4", "v4" } };
        sk_info in6 = { .name = "a", .labels = r6, .n_labels = 3 };
        assert_int_equal(sk_snapshotter_update(f->s, &in6, NULL, 0, &out), 0);
        sk_info_clear(&out);
        const char *keep[] = { "d1", "d2", "d3" };
        sk_label r7[] = { { "l5", "v5" }, { "d2", "client" } };
        sk_info in7 = { .name = "a", .labels = r7, .n_labels = 2 };
        assert_int_equal(sk_snapshotter_update_keep(f->s, &in7, p4, 1, keep, 3, &out), 0);
        assert_int_equal(out.n_labels, 3);
        assert_string_equal(label(&out, "d1"), "kept");
        assert_string_equal(label(&out, "d2"), "client");
        assert_string_equal(label(&out, "l5"), "v5");
        assert_null(label(&out, "l4"));
        sk_info_clear(&out);
        assert_int_equal(sk_snapshotter_update_keep(f->s, &in4, NULL, 0, keep, 3, &out), 0);
        assert_int_equal(out.n_labels, 3);
        assert_string_equal(label(&out, "d1"), "kept");
        sk_info_clear(&out);
        assert_int_equal(sk_snapshotter_update(f->s, &in4, p4, 1, &out), 0);
        assert_int_equal(out.n_labels, 1);
        sk_info_clear(&out);

        /* any other path is InvalidArgument and changes nothing */
        const char *p5[] = { "labels.l9", "parent" };
        assert_int_equal(sk_snapshotter_update(f->s, &in4, p5, 2, &out), -EINVAL);
        const char *p6[] = { "name" };
        assert_int_equal(sk_snapshotter_update(f->s, &in4, p6, 1, &out), -EINVAL);

        /* what Update returned is what Stat sees */
        sk_info st = {};
        assert_int_equal(sk_snapshotter_stat(f->s, "a", &st), 0);
        assert_int_equal(st.n_labels, 1);
        assert_string_equal(label(&st, "l4"), "v4");
        assert_int_equal(ts_cmp(st.created, orig.created), 0);
        assert_true(ts_cmp(st.updated, orig.updated) > 0);
        sk_info_clear(&st);
        sk_info_clear(&orig);
}

typedef struct walk_rec {
        char names[16][64];
        int kinds[16];
        size_t n;
        size_t stop_after;
} walk_rec;

static int walk_cb(const sk_info *i, void *userdata) {
        walk_rec *w = userdata;
        if (w->n == w->stop_after)
                return -ECANCELED;
        snprintf(w->names[w->n], 64, "%s", i->name);
        w->kinds[w->n] = i->kind;
        w->n++;
        if (i->created.tv_sec == 0)
                return -EBADMSG;
        return 0;
}

static void test_walk(void **state) {
        fixture *f = *state;
        committed(f->s, "c", NULL);
        prepare(f->s, "b", "c");
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_view(f->s, "a", "c", NULL, 0, &m), 0);
        sk_mounts_free(&m);
        walk_rec w = { .stop_after = 99 };
        assert_int_equal(sk_snapshotter_walk(f->s, walk_cb, &w), 0);
        assert_int_equal(w.n, 3);
        assert_string_equal(w.names[0], "a");
        assert_int_equal(w.kinds[0], SK_KIND_VIEW);
        assert_string_equal(w.names[1], "b");
        assert_int_equal(w.kinds[1], SK_KIND_ACTIVE);
        assert_string_equal(w.names[2], "c");
        assert_int_equal(w.kinds[2], SK_KIND_COMMITTED);
        /* a negative return stops the walk and is passed back */
        walk_rec w2 = { .stop_after = 1 };
        assert_int_equal(sk_snapshotter_walk(f->s, walk_cb, &w2), -ECANCELED);
        assert_int_equal(w2.n, 1);
}

static void test_usage(void **state) {
        fixture *f = *state;
        prepare(f->s, "a", NULL);
        sk_usage u0, u1, u2;
        assert_int_equal(sk_snapshotter_usage(f->s, "a", &u0), 0);
        assert_int_equal(u0.inodes, 1); /* the fs directory itself */

        char *file = data_path(f, "a", "fs/data"), *hl = data_path(f, "a", "fs/hardlink");
        write_file(file, 256 * 1024);
        assert_int_equal(link(file, hl), 0);
        assert_int_equal(sk_snapshotter_usage(f->s, "a", &u1), 0);
        /* the hard link counts once */
        assert_int_equal(u1.inodes, 2);
        assert_true(u1.size >= u0.size + 256 * 1024);
        assert_true(u1.size < u0.size + 256 * 1024 + 64 * 1024);

        assert_int_equal(sk_snapshotter_commit(f->s, "c", "a", NULL, 0), 0);
        assert_int_equal(sk_snapshotter_usage(f->s, "c", &u2), 0);
        assert_int_equal(u2.inodes, u1.inodes);
        assert_int_equal(u2.size, u1.size);
        /* committed usage is the stored value, not a new walk */
        char *more = data_path(f, "c", "fs/more");
        write_file(more, 64 * 1024);
        assert_int_equal(sk_snapshotter_usage(f->s, "c", &u2), 0);
        assert_int_equal(u2.size, u1.size);
        reopen(f);
        assert_int_equal(sk_snapshotter_usage(f->s, "c", &u2), 0);
        assert_int_equal(u2.size, u1.size);
        assert_int_equal(u2.inodes, 2);
        free(file);
        free(hl);
        free(more);
}

/* A container's 20,000-deep tree (deep enough for one descriptor per level
 * to exceed the limit set below; 100,000 levels is the integration-size case): the usage walk (Usage, Commit) and the
 * removal (Remove) finish with a few descriptors and no stack overflow. They
 * recursed once per level, holding a descriptor each. */
static void test_deep_tree(void **state) {
        fixture *f = *state;
        const int depth = 20000;
        prepare(f->s, "a", NULL);
        char *fs = data_path(f, "a", "fs");
        int bottom = sk_test_chain(fs, depth, 1);
        assert_true(bottom >= 0);
        close(bottom);
        struct rlimit old, lim;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        lim = old;
        lim.rlim_cur = 256; /* far below one descriptor per level */
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
        int fds = sk_test_count_fds();
        sk_usage u;
        assert_int_equal(sk_snapshotter_usage(f->s, "a", &u), 0);
        assert_int_equal(u.inodes, depth + 1);
        assert_int_equal(sk_test_count_fds(), fds);
        assert_int_equal(sk_snapshotter_commit(f->s, "c", "a", NULL, 0), 0);
        assert_int_equal(sk_snapshotter_usage(f->s, "c", &u), 0);
        assert_int_equal(u.inodes, depth + 1);
        char *cfs = data_path(f, "c", "fs");
        assert_int_equal(sk_snapshotter_remove(f->s, "c"), 0);
        assert_int_equal(sk_test_count_fds(), fds);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
        struct stat st;
        assert_int_equal(stat(cfs, &st), -1);
        free(fs);
        free(cfs);
}

static void test_reopen_persistence(void **state) {
        fixture *f = *state;
        sk_label l[] = { { "containerd.io/gc.root", "x" }, { "k", "v" } };
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_prepare(f->s, "a-tmp", NULL, NULL, 0, &m), 0);
        sk_mounts_free(&m);
        assert_int_equal(sk_snapshotter_commit(f->s, "base", "a-tmp", l, 2), 0);
        prepare(f->s, "top", "base");
        sk_info before = {}, after = {};
        assert_int_equal(sk_snapshotter_stat(f->s, "base", &before), 0);
        uint64_t id1;
        char *d1 = NULL;
        assert_int_equal(sk_snapshotter_dir(f->s, "top", &id1, &d1), 0);

        reopen(f);
        assert_int_equal(sk_snapshotter_stat(f->s, "base", &after), 0);
        assert_int_equal(after.kind, SK_KIND_COMMITTED);
        assert_int_equal(ts_cmp(before.created, after.created), 0);
        assert_int_equal(ts_cmp(before.updated, after.updated), 0);
        assert_int_equal(after.n_labels, 2);
        assert_string_equal(label(&after, "k"), "v");
        sk_info_clear(&before);
        sk_info_clear(&after);
        assert_int_equal(sk_snapshotter_mounts(f->s, "top", &m), 0);
        assert_string_equal(m.mounts[0].type, "overlay");
        sk_mounts_free(&m);
        /* ids keep counting up, never reusing one */
        prepare(f->s, "next", NULL);
        uint64_t id2;
        char *d2 = NULL;
        assert_int_equal(sk_snapshotter_dir(f->s, "next", &id2, &d2), 0);
        assert_true(id2 > id1);
        free(d1);
        free(d2);
}

static void mkdir_in(fixture *f, const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/snapshots/%s", f->dir, name) > 0);
        assert_int_equal(mkdir(p, 0700), 0);
        char *q = NULL;
        assert_true(asprintf(&q, "%s/fs", p) > 0);
        assert_int_equal(mkdir(q, 0755), 0);
        free(q);
        free(p);
}

static void test_crash_leftovers(void **state) {
        fixture *f = *state;
        committed(f->s, "base", NULL); /* id 1 */
        prepare(f->s, "act", "base");  /* id 2 */
        committed(f->s, "gone", NULL); /* id 3 */
        char *keep = data_path(f, "base", "fs/keep");
        write_file(keep, 10);

        /* what kill -9 can leave: a half-built new-<id>, an uncommitted <id>
         * whose transaction never committed, an rm-<id> whose removal did
         * commit, and the rm-<id> of a removal that did NOT commit (the record
         * still exists and must get its directory back) */
        mkdir_in(f, "new-4");
        mkdir_in(f, "5");
        mkdir_in(f, "rm-77");
        mkdir_in(f, "stray name");
        char *from = NULL, *to = NULL;
        assert_true(asprintf(&from, "%s/snapshots/3", f->dir) > 0);
        assert_true(asprintf(&to, "%s/snapshots/rm-3", f->dir) > 0);
        assert_int_equal(rename(from, to), 0);

        reopen(f);
        /* open() restored rm-3 -> 3 because "gone" still has its record */
        struct stat st;
        assert_int_equal(stat(from, &st), 0);
        /* the next create takes id 4 and copes with the stale new-4 */
        prepare(f->s, "fresh", NULL);
        uint64_t id;
        char *d = NULL;
        assert_int_equal(sk_snapshotter_dir(f->s, "fresh", &id, &d), 0);
        assert_int_equal(id, 4);
        free(d);

        char *dirs = list_snapshot_dirs(f);
        assert_string_equal(dirs, "1 2 3 4 5 rm-77 stray name");
        free(dirs);
        assert_int_equal(sk_snapshotter_cleanup(f->s), 3);
        dirs = list_snapshot_dirs(f);
        assert_string_equal(dirs, "1 2 3 4");
        free(dirs);
        assert_int_equal(sk_snapshotter_cleanup(f->s), 0);

        /* the committed data is intact and still mountable */
        assert_int_equal(stat(keep, &st), 0);
        assert_int_equal(st.st_size, 10);
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_mounts(f->s, "act", &m), 0);
        sk_mounts_free(&m);
        assert_int_equal(sk_snapshotter_remove(f->s, "gone"), 0);
        dirs = list_snapshot_dirs(f);
        assert_string_equal(dirs, "1 2 4");
        free(dirs);
        free(from);
        free(to);
        free(keep);
}

/* The child: an endless stream of prepare, write, commit and remove. */
static _Noreturn void churn(const char *dir, unsigned seed) {
        sk_snapshotter *s = NULL;
        if (sk_snapshotter_open(dir, NULL, &s) < 0)
                _exit(1);
        char parent[64] = "", key[64], name[64];
        for (unsigned i = 0;; i++) {
                sk_mounts m = {};
                snprintf(key, sizeof(key), "%u/active %u", seed, i);
                snprintf(name, sizeof(name), "%u/committed:%u", seed, i);
                if (sk_snapshotter_prepare(s, key, *parent ? parent : NULL, NULL, 0, &m) < 0)
                        _exit(2);
                sk_mounts_free(&m);
                uint64_t id;
                char *d = NULL, *path = NULL;
                if (sk_snapshotter_dir(s, key, &id, &d) < 0 || asprintf(&path, "%s/fs/marker", d) < 0)
                        _exit(3);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd < 0 || sk_write_all(fd, name, strlen(name)) < 0)
                        _exit(4);
                close(fd);
                free(path);
                free(d);
                if (sk_snapshotter_commit(s, name, key, NULL, 0) < 0)
                        _exit(5);
                if (i % 3 == 2) {
                        /* drop a leaf now and then, keep the chain growing */
                        if (sk_snapshotter_remove(s, name) < 0)
                                _exit(6);
                } else
                        strcpy(parent, name);
                if (i % 7 == 0)
                        (void) sk_snapshotter_cleanup(s);
        }
}

typedef struct check_ctx {
        fixture *f;
        int records;
        int bad;
} check_ctx;

static int check_record(const sk_info *i, void *userdata) {
        check_ctx *c = userdata;
        uint64_t id;
        char *d = NULL, *path = NULL;
        struct stat st;
        c->records++;
        if (sk_snapshotter_dir(c->f->s, i->name, &id, &d) < 0 || asprintf(&path, "%s/fs", d) < 0)
                return -EIO;
        if (stat(path, &st) < 0) {
                print_message("record %s: %s missing\n", i->name, path);
                c->bad++;
        }
        free(path);
        if (i->kind == SK_KIND_COMMITTED) {
                void *buf = NULL;
                size_t len = 0;
                int dfd = open(d, O_RDONLY | O_DIRECTORY);
                if (dfd < 0 || sk_read_file(dfd, "fs/marker", 4096, &buf, &len) < 0 ||
                    len != strlen(i->name) || memcmp(buf, i->name, len) != 0) {
                        print_message("committed %s: marker missing or wrong\n", i->name);
                        c->bad++;
                }
                if (dfd >= 0)
                        close(dfd);
                free(buf);
                /* its whole parent chain must be there too */
                if (i->parent) {
                        sk_info p = {};
                        if (sk_snapshotter_stat(c->f->s, i->parent, &p) < 0) {
                                print_message("parent %s of %s missing\n", i->parent, i->name);
                                c->bad++;
                        }
                        sk_info_clear(&p);
                }
        }
        free(d);
        return 0;
}

static void test_kill9(void **state) {
        fixture *f = *state;
        srand((unsigned) getpid());
        int total = 0;
        for (unsigned round = 0; round < 6; round++) {
                /* one LMDB environment per process: close ours around the fork */
                sk_snapshotter_free(f->s);
                f->s = NULL;
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0)
                        churn(f->dir, round);
                usleep(20000 + (useconds_t) (rand() % 150000));
                assert_int_equal(kill(pid, SIGKILL), 0);
                int status;
                assert_int_equal(waitpid(pid, &status, 0), pid);
                if (!WIFSIGNALED(status))
                        fail_msg("churn child exited early with status %d", WEXITSTATUS(status));
                assert_int_equal(sk_snapshotter_open(f->dir, NULL, &f->s), 0);

                check_ctx c = { .f = f };
                assert_int_equal(sk_snapshotter_walk(f->s, check_record, &c), 0);
                assert_int_equal(c.bad, 0);
                total = c.records;
                assert_true(sk_snapshotter_cleanup(f->s) >= 0);
                /* after cleanup: exactly one directory per record */
                char *dirs = list_snapshot_dirs(f);
                int n = 0;
                for (char *t = strtok(dirs, " "); t; t = strtok(NULL, " ")) {
                        char *end;
                        unsigned long long id = strtoull(t, &end, 10);
                        if (*end || id == 0)
                                fail_msg("leftover directory %s after cleanup", t);
                        n++;
                }
                free(dirs);
                assert_int_equal(n, c.records);
        }
        print_message("figure: %d records intact after 6 kill -9 rounds; no leftovers after cleanup\n", total);
        assert_true(total > 0);
}

typedef struct thread_arg {
        sk_snapshotter *s;
        int n;
        int failures;
} thread_arg;

static void *worker(void *p) {
        thread_arg *a = p;
        for (int i = 0; i < 40; i++) {
                char key[64], name[64];
                sk_mounts m = {};
                sk_info info = {};
                snprintf(key, sizeof(key), "t%d/key %d", a->n, i);
                snprintf(name, sizeof(name), "t%d/name:%d", a->n, i);
                if (sk_snapshotter_prepare(a->s, key, "shared", NULL, 0, &m) < 0)
                        a->failures++;
                sk_mounts_free(&m);
                if (sk_snapshotter_commit(a->s, name, key, NULL, 0) < 0)
                        a->failures++;
                if (sk_snapshotter_stat(a->s, name, &info) < 0 || info.kind != SK_KIND_COMMITTED)
                        a->failures++;
                sk_info_clear(&info);
                if (i % 2 == 0 && sk_snapshotter_remove(a->s, name) < 0)
                        a->failures++;
                if (i % 8 == 0 && sk_snapshotter_cleanup(a->s) < 0)
                        a->failures++;
        }
        return NULL;
}

static int count_cb(const sk_info *i, void *userdata) {
        (void) i;
        (*(int *) userdata)++;
        return 0;
}

static void test_threads(void **state) {
        fixture *f = *state;
        committed(f->s, "shared", NULL);
        pthread_t th[4];
        thread_arg args[4];
        for (int i = 0; i < 4; i++) {
                args[i] = (thread_arg) { .s = f->s, .n = i };
                assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                assert_int_equal(pthread_join(th[i], NULL), 0);
                assert_int_equal(args[i].failures, 0);
        }
        int n = 0;
        assert_int_equal(sk_snapshotter_walk(f->s, count_cb, &n), 0);
        assert_int_equal(n, 1 + 4 * 20);
        assert_int_equal(sk_snapshotter_cleanup(f->s), 0);
        assert_int_equal(sk_snapshotter_remove(f->s, "shared"), -EBUSY);
}

SK_TEST_MAIN(SK_FIXTURE_TEST(test_prepare_commit_stat), SK_FIXTURE_TEST(test_opaque_keys),
             SK_FIXTURE_TEST(test_errors), SK_FIXTURE_TEST(test_root_in_use), SK_FIXTURE_TEST(test_remove), SK_FIXTURE_TEST(test_update),
             SK_FIXTURE_TEST(test_walk), SK_FIXTURE_TEST(test_usage),
             SK_FIXTURE_TEST(test_reopen_persistence), SK_FIXTURE_TEST(test_crash_leftovers),
             SK_FIXTURE_TEST(test_threads), SK_FIXTURE_TEST(test_kill9), SK_FIXTURE_TEST(test_deep_tree))
