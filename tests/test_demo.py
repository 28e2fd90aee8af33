"""The README's first command works: the demo bakes, runs web + worker, completes a job, cleans up."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE


def running_demo_processes(folder: Path) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if str(folder) in line]


@pytest.mark.slow
def test_demo_completes_a_report_and_leaves_no_process(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(TEMPLATE / "scripts" / "demo.py"), "--output", str(tmp_path),
         "--work-seconds", "0.3"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "status: complete" in completed.stdout
    assert running_demo_processes(tmp_path) == []
