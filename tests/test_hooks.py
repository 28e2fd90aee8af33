"""Bad answers stop generation with one clear line and leave no folder behind."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE

BAD_ANSWERS = [
    ({"project_slug": "Acme Reports"}, "project_slug 'Acme Reports' must be lowercase"),
    ({"project_slug": "acme--reports"}, "project_slug 'acme--reports' must be lowercase"),
    ({"project_slug": "9lives"}, "project_slug '9lives' must be lowercase"),
    ({"package_name": "acme-reports"}, "is not a valid Python identifier"),
    ({"package_name": "class"}, "'class' is a Python keyword"),
    ({"package_name": "json"}, "'json' would shadow the standard library"),
    ({"package_name": "test"}, "'test' would shadow the standard library"),
    ({"package_name": "redis"}, "'redis' would shadow a dependency"),
    ({"package_name": "arq"}, "'arq' would shadow a dependency"),
    ({"package_name": "Acme"}, "must be lowercase"),
    ({"package_name": "a" * 31}, "longer than 30 characters"),
    ({"author_email": "not-an-email"}, "is not an email address"),
]


def bake_cli(tmp_path: Path, answers: dict[str, str]) -> subprocess.CompletedProcess[str]:
    pairs = [f"{key}={value}" for key, value in answers.items()]
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE), "-o", str(tmp_path), *pairs],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS)
def test_bad_answer_fails_with_clear_line(tmp_path: Path, answers: dict[str, str], message: str) -> None:
    completed = bake_cli(tmp_path, answers)
    # cookiecutter adds its own "Stopping generation" line and traceback; ours is the one that says why.
    error_lines = [
        line
        for line in completed.stderr.splitlines()
        if line.startswith("ERROR: ") and "Stopping generation" not in line
    ]
    assert (completed.returncode != 0, len(error_lines), message in "".join(error_lines)) == (
        True,
        1,
        True,
    )


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS[:4])
def test_bad_answer_leaves_no_folder(tmp_path: Path, answers: dict[str, str], message: str) -> None:
    bake_cli(tmp_path, answers)
    assert list(tmp_path.iterdir()) == []


def test_good_answers_pass_the_hook(tmp_path: Path) -> None:
    completed = bake_cli(tmp_path, {"project_name": "Ledger Sync", "package_name": "ledger_sync"})
    assert (completed.returncode, [p.name for p in tmp_path.iterdir()]) == (0, ["ledger-sync"])
