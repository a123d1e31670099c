/* snapkeep check, forget, prune. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/check.h"
#include "backup/forget.h"
#include "backup/manifest.h"
#include "repo/lock.h"
#include "backup/prune.h"
#include "repo/repo.h"
#include "cli/cli.h"
#include "common/macro.h"


enum {
        OPT_READ_DATA = SK_OPT_FIRST_COMMAND_OPTION,
        OPT_READ_DATA_SUBSET,
        OPT_SEED,
        OPT_KEEP_LAST,
        OPT_KEEP_HOURLY,
        OPT_KEEP_DAILY,
        OPT_KEEP_WEEKLY,
        OPT_KEEP_MONTHLY,
        OPT_KEEP_YEARLY,
        OPT_KEEP_TAG,
        OPT_PRUNE,
        OPT_DRY_RUN,
        OPT_REPACK_BELOW,
        OPT_LOCK_WAIT,
        OPT_GRACE,
};

/* --- check ------------------------------------------------------------------- */

int sk_cmd_check(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "read-data", no_argument, NULL, OPT_READ_DATA },
                { "read-data-subset", required_argument, NULL, OPT_READ_DATA_SUBSET },
                { "seed", required_argument, NULL, OPT_SEED },
                { "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
                {}
        };
        sk_check_options co = {};
        int c;
        cli->command = "check";
        cli->lock_wait = SK_CLI_READ_LOCK_WAIT;
        /* check verifies the repository itself, never a node's local copy of
         * its metadata (the S3 metadata cache, docs/S3.md) */
        cli->no_cache = true;
        while ((c = sk_cli_getopt(cli, argc, argv, "", opts, sk_help_for("check"))) != -1) {
                uint64_t v;
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_READ_DATA: co.read_data = true; break;
                case OPT_READ_DATA_SUBSET: {
                        char buf[32];
                        size_t l = strlen(optarg);
                        if (l == 0 || l >= sizeof(buf))
                                return sk_cli_usage_error(cli, "invalid --read-data-subset: %s", optarg);
                        memcpy(buf, optarg, l + 1);
                        if (buf[l - 1] == '%')
                                buf[l - 1] = 0;
                        if (sk_cli_parse_u64(buf, &v) < 0 || v < 1 || v > 100)
                                return sk_cli_usage_error(cli, "--read-data-subset wants 1%%..100%%, not %s",
                                                          optarg);
                        co.read_data_subset_pct = (unsigned) v;
                        break;
                }
                case OPT_SEED:
                        if (sk_cli_parse_u64(optarg, &v) < 0)
                                return sk_cli_usage_error(cli, "invalid --seed: %s", optarg);
                        co.subset_seed = v;
                        break;
                case OPT_LOCK_WAIT:
                        if (sk_cli_parse_lock_wait(cli, optarg) != SK_EXIT_OK)
                                return SK_EXIT_USAGE;
                        break;
                default: return SK_EXIT_USAGE;
                }
        }
        if (optind != argc)
                return sk_cli_usage_error(cli, "unexpected argument: %s", argv[optind]);
        if (co.read_data && co.read_data_subset_pct)
                return sk_cli_usage_error(cli, "give --read-data or --read-data-subset, not both");
        sk_cli_setup(cli);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        co.progress = sk_cli_progress_cb;
        co.problem = sk_cli_problem_cb;
        co.userdata = cli;
        co.lock_wait_seconds = cli->lock_wait;
        sk_cli_json_problems_begin(cli, NULL);
        sk_check_result res = {};
        int r = sk_check_run(repo, &co, &res);
        sk_cli_progress_done(cli);
        sk_cli_json_problems_end(cli);
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_kv_u64(j, "backups", res.backups);
                sk_json_kv_u64(j, "trees", res.trees);
                sk_json_kv_u64(j, "blobs_referenced", res.blobs_referenced);
                sk_json_kv_u64(j, "packs", res.packs);
                sk_json_kv_u64(j, "packs_read", res.packs_read);
                sk_json_kv_u64(j, "blobs_read", res.blobs_read);
                sk_json_kv_u64(j, "errors", res.errors);
                sk_json_kv_u64(j, "warnings", res.warnings);
                sk_json_kv_bool(j, "ok", r == 0);
                sk_json_end_object(j);
        }
        if (r < 0 && r != -EBADMSG)
                return sk_cli_fail(cli, r, "check of %s could not run", cli->repo_url);
        if (!cli->json && !cli->quiet) {
                printf("checked %llu backups, %llu trees, %llu referenced blobs, %llu packs", (unsigned long long) res.backups,
                       (unsigned long long) res.trees, (unsigned long long) res.blobs_referenced,
                       (unsigned long long) res.packs);
                if (co.read_data || co.read_data_subset_pct)
                        printf("; read %llu packs, %llu blobs", (unsigned long long) res.packs_read,
                               (unsigned long long) res.blobs_read);
                putchar('\n');
        }
        if (r == -EBADMSG || res.errors > 0) {
                fprintf(stderr, "%s check: %llu errors found in %s: the repository is damaged (see above)\n",
                        cli->prog, (unsigned long long) res.errors, cli->repo_url);
                return SK_EXIT_INTEGRITY;
        }
        if (!cli->json && !cli->quiet)
                printf("no errors found%s\n", res.warnings ? " (warnings above; 'snapkeep prune' removes unreferenced data)" : "");
        return SK_EXIT_OK;
}

