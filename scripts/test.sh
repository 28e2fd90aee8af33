#!/usr/bin/env bash
# The template's test command: bakes projects and runs their own checks against real services.
#   bash scripts/test.sh           everything; needs Postgres and Redis (TEST_DATABASE_URL and
#                                  TEST_REDIS_URL, or a Docker engine for testcontainers)
#   bash scripts/test.sh --fast    the everyday subset (pytest -m "not slow"): hooks, bakes, lint,
#                                  type checks, deploy files; needs neither
# Any other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=""
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi

# Before installing anything: say at once, in one line, what the full run is missing.
if [ -z "$fast" ]; then
  python3 scripts/services_check.py
fi

source scripts/tools.sh

# pyenv installs several interpreters but exposes one; make all of them visible to uv.
if command -v pyenv >/dev/null 2>&1; then
  PYENV_VERSION="$(pyenv versions --bare | grep -E '^3\.1[1-3]\.' | tr '\n' ':' | sed 's/:$//')"
  export PYENV_VERSION="$(pyenv version-name):${PYENV_VERSION}"
fi

echo "==> running the template test suite${fast:+ (fast subset)}"
set +e
if [ -n "$fast" ]; then
  python -m pytest -m "not slow" "$@"
else
  python -m pytest "$@"
fi
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
