"""A generated project can follow the template with cruft, whichever way it was made.

- cookiecutter and `cruft create` give the same skip list (pyproject's [tool.cruft]);
- a bake from a relative template path records the absolute path and the commit;
- `cruft update` takes template changes, and a conflicting change ends as the README says:
  git conflict markers and an unmerged file, with cruft reporting success.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE

IGNORED = shutil.ignore_patterns(
    ".git", ".venv-template", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"
)
GENERATED_README = Path("{{cookiecutter.project_slug}}") / "README.md"


def git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
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


def committed_project(out: Path, *create: str) -> Path:
    out.mkdir()
    subprocess.run(
        [*create, "--output-dir", str(out)], cwd=out.parent, check=True, capture_output=True, timeout=300
    )
    project = out / "acme-reports"
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated")
    return project


def edit_template_readme(template: Path, line: str) -> None:
    readme = template / GENERATED_README
    lines = readme.read_text().splitlines()
    lines[2] = line  # the description line under the title
    readme.write_text("\n".join(lines) + "\n")
    git(template, "commit", "-qam", "template v2")


def skip_list(project: Path) -> list[str]:
    state = json.loads((project / ".cruft.json").read_text())
    from_pyproject = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["cruft"]["skip"]
    return sorted({*state.get("skip", []), *from_pyproject})


def test_cookiecutter_and_cruft_create_skip_the_same_files(tmp_path: Path) -> None:
    template = template_repo(tmp_path)
    by_cookiecutter = committed_project(tmp_path / "a", "cookiecutter", "--no-input", str(template))
    by_cruft = committed_project(tmp_path / "b", "cruft", "create", "--no-input", str(template))
    assert skip_list(by_cookiecutter) == skip_list(by_cruft) == [".env", "uv.lock"]


def test_relative_template_path_records_the_template_and_its_commit(tmp_path: Path) -> None:
    template = template_repo(tmp_path)
    project = committed_project(tmp_path / "out", "cookiecutter", "--no-input", "template")
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (str(template), git(template, "rev-parse", "HEAD"))
    assert cruft(project, "check").returncode == 0
    edit_template_readme(template, "A newer description.")
    assert cruft(project, "check").returncode == 1


@pytest.mark.parametrize("create", [["cookiecutter", "--no-input"], ["cruft", "create", "--no-input"]])
def test_update_takes_a_template_change(tmp_path: Path, create: list[str]) -> None:
    template = template_repo(tmp_path)
    project = committed_project(tmp_path / "out", *create, str(template))
    edit_template_readme(template, "A line added by the template.")
    updated = cruft(project, "update", "--skip-apply-ask")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (project / "README.md").read_text().splitlines()[2] == "A line added by the template."


def test_conflict_leaves_git_markers_as_the_readme_says(tmp_path: Path) -> None:
    template = template_repo(tmp_path)
    project = committed_project(tmp_path / "out", "cookiecutter", "--no-input", str(template))
    readme = project / "README.md"
    lines = readme.read_text().splitlines()
    lines[2] = "Our own description."
    readme.write_text("\n".join(lines) + "\n")
    git(project, "commit", "-qam", "ours")
    edit_template_readme(template, "The template's description.")
    updated = cruft(project, "update", "--skip-apply-ask")
    text = readme.read_text()
    assert (
        updated.returncode,
        "<<<<<<< ours" in text and ">>>>>>> theirs" in text,
        "UU README.md" in git(project, "status", "--short"),
        list(project.glob("*.rej")),
    ) == (0, True, True, [])
    documented = (TEMPLATE / GENERATED_README).read_text()
    assert "`<<<<<<< ours`" in documented and "`UU`" in documented
