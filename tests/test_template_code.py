"""The template's own Python (hooks, scripts, tests, the Jinja extension) is linted and typed."""

import subprocess
import sys

import pytest

from tests.conftest import TEMPLATE

PATHS = ["hooks", "scripts", "tests", "local_extensions.py"]


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", *PATHS], ["ruff", "format", "--check", *PATHS], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_template_code_passes(command: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", *command], cwd=TEMPLATE, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
