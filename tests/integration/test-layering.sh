#!/usr/bin/env bash
# The layering check must be able to fail: copy the tree's sources, Makefile
# and checker to a temporary directory (the real tree is never touched), plant
# one violation of each rule at a time and check that tests/check-layering.sh
# exits 1 naming that RULE at that FILE:LINE; also that the same words inside
# comments pass, that tests/layering/allow excuses exactly its lines (and that
# a stale allow line fails), and that the clean tree passes in under 5 s.
# Planted code goes into new files (zz-planted*), so the cases do not depend
# on what other code looks like today; Makefile plants append or edit one line.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SK_SRC=${SK_SRC:-$(cd "$here/../.." && pwd)}
command -v make >/dev/null || { echo "SKIP: make missing"; exit 77; }
[ -x /usr/bin/python3 ] || command -v python3 >/dev/null || { echo "SKIP: python3 missing (make deps-check)"; exit 77; }

T=$(mktemp -d /tmp/sk-layering.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok $*"; }
notok() { echo "not ok $*"; fails=$((fails + 1)); }

# The copy: every C file, the protos, the Makefile, the checker and its allow list.
mkdir "$T/clean"
(cd "$SK_SRC" && find . \( -name .git -o -path './build*' \) -prune -o -type f \
   \( -name '*.[ch]' -o -name '*.proto' -o -path ./Makefile -o -path './tests/check-layering.*' \
      -o -path './tests/layering/*' \) -print0 | tar --null -T - -cf -) | (cd "$T/clean" && tar xf -) ||
  { echo "copying the tree failed"; exit 1; }
W=$T/w
cp -a "$T/clean" "$W"
# fresh: undo the last case (planted files go, the Makefile and allow list come
# back), cheaper than a new copy per case.
planted=()
fresh() {
  local f
  for f in "${planted[@]}"; do rm -rf "${W:?}/$f"; done
  planted=()
  cp "$T/clean/Makefile" "$W/Makefile"
  cp "$T/clean/tests/layering/allow" "$W/tests/layering/allow" 2>/dev/null || rm -f "$W/tests/layering/allow"
}
check() { bash "$W/tests/check-layering.sh" </dev/null >"$T/out" 2>"$T/err"; }
# put FILE TEXT: plant a new file (printf format: \n separates lines).
put() {
  [ -e "$T/clean/$1" ] && { echo "put: $1 exists in the tree; plant new files only"; exit 1; }
  local top=${1%%/*}
  [ -e "$T/clean/$top" ] && planted+=("$1") || planted+=("$top")
  mkdir -p "$(dirname "$W/$1")"; printf "$2" >"$W/$1"
}

start=$(date +%s%N)
if check; then ok "the clean tree passes"; else notok "the clean tree passes"; sed 's/^/    /' "$T/out" "$T/err" | head -20; fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $ms -lt 5000 ] && ok "the check takes ${ms} ms (< 5 s)" || notok "the check takes ${ms} ms (>= 5 s)"
grep -qx 'layering: ok' "$T/out" && ok "a clean run says 'layering: ok'" || notok "a clean run says 'layering: ok'"

# case_ NAME EXPECT [exact]: the tree in $W (already planted) must fail with a
# line matching ^EXPECT; with "exact", with that line only.
case_() {
  local name=$1 expect=$2 exact=${3:-}
  check; local rc=$?
  if [ $rc -ne 1 ]; then notok "$name (exit $rc, not 1)"; sed 's/^/    /' "$T/out" "$T/err" | head -10
  elif ! grep -qE "^$expect" "$T/out"; then notok "$name (no line matching /^$expect/)"; sed 's/^/    /' "$T/out" | head -10
  elif [ -n "$exact" ] && [ "$(wc -l <"$T/out")" -ne 1 ]; then notok "$name (more than the planted violation)"; sed 's/^/    /' "$T/out" | head -10
  else ok "$name: $(head -1 "$T/out" | cut -c1-110)"; fi
}
# one FILE TEXT NAME EXPECT [HEADER...]: plant one new file (and empty new
# headers it may include), expect exactly that violation.
one() {
  fresh
  local h; for h in "${@:5}"; do put "$h" '#pragma once\n'; done
  put "$1" "$2"; case_ "$3" "$4" exact
}
mlines() { wc -l <"$W/Makefile" | tr -d ' '; }

# --- include spelling -------------------------------------------------------
one io/zz-planted.c '/* planted */\n#include "zz-planted.h"\n' \
  'a bare "x.h" include' 'io/zz-planted\.c:2: include-spelling: ' io/zz-planted.h
one io/zz-planted.c '#include <stdio.h>\n#include "../common/macro.h"\n' \
  'a "../x.h" include' 'io/zz-planted\.c:2: include-spelling: '
one io/zz-planted.c '#include "./io/zz-planted.h"\n' \
  'a "./x.h" include' 'io/zz-planted\.c:1: include-spelling: ' io/zz-planted.h
one io/zz-planted.c '\n\n#include <io/zz-planted.h>\n' \
  'a project header in <>' 'io/zz-planted\.c:3: include-spelling: ' io/zz-planted.h
one io/zz-planted.c '#include "io/zz-missing.h"\n' \
  'an include of no header' 'io/zz-planted\.c:1: include-spelling: '

# --- the DEPS matrix and public headers -----------------------------------------
fresh; put io/zz-planted.h '#pragma once\n'; echo 'PUBLIC_io += io/zz-planted.h' >>"$W/Makefile"
put common/zz-planted.c '#include <string.h>\n#include "io/zz-planted.h"\n'
case_ 'common/ including io/ (not in DEPS_common)' 'common/zz-planted\.c:2: deps: ' exact
one io/zz-planted.c '#include "control.pb-c.h"\n' \
  'a generated *.pb-c.h in a room without proto' 'io/zz-planted\.c:1: deps: '
one io/zz-planted.c '#include "tests/lib/testutil.h"\n' \
  'a library including test code' 'io/zz-planted\.c:1: deps: '
one backup/zz-planted.c '#include "repo/zz-planted.h"\n' \
  'a header not in PUBLIC_repo, from backup/' 'backup/zz-planted\.c:1: public: .*not in PUBLIC_repo' repo/zz-planted.h
one cli/zz-planted.c '\n#include "backup/zz-planted-internal.h"\n' \
  'a *-internal.h from another room' 'cli/zz-planted\.c:2: public: .*-internal\.h' backup/zz-planted-internal.h
fresh; put backup/zz-planted-internal.h '#pragma once\n'; put tests/unit/zz-planted.c '#include "backup/zz-planted-internal.h"\n'
check && ok "tests/unit may include a private header" || { notok "tests/unit may include a private header"; head -5 "$T/out"; }

# --- external libraries ------------------------------------------------------
one io/zz-planted.c '#include <grpc/grpc.h>\n' \
  'io/ including <grpc/...>' 'io/zz-planted\.c:1: external: '
one store/zz-planted.c '#include <stdint.h>\n#include <protobuf-c/protobuf-c.h>\n' \
  'store/ including <protobuf-c/...>' 'store/zz-planted\.c:2: external: '

# --- knowledge: code and strings count, comments do not -------------------------
for room_word in 'io:int use_grpc;' 'store:static int protobuf_len;' \
                 'repo:static const char *kind = "overlayfs";' \
                 'common:static const char *label = "io.containerd.image.name";' \
                 'backup:static const char *upper = "Overlay upperdir";' \
                 'snapshot:static int grpc_status;'; do
  room=${room_word%%:*} code=${room_word#*:}
  one "$room/zz-planted.c" "/* what it knows */\n$code\n" "$room/ naming it in code: $code" "$room/zz-planted\\.c:2: knowledge: "
done

# --- the logger, the environment, exit, print ----------------------------------
# FILE|TEXT (printf format)|NAME|EXPECT
while IFS='|' read -r file text name expect; do one "$file" "$text" "$name" "$expect"; done <<'EOF'
backup/zz-planted.c|#include "common/log.h"\n|backup/ including the logger|backup/zz-planted\.c:1: logger: 
common/zz-planted.c|#include "common/log.h"\n|common/ (not log.c) including the logger|common/zz-planted\.c:1: logger: 
store/zz-planted.c|#include <stdlib.h>\nconst char *f(void);\nconst char *f(void) { return getenv("HOME"); }\n|store/ calling getenv|store/zz-planted\.c:3: env: 
repo/zz-planted.c|#include <stdlib.h>\nvoid f(void);\nvoid f(void) { abort(); }\n|repo/ calling abort|repo/zz-planted\.c:3: exit: 
container/zz-planted.c|#include <stdlib.h>\nvoid f(int);\nvoid f(int r) {\n        if (r < 0)\n                exit(1);\n}\n|container/ calling exit|container/zz-planted\.c:5: exit: 
io/zz-planted.c|#include <stdio.h>\nvoid f(void);\nvoid f(void) { printf("hello\\n"); }\n|io/ calling printf|io/zz-planted\.c:3: print: 
snapshot/zz-planted.c|#include <stdio.h>\nvoid f(void);\nvoid f(void) { fprintf(stderr, "x"); }\n|snapshot/ writing to stderr|snapshot/zz-planted\.c:3: print: 
EOF
fresh; put cli/zz-planted.c '#include <stdio.h>\n#include <stdlib.h>\n#include "common/log.h"\nvoid f(void);\nvoid f(void) { printf("%%s", getenv("HOME")); exit(1); }\n'
check && ok "cli/ may log, print, read the environment and exit" || { notok "cli/ may log, print, read the environment and exit"; head -5 "$T/out"; }

# --- the same words in comments (and calls named in strings) pass ---------------
fresh
put repo/zz-planted.c '/* Not for containerd, overlayfs, gRPC or protobuf: printf(), getenv(), exit()\n * and abort() are named here only. #include "common/log.h" */\n// fprintf(stderr, "grpc"); setenv("X", "1", 1);\nstatic const char *doc = "call printf(), getenv() and abort() from cli/";\nconst char *zz_doc(void);\nconst char *zz_doc(void) { return doc; } /* overlay */\n'
check && ok "forbidden words and calls only in comments (calls in strings) pass" ||
  { notok "forbidden words and calls only in comments (calls in strings) pass"; head -5 "$T/out"; }

# --- include cycles --------------------------------------------------------------
fresh; put common/zz-planted-a.h '#pragma once\n#include "common/zz-planted-b.h"\n'
put common/zz-planted-b.h '#pragma once\n/* b needs a */\n#include "common/zz-planted-a.h"\n'
case_ 'an include cycle a.h -> b.h -> a.h' 'common/zz-planted-a\.h:2: include-cycle: common/zz-planted-a\.h -> common/zz-planted-b\.h -> common/zz-planted-a\.h' exact
one common/zz-planted-a.h '#include "common/zz-planted-a.h"\n' \
  'a header including itself' 'common/zz-planted-a\.h:1: include-cycle: '

# --- the DEPS lines themselves -------------------------------------------------
fresh; echo 'DEPS_common := common io' >>"$W/Makefile"
case_ 'a DEPS cycle (common <-> io)' "Makefile:$(mlines): deps-graph: DEPS cycle: common -> io -> common"
fresh; echo 'DEPS_io := common io' >>"$W/Makefile"
case_ 'a DEPS line not listing its room first' "Makefile:$(mlines): deps-graph: DEPS_io must list io first"
fresh; echo 'DEPS_backup := backup repo io common' >>"$W/Makefile"
case_ 'a DEPS line missing what a dependency needs' "Makefile:$(mlines): deps-graph: DEPS_backup lists repo but not what repo needs: store"
fresh; echo 'PUBLIC_repo += repo/zz-missing.h' >>"$W/Makefile"
case_ 'a PUBLIC line naming no header' "Makefile:$(mlines): deps-graph: PUBLIC_repo lists repo/zz-missing\\.h" exact

# --- what the binaries link ------------------------------------------------------
fresh
sed -i 's|-o \$@ \$< -Wl,--start-group \$(call libs_for,plugin)|& $(BUILD)/libsk-cli.a|' "$W/Makefile"
n=$(grep -n '^\$(BUILD)/snapkeepd:' "$W/Makefile" | cut -d: -f1)
if grep -q 'libsk-cli.a' "$W/Makefile" && [ -n "$n" ]; then
  case_ 'snapkeepd linking libsk-cli.a (outside DEPS_plugin)' "Makefile:$n: link: snapkeepd \\(room plugin\\) links libsk-cli\\.a" exact
else notok "planting a link violation (the snapkeepd link recipe changed shape)"; fi

# --- files outside the rooms ---------------------------------------------------
one lib/zz-planted.c 'int zz;\n' \
  'a C file outside every room' 'lib/zz-planted\.c:1: room: '

# --- tests/layering/allow ---------------------------------------------------------
fresh; put store/zz-planted.c '#include <stdlib.h>\nconst char *f(void);\nconst char *f(void) {\n        return getenv("HOME");\n}\n'
echo 'env store/zz-planted.c: return getenv("HOME");' >>"$W/tests/layering/allow"
check && ok "an allow line excuses its violation" || { notok "an allow line excuses its violation"; head -5 "$T/out"; }
sed -i '1i /* a line above moves the violation: the allow line still matches */' "$W/store/zz-planted.c"
check && ok "an allow line matches wherever the line moves" || { notok "an allow line matches wherever the line moves"; head -5 "$T/out"; }
sed -i 's|return getenv("HOME");|return getenv("HOME"); /* twice */ (void) getenv("PATH");|' "$W/store/zz-planted.c"
n=$(grep -c '' "$W/tests/layering/allow")
case_ 'an allow line whose violation changed is stale' "tests/layering/allow:$n: allow: "
grep -qE '^store/zz-planted\.c:5: env: ' "$T/out" && ok "... and the changed violation is reported" || notok "... and the changed violation is reported"
fresh; echo 'env store/zz-gone.c: return getenv("HOME");' >>"$W/tests/layering/allow"
case_ 'an allow line matching nothing (the fix landed)' "tests/layering/allow:$(grep -c '' "$W/tests/layering/allow"): allow: " exact

[ $fails -eq 0 ]
