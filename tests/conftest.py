"""Fixtures for baking the template and running the generated project's own tools."""

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
# ../shared beside a clone; TEMPLATE_SHARED_DIR where the checkout lives elsewhere (a worktree).
SHARED = Path(os.environ.get("TEMPLATE_SHARED_DIR") or TEMPLATE.parent / "shared")
DEFAULT_SLUG = "acme-reports"
DEFAULT_PACKAGE = "acme_reports"

# The one list of supported combinations that every test of them is driven by.
PYTHON_VERSIONS = ["3.11", "3.12", "3.13"]
DEFAULT_ANSWERS: dict[str, object] = {"python_version": "3.12", "use_compose": True, "use_helm": True}
COMBINATIONS: list[dict[str, object]] = [
    {"python_version": version, "use_compose": compose, "use_helm": helm}
    for version, compose, helm in itertools.product(PYTHON_VERSIONS, [True, False], [True, False])
]


def combination_id(answers: dict[str, object]) -> str:
    return "-".join(f"{key}={value}" for key, value in answers.items())


# Folders written by tools rather than the template; never scanned for leftovers.
TOOL_DIRS = {".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}


def project_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and not TOOL_DIRS.intersection(path.relative_to(root).parts):
            yield path


@dataclass
class Project:
    path: Path

    def run(
        self, *args: str, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the project; fail the test with its output if it fails."""
        completed = subprocess.run(
            args,
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if completed.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {completed.returncode} in {self.path}\n"
                f"--- stdout\n{completed.stdout[-6000:]}\n--- stderr\n{completed.stderr[-6000:]}",
                pytrace=False,
            )
        return completed

    def sync(self) -> None:
        self.run("uv", "sync", "--locked", "--quiet")


# bake(**answers) -> Project
Bake = Callable[..., Project]


@pytest.fixture
def bake(cookies):  # type: ignore[no-untyped-def]
    """Bake the template with the given answers and return the project, failing loudly."""

    def _bake(**answers: object) -> Project:
        result = cookies.bake(extra_context=answers)
        if result.exit_code != 0:
            raise AssertionError(f"bake failed: {result.exception!r}")
        return Project(Path(result.project_path))

    return _bake


@pytest.fixture(scope="session")
def project(cookies_session) -> Project:  # type: ignore[no-untyped-def]
    """The default bake, synced once and shared: tests read it or run its tools, never edit it."""
    result = cookies_session.bake()
    if result.exit_code != 0:
        raise AssertionError(f"bake failed: {result.exception!r}")
    baked = Project(Path(result.project_path))
    baked.sync()
    return baked


@pytest.fixture(scope="session")
def uv() -> str:
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv is not on PATH: run the tests through scripts/test.sh", pytrace=False)
    return found
