/* Unit tests for snapshot/mounts.c: containerd overlayfs mount shapes, and a
 * 128-layer chain that really mounts. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "snapshot/mounts.h"
#include "snapshot/snapshotter.h"
#include "tests/lib/testutil.h"

static void assert_opts(const sk_mount *m, const char *const *want, size_t n) {
        if (m->n_options != n) {
                for (size_t i = 0; i < m->n_options; i++)
                        print_message("option %zu: %s\n", i, m->options[i]);
                fail_msg("expected %zu options, got %zu", n, m->n_options);
        }
        for (size_t i = 0; i < n; i++)
                assert_string_equal(m->options[i], want[i]);
}

/* Snapshot id of kind over parents (under root "/r") mounts as one rbind of
 * source, mode ("rw" or "ro") first among its options. */
static void assert_one_bind(sk_kind kind, uint64_t id, const uint64_t *parents, size_t n_parents,
                            const char *source, const char *mode) {
        sk_mounts m = {};
        assert_int_equal(sk_mounts_build("/r", kind, id, parents, n_parents, true, &m), 0);
        assert_int_equal(m.n_mounts, 1);
        assert_string_equal(m.mounts[0].type, "bind");
        assert_string_equal(m.mounts[0].source, source);
        assert_opts(&m.mounts[0], (const char *[]) { mode, "rbind" }, 2);
        sk_mounts_free(&m);
}

static void test_bind_no_parent(void **state) {
        (void) state;
        assert_one_bind(SK_KIND_ACTIVE, 7, NULL, 0, "/r/snapshots/7/fs", "rw");
        /* a parentless view binds its own (empty) fs read-only */
        assert_one_bind(SK_KIND_VIEW, 8, NULL, 0, "/r/snapshots/8/fs", "ro");
}

static void test_view_one_parent(void **state) {
        (void) state;
        assert_one_bind(SK_KIND_VIEW, 9, (const uint64_t[]) { 3 }, 1, "/r/snapshots/3/fs", "ro");
}

static void test_active_with_parents(void **state) {
        (void) state;
        sk_mounts m = {};
        uint64_t parents[] = { 12, 5, 1 };
        assert_int_equal(sk_mounts_build("/r", SK_KIND_ACTIVE, 13, parents, 3, true, &m), 0);
        assert_int_equal(m.n_mounts, 1);
        assert_string_equal(m.mounts[0].type, "overlay");
        assert_string_equal(m.mounts[0].source, "overlay");
        assert_opts(&m.mounts[0],
                    (const char *[]) { "index=off", "workdir=/r/snapshots/13/work", "upperdir=/r/snapshots/13/fs",
                                       "lowerdir=/r/snapshots/12/fs:/r/snapshots/5/fs:/r/snapshots/1/fs" },
                    4);
        sk_mounts_free(&m);

        /* without the kernel parameter there is no index=off */
        assert_int_equal(sk_mounts_build("/r", SK_KIND_ACTIVE, 13, parents, 1, false, &m), 0);
        assert_opts(&m.mounts[0],
                    (const char *[]) { "workdir=/r/snapshots/13/work", "upperdir=/r/snapshots/13/fs",
                                       "lowerdir=/r/snapshots/12/fs" },
                    3);
        sk_mounts_free(&m);
}

static void test_view_two_parents(void **state) {
        (void) state;
        sk_mounts m = {};
        uint64_t parents[] = { 4, 2 };
        assert_int_equal(sk_mounts_build("/r", SK_KIND_VIEW, 6, parents, 2, true, &m), 0);
        assert_int_equal(m.n_mounts, 1);
        assert_string_equal(m.mounts[0].type, "overlay");
        assert_string_equal(m.mounts[0].source, "overlay");
        assert_opts(&m.mounts[0], (const char *[]) { "index=off", "lowerdir=/r/snapshots/4/fs:/r/snapshots/2/fs" }, 2);
        sk_mounts_free(&m);
        assert_int_equal(sk_mounts_build("/r", SK_KIND_VIEW, 6, parents, 2, false, &m), 0);
        assert_opts(&m.mounts[0], (const char *[]) { "lowerdir=/r/snapshots/4/fs:/r/snapshots/2/fs" }, 1);
        sk_mounts_free(&m);
}

