/* snapkeep backups, ls, diff, stats: read-only views. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/browse.h"
#include "backup/manifest.h"
#include "repo/repo.h"
#include "cli/cli.h"
#include "container/k8s.h"
#include "container/record.h"
#include "common/macro.h"


enum {
        OPT_TAG = SK_OPT_FIRST_COMMAND_OPTION,
        OPT_HOST,
        OPT_RECURSIVE,
        OPT_LONG,
        OPT_K8S_NAMESPACE,
        OPT_POD,
        OPT_K8S_CONTAINER,
};

static int resolve_fail(sk_cli *cli, int r, const char *id) {
        if (r == -ENOENT)
                return sk_cli_fail(cli, r, "no backup %s in %s", id, cli->repo_url);
        if (r == -ENOTUNIQ)
                return sk_cli_fail(cli, r, "backup id prefix %s matches several backups", id);
        if (r == -EINVAL)
                return sk_cli_fail(cli, r, "'%s' is not a backup id (hex digits, at least 4) or 'latest'", id);
        return sk_cli_fail(cli, r, "cannot read backup %s", id);
}

/* --- backups ------------------------------------------------------------------- */

static const char *tag_value(const sk_manifest *m, const char *prefix);

/* "kubernetes": {"namespace","pod","container"} of a pod container's backup. */
static void kubernetes_json(sk_json *j, const sk_manifest *m) {
        const char *ns = tag_value(m, SK_TAG_K8S_NAMESPACE_PREFIX), *pod = tag_value(m, SK_TAG_K8S_POD_PREFIX);
        if (!ns || !pod)
                return;
        sk_json_key(j, "kubernetes");
        sk_json_begin_object(j);
        sk_json_kv_str(j, "namespace", ns);
        sk_json_kv_str(j, "pod", pod);
        sk_json_kv_str(j, "container", tag_value(m, SK_TAG_K8S_CONTAINER_PREFIX));
        sk_json_end_object(j);
}

static void manifest_json(sk_json *j, const sk_manifest *m) {
        sk_json_begin_object(j);
        sk_json_kv_str(j, "id", m->id);
        sk_json_key(j, "time");
        sk_json_time(j, &m->time);
        sk_json_path(j, "hostname", m->hostname);
        sk_json_key(j, "sources");
        sk_json_begin_array(j);
        for (size_t i = 0; i < m->n_sources; i++)
                sk_json_string(j, m->sources[i]);
        sk_json_end_array(j);
        /* Exact bytes of sources that are not UTF-8 (same order, null when valid). */
        bool any_raw = false;
        for (size_t i = 0; i < m->n_sources; i++)
                any_raw |= !sk_utf8_valid(m->sources[i], strlen(m->sources[i]));
        if (any_raw) {
                sk_json_key(j, "sources_base64");
                sk_json_begin_array(j);
                for (size_t i = 0; i < m->n_sources; i++) {
                        char *b = sk_base64(m->sources[i], strlen(m->sources[i]));
                        sk_json_string(j, b);
                        free(b);
                }
                sk_json_end_array(j);
        }
        sk_json_key(j, "tags");
        sk_json_begin_array(j);
        for (size_t i = 0; i < m->n_tags; i++)
                sk_json_string(j, m->tags[i]);
        sk_json_end_array(j);
        sk_json_kv_str(j, "parent", m->has_parent ? m->parent_id : NULL);
        sk_json_kv_str(j, "program_version", m->program_version);
        kubernetes_json(j, m);
        const sk_backup_summary *s = &m->summary;
        sk_json_key(j, "summary");
        sk_cli_summary_json(j, s);
        sk_json_end_object(j);
}

static bool has_tag(const sk_manifest *m, const char *tag) {
        for (size_t i = 0; i < m->n_tags; i++)
                if (strcmp(m->tags[i], tag) == 0)
                        return true;
        return false;
}

/* The value of the first tag starting with prefix, or NULL. */
static const char *tag_value(const sk_manifest *m, const char *prefix) {
        size_t pl = strlen(prefix);
        for (size_t i = 0; i < m->n_tags; i++)
                if (strncmp(m->tags[i], prefix, pl) == 0)
                        return m->tags[i] + pl;
        return NULL;
}

