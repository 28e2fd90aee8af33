#!/usr/bin/env bash
# Maintainers: after changing the generated pyproject.toml, bring the project's lock files in line.
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

bake() {  # the default project, with the current lock
    python3 -m cookiecutter --no-input "$template" -o "$scratch" use_helm=no use_compose=no >/dev/null
    echo "$scratch/acme-reports"
}
store() {  # store PROJECT FILE: the project's lock, with the name templated again
    sed 's/"acme-reports"/"{{ cookiecutter.project_slug }}"/' "$1/uv.lock" > "$2.new"
    grep -q '{{ cookiecutter.project_slug }}' "$2.new"
    mv "$2.new" "$2"
    echo "wrote $2"
}
args=(--quiet)
if [ -n "${UPGRADE:-}" ]; then args+=(--upgrade); fi
if [ -n "${UPGRADE_PACKAGE:-}" ]; then args+=(--upgrade-package "$UPGRADE_PACKAGE"); fi
project="$(bake)"
(cd "$project" && uv lock "${args[@]}")
store "$project" "$lock"
