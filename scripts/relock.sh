#!/usr/bin/env bash
# Maintainers: after changing the generated pyproject.toml, regenerate the project's uv.lock.
# Bakes the default project, locks it, and stores the lock back with the project name templated.
set -euo pipefail
cd "$(dirname "$0")/.."
template="$PWD"
lock="$template/{{cookiecutter.project_slug}}/uv.lock"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

rm -f "$lock"
python3 -m cookiecutter --no-input "$template" -o "$scratch" use_helm=no use_compose=no >/dev/null
(cd "$scratch/acme-reports" && uv lock ${UPGRADE:+--upgrade} --quiet)
sed 's/"acme-reports"/"{{ cookiecutter.project_slug }}"/' "$scratch/acme-reports/uv.lock" > "$lock"
grep -c '{{ cookiecutter.project_slug }}' "$lock" >/dev/null
echo "wrote $lock"
