#!/usr/bin/env bash
# S3 credentials and addressing (issue 6 acceptance "bad credentials and
# signature errors"), against a real radosgw:
#   - a wrong secret (SignatureDoesNotMatch), an unknown access key
#     (InvalidAccessKeyId) and a missing bucket each fail with a message naming
#     the cause, for init and for a backup into an existing repository, and
#     nothing is written;
#   - credentials from a credentials file (profile) work, none at all is a
#     clear error; secrets never need argv;
#   - virtual-hosted addressing works as well as path style.
set -u
. "$(dirname "$0")/../lib/repo.sh"
. "$(dirname "$0")/../lib/ceph.sh"
s3_test_setup

mkdir -p "$T/src"
sk_rand "$T/src/a" 300000
echo hello > "$T/src/b"
GOOD_SECRET=$AWS_SECRET_ACCESS_KEY

# fails_naming WHAT PATTERN CMD...: non-zero exit and PATTERN on stderr
fails_naming() {
  local what=$1 pat=$2 rc; shift 2
  "$@" >"$T/out" 2>"$T/err"; rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$pat" "$T/err"; then ok "$what: exit $rc, says: ...$(grep -o ".\{0,80\}$pat.\{0,60\}" "$T/err" | head -1)..."
  else notok "$what: exit $rc, stderr: $(head -c 300 "$T/err")"; fi
}

# 1. init with a wrong secret: nothing written
url=$(s3_repo_url wrongsecret)
fails_naming "init with a wrong secret" SignatureDoesNotMatch env AWS_SECRET_ACCESS_KEY=not-the-secret "$SNAPKEEP" repo init --repo "$url" --scrypt-log2n 10
[ -z "$(s3_objects "$url" "")" ] && ok "wrong secret: nothing written under the prefix" || notok "wrong secret: objects written"

# 2. unknown access key
fails_naming "init with an unknown access key" InvalidAccessKeyId env AWS_ACCESS_KEY_ID=AKIDNOSUCHKEY00000000 "$SNAPKEEP" repo init --repo "$url" --scrypt-log2n 10
[ -z "$(s3_objects "$url" "")" ] && ok "unknown key: nothing written" || notok "unknown key: objects written"

# 3. missing bucket
fails_naming "init into a missing bucket" "bucket no-such-bucket-$$ does not exist" "$SNAPKEEP" repo init --repo "s3://no-such-bucket-$$/x" --scrypt-log2n 10
s3_curl HEAD "/no-such-bucket-$$" -o /dev/null -w '%{http_code}' >"$T/code" 2>/dev/null
[ "$(cat "$T/code")" = 404 ] && ok "missing bucket: it was not created" || notok "missing bucket: HEAD says $(cat "$T/code")"
fails_naming "backups from a missing bucket" "bucket no-such-bucket-$$ does not exist" sk backups --repo "s3://no-such-bucket-$$/x"

# 4. an existing repository, then a backup with the wrong secret writes nothing
expect_rc 0 "init with the right credentials" sk_init
expect_rc 0 "first backup" sk backup -q "$T/src"
before=$(s3_objects "$SNAPKEEP_REPO" "")
echo more > "$T/src/c"
fails_naming "backup with a wrong secret" SignatureDoesNotMatch env AWS_SECRET_ACCESS_KEY=not-the-secret "$SNAPKEEP" --no-progress backup "$T/src"
after=$(s3_objects "$SNAPKEEP_REPO" "")
[ "$before" = "$after" ] && ok "wrong secret: the repository is unchanged ($(echo "$after" | wc -l) objects)" || notok "wrong secret: repository changed"
# a wrong repository password is still a wrong password, not an S3 error
echo wrong > "$T/wrongpass"
fails_naming "wrong repository password over S3" "wrong passphrase" env SNAPKEEP_PASSWORD_FILE="$T/wrongpass" "$SNAPKEEP" --no-progress backups

# 5. credentials file with a profile, and no credentials at all
cat > "$T/credentials" <<EOC
[default]
aws_access_key_id = AKIDWRONG000000000000
aws_secret_access_key = wrong
[profile ci]
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $GOOD_SECRET
EOC
chmod 600 "$T/credentials"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE="$T/credentials" AWS_PROFILE=ci \
  "$SNAPKEEP" --no-progress backups --json >"$T/list.json" 2>"$T/err" && [ "$(jq length "$T/list.json")" = 1 ] \
  && ok "credentials file, profile ci" || notok "credentials file: $(head -c 300 "$T/err")"
