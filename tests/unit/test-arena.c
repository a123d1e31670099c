/* The per-call arena: alignment, zeroing, growth, reset, overflow, and
 * protobuf-c unpacking into it. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "plugin/arena.h"
#include "tests/lib/testutil.h"

static void test_alloc(void **state _unused_) {
        sk_arena *a = sk_arena_new();
        assert_non_null(a);

        unsigned char *prev = NULL;
        for (size_t i = 1; i < 2000; i += 37) {
                unsigned char *p = sk_arena_alloc(a, i);
                assert_non_null(p);
                assert_int_equal((uintptr_t) p % alignof(max_align_t), 0);
                for (size_t j = 0; j < i; j++)
                        assert_int_equal(p[j], 0);
                memset(p, 0xa5, i); /* must not overlap earlier blocks (ASan) */
                assert_ptr_not_equal(p, prev);
                prev = p;
        }
        /* Bigger than any block so far: gets its own. */
        unsigned char *big = sk_arena_alloc(a, 1 << 20);
        assert_non_null(big);
        memset(big, 1, 1 << 20);
        assert_true(sk_arena_used(a) >= (1 << 20));

        assert_null(sk_arena_alloc(a, SIZE_MAX));
        assert_null(sk_arena_alloc_array(a, SIZE_MAX / 2, 3));

        char *s = sk_arena_strdup(a, "default/7/extract-1 sha256:ab");
        assert_string_equal(s, "default/7/extract-1 sha256:ab");
        assert_null(sk_arena_strdup(a, NULL));

        sk_arena_reset(a);
        assert_int_equal(sk_arena_used(a), 0);
        unsigned char *p = sk_arena_alloc(a, 64);
        assert_non_null(p);
        for (size_t j = 0; j < 64; j++)
                assert_int_equal(p[j], 0);
        sk_arena_free(a);
        sk_arena_free(NULL);
}

static void test_protobuf(void **state _unused_) {
        Google__Protobuf__Timestamp in = GOOGLE__PROTOBUF__TIMESTAMP__INIT, *out;
        uint8_t buf[64];
        ProtobufCAllocator alloc;

        in.seconds = 1700000000;
        in.nanos = 123456789;
        size_t len = google__protobuf__timestamp__pack(&in, buf);

        sk_arena *a = sk_arena_new();
        assert_non_null(a);
        sk_arena_protobuf_allocator(a, &alloc);
        out = google__protobuf__timestamp__unpack(&alloc, len, buf);
        assert_non_null(out);
        assert_int_equal(out->seconds, 1700000000);
        assert_int_equal(out->nanos, 123456789);
        assert_true(sk_arena_used(a) > 0);
        /* Garbage fails cleanly; whatever it allocated goes with the arena. */
        static const uint8_t bad[] = { 0x08, 0xff, 0xff, 0xff };
        assert_null(google__protobuf__timestamp__unpack(&alloc, sizeof(bad), bad));
        sk_arena_free(a);
}

SK_TEST_MAIN(cmocka_unit_test(test_alloc), cmocka_unit_test(test_protobuf))
