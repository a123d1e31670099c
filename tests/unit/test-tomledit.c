/* Unit tests for cli/tomledit.c: what it must not misread (strings holding
 * '#', '[' or '=', multi-line strings and arrays, quoted and dotted keys),
 * the edits (replace, insert into a table, append a table) with every other
 * byte kept, idempotence, clashes, and errors that name the line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/tomledit.h"
#include "tests/lib/testutil.h"

static const char *const PROXY[] = { "proxy_plugins", "snapkeep" };
static const char *const CRI[] = { "plugins", "io.containerd.grpc.v1.cri", "containerd" };

static sk_toml *parse_ok(const char *text) {
        sk_toml *t = NULL;
        char err[256] = "";
        int r = sk_toml_parse(text, strlen(text), &t, err, sizeof(err));
        if (r < 0)
                fail_msg("parse: %s", err);
        return t;
}

static void expect_render(const sk_toml *t, const char *want) {
        size_t len = 0;
        char *got = sk_toml_render(t, &len);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
}

static const char tricky[] = "version = 2\n"
                             "# a comment with [brackets] and key = value\n"
                             "root = \"/var/lib/containerd\" # trailing\n"
                             "\n"
                             "[plugins]\n"
                             "  [plugins.\"io.containerd.grpc.v1.cri\"]\n"
                             "    sandbox_image = \"registry/pause:3.6 # not a comment\"\n"
                             "    list = [\n"
                             "      \"a]\", 'b[', # comment inside\n"
                             "      { x = 1 },\n"
                             "    ]\n"
                             "    text = \"\"\"\n"
                             "[not.a.table]\n"
                             "key = \"\"\"\n"
                             "    raw = '''x''y'''\n"
                             "    [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                             "      snapshotter = \"overlayfs\"\n"
                             "      disable_snapshot_annotations = true\n"
                             "\n"
                             "[proxy_plugins]\n"
                             "  [proxy_plugins.stargz]\n"
                             "    type = \"snapshot\"\n"
                             "    address = \"/run/stargz.sock\"\n";

static void test_reads_tricky(void **state) {
        (void) state;
        sk_toml *t = parse_ok(tricky);
        assert_string_equal(sk_toml_get(t, NULL, 0, "version"), "2");
        assert_string_equal(sk_toml_get(t, NULL, 0, "root"), "\"/var/lib/containerd\"");
        const char *cri[] = { "plugins", "io.containerd.grpc.v1.cri" };
        assert_string_equal(sk_toml_get(t, cri, 2, "sandbox_image"), "\"registry/pause:3.6 # not a comment\"");
        assert_string_equal(sk_toml_get(t, CRI, 3, "snapshotter"), "\"overlayfs\"");
        assert_true(sk_toml_has_table(t, CRI, 3));
        const char *fake[] = { "not", "a", "table" };
        assert_false(sk_toml_has_table(t, fake, 3)); /* inside a multi-line string */
        assert_null(sk_toml_get(t, NULL, 0, "key"));
        assert_false(sk_toml_has_table(t, PROXY, 2));
        assert_false(sk_toml_path_taken(t, PROXY, 2));
        /* Rendering without edits gives the input back. */
        expect_render(t, tricky);
        sk_toml_free(t);
}

