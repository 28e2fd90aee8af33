"""The generated project passes its own checks, each run once where it can fail: ruff, ruff format,
mypy strict, the import contracts, and its two test suites against real Postgres and Redis
(testcontainers, or TEST_DATABASE_URL and TEST_REDIS_URL), never mocks, and never skipped when
neither is there: they fail.

- The chassis is the same bytes in every bake (tests/test_bake.py), so its suite, fault tests
  included, runs in full once: on the default bake, with the default Python. Its fast subset
  (`-m "not slow"`) runs once on each other supported Python, which is all an interpreter changes.
- The app is what the answers change (its deploy files and their tests, the interpreter), so every
  combination runs the app's whole suite after ruff and ruff format; mypy runs once per
  interpreter and on the bake whose answers differ from every default.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    COMBINATIONS,
    DEFAULT_ANSWERS,
    PYTHON_VERSIONS,
    Bake,
    Project,
    combination_id,
)

# The answers that differ from every default: the other end of the matrix from the default bake.
ALL_OTHERS: dict[str, object] = {"python_version": "3.13", "use_compose": False, "use_helm": False}
OTHER_VERSIONS = [version for version in PYTHON_VERSIONS if version != DEFAULT_ANSWERS["python_version"]]

# synced(answers) -> a baked and synced project, one per answer set in this module.
Synced = Callable[[dict[str, object]], Project]


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


@pytest.fixture(scope="module")
def synced(cookies_session, project: Project) -> Synced:  # type: ignore[no-untyped-def]
    """Bakes shared by this module's tests: a combination's checks and a Python's chassis subset
    use the same synced project, and the default answers are the session's default bake."""
    baked: dict[str, Project] = {combination_id(DEFAULT_ANSWERS): project}

    def _synced(answers: dict[str, object]) -> Project:
        key = combination_id(answers)
        if key not in baked:
            result = cookies_session.bake(extra_context=answers)
            if result.exit_code != 0:
                raise AssertionError(f"bake failed: {result.exception!r}")
            baked[key] = Project(Path(result.project_path))
            baked[key].sync()
        return baked[key]

    return _synced


def run_suite(project: Project, target: str, *options: str) -> str:
    """`make <target>` (test-app or test-chassis) with extra pytest options; returns pytest's
    summary line, which must show tests passed and none skipped or failed."""
    # pytest splits PYTEST_ADDOPTS as a shell would: `-m "not slow"` must stay one argument.
    addopts = shlex.join(["-q", "-p", "no:cacheprovider", *options])
    completed = project.run("make", target, env={"PYTEST_ADDOPTS": addopts}, timeout=1800)
    last_line = completed.stdout.strip().splitlines()[-1]
    assert " passed" in last_line and "skipped" not in last_line and "failed" not in last_line, last_line
    return last_line


def test_project_lints_clean(project: Project) -> None:
    project.run("uv", "run", "--locked", "ruff", "check", ".")
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    # The import contracts in pyproject.toml: the chassis never imports the app, the app only the
    # chassis's public modules, and the chassis's own layers.
    project.run("uv", "run", "--locked", "lint-imports")


def test_project_passes_mypy_strict(project: Project) -> None:
    project.run("uv", "run", "--locked", "mypy")


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
        "test-app",
        "test-chassis",
        "lint",
        "fmt",
        "bench",
    } <= targets


@pytest.mark.slow
def test_chassis_suite_passes_in_full(project: Project) -> None:
    # The one full run of the chassis's suite: outages, crash, drain, Sentinel, PgBouncer, tracing.
    run_suite(project, "test-chassis")


@pytest.mark.slow
@pytest.mark.parametrize("version", OTHER_VERSIONS)
def test_chassis_fast_subset_passes_on_every_other_python(synced: Synced, version: str) -> None:
    require_interpreter(version)
    run_suite(synced({**DEFAULT_ANSWERS, "python_version": version}), "test-chassis", "-m", "not slow")


@pytest.mark.slow
@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_combination_passes_the_app_checks(synced: Synced, answers: dict[str, object]) -> None:
    require_interpreter(str(answers["python_version"]))
    project = synced(answers)
    if answers != DEFAULT_ANSWERS:  # the default bake's lint and mypy are the fast tests above
        project.run("uv", "run", "--locked", "ruff", "check", ".")
        project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
        # The deploy options remove deploy files and their tests, not Python the rest imports: one
        # mypy run per interpreter (with both on), and one with both off.
        if answers == ALL_OTHERS or (answers["use_compose"], answers["use_helm"]) == (True, True):
            project.run("uv", "run", "--locked", "mypy")
    run_suite(project, "test-app")


def test_longest_allowed_package_name_stays_formatted(bake: Bake) -> None:
    project = bake(project_name="Quarterly Revenue Forecasting X", package_name="q" * 30)
    project.sync()
    project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    project.run("uv", "run", "--locked", "ruff", "check", ".")
