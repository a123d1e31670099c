/* The shared helpers of the unit tests (see testutil.h). */
#include "tests/lib/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"

char *sk_test_mkdtemp(const char *prefix) {
        const char *tmp = getenv("TMPDIR");
        char *path = NULL;
        if (asprintf(&path, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) < 0)
                return NULL;
        if (!mkdtemp(path)) {
                free(path);
                return NULL;
        }
        return path;
}

void *sk_test_fixture_new(void **state, size_t size, const char *prefix) {
        assert_true(size >= sizeof(char *));
        void *f = calloc(1, size);
        assert_non_null(f);
        /* a pointer to a struct, converted, points to its first member */
        char **dir = f;
        *dir = sk_test_mkdtemp(prefix);
        assert_non_null(*dir);
        *state = f;
        return f;
}

int sk_test_fixture_free(void *fixture) {
        char **dir = fixture;
        sk_rm_rf(*dir);
        free(*dir);
        free(fixture);
        return 0;
}

char *sk_test_path(const char *dir, const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

void sk_test_write_file(const char *dir, const char *name, const void *buf, size_t len) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(sk_write_file_atomic(dfd, name, buf, len, 0644), 0);
        close(dfd);
}

uint8_t *sk_test_random_data(size_t n, uint32_t seed, bool compressible) {
        uint8_t *p = malloc(n + 1);
        assert_non_null(p);
        uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = compressible ? (uint8_t) ("abcdefgh"[(x >> 20) & 7]) : (uint8_t) (x >> 24);
        }
        return p;
}

extern int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                                     void (*f)(const volatile void *)) __attribute__((weak));

static size_t max_alloc;        /* allocations may come from any thread */
static bool hooked;

static void on_malloc(const volatile void *p, size_t size) {
        (void) p;
        size_t cur = __atomic_load_n(&max_alloc, __ATOMIC_RELAXED);
        while (size > cur &&
               !__atomic_compare_exchange_n(&max_alloc, &cur, size, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                ;
}

static void on_free(const volatile void *p) {
        (void) p;
}

bool sk_test_track_allocs(void) {
        if (!__sanitizer_install_malloc_and_free_hooks)
                return false;
        if (!hooked)
                hooked = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
        __atomic_store_n(&max_alloc, 0, __ATOMIC_RELAXED);
        return hooked;
}

size_t sk_test_max_alloc(void) {
        return __atomic_exchange_n(&max_alloc, 0, __ATOMIC_RELAXED);
}

int sk_test_count_fds(void) {
        int n = 0;
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

int sk_test_chain(const char *dir, int depth, int create) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (int i = 0; fd >= 0 && i < depth; i++) {
                if (create && mkdirat(fd, "d", 0755) < 0) {
                        close(fd);
                        return -errno;
                }
                int c = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                close(fd);
                fd = c;
        }
        return fd < 0 ? -errno : fd;
}

int sk_test_thp_eligible(const void *p) {
        FILE *f = fopen("/proc/self/smaps", "re");
        assert_non_null(f);
        char line[512];
        bool in = false;
        int r = -1;
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi;
                /* a mapping's first line: "lo-hi perms ..." ("FilePmdMapped:" parses as hex too) */
                if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
                        in = (uintptr_t) p >= lo && (uintptr_t) p < hi;
                        continue;
                }
                int v;
                if (in && sscanf(line, "THPeligible: %d", &v) == 1) {
                        r = v;
                        break;
                }
        }
        fclose(f);
        return r;
}

bool sk_test_thp_never(void) {
        if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1)
                return true;
        char buf[128] = "";
        FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
        if (f) {
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = 0;
                fclose(f);
        }
        return !f || strstr(buf, "[never]");
}
