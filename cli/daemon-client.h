/* The client of snapkeepd's admin socket, and the commands built on it.
 * Commands that touch live snapshots (container backups, daemon status,
 * events, restores through the daemon) talk to snapkeepd's control API
 * (proto/control.proto) instead of opening the repository themselves.
 *
 * DESIGN: a minimal unary/server-streaming gRPC client on the C core (one
 * channel and a pluck queue per call; the CLI makes a handful of calls), and
 * renderers for text and --json. The socket comes from --admin-socket, then
 * $SNAPKEEP_ADMIN_SOCKET, then /run/snapkeep/admin.sock. */
#pragma once

#include <stdbool.h>

#include "cli/cli.h"

#define SK_CLI_DEFAULT_ADMIN_SOCKET "/run/snapkeep/admin.sock"

/* True if argv (a `backup` command line) asks for a daemon backup: it has
 * --container, --snapshot or --all. */
bool sk_container_backup_wanted(int argc, char **argv);

/* snapkeep backup --container ID [--namespace NS] | --snapshot KEY | --all
 *                 [--tag T]... [--admin-socket P] [--json] */
int sk_cmd_container_backup(sk_cli *cli, int argc, char **argv);

/* snapkeep daemon status | backups | events [--follow] | restore ID --target DIR
 *                 [--admin-socket P] [--json] */
int sk_cmd_daemon(sk_cli *cli, int argc, char **argv);