/* What a backup holds, for the SOURCES column: snapkeepd's container and
 * layer backups by what they are (namespace/container, chain id), not by
 * the daemon's internal paths; other backups by their source paths. */
static void put_sources(const sk_manifest *m) {
        const char *name = tag_value(m, SK_TAG_NAME_PREFIX), *chain = tag_value(m, SK_TAG_CHAIN_PREFIX);
        if (name && has_tag(m, SK_TAG_CONTAINER)) {
                const char *ns = tag_value(m, SK_TAG_NAMESPACE_PREFIX);
                fputs("container ", stdout);
                if (ns) {
                        sk_cli_put_name(stdout, ns);
                        putchar('/');
                }
                sk_cli_put_name(stdout, name);
                const char *kns = tag_value(m, SK_TAG_K8S_NAMESPACE_PREFIX), *pod = tag_value(m, SK_TAG_K8S_POD_PREFIX),
                           *kc = tag_value(m, SK_TAG_K8S_CONTAINER_PREFIX);
                /* Printed only as the names snapkeepd writes: anyone with the
                 * key could put terminal escapes in a tag. */
                if (sk_k8s_name_valid(kns) && sk_k8s_name_valid(pod))
                        printf(" (pod %s/%s%s%s)", kns, pod, sk_k8s_name_valid(kc) ? " container " : "",
                               sk_k8s_name_valid(kc) ? kc : "");
                return;
        }
        if (chain && has_tag(m, SK_TAG_LAYER)) {
                fputs("layer ", stdout);
                sk_cli_put_name(stdout, chain);
                return;
        }
        for (size_t k = 0; k < m->n_sources; k++) {
                if (k)
                        putchar(' ');
                sk_cli_put_name(stdout, m->sources[k]);
        }
}

int sk_cmd_backups(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "tag", required_argument, NULL, OPT_TAG },
                { "host", required_argument, NULL, OPT_HOST },
                { "long", no_argument, NULL, OPT_LONG },
                { "k8s-namespace", required_argument, NULL, OPT_K8S_NAMESPACE },
                { "pod", required_argument, NULL, OPT_POD },
                { "k8s-container", required_argument, NULL, OPT_K8S_CONTAINER },
                {}
        };
        const char *tag = NULL, *host = NULL;
        /* Kubernetes filters: each a tag prefix and the value it must have. */
        const char *k8s_prefix[3] = { SK_TAG_K8S_NAMESPACE_PREFIX, SK_TAG_K8S_POD_PREFIX,
                                      SK_TAG_K8S_CONTAINER_PREFIX };
        const char *k8s_want[3] = {};
        bool full = false;
        int c;
        cli->command = "backups";
        while ((c = sk_cli_getopt(cli, argc, argv, "l", opts, sk_help_for("backups"))) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_TAG: tag = optarg; break;
                case OPT_HOST: host = optarg; break;
                case OPT_K8S_NAMESPACE: k8s_want[0] = optarg; break;
                case OPT_POD: k8s_want[1] = optarg; break;
                case OPT_K8S_CONTAINER: k8s_want[2] = optarg; break;
                case 'l':
                case OPT_LONG: full = true; break;
                default: return SK_EXIT_USAGE;
                }
        }
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_finish_and_open(cli, argc, argv, &repo);
        if (e != SK_EXIT_OK)
                return e;
        sk_manifest **list = NULL;
        size_t n = 0;
        int r = sk_backup_list(repo, sk_cli_problem_cb, cli, &list, &n);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot list the backups in %s", cli->repo_url);
        if (cli->json)
                sk_json_begin_array(&cli->js);
        else if (!cli->quiet)
                printf("%-*s  %-20s  %-12s  %8s  %10s  %-12s  %s\n", full ? 64 : 12, "ID", "TIME (UTC)", "HOST",
                       "FILES", "SIZE", "TAGS", "SOURCES");
        size_t shown = 0;
        for (size_t i = 0; i < n; i++) {
                const sk_manifest *m = list[i];
                if ((tag && !has_tag(m, tag)) || (host && strcmp(host, m->hostname ? m->hostname : "") != 0))
                        continue;
                bool k8s_ok = true;
                for (size_t k = 0; k < 3; k++) {
                        const char *v = k8s_want[k] ? tag_value(m, k8s_prefix[k]) : NULL;
                        k8s_ok &= !k8s_want[k] || (v && strcmp(v, k8s_want[k]) == 0);
                }
                if (!k8s_ok)
                        continue;
                shown++;
                if (cli->json) {
                        manifest_json(&cli->js, m);
                        continue;
                }
                if (cli->quiet) {
                        printf("%s\n", m->id);
                        continue;
                }
                char t[64], sz[32], tags[256] = "";
                sk_format_time(t, sizeof(t), &m->time);
                for (size_t k = 0; k < m->n_tags; k++) {
                        size_t l = strlen(tags);
                        snprintf(tags + l, sizeof(tags) - l, "%s%s", k ? "," : "", m->tags[k]);
                }
                printf("%-*.*s  %.10s %.8s  %-12.12s  %8llu  %10s  %-12s  ", full ? 64 : 12, full ? 64 : 12, m->id,
                       t, t + 11, m->hostname ? m->hostname : "", (unsigned long long) m->summary.files,
                       sk_cli_format_size(m->summary.bytes, sz, sizeof(sz)), tags);
                put_sources(m);
                putchar('\n');
        }
        if (cli->json)
                sk_json_end_array(&cli->js);
        else if (!cli->quiet)
                printf("%zu backups\n", shown);
        sk_backup_list_free(list, n);
        return cli->problems ? SK_EXIT_INTEGRITY : SK_EXIT_OK;
}

