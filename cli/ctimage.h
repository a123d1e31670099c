/* Commands on container backups that only read the repository (no daemon):
 *   snapkeep restore ID --target DIR [--layer]   (container/layer backups;
 *        any other backup is handed to the plain restore command)
 *   snapkeep export ID --oci-archive FILE --ref NAME[:TAG]
 * A container backup (tag snapkeep:container, or snapkeep:layer for an image
 * layer) holds the upper directory as overlayfs stores it under "fs/"; the
 * sealed object containers/<id> lists the layer backups below it, bottom
 * first (docs/FORMAT.md, "Container objects"). Both are read through
 * container/record.h, the one codec snapkeepd uses too: nothing here parses
 * or checks that format a second time. */
#pragma once

#include "cli/cli.h"

int sk_cmd_restore(sk_cli *cli, int argc, char **argv);
int sk_cmd_export(sk_cli *cli, int argc, char **argv);
