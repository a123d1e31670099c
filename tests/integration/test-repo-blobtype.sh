#!/usr/bin/env bash
# A file's content must not break later backups (hardening defect 4): blob
# ids are the HMAC of the plaintext alone, so a file holding exactly the
# 12-byte encoding of an empty directory's tree ("SKTR", version 1, leaf,
# no flags, 0 entries; docs/FORMAT-tree.md) has that tree's id. Before blob
# types were part of blob identity, a later backup of any empty directory
# deduplicated its tree against the file's data blob and reported "saved",
# but its restore failed ("blob is not of type tree"), check reported damage
# and prune refused for as long as the backup was kept. The sequence, through
# the CLI:
#   1. back up a directory holding that file;
#   2. back up an empty directory;
#   3. the second backup restores, check --read-data is clean, prune runs;
#      the first still restores the file byte for byte.
set -u
. "$(dirname "$0")/../lib/repo.sh"
sk_repo_setup

expect_rc 0 "repo init" sk_init
mkdir -p "$T/a" "$T/b/empty"
printf 'SKTR\001\000\000\000\000\000\000\000' >"$T/a/f"
[ "$(stat -c %s "$T/a/f")" -eq 12 ] || notok "test file is not 12 bytes"
id1=$(sk backup --json "$T/a" | jq -r .id)
[ -n "$id1" ] && [ "$id1" != null ] && ok "backup of a file holding an empty directory's tree encoding" ||
  notok "backup of the file failed"
id2=$(sk backup --json "$T/b" | jq -r .id)
[ -n "$id2" ] && [ "$id2" != null ] && [ "$id2" != "$id1" ] && ok "backup of an empty directory reports saved" ||
  notok "backup of the empty directory failed"

expect_rc 0 "the empty directory's backup restores" sk restore "$id2" --target "$T/r2"
[ -d "$T/r2/b/empty" ] && [ -z "$(ls -A "$T/r2/b/empty")" ] && ok "the empty directory is restored" ||
  notok "the empty directory is missing after restore"
expect_rc 0 "the file's backup restores" sk restore "$id1" --target "$T/r1"
cmp -s "$T/a/f" "$T/r1/a/f" && ok "the file is restored byte for byte" || notok "the restored file differs"
expect_rc 0 "check --read-data is clean" sk check --read-data -q
expect_rc 0 "prune runs" sk prune -q
expect_rc 0 "check --read-data is clean after prune" sk check --read-data -q
expect_rc 0 "the empty directory's backup restores after prune" sk restore "$id2" --target "$T/r3"
sk_finish
