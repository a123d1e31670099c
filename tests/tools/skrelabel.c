/* skrelabel: store a copy of a backup whose files claim the other content
 * hash rule, for tests only (test-repo-format.sh).
 *
 *   skrelabel URL PASSWORD_FILE ID RULE
 *
 * Re-encodes the root tree of backup ID and every directory directly below
 * it with each file's hash_rule set to RULE (1 or 2; the stored hashes are
 * left as they are, so they no longer match), and stores the result as a new
 * backup with ID's sources and hostname, dated now, which the next backup of
 * those sources takes as its parent. Prints the new backup's id. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/manifest.h"
#include "repo/crypto.h"
#include "tests/lib/toolrepo.h"

static sk_repo *repo;

static void die(int r, const char *what) {
        fprintf(stderr, "skrelabel: %s: %s (%s)\n", what, strerror(r < 0 ? -r : r), repo ? sk_repo_last_error(repo) : "");
        exit(1);
}

static sk_tree *load(const uint8_t id[SK_TREE_ID_BYTES]) {
        sk_tree *t = NULL;
        int r = sk_tool_load_leaf(repo, id, &t);
        if (r < 0)
                die(r, "load tree (split trees are not handled)");
        return t;
}

/* A copy of t's entries with files relabelled (when rule > 0), stored as a
 * leaf; out receives its id. Directories get new ids through fix (may be NULL). */
static void store_copy(const sk_tree *t, int rule, void (*fix)(sk_node *), uint8_t out[SK_TREE_ID_BYTES]) {
        size_t n = sk_tree_n_entries(t);
        sk_node *e = calloc(n ? n : 1, sizeof(sk_node));
        if (!e)
                die(-ENOMEM, "copy");
        for (size_t i = 0; i < n; i++) {
                if (sk_node_copy(sk_tree_entry(t, i), &e[i]) < 0)
                        die(-ENOMEM, "copy");
                if (e[i].type == SK_NODE_FILE && rule > 0)
                        e[i].hash_rule = (uint8_t) rule;
                if (e[i].type == SK_NODE_DIR && fix)
                        fix(&e[i]);
        }
        void *buf = NULL;
        size_t len = 0;
        sk_blob_id id;
        int r = sk_tree_encode_leaf(e, n, &buf, &len);
        if (r < 0)
                die(r, "encode tree");
        r = sk_repo_put_blob(repo, SK_BLOB_TREE, buf, len, &id, NULL);
        if (r < 0)
                die(r, "store tree");
        memcpy(out, id.b, SK_TREE_ID_BYTES);
        free(buf);
        for (size_t i = 0; i < n; i++)
                sk_node_clear(&e[i]);
        free(e);
}

static int new_rule;

static void relabel_dir(sk_node *d) {
        sk_tree *sub = load(d->subtree);
        store_copy(sub, new_rule, NULL, d->subtree);
        sk_tree_free(sub);
}

int main(int argc, char **argv) {
        if (argc != 5 || (atoi(argv[4]) != 1 && atoi(argv[4]) != 2)) {
                fprintf(stderr, "usage: skrelabel URL PASSWORD_FILE ID RULE (1 or 2)\n");
                return 2;
        }
        new_rule = atoi(argv[4]);
        int r = sk_tool_open(argv[1], argv[2], &repo);
        if (r < 0)
                die(r, "open repository");
        sk_manifest *m = NULL;
        r = sk_backup_load(repo, argv[3], &m);
        if (r < 0)
                die(r, "load backup");
        sk_tree *root = load(m->root);
        store_copy(root, new_rule, relabel_dir, m->root);
        sk_tree_free(root);
        uint8_t b[32];
        r = sk_random_bytes(b, sizeof(b));
        if (r < 0)
                die(r, "random");
        sk_hex(b, sizeof(b), m->id);
        clock_gettime(CLOCK_REALTIME, &m->time);
        r = sk_repo_flush(repo);
        if (r < 0)
                die(r, "flush");
        r = sk_backup_store(repo, m);
        if (r < 0)
                die(r, "store manifest");
        printf("%s\n", m->id);
        sk_manifest_free(m);
        sk_repo_free(repo);
        return 0;
}