static void test_edits(void **state) {
        (void) state;
        sk_toml *t = parse_ok(tricky);
        assert_int_equal(sk_toml_set(t, PROXY, 2, "type", "\"snapshot\""), 1);
        assert_int_equal(sk_toml_set(t, PROXY, 2, "address", "\"/run/snapkeep/snapkeep.sock\""), 1);
        assert_int_equal(sk_toml_set(t, CRI, 3, "snapshotter", "\"snapkeep\""), 1);
        assert_int_equal(sk_toml_set(t, CRI, 3, "disable_snapshot_annotations", "false"), 1);
        /* Again: nothing changes ('snapkeep' is the same string). */
        assert_int_equal(sk_toml_set(t, PROXY, 2, "type", "'snapshot'"), 0);
        assert_int_equal(sk_toml_set(t, CRI, 3, "disable_snapshot_annotations", "false"), 0);
        size_t n = 0;
        const char *const *edits = sk_toml_edits(t, &n);
        assert_int_equal(n, 4);
        assert_string_equal(edits[0], "end: + [proxy_plugins.snapkeep], + type = \"snapshot\"");
        assert_string_equal(edits[1], "line 27: + address = \"/run/snapkeep/snapkeep.sock\"");
        assert_string_equal(edits[2], "line 17: snapshotter = \"overlayfs\" -> snapshotter = \"snapkeep\"");
        assert_string_equal(edits[3], "line 18: disable_snapshot_annotations = true -> "
                                      "disable_snapshot_annotations = false");
        char *want = NULL;
        assert_true(asprintf(&want, "%.*s%s", (int) (strstr(tricky, "      snapshotter") - tricky), tricky,
                             "      snapshotter = \"snapkeep\"\n"
                             "      disable_snapshot_annotations = false\n"
                             "\n"
                             "[proxy_plugins]\n"
                             "  [proxy_plugins.stargz]\n"
                             "    type = \"snapshot\"\n"
                             "    address = \"/run/stargz.sock\"\n"
                             "\n"
                             "[proxy_plugins.snapkeep]\n"
                             "  type = \"snapshot\"\n"
                             "  address = \"/run/snapkeep/snapkeep.sock\"\n") > 0);
        expect_render(t, want);
        free(want);
        sk_toml_free(t);
}

static void test_insert_into_tables(void **state) {
        (void) state;
        /* A key missing from an existing table goes after its last key, with
         * its indentation; into an empty table two spaces under its header;
         * a root key before the first table. */
        sk_toml *t = parse_ok("[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                              "    default_runtime_name = \"runc\"\n"
                              "[empty]\n"
                              "[other]\n"
                              "x = 1\n");
        assert_int_equal(sk_toml_set(t, CRI, 3, "snapshotter", "\"snapkeep\""), 1);
        const char *const empty[] = { "empty" };
        assert_int_equal(sk_toml_set(t, empty, 1, "k", "true"), 1);
        assert_int_equal(sk_toml_set(t, NULL, 0, "version", "2"), 1);
        expect_render(t, "version = 2\n"
                         "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                         "    default_runtime_name = \"runc\"\n"
                         "    snapshotter = \"snapkeep\"\n"
                         "[empty]\n"
                         "  k = true\n"
                         "[other]\n"
                         "x = 1\n");
        sk_toml_free(t);
}

static void test_clashes(void **state) {
        (void) state;
        /* Defined as a value, or through dotted keys: not ours to edit. */
        const char *texts[] = {
                "proxy_plugins = { snapkeep = { type = \"snapshot\" } }\n",
                "[proxy_plugins]\nsnapkeep = { type = \"snapshot\" }\n",
                "proxy_plugins.snapkeep.type = \"snapshot\"\n",
        };
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                sk_toml *t = parse_ok(texts[i]);
                assert_true(sk_toml_path_taken(t, PROXY, 2));
                assert_int_equal(sk_toml_set(t, PROXY, 2, "address", "\"/x\""), -EEXIST);
                sk_toml_free(t);
        }
}

