#!/usr/bin/env bash
# Builds the Go test programs of tests/go/ into $BUILD_DIR/go-bin/, offline, in
# GOPATH mode against Debian's packaged Go sources (/usr/share/gocode). Cheap
# when nothing changed: the outputs are reused when no source is newer, and the
# Go build cache lives in $BUILD_DIR/go-cache.
#
#   tests/go/build.sh            # all programs
#   tests/go/build.sh load       # only the named ones
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SK_SRC/build}
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
out=$BUILD_DIR/go-bin
gopath=$BUILD_DIR/go-path
mkdir -p "$out" "$gopath/src"
# GOPATH mode wants the package under $GOPATH/src/<import path>.
ln -sfn "$SK_SRC/tests/go" "$gopath/src/snapkeep-tests"

export GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local GOENV=off GOTELEMETRY=off
export GOPATH=$gopath:/usr/share/gocode GOCACHE=$BUILD_DIR/go-cache
command -v go >/dev/null || { echo "build.sh: go not found (apt-get install golang-go)" >&2; exit 1; }

progs=("$@")
[ ${#progs[@]} -gt 0 ] || progs=(conformance badinput restart load snapbench storepull cri cutproxy nerdcalls)

# One builder at a time per build dir.
exec 9>"$out/.lock"
flock 9

# The CRI messages (criproto/runtime.proto, not packaged in Debian) become the
# Go package snapkeep-gen/criapi, generated into the build dir by protoc and a
# protoc-gen-go built from Debian's Go sources (golang-google-protobuf-dev).
gen_criapi() {
  local dir=$gopath/src/snapkeep-gen/criapi proto=$here/criproto/runtime.proto
  [ -f "$dir/runtime.pb.go" ] && [ "$dir/runtime.pb.go" -nt "$proto" ] && return 0
  command -v protoc >/dev/null || { echo "build.sh: protoc not found (apt-get install protobuf-compiler)" >&2; return 1; }
  mkdir -p "$dir"
  [ -x "$out/protoc-gen-go" ] || go build -o "$out/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
  protoc --plugin=protoc-gen-go="$out/protoc-gen-go" --go_out="$dir" --go_opt=paths=source_relative \
    -I"$here/criproto" runtime.proto
}

for p in "${progs[@]}"; do
  [ "$p" = cri ] && gen_criapi
  bin=$out/$p
  [ "$p" = conformance ] && bin=$out/conformance.test
  if [ -x "$bin" ] && [ -z "$(find -L "$here/$p" "$here/sktest" "$here/criproto" \( -name '*.go' -o -name '*.proto' \) -newer "$bin" | head -1)" ]; then
    continue
  fi
  if [ "$p" = conformance ]; then
    go test -c -o "$bin.tmp" "snapkeep-tests/$p"
  else
    go build -o "$bin.tmp" "snapkeep-tests/$p"
  fi
  mv -f "$bin.tmp" "$bin"
done
