#!/usr/bin/env bash
# Maintainers: after changing the generated pyproject.toml, bring the project's uv.lock in line.
# Bakes the default project with the current lock, runs `uv lock` there (which keeps every locked
# version that still satisfies pyproject.toml), and stores the lock back with the name templated.
#   bash scripts/relock.sh                          change only what pyproject.toml requires
#   UPGRADE_PACKAGE=fastapi bash scripts/relock.sh  also move one package to its newest version
#   UPGRADE=1 bash scripts/relock.sh                upgrade everything
set -euo pipefail
cd "$(dirname "$0")/.."
template="$PWD"
lock="$template/{{cookiecutter.project_slug}}/uv.lock"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

python3 -m cookiecutter --no-input "$template" -o "$scratch" use_helm=no use_compose=no >/dev/null
project="$scratch/acme-reports"
args=(--quiet)
if [ -n "${UPGRADE:-}" ]; then args+=(--upgrade); fi
if [ -n "${UPGRADE_PACKAGE:-}" ]; then args+=(--upgrade-package "$UPGRADE_PACKAGE"); fi
(cd "$project" && uv lock "${args[@]}")
sed 's/"acme-reports"/"{{ cookiecutter.project_slug }}"/' "$project/uv.lock" > "$lock.new"
grep -q '{{ cookiecutter.project_slug }}' "$lock.new"
mv "$lock.new" "$lock"
echo "wrote $lock"
