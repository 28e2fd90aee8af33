#!/usr/bin/env bash
# Bake the default project into a scratch folder and run it end to end: web, worker, a report job.
# Needs Python >= 3.11 and a redis-server binary; no Postgres (the demo uses SQLite) and no Docker.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: the demo needs python3 >= 3.11 on PATH (found: $(python3 --version 2>&1 || echo none))" >&2
  exit 1
fi
source scripts/tools.sh
exec python scripts/demo.py "$@"