static void test_bad_kind(void **state) {
        (void) state;
        sk_mounts m = {};
        assert_int_equal(sk_mounts_build("/r", SK_KIND_COMMITTED, 1, NULL, 0, true, &m), -EINVAL);
        assert_int_equal(m.n_mounts, 0);
}

static void test_index_param(void **state) {
        (void) state;
        bool has = access("/sys/module/overlay/parameters/index", F_OK) == 0;
        assert_true(sk_overlay_has_index_param() == has);

        /* the snapshotter follows the kernel: index=off appears exactly when
         * the parameter exists */
        char *dir = sk_test_mkdtemp("sk-mounts-index");
        assert_non_null(dir);
        sk_snapshotter *s = NULL;
        assert_int_equal(sk_snapshotter_open(dir, NULL, &s), 0);
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_prepare(s, "base-tmp", NULL, NULL, 0, &m), 0);
        sk_mounts_free(&m);
        assert_int_equal(sk_snapshotter_commit(s, "base", "base-tmp", NULL, 0), 0);
        assert_int_equal(sk_snapshotter_prepare(s, "top", "base", NULL, 0, &m), 0);
        assert_string_equal(m.mounts[0].type, "overlay");
        bool found = false;
        for (size_t i = 0; i < m.mounts[0].n_options; i++)
                found |= strcmp(m.mounts[0].options[i], "index=off") == 0;
        assert_true(found == has);
        sk_mounts_free(&m);
        sk_snapshotter_free(s);
        assert_int_equal(sk_rm_rf(dir), 0);
        free(dir);
}

/* containerd's compactLowerdirOption: with every lowerdir shaped
 * <common>/<id>/fs, chdir to <common> and use relative paths. Returns the
 * common directory (owned) and rewrites *lower (owned) in place. */
static char *compact_lowerdir(char **lower) {
        const char *list = *lower + strlen("lowerdir=");
        /* longest common prefix of all entries */
        size_t n = 0;
        char *copy = strdup(list), *save = NULL;
        char *dirs[256] = {};
        for (char *t = strtok_r(copy, ":", &save); t && n < 256; t = strtok_r(NULL, ":", &save))
                dirs[n++] = t;
        assert_true(n > 1);
        size_t pl = strlen(dirs[0]);
        for (size_t i = 1; i < n; i++) {
                size_t j = 0;
                while (j < pl && dirs[i][j] == dirs[0][j])
                        j++;
                pl = j;
        }
        /* back to the parent directory, as containerd does (ids are digits) */
        char *common = strndup(dirs[0], pl);
        char *slash = strrchr(common, '/');
        assert_non_null(slash);
        *slash = 0;
        size_t cl = strlen(common) + 1;
        char *out = malloc(strlen(*lower) + 1), *p = stpcpy(out, "lowerdir=");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s%s", i ? ":" : "", dirs[i] + cl);
        free(copy);
        free(*lower);
        *lower = out;
        return common;
}