/* --- ls -------------------------------------------------------------------------- */

static void mode_string(const sk_node *n, char out[11]) {
        uint32_t m = n->mode;
        out[0] = sk_node_type_char(n->type);
        out[1] = m & 0400 ? 'r' : '-';
        out[2] = m & 0200 ? 'w' : '-';
        out[3] = m & 04000 ? (m & 0100 ? 's' : 'S') : (m & 0100 ? 'x' : '-');
        out[4] = m & 040 ? 'r' : '-';
        out[5] = m & 020 ? 'w' : '-';
        out[6] = m & 02000 ? (m & 010 ? 's' : 'S') : (m & 010 ? 'x' : '-');
        out[7] = m & 04 ? 'r' : '-';
        out[8] = m & 02 ? 'w' : '-';
        out[9] = m & 01000 ? (m & 01 ? 't' : 'T') : (m & 01 ? 'x' : '-');
        out[10] = 0;
}

static const char *type_word(sk_node_type t) {
        switch (t) {
        case SK_NODE_FILE: return "file";
        case SK_NODE_DIR: return "dir";
        case SK_NODE_SYMLINK: return "symlink";
        case SK_NODE_CHR: return "chardev";
        case SK_NODE_BLK: return "blockdev";
        case SK_NODE_FIFO: return "fifo";
        case SK_NODE_SOCKET: return "socket";
        default: return "unknown";
        }
}

