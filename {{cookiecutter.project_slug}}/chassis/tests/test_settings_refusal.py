"""A production refusal is one line that names the settings and never echoes a value."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import CLI, python_path

SECRET = "hunter2-s3cret"
UNSAFE_PRODUCTION = {
    "ENVIRONMENT": "production",
    # The placeholder makes it unsafe; the password around it must still never be printed.
    "DATABASE_URL": f"postgresql+asyncpg://app:{SECRET}-change-me@db.internal:5432/app",
    "REDIS_URL": f"redis://:{SECRET}@redis.internal:6379/0",
    "DEBUG": "true",
}
ENTRY_POINTS = {
    "cli": [*CLI, "web"],
    "app_factory": [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "sample.main:create_app",
    ],
}


def start(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **UNSAFE_PRODUCTION, "PYTHONPATH": python_path()}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # In an empty directory, so no `.env` is read.
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_unsafe_production_stops_with_one_line_naming_the_settings(
    entry: str, tmp_path: Path
) -> None:
    started = start(ENTRY_POINTS[entry], tmp_path)
    assert (started.returncode, started.stderr.splitlines()) == (
        2,
        [
            "error: invalid settings: unsafe production settings: DEBUG must be off; "
            "DATABASE_URL holds the placeholder password 'change-me'"
        ],
    )


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_unsafe_production_never_prints_a_password(entry: str, tmp_path: Path) -> None:
    started = start(ENTRY_POINTS[entry], tmp_path)
    assert SECRET not in started.stdout + started.stderr
