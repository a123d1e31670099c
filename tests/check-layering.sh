#!/usr/bin/env bash
# The layering rules of DEVELOPERS.md ("Layering"), checked on every `make check`
# (`make layering`). The rules live in tests/check-layering.py; this keeps the
# old entry point. Usage: tests/check-layering.sh [TREE] (default: this tree).
# Debian's interpreter (packaging/deps/check.txt) first: a version manager's
# python3 shim can take longer to start than the whole check.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$(dirname "$0")/check-layering.py" "$@"
