#!/usr/bin/env bash
# snapkeep setup containerd (issue 13), against a real containerd 1.6: each
# edited config is one containerd starts with (on scratch root, state and
# socket given as flags) and whose `ctr plugins ls` lists snapkeep's
# snapshotter as ok, with snapkeepd serving the socket the entry names:
#
#  - containerd's default config (`containerd config default`), with --cri:
#    the CRI plugin then uses snapkeep and keeps the snapshot annotations;
#  - a config that already has another proxy plugin, comments and settings
#    of its own: all of them kept byte for byte;
#  - a config already edited: the second run changes nothing (same bytes, no
#    backup copy);
#  - no config at all: one is created;
#  - bad input: a malformed config (the error names the line), a version 1
#    config, an entry defined as an inline table, and a config containerd
#    rejects after the edit: each exits 2 and leaves the file as it was.
set -u
SK_SRC=${SK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
SNAPKEEP=${SNAPKEEP:-$BUILD_DIR/snapkeep}
[ -n "${SNAPKEEP_ASAN:-}" ] && [ -x "$SNAPKEEP_ASAN" ] && SNAPKEEP=$SNAPKEEP_ASAN
export SNAPKEEPD SK_SRC
. "$SK_SRC/tests/lib/containerd.sh"
sk_require_env
[ -x "$SNAPKEEP" ] || sk_skip "snapkeep not built at $SNAPKEEP"
sk_tmp_init
sk_snapkeepd_start a --config '' || { sk_notok "snapkeepd starts"; sk_finish; }
SOCK=$(sk_sock a)
D=$SK_TMP/cfg
mkdir -p "$D"
setup() { "$SNAPKEEP" setup containerd --socket "$SOCK" "$@"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }

# boots CONFIG NAME: containerd starts with CONFIG and lists snapkeep as ok.
boots() {
  local cfg=$1 dir=$SK_TMP/ctrd-$2 pid ok=1
  mkdir -p "$dir"
  containerd --config "$cfg" --root "$dir/root" --state "$dir/state" --address "$dir/c.sock" \
    >"$dir/log" 2>&1 &
  pid=$!
  if sk_retry 30 ctr --address "$dir/c.sock" version >/dev/null 2>&1; then
    ctr --address "$dir/c.sock" plugins ls >"$dir/plugins" 2>&1
    grep -Eq '^io\.containerd\.snapshotter\.v1[[:space:]]+snapkeep[[:space:]].*[[:space:]]ok[[:space:]]*$' "$dir/plugins" || ok=0
  else
    ok=0
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  sk_umount_under "$dir"
  [ $ok = 1 ] || { echo "# containerd with $cfg:"; tail -5 "$dir/log" "$dir/plugins" 2>/dev/null | sed 's/^/#   /'; }
  [ $ok = 1 ]
}

# --- containerd's default config, with --cri --------------------------------------------------
containerd config default >"$D/default.toml"
cp "$D/default.toml" "$D/default.orig"
out=$(setup --config "$D/default.toml" --cri --dry-run 2>&1); rc=$?
[ $rc = 0 ] && grep -q "would edit" <<<"$out" && [ "$(sum "$D/default.toml")" = "$(sum "$D/default.orig")" ] &&
  sk_ok "--dry-run prints the edits and writes nothing" || sk_notok "--dry-run (exit $rc)" "$out"
out=$(setup --config "$D/default.toml" --cri --json 2>&1); rc=$?
[ $rc = 0 ] && [ "$(jq -r '.changed and .validated' <<<"$out")" = true ] &&
  sk_ok "default config: edited and checked by containerd ($(jq -r '.edits | length' <<<"$out") edits)" ||
  sk_notok "setup on the default config (exit $rc)" "$out"
bak=$(jq -r '.backup' <<<"$out")
[ -f "$bak" ] && cmp -s "$bak" "$D/default.orig" && sk_ok "the old config is kept as $(basename "$bak")" ||
  sk_notok "backup copy $bak"
changed=$(diff "$D/default.orig" "$D/default.toml" | grep -c '^<')
[ "$changed" = 2 ] && sk_ok "only the two CRI lines changed in place (the rest appended)" ||
  sk_notok "default config: $changed lines changed" "$(diff "$D/default.orig" "$D/default.toml")"
dump=$(containerd --config "$D/default.toml" config dump 2>&1)
grep -q 'snapshotter = "snapkeep"' <<<"$dump" && grep -q 'disable_snapshot_annotations = false' <<<"$dump" &&
  sk_ok "containerd reads: CRI snapshotter snapkeep, snapshot annotations on" || sk_notok "CRI settings in the dump"
boots "$D/default.toml" default && grep -Eq '^io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]].*[[:space:]]ok[[:space:]]*$' \
  "$SK_TMP/ctrd-default/plugins" && sk_ok "containerd starts with it and lists snapkeep and the CRI plugin ok" ||
  sk_notok "containerd with the edited default config"

# --- another proxy plugin, comments, settings of its own --------------------------------------------
cat >"$D/other.toml" <<'EOF'
# site config: do not lose this comment
version = 2
oom_score = -999

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.local/pause:3.6" # pinned

[proxy_plugins]
  [proxy_plugins.stargz]
    type = "snapshot"
    address = "/run/containerd-stargz-grpc/containerd-stargz-grpc.sock"
EOF
cp "$D/other.toml" "$D/other.orig"
out=$(setup --config "$D/other.toml" 2>&1) && sk_ok "config with another proxy plugin: edited" ||
  sk_notok "setup on a config with another proxy plugin" "$out"
[ "$(head -c "$(wc -c <"$D/other.orig")" "$D/other.toml" | sum /dev/stdin)" = "$(sum "$D/other.orig")" ] &&
  sk_ok "every byte of it kept (only appended to)" || sk_notok "the config's own lines changed" "$(diff "$D/other.orig" "$D/other.toml")"
boots "$D/other.toml" other && grep -Eq 'snapshotter\.v1[[:space:]]+stargz' "$SK_TMP/ctrd-other/plugins" &&
  sk_ok "containerd starts with it and lists both stargz and snapkeep" || sk_notok "containerd with both proxy plugins"

# --- already edited: nothing changes ------------------------------------------------------------------
before=$(sum "$D/other.toml"); n_bak=$(ls "$D" | grep -c snapkeep-backup)
out=$(setup --config "$D/other.toml" 2>&1); rc=$?
[ $rc = 0 ] && grep -q "nothing to change" <<<"$out" && [ "$(sum "$D/other.toml")" = "$before" ] &&
  [ "$(ls "$D" | grep -c snapkeep-backup)" = "$n_bak" ] &&
  sk_ok "the second run changes nothing (same bytes, no new copy): $out" || sk_notok "second run (exit $rc)" "$out"
out=$(setup --config "$D/default.toml" --cri 2>&1) && grep -q "nothing to change" <<<"$out" &&
  sk_ok "the default config's second run with --cri changes nothing" || sk_notok "second run with --cri" "$out"

# --- no config yet --------------------------------------------------------------------------------------
out=$(setup --config "$D/new/config.toml" 2>&1) && [ -f "$D/new/config.toml" ] &&
  grep -qx 'version = 2' "$D/new/config.toml" && sk_ok "a missing config is created" || sk_notok "missing config" "$out"
boots "$D/new/config.toml" new && sk_ok "containerd starts with the created config" || sk_notok "the created config"

# --- bad input: exit 2, the file as it was ------------------------------------------------------------------
refused() { # NAME TEXT EXPECT
  printf '%b' "$2" >"$D/$1.toml"
  local s; s=$(sum "$D/$1.toml")
  out=$(setup --config "$D/$1.toml" 2>&1); rc=$?
  [ $rc = 2 ] && grep -q -- "$3" <<<"$out" && [ "$(sum "$D/$1.toml")" = "$s" ] &&
    [ -z "$(ls "$D" | grep "^$1.toml.snapkeep-backup")" ] &&
    sk_ok "$1: refused, unchanged: $(head -1 <<<"$out" | cut -c1-150)" || sk_notok "$1 (exit $rc)" "$out"
}
refused malformed 'version = 2\n[proxy_plugins\n  x = 1\n' "line 2"
refused version1 '[plugins.cri]\n  sandbox_image = "x"\n' "version 1"
refused inline 'version = 2\n[proxy_plugins]\n  snapkeep = { type = "snapshot" }\n' "inline table"
refused rejected 'version = 2\n[proxy_plugins.snapkeep]\n  type = "snapshot"\n[proxy_plugins.snapkeep]\n' \
  "containerd rejects"
ln -s "$D/nowhere/config.toml" "$D/dangling.toml"
out=$(setup --config "$D/dangling.toml" 2>&1); rc=$?
[ $rc -ne 0 ] && [ -L "$D/dangling.toml" ] && [ ! -e "$D/nowhere" ] && grep -q "symbolic link to nothing" <<<"$out" &&
  sk_ok "a dangling symlink is refused, not replaced by a file" || sk_notok "dangling symlink (exit $rc)" "$out"
cp "$D/other.orig" "$D/nocheck.toml"
out=$(setup --config "$D/nocheck.toml" --containerd "$SK_TMP/no-containerd" 2>&1); rc=$?
[ $rc = 2 ] && cmp -s "$D/nocheck.toml" "$D/other.orig" && grep -q "cannot be checked" <<<"$out" &&
  sk_ok "without containerd to check the result nothing is written (exit 2)" || sk_notok "no containerd (exit $rc)" "$out"
out=$(setup --config "$D/nocheck.toml" --containerd "$SK_TMP/no-containerd" --no-check 2>&1) &&
  boots "$D/nocheck.toml" nocheck && sk_ok "--no-check writes it unchecked (and it is right)" || sk_notok "--no-check" "$out"
out=$(setup --config "$D/default.toml" --socket relative 2>&1); [ $? = 1 ] &&
  sk_ok "a relative --socket is a usage error" || sk_notok "--socket relative" "$out"
sk_snapkeepd_stop a
sk_finish