static void node_json(sk_json *j, const char *path, const sk_node *n) {
        sk_json_begin_object(j);
        sk_json_path(j, "path", path);
        sk_json_path(j, "name", n->name);
        sk_json_kv_str(j, "type", type_word(n->type));
        sk_json_kv_u64(j, "mode", n->mode);
        sk_json_kv_u64(j, "uid", n->uid);
        sk_json_kv_u64(j, "gid", n->gid);
        sk_json_kv_u64(j, "size", n->size);
        sk_json_key(j, "mtime");
        sk_json_time(j, &n->mtime);
        sk_json_key(j, "atime");
        sk_json_time(j, &n->atime);
        if (n->type == SK_NODE_SYMLINK)
                sk_json_path(j, "target", n->target);
        if (n->type == SK_NODE_CHR || n->type == SK_NODE_BLK) {
                sk_json_kv_u64(j, "rdev_major", n->rdev_major);
                sk_json_kv_u64(j, "rdev_minor", n->rdev_minor);
        }
        if (n->type == SK_NODE_FILE) {
                char hex[2 * SK_CONTENT_HASH_BYTES + 1];
                sk_hex(n->content_hash, SK_CONTENT_HASH_BYTES, hex);
                sk_json_kv_str(j, "content_hash", hex);
                /* which rule content_hash follows (FORMAT-tree.md): 2 = from chunk ids */
                sk_json_kv_u64(j, "content_hash_rule", (uint64_t) sk_node_hash_rule(n));
                sk_json_kv_u64(j, "chunks", n->n_chunks);
                sk_json_kv_u64(j, "extents", n->n_extents);
        }
        if (n->nlink > 1 && n->type != SK_NODE_DIR)
                sk_json_kv_u64(j, "nlink", n->nlink);
        sk_json_key(j, "xattrs");
        sk_json_begin_array(j);
        for (size_t i = 0; i < n->n_xattrs; i++) {
                sk_json_begin_object(j);
                sk_json_kv_str(j, "name", n->xattrs[i].name);
                char *b = sk_base64(n->xattrs[i].value, n->xattrs[i].value_len);
                sk_json_kv_str(j, "value_base64", b);
                free(b);
                sk_json_end_object(j);
        }
        sk_json_end_array(j);
        sk_json_end_object(j);
}

struct ls_ctx {
        sk_cli *cli;
        bool long_format;
        uint64_t n;
};

static int ls_cb(const char *path, const sk_node *n, void *userdata) {
        struct ls_ctx *c = userdata;
        c->n++;
        if (c->cli->json) {
                node_json(&c->cli->js, path, n);
                return 0;
        }
        if (c->long_format) {
                char mode[11], t[64];
                mode_string(n, mode);
                sk_format_time(t, sizeof(t), &n->mtime);
                printf("%s %6u %6u ", mode, n->uid, n->gid);
                if (n->type == SK_NODE_CHR || n->type == SK_NODE_BLK)
                        printf("%5u, %5u ", n->rdev_major, n->rdev_minor);
                else
                        printf("%12llu ", (unsigned long long) n->size);
                printf("%s ", t);
        }
        sk_cli_put_name(stdout, *path ? path : "/");
        if (n->type == SK_NODE_DIR && *path)
                putchar('/');
        if (c->long_format && n->type == SK_NODE_SYMLINK && n->target) {
                fputs(" -> ", stdout);
                sk_cli_put_name(stdout, n->target);
        }
        putchar('\n');
        return 0;
}

int sk_cmd_ls(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "recursive", no_argument, NULL, OPT_RECURSIVE },
                { "long", no_argument, NULL, OPT_LONG },
                {}
        };
        struct ls_ctx ctx = { .cli = cli };
        bool recursive = false;
        int c;
        cli->command = "ls";
        while ((c = sk_cli_getopt(cli, argc, argv, "Rl", opts, sk_help_for("ls"))) != -1) {
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case 'R':
                case OPT_RECURSIVE: recursive = true; break;
                case 'l':
                case OPT_LONG: ctx.long_format = true; break;
                default: return SK_EXIT_USAGE;
                }
        }
        int nargs = argc - optind;
        if (nargs < 1 || nargs > 2)
                return sk_cli_usage_error(cli, "expects a backup ID and optionally a PATH inside it");
        const char *id = argv[optind], *path = nargs == 2 ? argv[optind + 1] : "";
        sk_cli_setup(cli);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        char full[SK_BACKUP_ID_HEX + 1];
        int r = sk_backup_resolve(repo, id, full);
        if (r < 0)
                return resolve_fail(cli, r, id);
        if (cli->json)
                sk_json_begin_array(&cli->js);
        r = sk_ls(repo, full, path, recursive, ls_cb, &ctx);
        if (cli->json)
                sk_json_end_array(&cli->js);
        if (r == -ENOENT) {
                fprintf(stderr, "%s ls: error: no path ", cli->prog);
                sk_cli_put_name(stderr, path);
                fprintf(stderr, " in backup %s\n", full);
                return SK_EXIT_NOT_FOUND;
        }
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot list backup %s", full);
        return SK_EXIT_OK;
}

