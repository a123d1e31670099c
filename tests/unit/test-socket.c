/* sk_socket_prepare: directory creation, stale sockets, live sockets, other
 * files, and path limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/fsutil.h"
#include "plugin/socket.h"
#include "tests/lib/testutil.h"

/* Bind a unix socket at path; listen if live. Returns the fd. */
static int bind_at(const char *path, bool live) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        if (live)
                assert_int_equal(listen(fd, 1), 0);
        return fd;
}

static void test_prepare(void **state __attribute__((unused))) {
        char *dir = sk_test_mkdtemp("test-socket");
        char *path;
        struct stat st;
        assert_non_null(dir);

        /* Missing parents are created, the last one 0711. */
        assert_true(asprintf(&path, "%s/run/sk/sk.sock", dir) > 0);
        assert_int_equal(sk_socket_prepare(path), 0);
        char *parent = strdup(path);
        *strrchr(parent, '/') = '\0';
        assert_int_equal(stat(parent, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0711);
        free(parent);
        assert_int_equal(sk_socket_prepare(path), 0); /* nothing there: fine */

        /* A socket nobody listens on is stale: removed. */
        int fd = bind_at(path, false);
        close(fd);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(sk_socket_prepare(path), 0);
        assert_int_equal(lstat(path, &st), -1);
        assert_int_equal(errno, ENOENT);

        /* A live one is left alone. */
        fd = bind_at(path, true);
        assert_int_equal(sk_socket_prepare(path), -EADDRINUSE);
        assert_int_equal(lstat(path, &st), 0);
        close(fd);
        assert_int_equal(sk_socket_prepare(path), 0);

        /* Anything else is never removed. */
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(sk_socket_prepare(path), -EEXIST);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        free(path);

        /* Parent is a file. */
        assert_true(asprintf(&path, "%s/run/sk/sk.sock/x.sock", dir) > 0);
        assert_int_equal(sk_socket_prepare(path), -ENOTDIR);
        free(path);

        /* Relative and over-long paths. */
        assert_int_equal(sk_socket_prepare("rel.sock"), -EINVAL);
        char longp[200];
        memset(longp, 'a', sizeof(longp) - 1);
        longp[0] = '/';
        longp[sizeof(longp) - 1] = '\0';
        assert_int_equal(sk_socket_prepare(longp), -ENAMETOOLONG);

        assert_int_equal(sk_rm_rf(dir), 0);
        free(dir);
}

SK_TEST_MAIN(cmocka_unit_test(test_prepare))
