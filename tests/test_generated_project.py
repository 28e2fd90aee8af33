"""Every supported combination passes its own checks: ruff, ruff format, mypy strict, and its own
test suite against real Postgres and Redis (testcontainers, or TEST_DATABASE_URL and
TEST_REDIS_URL), never mocks, and never skipped when neither is there: it fails.

The whole generated suite runs on the default answers and on the answers that differ from every
default; the other combinations run its fast subset (`-m "not slow"`, everything but the tests
that start real processes or wait for timeouts). Their generated Python differs only by the
interpreter, and the slow tests exercise processes, not answers; README "Tests" has the numbers.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import COMBINATIONS, DEFAULT_ANSWERS, Bake, Project, combination_id

# The answers that differ from every default: the other end of the matrix from the default bake.
ALL_OTHERS: dict[str, object] = {
    "python_version": "3.13", "use_compose": False, "use_helm": False, "use_tracing": False,
}  # fmt: skip
OTHER_COMBINATIONS = [answers for answers in COMBINATIONS if answers != DEFAULT_ANSWERS]


def interpreter_available(version: str) -> bool:
    # A pyenv shim exists for every installed version but fails unless that version is selected.
    if shutil.which(f"python{version}") is None:
        return False
    return subprocess.run([f"python{version}", "-c", ""], capture_output=True).returncode == 0


def require_interpreter(version: str) -> None:
    if not interpreter_available(version):
        if os.environ.get("CI"):
            pytest.fail(f"python{version} is missing on a CI machine", pytrace=False)
        pytest.skip(f"python{version} is not installed here")


def run_suite(project: Project, *selection: str) -> str:
    completed = project.run(
        "uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", *selection, timeout=1800
    )
    last_line = completed.stdout.strip().splitlines()[-1]
    assert " passed" in last_line and "skipped" not in last_line and "failed" not in last_line, last_line
    return last_line


def test_project_lints_clean(project: Project) -> None:
    project.run("uv", "run", "--locked", "ruff", "check", ".")
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    # The layering contract in pyproject.toml: core imports neither jobs nor web, jobs not web.
    project.run("uv", "run", "--locked", "lint-imports")


def test_project_passes_mypy_strict(project: Project) -> None:
    project.run("uv", "run", "--locked", "mypy")


@pytest.mark.slow
def test_project_test_suite_passes(project: Project) -> None:
    run_suite(project)


def test_makefile_help_lists_every_target(project: Project) -> None:
    output = project.run("make", "help").stdout
    targets = {line.split()[1] for line in output.splitlines() if line.strip().startswith("make ")}
    assert {
        "install",
        "migrate",
        "revision",
        "web",
        "worker",
        "dev",
        "test",
        "lint",
        "fmt",
        "bench",
    } <= targets


@pytest.mark.slow
@pytest.mark.parametrize("answers", OTHER_COMBINATIONS, ids=combination_id)
def test_combination_passes_its_own_checks(bake: Bake, answers: dict[str, object]) -> None:
    require_interpreter(str(answers["python_version"]))
    project = bake(**answers)
    project.sync()
    project.run("uv", "run", "--locked", "ruff", "check", ".")
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    if answers == ALL_OTHERS or (answers["use_compose"], answers["use_helm"]) == (True, True):
        # The deploy options change deploy files and docs, not Python: one mypy run per
        # interpreter. use_tracing changes Python: mypy sees it on in the default bake and on
        # 3.11, and off on 3.13 (conftest.tracing_for).
        project.run("uv", "run", "--locked", "mypy")
    if answers == ALL_OTHERS:
        run_suite(project)
    else:
        run_suite(project, "-m", "not slow")


def test_longest_allowed_package_name_stays_formatted(bake: Bake) -> None:
    project = bake(project_name="Quarterly Revenue Forecasting X", package_name="q" * 30)
    project.sync()
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    project.run("uv", "run", "--locked", "ruff", "check", ".")
