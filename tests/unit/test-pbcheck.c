/* Wire-level checks of request strings: UTF-8 as proto3 requires, no NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/utf8.h"
#include "plugin/pbcheck.h"
#include "snapshots.pb-c.h"
#include "tests/lib/testutil.h"

/* Pack m and run the wire check on the bytes. */
static bool packed_valid(const ProtobufCMessage *m, const char **ret_field) {
        uint8_t buf[4096];
        size_t n = protobuf_c_message_get_packed_size(m);
        assert_true(n <= sizeof(buf));
        protobuf_c_message_pack(m, buf);
        return sk_pb_wire_strings_valid(m->descriptor, buf, n, ret_field);
}

static bool valid(const char *s) { return sk_utf8_valid(s, strlen(s)); }

static void test_utf8(void **state __attribute__((unused))) {
        assert_true(valid(""));
        assert_true(valid("default/7/extract-123 sha256:abc"));
        assert_true(valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
        assert_true(valid("\xf4\x8f\xbf\xbf"));      /* U+10FFFF */
        assert_false(valid("\xff"));
        assert_false(valid("\x80"));                 /* lone continuation */
        assert_false(valid("\xc3"));                 /* truncated */
        assert_false(valid("\xc0\xaf"));             /* overlong '/' */
        assert_false(valid("\xed\xa0\x80"));         /* surrogate U+D800 */
        assert_false(valid("\xf4\x90\x80\x80"));     /* above U+10FFFF */
}

/* protobuf-c would unpack "a\0b" as "a": the wire check must see the NUL,
 * in a top-level string and inside a map entry. */
static void test_nul(void **state __attribute__((unused))) {
        const ProtobufCMessageDescriptor *d = &containerd__services__snapshots__v1__prepare_snapshot_request__descriptor;
        const char *field = NULL;
        /* key (field 2) = "a\0b" */
        static const uint8_t key_nul[] = { 0x12, 0x03, 'a', 0x00, 'b' };
        assert_false(sk_pb_wire_strings_valid(d, key_nul, sizeof(key_nul), &field));
        assert_string_equal(field, "key");
        static const uint8_t key_ok[] = { 0x12, 0x03, 'a', 'x', 'b' };
        assert_true(sk_pb_wire_strings_valid(d, key_ok, sizeof(key_ok), NULL));
        /* labels (field 4) = { key "k": value "v\0w" } */
        static const uint8_t label_nul[] = { 0x22, 0x08, 0x0a, 0x01, 'k', 0x12, 0x03, 'v', 0x00, 'w' };
        assert_false(sk_pb_wire_strings_valid(d, label_nul, sizeof(label_nul), &field));
        assert_string_equal(field, "labels");
        /* Malformed data is left to protobuf-c (which rejects it). */
        static const uint8_t truncated[] = { 0x12, 0x09, 'a' };
        assert_true(sk_pb_wire_strings_valid(d, truncated, sizeof(truncated), NULL));
}

static void test_message(void **state __attribute__((unused))) {
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry e =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__LABELS_ENTRY__INIT;
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry *labels[] = { &e };
        const char *field = NULL;

        req.key = (char *) "k";
        req.parent = (char *) "p";
        e.key = (char *) "containerd.io/gc.root";
        e.value = (char *) "x";
        req.n_labels = 1;
        req.labels = labels;
        assert_true(packed_valid(&req.base, &field));

        e.value = (char *) "bad\xff";
        assert_false(packed_valid(&req.base, &field));
        assert_string_equal(field, "labels");

        e.value = (char *) "x";
        req.parent = (char *) "\xc0\x80";
        assert_false(packed_valid(&req.base, &field));
        assert_string_equal(field, "parent");

        /* Repeated strings, nested two levels down (Update's info labels). */
        Containerd__Services__Snapshots__V1__ListSnapshotsRequest list =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        char *filters[] = { (char *) "name==a", (char *) "kind==\xe2\x82" };
        list.n_filters = 2;
        list.filters = filters;
        assert_false(packed_valid(&list.base, &field));
        assert_string_equal(field, "filters");
        list.n_filters = 1;
        assert_true(packed_valid(&list.base, NULL));

        Containerd__Services__Snapshots__V1__UpdateSnapshotRequest upd =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__UPDATE_SNAPSHOT_REQUEST__INIT;
        Containerd__Services__Snapshots__V1__Info info = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__INIT;
        Containerd__Services__Snapshots__V1__Info__LabelsEntry ie =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__LABELS_ENTRY__INIT;
        Containerd__Services__Snapshots__V1__Info__LabelsEntry *ilabels[] = { &ie };
        ie.key = (char *) "\xed\xbf\xbf";
        ie.value = (char *) "";
        info.name = (char *) "n";
        info.n_labels = 1;
        info.labels = ilabels;
        upd.info = &info;
        assert_false(packed_valid(&upd.base, &field));
        assert_string_equal(field, "info");
        ie.key = (char *) "k";
        assert_true(packed_valid(&upd.base, NULL));
}

SK_TEST_MAIN(cmocka_unit_test(test_utf8), cmocka_unit_test(test_message), cmocka_unit_test(test_nul))
