/* snapkeep backup; the restore of a directory-tree backup (snapkeep restore parses its options once in cmd-ctimage.c and routes here). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup.h"
#include "repo/repo.h"
#include "backup/restore.h"
#include "cli/cli.h"
#include "cli/daemon-client.h"
#include "common/macro.h"
#include "io/ioengine.h"


enum {
        OPT_TAG = SK_OPT_FIRST_COMMAND_OPTION,
        OPT_HOST,
        OPT_PARENT,
        OPT_NO_PARENT,
        OPT_FORCE,
        OPT_WORKERS,
        OPT_COMPRESSION,
        OPT_LOCK_WAIT,
        OPT_IO,
};

/* Resolve --io (or $SNAPKEEP_IO, else auto) to the backend that will really
 * run, by opening a small engine once, and say once which one and why. */
static int resolve_io(sk_cli *cli, const char *arg, sk_io_backend *ret) {
        sk_io_backend b = SK_IO_AUTO;
        if (!arg) {
                arg = getenv("SNAPKEEP_IO");
                if (arg && !*arg)
                        arg = NULL;
        }
        if (arg && sk_io_backend_from_string(arg, &b) < 0)
                return sk_cli_usage_error(cli, "--io wants uring, threads or auto, not '%s'", arg);
        sk_io *probe = NULL;
        int r = sk_io_new(&(sk_io_options){ .backend = b, .queue_depth = 4 }, &probe);
        if (r < 0)
                return sk_cli_fail(cli, r, "--io=%s: io_uring is not available", sk_io_backend_name(b));
        if (!cli->quiet)
                fprintf(stderr, "%s %s: I/O engine: %s\n", cli->prog, cli->command, sk_io_reason(probe));
        *ret = sk_io_get_backend(probe);
        sk_io_free(probe);
        return SK_EXIT_OK;
}

int sk_cmd_backup(sk_cli *cli, int argc, char **argv) {
        /* Live snapshots go through snapkeepd (cli/cmd-daemon.c). */
        if (sk_container_backup_wanted(argc, argv))
                return sk_cmd_container_backup(cli, argc, argv);
        static const struct option opts[] = {
                { "tag", required_argument, NULL, OPT_TAG },
                { "host", required_argument, NULL, OPT_HOST },
                { "parent", required_argument, NULL, OPT_PARENT },
                { "no-parent", no_argument, NULL, OPT_NO_PARENT },
                { "force", no_argument, NULL, OPT_FORCE },
                { "workers", required_argument, NULL, OPT_WORKERS },
                { "compression", required_argument, NULL, OPT_COMPRESSION },
                { "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
                { "io", required_argument, NULL, OPT_IO },
                {}
        };
        _cleanup_free_ const char **tags = NULL;
        const char *io_arg = NULL;
        size_t n_tags = 0;
        sk_backup_options bo = {};
        int level = 0, c;
        cli->command = "backup";
        while ((c = sk_cli_getopt(cli, argc, argv, "t:", opts, sk_help_for("backup"))) != -1) {
                uint64_t v;
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case 't':
                case OPT_TAG: {
                        if (!*optarg)
                                return sk_cli_usage_error(cli, "empty --tag");
                        int e = sk_cli_list_add(cli, &tags, &n_tags, optarg);
                        if (e != SK_EXIT_OK)
                                return e;
                        break;
                }
                case OPT_HOST: bo.hostname = optarg; break;
                case OPT_PARENT: bo.parent = optarg; break;
                case OPT_NO_PARENT: bo.no_parent = true; break;
                case OPT_FORCE: bo.force_read = true; break;
                case OPT_WORKERS:
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v < 1 || v > 256)
                                return sk_cli_usage_error(cli, "--workers wants 1..256, not %s", optarg);
                        bo.workers = (unsigned) v;
                        break;
                case OPT_COMPRESSION:
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v < 1 || v > 19)
                                return sk_cli_usage_error(cli, "--compression wants a zstd level 1..19, not %s",
                                                          optarg);
                        level = (int) v;
                        break;
                case OPT_LOCK_WAIT:
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v > 86400)
                                return sk_cli_usage_error(cli, "invalid --lock-wait: %s (seconds)", optarg);
                        bo.lock_wait_seconds = (unsigned) v;
                        break;
                case OPT_IO: io_arg = optarg; break;
                default: return SK_EXIT_USAGE;
                }
        }
        if (optind >= argc)
                return sk_cli_usage_error(cli, "nothing to back up: give one or more directories or files");
        if (bo.parent && bo.no_parent)
                return sk_cli_usage_error(cli, "--parent and --no-parent exclude each other");
        sk_cli_setup(cli);
        int e = resolve_io(cli, io_arg, &bo.io_backend);
        if (e != SK_EXIT_OK)
                return e;

        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        if (level > 0) {
                int r = sk_repo_set_zstd_level(repo, level);
                if (r < 0)
                        return sk_cli_fail(cli, r, "cannot set compression level %d", level);
        }
        bo.sources = (const char *const *) (argv + optind);
        bo.n_sources = (size_t) (argc - optind);
        bo.tags = tags;
        bo.n_tags = n_tags;
        bo.progress = sk_cli_progress_cb;
        bo.problem = sk_cli_problem_cb;
        bo.userdata = cli;

        sk_cli_json_problems_begin(cli, NULL);
        sk_backup_result res = {};
        int r = sk_backup_run(repo, &bo, &res);
        sk_cli_progress_done(cli);
        sk_cli_json_problems_end(cli);
        if (r < 0) {
                if (cli->json) {
                        sk_json_kv_str(&cli->js, "error", strerror(-r));
                        sk_json_end_object(&cli->js);
                }
                if (r == -EBUSY)
                        return sk_cli_fail(cli, r, "cannot back up into %s: it is locked (a prune or index "
                                                   "rebuild is running)",
                                           cli->repo_url);
                if (r == -ENOENT)
                        return sk_cli_fail(cli, r, "backup failed (a source or the --parent backup does not "
                                                   "exist); nothing was saved");
                return sk_cli_fail(cli, r, "backup into %s failed; nothing was saved", cli->repo_url);
        }
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_kv_str(j, "id", res.id);
                sk_json_kv_str(j, "parent", *res.parent_id ? res.parent_id : NULL);
                sk_json_key(j, "summary");
                sk_cli_summary_json(j, &res.summary);
                sk_json_kv_u64(j, "bytes_read", res.bytes_read);
                sk_json_kv_u64(j, "blobs_added", res.blobs_added);
                sk_json_kv_u64(j, "warnings", res.warnings);
                sk_json_end_object(j);
        } else if (!cli->quiet) {
                const sk_backup_summary *s = &res.summary;
                char a[32], b[32], d[32], rd[32];
                printf("backup %s saved", res.id);
                if (*res.parent_id)
                        printf(" (parent %.16s)", res.parent_id);
                putchar('\n');
                printf("  files: %llu new, %llu changed, %llu unmodified; %llu directories\n",
                       (unsigned long long) s->files_new, (unsigned long long) s->files_changed,
                       (unsigned long long) s->files_unmodified, (unsigned long long) s->dirs);
                printf("  %s in %llu entries, %s read, %s added (%s stored) in %.2f s\n",
                       sk_cli_format_size(s->bytes, a, sizeof(a)), (unsigned long long) s->files,
                       sk_cli_format_size(res.bytes_read, rd, sizeof(rd)),
                       sk_cli_format_size(s->added_bytes, b, sizeof(b)),
                       sk_cli_format_size(s->added_stored, d, sizeof(d)), (double) s->duration_ns / 1e9);
        }
        if (res.summary.errors > 0) {
                fprintf(stderr, "%s backup: %llu entries could not be read and are missing from backup %s\n",
                        cli->prog, (unsigned long long) res.summary.errors, res.id);
                return SK_EXIT_INTEGRITY;
        }
        return SK_EXIT_OK;
}

