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

# uv.lock is resolved with every dependency-adding option on. Each such option also has a lock
# without its dependencies, which the post-gen hook puts in place of uv.lock when it is off; it
# is resolved from the new uv.lock, so both lock the same version of every package they share.
bake() {  # bake ANSWER: the default project with one answer, with the lock for that answer
    python3 -m cookiecutter --no-input "$template" -o "$scratch/$1" use_helm=no use_compose=no "$1" >/dev/null
    echo "$scratch/$1/acme-reports"
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
full="$(bake use_tracing=yes)"
(cd "$full" && uv lock "${args[@]}")
without="$(bake use_tracing=no)"
cp "$full/uv.lock" "$without/uv.lock"
(cd "$without" && uv lock --quiet)
store "$full" "$lock"
store "$without" "$(dirname "$lock")/uv.without-tracing.lock"