static void test_128_layers_mount(void **state) {
        (void) state;
        char *dir = sk_test_mkdtemp("sk-mounts-128");
        assert_non_null(dir);
        sk_snapshotter *s = NULL;
        assert_int_equal(sk_snapshotter_open(dir, NULL, &s), 0);

        char parent[32] = "", key[32], name[32];
        for (int i = 0; i < 128; i++) {
                sk_mounts m = {};
                snprintf(key, sizeof(key), "k/%d", i);
                snprintf(name, sizeof(name), "layer %d", i);
                assert_int_equal(sk_snapshotter_prepare(s, key, i ? parent : NULL, NULL, 0, &m), 0);
                sk_mounts_free(&m);
                /* one file per layer, written straight into its upper dir */
                uint64_t id;
                char *d = NULL, *f = NULL;
                assert_int_equal(sk_snapshotter_dir(s, key, &id, &d), 0);
                assert_true(asprintf(&f, "%s/fs/file-%d", d, i) > 0);
                int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
                assert_true(fd >= 0);
                close(fd);
                free(f);
                free(d);
                assert_int_equal(sk_snapshotter_commit(s, name, key, NULL, 0), 0);
                strcpy(parent, name);
        }
        sk_mounts m = {};
        assert_int_equal(sk_snapshotter_prepare(s, "top", parent, NULL, 0, &m), 0);
        assert_int_equal(m.n_mounts, 1);
        sk_mount *mt = &m.mounts[0];
        assert_string_equal(mt->type, "overlay");
        char **lower = &mt->options[mt->n_options - 1];
        assert_true(strncmp(*lower, "lowerdir=", 9) == 0);
        /* nearest parent first: ids are 1..128 in commit order */
        assert_non_null(strstr(*lower, "/snapshots/128/fs:"));
        size_t ll = strlen(*lower);
        assert_true(ll > 15 && strcmp(*lower + ll - 15, "/snapshots/1/fs") == 0);
        assert_true(strchr(*lower, ':') < strstr(*lower, "/snapshots/127/fs:"));

        char *common = compact_lowerdir(lower);
        size_t size = 0;
        for (size_t i = 0; i < mt->n_options; i++)
                size += strlen(mt->options[i]) + 1;
        long page = sysconf(_SC_PAGESIZE);
        print_message("figure: 128-layer overlay options %zu bytes after compaction (page %ld)\n", size, page);
        assert_true(size < (size_t) page);

        if (geteuid() != 0) {
                print_message("SKIP mounting: not root\n");
                goto done;
        }
        char *data = calloc(1, size + 1), *target = NULL;
        for (size_t i = 0; i < mt->n_options; i++) {
                if (i)
                        strcat(data, ",");
                strcat(data, mt->options[i]);
        }
        assert_true(asprintf(&target, "%s/mnt", dir) > 0);
        assert_int_equal(mkdir(target, 0755), 0);
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(cwd >= 0);
        assert_int_equal(chdir(common), 0);
        int r = mount("overlay", target, "overlay", 0, data);
        int saved = errno;
        assert_int_equal(fchdir(cwd), 0);
        close(cwd);
        if (r < 0 && (saved == EPERM || saved == ENODEV)) {
                print_message("SKIP mounting: mount(2) failed: %s\n", strerror(saved));
        } else {
                if (r < 0)
                        fail_msg("mount of the 128-layer overlay failed: %s", strerror(saved));
                char *f = NULL;
                struct stat st;
                /* bottom and top layers both visible through the overlay */
                assert_true(asprintf(&f, "%s/file-0", target) > 0);
                assert_int_equal(stat(f, &st), 0);
                free(f);
                assert_true(asprintf(&f, "%s/file-127", target) > 0);
                assert_int_equal(stat(f, &st), 0);
                free(f);
                /* writes land in the active snapshot's upper dir */
                assert_true(asprintf(&f, "%s/new", target) > 0);
                int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
                assert_true(fd >= 0);
                close(fd);
                free(f);
                assert_int_equal(umount2(target, MNT_DETACH), 0);
                print_message("ok 128-layer overlay mounted with mount(2), lower and upper layers verified\n");
                uint64_t id;
                char *d = NULL;
                assert_int_equal(sk_snapshotter_dir(s, "top", &id, &d), 0);
                assert_true(asprintf(&f, "%s/fs/new", d) > 0);
                assert_int_equal(stat(f, &st), 0);
                free(f);
                free(d);
        }
        free(target);
        free(data);
done:
        free(common);
        sk_mounts_free(&m);
        sk_snapshotter_free(s);
        assert_int_equal(sk_rm_rf(dir), 0);
        free(dir);
}

SK_TEST_MAIN(cmocka_unit_test(test_bind_no_parent), cmocka_unit_test(test_view_one_parent),
             cmocka_unit_test(test_active_with_parents), cmocka_unit_test(test_view_two_parents),
             cmocka_unit_test(test_bad_kind), cmocka_unit_test(test_index_param),
             cmocka_unit_test(test_128_layers_mount))