int sk_cli_restore_tree(sk_cli *cli, const char *id, sk_restore_options *opts, const char *io_arg) {
        sk_restore_options ro = *opts;
        sk_cli_setup(cli);
        int e = resolve_io(cli, io_arg, &ro.io_backend);
        if (e != SK_EXIT_OK)
                return e;

        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        ro.progress = sk_cli_progress_cb;
        ro.problem = sk_cli_problem_cb;
        ro.userdata = cli;
        sk_cli_json_problems_begin(cli, NULL);
        sk_restore_result res = {};
        int r = sk_restore_run(repo, id, &ro, &res);
        sk_cli_progress_done(cli);
        sk_cli_json_problems_end(cli);
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_kv_str(j, "backup", id);
                sk_json_path(j, "target", ro.target);
                sk_json_kv_u64(j, "files", res.files);
                sk_json_kv_u64(j, "dirs", res.dirs);
                sk_json_kv_u64(j, "bytes", res.bytes);
                sk_json_kv_u64(j, "errors", res.errors);
                sk_json_kv_u64(j, "warnings", res.warnings);
                if (r < 0)
                        sk_json_kv_str(j, "error", strerror(-r));
                sk_json_end_object(j);
        }
        if (r == -EIO && res.errors > 0) {
                fprintf(stderr,
                        "%s restore: %llu entries of backup %s could not be restored (see the errors above); "
                        "everything else was restored to ",
                        cli->prog, (unsigned long long) res.errors, id);
                sk_cli_put_name(stderr, ro.target);
                fputc('\n', stderr);
                if (cli->exists)
                        fprintf(stderr, "%s restore: %llu entries already existed in the target; use --overwrite to "
                                        "replace them\n",
                                cli->prog, (unsigned long long) cli->exists);
                return SK_EXIT_INTEGRITY;
        }
        if (r == -ENOENT)
                return sk_cli_fail(cli, r, "no backup %s, or an --include path is not in it", id);
        if (r == -ENOTUNIQ)
                return sk_cli_fail(cli, r, "backup id prefix %s matches several backups", id);
        if (r == -EBADMSG)
                return sk_cli_fail(cli, r, "cannot read backup %s", id);
        if (r < 0)
                return sk_cli_fail(cli, r, "restore of backup %s failed", id);
        if (!cli->json && !cli->quiet) {
                char a[32];
                printf("restored %llu files and %llu directories (%s) to ", (unsigned long long) res.files,
                       (unsigned long long) res.dirs, sk_cli_format_size(res.bytes, a, sizeof(a)));
                sk_cli_put_name(stdout, ro.target);
                putchar('\n');
        }
        return SK_EXIT_OK;
}