/* --- prune ------------------------------------------------------------------- */

/* --grace DURATION: N with an optional unit s, m, h or d; 0 allowed. */
static int parse_grace(sk_cli *cli, const char *arg, int64_t *ret) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        uint64_t mul = 1;
        if (end && *end && !end[1])
                mul = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
        else if (end && *end)
                mul = 0;
        if (errno || end == arg || arg[0] == '-' || mul == 0 || v > 365ULL * 86400 / mul)
                return sk_cli_usage_error(cli, "invalid --grace: %s (e.g. 0, 90m, 2h, 1d; at most 365d)", arg);
        *ret = (int64_t) (v * mul);
        return 0;
}

/* grace: < 0 default, 0 delete at once, else seconds */
static int run_prune(sk_cli *cli, sk_repo *repo, unsigned repack_below, bool dry_run, bool in_json_object,
                     int64_t grace) {
        sk_prune_options po = {
                .repack_below_pct = repack_below,
                .dry_run = dry_run,
                .grace_seconds = grace > 0 ? (uint64_t) grace : 0,
                .no_grace = grace == 0,
                .lock_wait_seconds = cli->lock_wait,
                .progress = sk_cli_progress_cb,
                .problem = sk_cli_problem_cb,
                .userdata = cli,
        };
        sk_prune_result res = {};
        int r;
        sk_cli_json_problems_begin(cli, in_json_object ? "prune" : NULL);
        r = sk_prune_run(repo, &po, &res);
        sk_cli_progress_done(cli);
        sk_cli_json_problems_end(cli);
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_kv_bool(j, "dry_run", dry_run);
                sk_json_kv_u64(j, "backups", res.backups);
                sk_json_kv_u64(j, "blobs_live", res.blobs_live);
                sk_json_kv_u64(j, "blobs_removed", res.blobs_removed);
                sk_json_kv_u64(j, "packs_deleted", res.packs_deleted);
                sk_json_kv_u64(j, "packs_repacked", res.packs_repacked);
                sk_json_kv_u64(j, "packs_unindexed_deleted", res.packs_unindexed_deleted);
                sk_json_kv_u64(j, "bytes_freed", res.bytes_freed);
                sk_json_kv_u64(j, "blobs_retyped", res.blobs_retyped);
                sk_json_kv_u64(j, "packs_trashed", res.packs_trashed);
                sk_json_kv_u64(j, "bytes_trashed", res.bytes_trashed);
                sk_json_kv_u64(j, "packs_waiting", res.packs_waiting);
                sk_json_kv_u64(j, "packs_undeleted", res.packs_undeleted);
                sk_json_kv_u64(j, "index_entries_missing", res.index_entries_missing);
                sk_json_kv_u64(j, "next_delete_seconds", res.next_delete_seconds);
                if (r < 0)
                        sk_json_kv_str(j, "error", r == -EBUSY ? "locked" : strerror(-r));
                sk_json_end_object(j);
        }
        if (r == -EBUSY)
                return sk_cli_fail(cli, r,
                                   "prune refused: repository %s is in use by a backup (or another prune); "
                                   "nothing was changed; try again later or use --lock-wait SECONDS",
                                   cli->repo_url);
        if (r == -EBADMSG)
                return sk_cli_fail(cli, r,
                                   "prune stopped without deleting anything: a backup could not be read "
                                   "(run 'snapkeep check')");
        if (r == -ESTALE)
                return sk_cli_fail(cli, r, "prune stopped: it lost its lock (stopped or suspended too long?); "
                                           "what it did so far is consistent, run it again");
        if (r < 0)
                return sk_cli_fail(cli, r, "prune of %s failed", cli->repo_url);
        if (!cli->json && !cli->quiet) {
                char a[32], b[32];
                printf("%s%llu backups, %llu live blobs; removed %llu blobs; deleted %llu packs (%llu crash "
                       "leftovers), repacked %llu; %s freed\n",
                       dry_run ? "dry run (nothing changed): " : "", (unsigned long long) res.backups,
                       (unsigned long long) res.blobs_live, (unsigned long long) res.blobs_removed,
                       (unsigned long long) res.packs_deleted, (unsigned long long) res.packs_unindexed_deleted,
                       (unsigned long long) res.packs_repacked, sk_cli_format_size(res.bytes_freed, a, sizeof(a)));
                if (res.blobs_retyped)
                        printf("%s %llu blobs an older snapkeep had deduplicated across blob types under the "
                               "type their backups need\n", dry_run ? "would store" : "stored",
                               (unsigned long long) res.blobs_retyped);
                if (res.packs_trashed || res.packs_waiting)
                        printf("%s%llu packs (%s) marked for deletion, %llu marked earlier; a prune in %llus or "
                               "later deletes those still unreferenced then\n",
                               dry_run ? "would be: " : "", (unsigned long long) res.packs_trashed,
                               sk_cli_format_size(res.bytes_trashed, b, sizeof(b)),
                               (unsigned long long) res.packs_waiting,
                               (unsigned long long) res.next_delete_seconds);
                if (res.packs_undeleted)
                        printf("%llu marked packs are referenced again and were kept\n",
                               (unsigned long long) res.packs_undeleted);
                if (res.index_entries_missing)
                        printf("%llu index entries named missing packs and were dropped\n",
                               (unsigned long long) res.index_entries_missing);
        }
        return cli->problems ? SK_EXIT_INTEGRITY : SK_EXIT_OK;
}

