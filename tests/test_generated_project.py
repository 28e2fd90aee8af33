"""The generated project passes its own checks: lint, format, mypy strict, and its whole test suite.

The suite runs against real Postgres and Redis (testcontainers, or TEST_DATABASE_URL and
TEST_REDIS_URL), never mocks, and is never skipped when neither is there: it fails.
"""

import os
import shutil
import subprocess

import pytest

from tests.conftest import Project

OTHER_PYTHONS = ["3.11", "3.13"]


def interpreter_available(version: str) -> bool:
    # A pyenv shim exists for every installed version but fails unless that version is selected.
    if shutil.which(f"python{version}") is None:
        return False
    return subprocess.run([f"python{version}", "-c", ""], capture_output=True).returncode == 0


def test_project_lints_clean(project: Project) -> None:
    project.run("uv", "run", "--locked", "ruff", "check", ".")
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")


def test_project_passes_mypy_strict(project: Project) -> None:
    project.run("uv", "run", "--locked", "mypy")


def test_project_test_suite_passes(project: Project) -> None:
    completed = project.run("uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider")
    last_line = completed.stdout.strip().splitlines()[-1]
    assert " passed" in last_line and "skipped" not in last_line, last_line


def test_makefile_help_lists_every_target(project: Project) -> None:
    output = project.run("make", "help").stdout
    targets = {line.split()[1] for line in output.splitlines() if line.strip().startswith("make ")}
    assert {"install", "migrate", "web", "worker", "dev", "test", "lint", "fmt", "bench"} <= targets


@pytest.mark.parametrize("python_version", OTHER_PYTHONS)
def test_other_python_versions_lint_and_type_check(bake, python_version: str) -> None:
    if not interpreter_available(python_version):
        if os.environ.get("CI"):
            pytest.fail(f"python{python_version} is missing on a CI machine", pytrace=False)
        pytest.skip(f"python{python_version} is not installed here")
    project: Project = bake(python_version=python_version)
    project.sync()
    project.run("uv", "run", "--locked", "ruff", "check", ".")
    project.run("uv", "run", "--locked", "mypy")


def test_longest_allowed_package_name_stays_formatted(bake) -> None:
    project: Project = bake(project_name="Quarterly Revenue Forecasting X", package_name="q" * 30)
    project.sync()
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    project.run("uv", "run", "--locked", "ruff", "check", ".")
