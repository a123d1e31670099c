#include "common/hugemap.h"
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((size_t) 2 << 20)

void *sk_huge_map(size_t n, size_t *ret_len) {
        if (n == 0 || n > SIZE_MAX - 2 * HUGE_PAGE) {
                errno = n == 0 ? EINVAL : ENOMEM;
                return NULL;
        }
        /* the arithmetic below is for 4 KiB pages and 2 MiB huge ones
         * (x86-64); elsewhere the caller uses plain memory */
        if (sysconf(_SC_PAGESIZE) != 4096) {
                errno = ENOTSUP;
                return NULL;
        }
        size_t len = (n + 4095) / 4096 * 4096, map = len + HUGE_PAGE;
        uint8_t *m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
                return NULL;
        /* over-map by a huge page and keep the aligned part: a huge page
         * must be aligned */
        uint8_t *p = (uint8_t *) (((uintptr_t) m + HUGE_PAGE - 1) & ~(uintptr_t) (HUGE_PAGE - 1));
        if (p > m)
                munmap(m, (size_t) (p - m));
        if (m + map > p + len)
                munmap(p + len, (size_t) (m + map - (p + len)));
        (void) madvise(p, len, MADV_HUGEPAGE); /* a hint: 4 KiB pages if refused */
        *ret_len = len;
        return p;
}

void sk_huge_unmap(void *p, size_t len) {
        if (p)
                munmap(p, len);
}
