"""A generated project can follow the template with cruft: it knows its commit and takes updates."""

import shutil
import subprocess
from pathlib import Path

from tests.conftest import TEMPLATE

IGNORED = shutil.ignore_patterns(".git", ".venv-template", "__pycache__", ".pytest_cache")


def git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return completed.stdout.strip()


def template_repo(tmp_path: Path) -> Path:
    """A git copy of the template with one commit, as a published template would be."""
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=IGNORED)
    git(template, "init", "-q")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "template v1")
    return template


def cruft(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["cruft", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_cruft_project_takes_a_template_update(tmp_path: Path) -> None:
    template = template_repo(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    created = cruft(out, "create", "--no-input", str(template))
    assert created.returncode == 0, created.stderr
    project = out / "acme-reports"
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated")
    assert cruft(project, "check").returncode == 0

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA line added by the template.\n")
    git(template, "commit", "-qam", "template v2")
    assert cruft(project, "check").returncode != 0

    updated = cruft(project, "update", "--skip-apply-ask", "--allow-untracked-files")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "A line added by the template." in (project / "README.md").read_text()


def test_plain_cookiecutter_records_the_template_commit(tmp_path: Path) -> None:
    template = template_repo(tmp_path)
    subprocess.run(
        ["cookiecutter", "--no-input", str(template), "-o", str(tmp_path / "out")],
        check=True, capture_output=True,
    )  # fmt: skip
    state = (tmp_path / "out" / "acme-reports" / ".cruft.json").read_text()
    assert git(template, "rev-parse", "HEAD") in state
