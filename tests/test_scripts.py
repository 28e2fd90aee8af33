"""The README's test command says in one line what it needs before it installs or runs anything."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

import pytest

from tests.conftest import TEMPLATE


def load_services_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "services_check", TEMPLATE / "scripts" / "services_check.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


services_check = load_services_check()
DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/test"  # port 1: nothing listens there
REDIS = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("environ", "docker", "start"),
    [
        ({}, False, "the tests need Postgres and Redis, and no Docker engine answered: set both URLs"),
        ({"TEST_REDIS_URL": REDIS}, False, "TEST_DATABASE_URL is not set"),
        ({"TEST_DATABASE_URL": DATABASE, "TEST_REDIS_URL": REDIS}, False, "nothing answers at 127.0.0.1:1"),
    ],
)
def test_missing_services_are_named_in_one_line(environ: dict[str, str], docker: bool, start: str) -> None:
    found = services_check.problem(environ, docker=docker)
    assert found is not None and found.startswith(start) and "\n" not in found, found


def test_docker_alone_is_enough() -> None:
    assert services_check.problem({}, docker=True) is None


def test_test_command_stops_before_pytest_with_one_line() -> None:
    # No URLs, and a PATH with no docker on it: the machine the README's note describes.
    completed = subprocess.run(
        ["bash", "scripts/test.sh"],
        cwd=TEMPLATE,
        env={
            "PATH": f"{TEMPLATE / 'no-such-dir'}:{sys.exec_prefix}/bin:/usr/bin:/bin",
            "HOME": "/nonexistent",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = (completed.stdout + completed.stderr).splitlines()
    assert (completed.returncode, len(lines), lines[0].startswith("error: the tests need Postgres")) == (
        2,
        1,
        True,
    )
