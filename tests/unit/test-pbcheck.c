/* UTF-8 validation of protobuf-c strings, as proto3 requires. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "plugin/pbcheck.h"
#include "snapshots.pb-c.h"

static bool valid(const char *s) { return sk_utf8_valid(s, strlen(s)); }

static void test_utf8(void **state __attribute__((unused))) {
        assert_true(valid(""));
        assert_true(valid("default/7/extract-123 sha256:abc"));
        assert_true(valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
        assert_true(valid("\xf4\x8f\xbf\xbf"));      /* U+10FFFF */
        assert_false(valid("\xff"));
        assert_false(valid("\x80"));                 /* lone continuation */
        assert_false(valid("\xc3"));                 /* truncated */
        assert_false(valid("\xe2\x82"));             /* truncated */
        assert_false(valid("\xc0\xaf"));             /* overlong '/' */
        assert_false(valid("\xe0\x80\xaf"));         /* overlong */
        assert_false(valid("\xed\xa0\x80"));         /* surrogate U+D800 */
        assert_false(valid("\xf4\x90\x80\x80"));     /* above U+10FFFF */
        assert_false(valid("ok\xc3(")); /* bad continuation */
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
        assert_true(sk_pb_strings_valid(&req.base, &field));

        e.value = (char *) "bad\xff";
        assert_false(sk_pb_strings_valid(&req.base, &field));
        assert_string_equal(field, "labels");

        e.value = (char *) "x";
        req.parent = (char *) "\xc0\x80";
        assert_false(sk_pb_strings_valid(&req.base, &field));
        assert_string_equal(field, "parent");

        /* Repeated strings, nested two levels down (Update's info labels). */
        Containerd__Services__Snapshots__V1__ListSnapshotsRequest list =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        char *filters[] = { (char *) "name==a", (char *) "kind==\xe2\x82" };
        list.n_filters = 2;
        list.filters = filters;
        assert_false(sk_pb_strings_valid(&list.base, &field));
        assert_string_equal(field, "filters");
        list.n_filters = 1;
        assert_true(sk_pb_strings_valid(&list.base, NULL));

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
        assert_false(sk_pb_strings_valid(&upd.base, &field));
        assert_string_equal(field, "info");
        ie.key = (char *) "k";
        assert_true(sk_pb_strings_valid(&upd.base, NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_message),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
