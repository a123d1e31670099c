/* common/hugemap: blocks aligned to 2 MiB, zeroed, whole 4 KiB pages, and
 * advised for transparent huge pages (THPeligible in /proc/self/smaps, which
 * an unadvised mapping is not where the system gives huge pages only on
 * request). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/hugemap.h"
#include "tests/lib/testutil.h"

static void test_blocks(void **state) {
        (void) state;
        const size_t sizes[] = { 1, 4096, (2u << 20) + 16, 5u << 20 };
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
                size_t len = 0;
                uint8_t *p = sk_huge_map(sizes[k], &len);
                assert_non_null(p);
                assert_int_equal((uintptr_t) p % (2u << 20), 0);
                assert_true(len >= sizes[k] && len % 4096 == 0 && len - sizes[k] < 4096);
                for (size_t i = 0; i < len; i += 512)
                        assert_int_equal(p[i], 0);
                memset(p, 0xa5, len);   /* all of it is the caller's */
                /* a mapping shorter than a huge page can hold none */
                if (len < (2u << 20))
                        assert_int_equal(sk_test_thp_eligible(p), 0);
                else if (sk_test_thp_never())
                        fprintf(stderr, "transparent huge pages are off here: the advice is not checked\n");
                else
                        assert_int_equal(sk_test_thp_eligible(p), 1);
                sk_huge_unmap(p, len);
                assert_int_equal(sk_test_thp_eligible(p), -1);  /* all of it is unmapped */
        }
        sk_huge_unmap(NULL, 0);
        size_t len = 0;
        errno = 0;
        assert_null(sk_huge_map(0, &len));
        assert_int_equal(errno, EINVAL);
        assert_null(sk_huge_map(SIZE_MAX - 4096, &len));
        assert_int_equal(errno, ENOMEM);
}

SK_TEST_MAIN(cmocka_unit_test(test_blocks))