static void test_errors(void **state) {
        (void) state;
        const struct {
                const char *text, *want;
        } cases[] = {
                { "version = 2\n[proxy_plugins\n", "line 2:" },
                { "a = \"open\n", "line 1: unterminated string" },
                { "a = [1,\n2\n", "line 1: a value that never ends" },
                { "a = ]\n", "line 1: unbalanced" },
                /* An error on a continuation line (the fuzzer's first find). */
                { "a = [\n1]]\n", "line 2: unbalanced" },
                { "e=\"\"\"\n\"\"\"=\"\"\"\n\"\"\"]\n", "line 3: unbalanced" },
                { "= 3\n", "line 1: expected a key" },
                { "a\n", "line 1: expected '='" },
                { "a =\n", "line 1: a key without a value" },
                { "[[x]\n", "line 1: expected ']]'" },
                { "[x] y\n", "line 1: unexpected" },
                { "\"a\\q\" = 1\n", "line 1: unknown escape" },
                { "x = 1\n\"\\uD800\" = 1\n", "line 2: bad unicode" },
                /* A decoded NUL would cut the key to "snapkeep". */
                { "[proxy_plugins.\"snapkeep\\u0000\"]\n", "line 1: bad unicode escape in a string (or a NUL)" },
                { "a = 1\n[x]\n\"k\\U00000000\" = 2\n", "line 3: bad unicode" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                sk_toml *t = NULL;
                char err[256] = "";
                assert_int_equal(sk_toml_parse(cases[i].text, strlen(cases[i].text), &t, err, sizeof(err)), -EINVAL);
                if (!strstr(err, cases[i].want))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
        }
        sk_toml *t = NULL;
        char err[256] = "";
        assert_int_equal(sk_toml_parse("a = 1\nb\0 = 2\n", 12, &t, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "line 2: a NUL byte"));
        /* Deep nesting is counted, not recursed. */
        size_t deep = 100000;
        char *text = malloc(deep * 2 + 16);
        assert_non_null(text);
        strcpy(text, "a = ");
        memset(text + 4, '[', deep);
        memset(text + 4 + deep, ']', deep);
        strcpy(text + 4 + 2 * deep, "\n");
        assert_int_equal(sk_toml_parse(text, strlen(text), &t, err, sizeof(err)), 0);
        sk_toml_free(t);
        free(text);
}

/* What large inputs cost grows with their size, not its square: a value of
 * 200,000 lines (quadratic joining took 46 s), and 2,000 keys under a 1 MiB
 * header (each key's copy of the header's path took 2 GB). */
static void test_bounded_cost(void **state) {
        (void) state;
        size_t lines = 200000;
        char *text = malloc(lines * 3 + 16);
        assert_non_null(text);
        char *o = text + sprintf(text, "a = [\n");
        for (size_t i = 0; i < lines; i++)
                o += sprintf(o, "1,\n");
        strcpy(o, "]\n");
        sk_toml *t = NULL;
        char err[256] = "";
        assert_int_equal(sk_toml_parse(text, strlen(text), &t, err, sizeof(err)), 0);
        assert_int_equal(strlen(sk_toml_get(t, NULL, 0, "a")), 1 + lines * 3 + 2); /* "[", "\n1," each, "\n]" */
        assert_int_equal(sk_toml_set(t, NULL, 0, "b", "1"), 1);
        sk_toml_free(t);
        free(text);

        size_t hl = 1 << 20, keys = 2000;
        text = malloc(hl + 8 + keys * 4 + 1);
        assert_non_null(text);
        o = text;
        *o++ = '[';
        *o++ = '"';
        memset(o, 'A', hl);
        o += hl;
        o += sprintf(o, "\"]\n");
        for (size_t i = 0; i < keys; i++)
                o += sprintf(o, "a=1\n");
        bool tracking = sk_test_track_allocs();
        assert_int_equal(sk_toml_parse(text, (size_t) (o - text), &t, err, sizeof(err)), 0);
        /* No allocation beyond a few times the header (the lines' copy), and
         * no more memory than that in all: keys do not copy their table's path. */
        if (tracking)
                assert_true(sk_test_max_alloc() < 4 * hl);
        sk_toml_free(t);
        free(text);
}

SK_TEST_MAIN(cmocka_unit_test(test_reads_tricky), cmocka_unit_test(test_edits), cmocka_unit_test(test_insert_into_tables),
             cmocka_unit_test(test_clashes), cmocka_unit_test(test_errors), cmocka_unit_test(test_bounded_cost))
