#!/usr/bin/env bash
# Bake the default project into a scratch folder and run it end to end: web, worker, a report job.
# Needs Python >= 3.11 and a redis-server binary; no Postgres (the demo uses SQLite) and no Docker.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: the demo needs python3 >= 3.11 on PATH (found: $(python3 --version 2>&1 || echo none))" >&2
  exit 1
fi
venv=.venv-template
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv for the template's tools"
  python3 -m venv "$venv"
fi
echo "==> installing cookiecutter and uv into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export PATH="$PWD/$venv/bin:$PATH"
exec python scripts/demo.py "$@"
