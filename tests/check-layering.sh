#!/usr/bin/env bash
# The layering rules from DEVELOPERS.md, checked on every `make check`.
set -u
cd "$(dirname "$0")/.."
bad=0
if grep -nE '#include\s*[<"](grpc/|protobuf-c/|google/|.*\.pb-c\.h|plugin/|cli/|snapshot/)' store/*.[ch] repo/*.[ch] backup/*.[ch] io/*.[ch] 2>/dev/null; then
  echo "layering: backup/ and io/ must not include gRPC, protobuf, containerd, plugin, cli or snapshot headers" >&2; bad=1
fi
if grep -nE '#include\s*"(backup|io|snapshot|container)/[a-z0-9_-]+-internal\.h"' plugin/*.[ch] cli/*.[ch] 2>/dev/null; then
  echo "layering: plugin/ and cli/ use only public headers (no *-internal.h)" >&2; bad=1
fi
if grep -nE '#include\s*[<"](grpc/|protobuf-c/|google/|.*\.pb-c\.h|plugin/|cli/)' container/*.[ch] 2>/dev/null; then
  echo "layering: container/ knows the repository's records, nothing of gRPC, protobuf, plugin or cli" >&2; bad=1
fi
if grep -nE '#include\s*[<"](grpc/)' snapshot/*.[ch] 2>/dev/null; then
  echo "layering: snapshot/ knows nothing of gRPC" >&2; bad=1
fi
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
