#!/usr/bin/env bash
# The template's test command: bakes projects and runs their own checks against real services.
# Needs Python >= 3.11, and Docker or TEST_DATABASE_URL / TEST_REDIS_URL for Postgres and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/tools.sh

# pyenv installs several interpreters but exposes one; make all of them visible to uv.
if command -v pyenv >/dev/null 2>&1; then
  PYENV_VERSION="$(pyenv versions --bare | grep -E '^3\.1[1-3]\.' | tr '\n' ':' | sed 's/:$//')"
  export PYENV_VERSION="$(pyenv version-name):${PYENV_VERSION}"
fi

echo "==> running the template test suite"
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