int sk_cmd_prune(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "dry-run", no_argument, NULL, OPT_DRY_RUN },
                { "repack-below", required_argument, NULL, OPT_REPACK_BELOW },
                { "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
                { "grace", required_argument, NULL, OPT_GRACE },
                {}
        };
        bool dry_run = false;
        unsigned repack = 0;
        int64_t grace = -1;
        int c;
        cli->command = "prune";
        while ((c = sk_cli_getopt(cli, argc, argv, "n", opts, sk_help_for("prune"))) != -1) {
                uint64_t v;
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case 'n':
                case OPT_DRY_RUN: dry_run = true; break;
                case OPT_REPACK_BELOW:
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v < 1 || v > 100)
                                return sk_cli_usage_error(cli, "--repack-below wants 1..100 (percent), not %s",
                                                          optarg);
                        repack = (unsigned) v;
                        break;
                case OPT_LOCK_WAIT:
                        if (sk_cli_parse_lock_wait(cli, optarg) != SK_EXIT_OK)
                                return SK_EXIT_USAGE;
                        break;
                case OPT_GRACE:
                        if (parse_grace(cli, optarg, &grace))
                                return SK_EXIT_USAGE;
                        break;
                default: return SK_EXIT_USAGE;
                }
        }
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_finish_and_open(cli, argc, argv, &repo);
        if (e != SK_EXIT_OK)
                return e;
        return run_prune(cli, repo, repack, dry_run, false, grace);
}