/* --- diff ------------------------------------------------------------------------ */

static bool xattrs_equal(const sk_node *a, const sk_node *b) {
        if (a->n_xattrs != b->n_xattrs)
                return false;
        for (size_t i = 0; i < a->n_xattrs; i++) {
                const sk_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];
                if (strcmp(x->name, y->name) != 0 || x->value_len != y->value_len ||
                    (x->value_len && memcmp(x->value, y->value, x->value_len) != 0))
                        return false;
        }
        return true;
}

static int diff_cb(sk_diff_kind kind, const char *path, const sk_node *o, const sk_node *n, void *userdata) {
        sk_cli *cli = userdata;
        static const char *const words[] = { "added", "removed", "modified", "metadata" };
        static const char marks[] = { '+', '-', 'M', 'U' };
        if ((unsigned) kind > SK_DIFF_METADATA)
                return 0;
        const sk_node *x = n ? n : o;
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "kind", words[kind]);
                sk_json_path(j, "path", path);
                sk_json_kv_str(j, "type", x ? type_word(x->type) : NULL);
                if (o && n && kind == SK_DIFF_METADATA) {
                        sk_json_key(j, "changed");
                        sk_json_begin_array(j);
                        if (o->mode != n->mode)
                                sk_json_string(j, "mode");
                        if (o->uid != n->uid || o->gid != n->gid)
                                sk_json_string(j, "owner");
                        if (o->mtime.tv_sec != n->mtime.tv_sec || o->mtime.tv_nsec != n->mtime.tv_nsec)
                                sk_json_string(j, "mtime");
                        if (!xattrs_equal(o, n))
                                sk_json_string(j, "xattrs");
                        sk_json_end_array(j);
                }
                sk_json_end_object(j);
                return 0;
        }
        printf("%c ", marks[kind]);
        sk_cli_put_name(stdout, path);
        if (x && x->type == SK_NODE_DIR)
                putchar('/');
        putchar('\n');
        return 0;
}

int sk_cmd_diff(sk_cli *cli, int argc, char **argv) {
        int c;
        cli->command = "diff";
        while ((c = sk_cli_getopt(cli, argc, argv, "", NULL, sk_help_for("diff"))) != -1) {
                if (c == 'h')
                        return SK_EXIT_OK;
                return SK_EXIT_USAGE;
        }
        if (argc - optind != 2)
                return sk_cli_usage_error(cli, "expects two backup IDs");
        sk_cli_setup(cli);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        char a[SK_BACKUP_ID_HEX + 1], b[SK_BACKUP_ID_HEX + 1];
        int r = sk_backup_resolve(repo, argv[optind], a);
        if (r < 0)
                return resolve_fail(cli, r, argv[optind]);
        r = sk_backup_resolve(repo, argv[optind + 1], b);
        if (r < 0)
                return resolve_fail(cli, r, argv[optind + 1]);
        sk_diff_result res = {};
        if (cli->json) {
                sk_json_begin_object(&cli->js);
                sk_json_kv_str(&cli->js, "old", a);
                sk_json_kv_str(&cli->js, "new", b);
                sk_json_key(&cli->js, "changes");
                sk_json_begin_array(&cli->js);
        }
        r = sk_diff(repo, a, b, diff_cb, cli, &res);
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_end_array(j);
                sk_json_kv_u64(j, "added", res.added);
                sk_json_kv_u64(j, "removed", res.removed);
                sk_json_kv_u64(j, "modified", res.modified);
                sk_json_kv_u64(j, "metadata", res.metadata);
                sk_json_end_object(j);
        }
        if (r == -E2BIG)
                return sk_cli_fail(cli, r, "cannot compare backups %.16s and %.16s: directory listings along one path "
                                   "would exceed %zu MiB of memory", a, b, SK_WALK_HELD_MAX >> 20);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot compare backups %.16s and %.16s", a, b);
        if (!cli->json && !cli->quiet)
                printf("%llu added, %llu removed, %llu modified, %llu metadata only\n",
                       (unsigned long long) res.added, (unsigned long long) res.removed,
                       (unsigned long long) res.modified, (unsigned long long) res.metadata);
        return SK_EXIT_OK;
}

