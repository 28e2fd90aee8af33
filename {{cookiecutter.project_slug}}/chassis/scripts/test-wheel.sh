#!/usr/bin/env bash
# The chassis as another service would install it: build its wheel, install that wheel and the
# test group's locked packages into a fresh venv, and run the chassis's suite with that venv,
# from a copy of tests/ so that neither src/ nor the workspace is on the path.
#
#   bash chassis/scripts/test-wheel.sh [PYTEST ARGS...]      e.g. -m "not slow"
#
# Needs uv, and TEST_DATABASE_URL / TEST_REDIS_URL (or a Docker engine) as the suite does.
set -euo pipefail

chassis="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/chassis-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT

uv build --quiet --wheel --out-dir "$work/dist" "$chassis"
# The versions the workspace's lock file pins for the test group, the chassis left out.
uv export --quiet --locked --package chassis --only-group test --no-hashes \
    --directory "$chassis" --output-file "$work/test-requirements.txt"
uv venv --quiet --python "$(uv python find)" "$work/venv"
uv pip install --quiet --python "$work/venv/bin/python" \
    "$work"/dist/chassis-*.whl -r "$work/test-requirements.txt"

cp -r "$chassis/tests" "$chassis/pyproject.toml" "$work/"
cd "$work"
# The chassis must come from the wheel, never from a source tree.
"$work/venv/bin/python" - <<'PY'
import chassis, sys
where = chassis.__file__
print(f"chassis from {where}")
sys.exit(0 if "/site-packages/" in where else 1)
PY
exec "$work/venv/bin/python" -m pytest -p no:cacheprovider "$@"