/* --- forget ------------------------------------------------------------------ */

static void reasons_text(unsigned r, char *buf, size_t size) {
        static const char *const names[] = { "last", "hourly", "daily", "weekly", "monthly", "yearly", "tag",
                                             "no policy" };
        size_t n = 0;
        buf[0] = 0;
        for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
                if (r & (1u << i))
                        n += (size_t) snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? "," : "", names[i]);
}

static void forget_cb(const sk_manifest *m, unsigned reasons, void *userdata) {
        sk_cli *cli = userdata;
        char t[64], why[128];
        sk_format_time(t, sizeof(t), &m->time);
        reasons_text(reasons, why, sizeof(why));
        if (cli->json) {
                sk_json *j = &cli->js;
                sk_json_begin_object(j);
                sk_json_kv_str(j, "id", m->id);
                sk_json_key(j, "time");
                sk_json_time(j, &m->time);
                sk_json_kv_bool(j, "keep", reasons != 0);
                sk_json_key(j, "reasons");
                sk_json_begin_array(j);
                static const char *const names[] = { "last", "hourly", "daily", "weekly", "monthly", "yearly",
                                                     "tag", "no-policy" };
                for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
                        if (reasons & (1u << i))
                                sk_json_string(j, names[i]);
                sk_json_end_array(j);
                sk_json_end_object(j);
                return;
        }
        if (cli->quiet)
                return;
        printf("%-6s %.16s  %.10s %.8s  %s\n", reasons ? "keep" : "remove", m->id, t, t + 11, why);
}