fails_naming "credentials file, default profile with a wrong key" InvalidAccessKeyId env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE="$T/credentials" "$SNAPKEEP" --no-progress backups
fails_naming "no credentials anywhere" "no S3 credentials" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$T/nohome" AWS_SHARED_CREDENTIALS_FILE="$T/nonexistent" "$SNAPKEEP" --no-progress backups

# 6. virtual-hosted style (bucket in the host name; rgw_dns_name = localhost)
vurl=$(s3_repo_url virtual)
export SNAPKEEP_S3_STYLE=virtual
vep="http://localhost:$CEPH_RGW_PORT"
if SNAPKEEP_S3_ENDPOINT=$vep sk_init --repo "$vurl" && SNAPKEEP_S3_ENDPOINT=$vep sk backup -q --repo "$vurl" "$T/src" &&
   SNAPKEEP_S3_ENDPOINT=$vep sk restore latest -q --repo "$vurl" --target "$T/vout" && "$TREECMP" "$T/src" "$T/vout/src"; then
  ok "virtual-hosted style: init, backup, restore identical"
else notok "virtual-hosted style"; fi
grep -q "\"PUT /${vurl#s3://"$CEPH_BUCKET"/}/keys/" "$CEPH_RGW_LOG" && ok "virtual-hosted style: requests carried no bucket in the path" || notok "virtual-hosted: no bucket-less request paths in the rgw log"
unset SNAPKEEP_S3_STYLE
# and the objects are where path style finds them
[ -n "$(s3_objects "$vurl" keys/)" ] && ok "path style sees the virtual-hosted repository's objects" || notok "path style listing of $vurl"
# 7. snapkeepd takes the S3 settings from its config file, not only from its
#    environment (the library reads neither: the daemon passes them on). Its
#    environment points at a dead endpoint and holds no keys; the file names the
#    real endpoint and the credentials file (profile ci).
SNAPKEEPD=${SNAPKEEPD:-$BUILD_DIR/snapkeepd}
if [ -x "$SNAPKEEPD" ]; then
  mkdir -p "$T/d"
  cat > "$T/d/snapkeepd.conf" <<EOC
[snapkeepd]
root = $T/d/root
socket = $T/d/sk.sock
admin_socket = $T/d/admin.sock
repo = $SNAPKEEP_REPO
password_file = $T/pass
s3_endpoint = $SNAPKEEP_S3_ENDPOINT
s3_credentials_file = $T/credentials
s3_profile = ci
cache_dir = $T/d/cache
EOC
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SHARED_CREDENTIALS_FILE -u AWS_PROFILE \
    SNAPKEEP_S3_ENDPOINT=http://127.0.0.1:9 SNAPKEEP_CACHE_DIR=$T/d/wrong-cache HOME=$T/nohome \
    "$SNAPKEEPD" --config "$T/d/snapkeepd.conf" >"$T/d/log" 2>&1 & dpid=$!
  for _ in $(seq 1 100); do [ -S "$T/d/admin.sock" ] && break; sleep 0.1; done
  st=""
  for _ in $(seq 1 50); do
    st=$(SNAPKEEP_ADMIN_SOCKET=$T/d/admin.sock "$SNAPKEEP" daemon status --json 2>"$T/d/err") && \
      [ "$(jq -r .repo_open <<<"$st")" = true ] && break
    sleep 0.2
  done
  [ "$(jq -r .repo_open <<<"$st" 2>/dev/null)" = true ] && ok "snapkeepd opened the S3 repository with the settings of its config file" \
    || notok "snapkeepd with S3 settings in its config file: $st $(head -c 300 "$T/d/err") $(tail -5 "$T/d/log")"
  [ -d "$T/d/cache" ] && [ ! -e "$T/d/wrong-cache" ] && ok "snapkeepd's metadata cache is where its config file says" \
    || notok "cache: $(ls "$T/d")"
  kill "$dpid"; wait "$dpid" 2>/dev/null
else
  echo "note: $SNAPKEEPD not built; daemon config case not run"
fi
sk_finish