/* --- stats ------------------------------------------------------------------------ */

int sk_cmd_stats(sk_cli *cli, int argc, char **argv) {
        int c;
        cli->command = "stats";
        while ((c = sk_cli_getopt(cli, argc, argv, "", NULL, sk_help_for("stats"))) != -1) {
                if (c == 'h')
                        return SK_EXIT_OK;
                return SK_EXIT_USAGE;
        }
        if (argc - optind > 1)
                return sk_cli_usage_error(cli, "expects at most one backup ID");
        const char *id = argc - optind == 1 ? argv[optind] : NULL;
        sk_cli_setup(cli);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        char full[SK_BACKUP_ID_HEX + 1];
        if (id) {
                int r = sk_backup_resolve(repo, id, full);
                if (r < 0)
                        return resolve_fail(cli, r, id);
                id = full;
        }
        sk_stats st = {};
        int r = sk_stats_compute(repo, id, sk_cli_progress_cb, cli, &st);
        sk_cli_progress_done(cli);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot compute statistics of %s", cli->repo_url);
        sk_repo_stats rs = {};
        r = sk_repo_get_stats(repo, &rs);
        if (r < 0)
                return sk_cli_fail(cli, r, "cannot read repository statistics of %s", cli->repo_url);
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "backup", id);
                sk_json_kv_u64(j, "backups", st.backups);
                sk_json_kv_u64(j, "files", st.files);
                sk_json_kv_u64(j, "total_size", st.total_size);
                sk_json_kv_u64(j, "trees", st.trees);
                sk_json_kv_u64(j, "blobs", st.blobs);
                sk_json_kv_u64(j, "unique_size", st.unique_size);
                sk_json_kv_u64(j, "stored_size", st.stored_size);
                sk_json_kv_u64(j, "packs", st.packs);
                sk_json_kv_double(j, "dedup_ratio", st.dedup_ratio);
                sk_json_kv_double(j, "compression_ratio", st.compression_ratio);
                sk_json_key(j, "repository");
                sk_json_begin_object(j);
                sk_json_kv_u64(j, "pack_count", rs.pack_count);
                sk_json_kv_u64(j, "pack_bytes", rs.pack_bytes);
                sk_json_kv_u64(j, "index_files", rs.index_files);
                sk_json_kv_u64(j, "index_files_bad", rs.index_files_bad);
                sk_json_kv_u64(j, "blob_count", rs.blob_count);
                sk_json_kv_u64(j, "blob_raw_bytes", rs.blob_raw_bytes);
                sk_json_kv_u64(j, "blob_stored_bytes", rs.blob_stored_bytes);
                sk_json_kv_u64(j, "data_blobs", rs.data_blobs);
                sk_json_kv_u64(j, "tree_blobs", rs.tree_blobs);
                sk_json_end_object(j);
                sk_json_end_object(j);
        } else {
                char a[32], b[32], d[32], p[32];
                printf("backups:            %llu%s%s\n", (unsigned long long) st.backups, id ? " (only " : "",
                       id ? "one)" : "");
                printf("files (all backups):%llu, %s\n", (unsigned long long) st.files,
                       sk_cli_format_size(st.total_size, a, sizeof(a)));
                printf("unique data:        %llu blobs, %s; %llu trees\n", (unsigned long long) st.blobs,
                       sk_cli_format_size(st.unique_size, b, sizeof(b)), (unsigned long long) st.trees);
                printf("stored:             %llu packs, %s\n", (unsigned long long) st.packs,
                       sk_cli_format_size(st.stored_size, d, sizeof(d)));
                printf("dedup ratio:        %.2f\n", st.dedup_ratio);
                printf("compression ratio:  %.2f\n", st.compression_ratio);
                printf("index:              %llu files (%llu corrupt), %llu blobs, %s raw\n",
                       (unsigned long long) rs.index_files, (unsigned long long) rs.index_files_bad,
                       (unsigned long long) rs.blob_count, sk_cli_format_size(rs.blob_raw_bytes, p, sizeof(p)));
        }
        return SK_EXIT_OK;
}