int sk_cmd_forget(sk_cli *cli, int argc, char **argv) {
        static const struct option opts[] = {
                { "keep-last", required_argument, NULL, OPT_KEEP_LAST },
                { "keep-hourly", required_argument, NULL, OPT_KEEP_HOURLY },
                { "keep-daily", required_argument, NULL, OPT_KEEP_DAILY },
                { "keep-weekly", required_argument, NULL, OPT_KEEP_WEEKLY },
                { "keep-monthly", required_argument, NULL, OPT_KEEP_MONTHLY },
                { "keep-yearly", required_argument, NULL, OPT_KEEP_YEARLY },
                { "keep-tag", required_argument, NULL, OPT_KEEP_TAG },
                { "prune", no_argument, NULL, OPT_PRUNE },
                { "dry-run", no_argument, NULL, OPT_DRY_RUN },
                { "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
                { "grace", required_argument, NULL, OPT_GRACE },
                {}
        };
        sk_forget_policy pol = {};
        int64_t grace = -1;
        _cleanup_free_ const char **tags = NULL;
        bool prune = false, dry_run = false, any_rule = false;
        int c;
        cli->command = "forget";
        while ((c = sk_cli_getopt(cli, argc, argv, "n", opts, sk_help_for("forget"))) != -1) {
                uint64_t v;
                unsigned *slot = NULL;
                switch (c) {
                case 'h': return SK_EXIT_OK;
                case OPT_KEEP_LAST: slot = &pol.keep_last; break;
                case OPT_KEEP_HOURLY: slot = &pol.keep_hourly; break;
                case OPT_KEEP_DAILY: slot = &pol.keep_daily; break;
                case OPT_KEEP_WEEKLY: slot = &pol.keep_weekly; break;
                case OPT_KEEP_MONTHLY: slot = &pol.keep_monthly; break;
                case OPT_KEEP_YEARLY: slot = &pol.keep_yearly; break;
                case OPT_KEEP_TAG: {
                        int e = sk_cli_list_add(cli, &tags, &pol.n_keep_tags, optarg);
                        if (e != SK_EXIT_OK)
                                return e;
                        any_rule = true;
                        break;
                }
                case OPT_PRUNE: prune = true; break;
                case 'n':
                case OPT_DRY_RUN: dry_run = true; break;
                case OPT_LOCK_WAIT:
                        if (sk_cli_parse_lock_wait(cli, optarg) != SK_EXIT_OK)
                                return SK_EXIT_USAGE;
                        break;
                case OPT_GRACE:
                        if (parse_grace(cli, optarg, &grace))
                                return SK_EXIT_USAGE;
                        break;
                default: return SK_EXIT_USAGE;
                }
                if (slot) {
                        if (sk_cli_parse_u64(optarg, &v) < 0 || v > 1000000)
                                return sk_cli_usage_error(cli, "invalid count: %s", optarg);
                        *slot = (unsigned) v;
                        any_rule = true;
                }
        }
        pol.keep_tags = tags;
        int nids = argc - optind;
        if (!any_rule && nids == 0)
                return sk_cli_usage_error(cli, "give a policy (--keep-last N, --keep-daily N, ...) or backup IDs to "
                                               "forget");
        if (any_rule && nids > 0)
                return sk_cli_usage_error(cli, "give either a policy or backup IDs, not both");
        sk_cli_setup(cli);
        _cleanup_(sk_repo_freep) sk_repo *repo = NULL;
        int e = sk_cli_open_repo(cli, &repo);
        if (e != SK_EXIT_OK)
                return e;
        if (cli->json) {
                sk_json_begin_object(&cli->js);
                sk_json_key(&cli->js, "backups");
                sk_json_begin_array(&cli->js);
        }
        int r;
        sk_forget_result res = {};
        if (nids > 0) {
                /* Explicit ids: resolve all first, so a typo deletes nothing. */
                _cleanup_free_ char (*ids)[SK_BACKUP_ID_HEX + 1] = calloc((size_t) nids, sizeof(*ids));
                if (!ids)
                        return sk_cli_fail(cli, -ENOMEM, "out of memory");
                for (int i = 0; i < nids; i++) {
                        r = sk_backup_resolve(repo, argv[optind + i], ids[i]);
                        if (r < 0) {
                                if (cli->json) {
                                        sk_json_end_array(&cli->js);
                                        sk_json_end_object(&cli->js);
                                }
                                return sk_cli_fail(cli, r, "no unique backup %s; nothing was forgotten",
                                                   argv[optind + i]);
                        }
                }
                sk_lock *lock = NULL;
                r = dry_run ? 0 : sk_repo_lock(repo, true, cli->lock_wait, &lock);
                if (r < 0) {
                        if (cli->json) {
                                sk_json_end_array(&cli->js);
                                sk_json_end_object(&cli->js);
                        }
                        return sk_cli_fail(cli, r, "cannot lock %s to forget backups", cli->repo_url);
                }
                for (int i = 0; i < nids && r >= 0; i++) {
                        if (!dry_run)
                                r = sk_backup_delete(repo, ids[i]);
                        if (r >= 0) {
                                res.removed++;
                                if (cli->json) {
                                        sk_json_begin_object(&cli->js);
                                        sk_json_kv_str(&cli->js, "id", ids[i]);
                                        sk_json_kv_bool(&cli->js, "keep", false);
                                        sk_json_end_object(&cli->js);
                                } else if (!cli->quiet)
                                        printf("remove %s\n", ids[i]);
                        }
                }
                sk_lock_release(lock);
        } else
                r = sk_forget_run(repo, &pol, dry_run, cli->lock_wait, forget_cb, cli, &res);
        if (cli->json) {
                sk_json_end_array(&cli->js);
                sk_json_kv_bool(&cli->js, "dry_run", dry_run);
                sk_json_kv_u64(&cli->js, "kept", res.kept);
                sk_json_kv_u64(&cli->js, "removed", res.removed);
        }
        if (r < 0) {
                if (cli->json)
                        sk_json_end_object(&cli->js);
                return sk_cli_fail(cli, r, "forget in %s failed", cli->repo_url);
        }
        if (!cli->json && !cli->quiet)
                printf("%s%llu backups kept, %llu removed\n", dry_run ? "dry run (nothing changed): " : "",
                       (unsigned long long) res.kept, (unsigned long long) res.removed);
        int ret = SK_EXIT_OK;
        if (prune && !dry_run)
                ret = run_prune(cli, repo, 0, false, true, grace);
        if (cli->json)
                sk_json_end_object(&cli->js);
        return ret;
}
