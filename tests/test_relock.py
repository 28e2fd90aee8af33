"""scripts/relock.sh with an unchanged pyproject.toml leaves the lock file exactly as it was."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE

PROJECT = Path("{{cookiecutter.project_slug}}")
# One lock for every bake: no answer adds or removes a dependency.
LOCKS = [PROJECT / "uv.lock"]


@pytest.mark.slow  # uv may ask the package index whether the lock still resolves
def test_relock_upgrades_nothing_unless_asked(tmp_path: Path) -> None:
    template = tmp_path / "template"
    shutil.copytree(
        TEMPLATE, template, ignore=shutil.ignore_patterns(".git", ".venv-template", "__pycache__")
    )
    subprocess.run(["bash", "scripts/relock.sh"], cwd=template, check=True, capture_output=True, timeout=600)
    changed = [
        str(lock) for lock in LOCKS if (template / lock).read_bytes() != (TEMPLATE / lock).read_bytes()
    ]
    assert changed == []
