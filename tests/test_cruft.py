"""A generated project can follow the template with cruft, whichever way it was made.

- cookiecutter and `cruft create` give the same skip list (pyproject's [tool.cruft]);
- a bake from a relative template path records the absolute path and the commit;
- `cruft update` takes template changes, and a conflicting change ends as the README says:
  git conflict markers and an unmerged file, with cruft reporting success;
- a template change that touches only the chassis applies over a team's own feature with no
  conflict, and a team's edit inside the chassis is where conflicts come from.
"""

from __future__ import annotations

import json
import re
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


# --- a team's project following the template's chassis ----------------------------------------

CHASSIS = Path("{{cookiecutter.project_slug}}") / "chassis" / "src" / "chassis"
# The chassis change of "template v2": a module's docstring and a new function, and a new module.
CHANGED_MODULE = "chassis/src/chassis/settings.py"
NEW_MODULE = "chassis/src/chassis/compat.py"
NEW_MODULE_TEXT = (
    '"""Names kept for apps written against an older chassis."""\n\nLEGACY_NAMES: dict[str, str] = {}\n'
)
ADDED_FUNCTION = '\n\ndef settings_prefixes() -> list[str]:\n    """The env prefixes the chassis reads."""\n    return [""]\n'
CONFLICT_MARKER = re.compile(r"^<<<<<<< ", re.MULTILINE)
TEMPLATE_DOCSTRING = '"""The chassis\'s settings, read once from the environment (v2)."""'

# The team's own feature, as the generated README's recipe adds one: a package with a route, a
# task, a settings model of its own and a manifest, a migration, and a line in features.py.
INVOICES = {
    "__init__.py": '''"""Invoices: issued in the background, one per order."""

from chassis.service import Feature

from acme_reports.invoices.settings import InvoiceSettings
from acme_reports.invoices.tasks import issue_invoice

feature = Feature(
    name="invoices",
    router="acme_reports.invoices.router:router",
    tasks=[issue_invoice],
    settings=[InvoiceSettings],
)
''',
    "router.py": '''from chassis.jobs import JobAccepted
from chassis.web import SubmitDep
from fastapi import APIRouter, status

from acme_reports.invoices.tasks import issue_invoice

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def create_invoice(order_id: int, submit: SubmitDep) -> JobAccepted:
    """Issue the order's invoice in the worker."""
    return await submit(issue_invoice.message(order_id=order_id))
''',
    "tasks.py": '''"""Worker tasks of the invoices feature."""

from chassis.jobs import JobContext, task


@task(timeout_seconds=30, max_tries=5)
async def issue_invoice(ctx: JobContext, *, order_id: int) -> dict[str, int]:
    """Issue one order's invoice."""
    return {"order_id": order_id}
''',
    "settings.py": '''"""The invoices' settings, all `INVOICE_*`."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class InvoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICE_", env_file=".env", extra="ignore")

    currency: str = "EUR"
''',
}
INVOICES_MIGRATION = '''"""Invoices.

Revision ID: invoices_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "invoices_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("invoices", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("invoices")
'''


def add_team_feature(project: Path) -> dict[str, str]:
    """Edit the app as a team would, commit it, and return every file the team wrote."""
    package = project / "src" / "acme_reports"
    for name, text in INVOICES.items():
        (package / "invoices" / name).parent.mkdir(exist_ok=True)
        (package / "invoices" / name).write_text(text)
    versions = project / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "20260201_0001_invoices.py").write_text(INVOICES_MIGRATION)
    features = package / "features.py"
    text = features.read_text().replace(
        "from acme_reports import digests, reports", "from acme_reports import digests, invoices, reports"
    )
    text = text.replace("digests.feature]", "digests.feature, invoices.feature]")
    assert "invoices.feature" in text, "features.py no longer lists its manifests as the test expects"
    features.write_text(text)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "invoices")
    return {
        str(path.relative_to(project)): path.read_text()
        for path in [*(package / "invoices").glob("*.py"), versions / "20260201_0001_invoices.py", features]
    }


def change_the_chassis(template: Path) -> None:
    """Template v2: a docstring and a function in one chassis module, and a new chassis module."""
    module = template / "{{cookiecutter.project_slug}}" / CHANGED_MODULE
    lines = module.read_text().splitlines(keepends=True)
    module.write_text(TEMPLATE_DOCSTRING + "\n" + "".join(lines[1:]).lstrip('"\n') + ADDED_FUNCTION)
    (template / "{{cookiecutter.project_slug}}" / NEW_MODULE).write_text(NEW_MODULE_TEXT)
    git(template, "add", "-A")
    git(template, "commit", "-qm", "template v2: chassis only")


def leftovers(project: Path) -> list[str]:
    """Rejected hunks and conflict markers anywhere in the project's tracked files."""
    found = [str(path.relative_to(project)) for path in project.rglob("*.rej")]
    # An unmerged file is listed once per stage; a marker starts its line (the README quotes one).
    for name in sorted(set(git(project, "ls-files").splitlines())):
        path = project / name
        if path.is_file() and CONFLICT_MARKER.search(path.read_text(errors="ignore")):
            found.append(name)
    return found


def test_chassis_update_applies_over_a_teams_own_feature(tmp_path: Path) -> None:
    template = template_repo(tmp_path)
    project = committed_project(tmp_path / "out", "cruft", "create", "--no-input", str(template))
    ours = add_team_feature(project)
    change_the_chassis(template)
    updated = cruft(project, "update", "-y")
    changed_module = (project / CHANGED_MODULE).read_text()
    assert (
        updated.returncode,
        leftovers(project),
        {name: (project / name).read_text() for name in ours} == ours,
        changed_module.startswith(TEMPLATE_DOCSTRING) and changed_module.endswith(ADDED_FUNCTION),
        (project / NEW_MODULE).read_text(),
        json.loads((project / ".cruft.json").read_text())["commit"],
        cruft(project, "check").returncode,
    ) == (0, [], True, True, NEW_MODULE_TEXT, git(template, "rev-parse", "HEAD"), 0), updated.stderr


def test_team_edit_inside_the_chassis_conflicts_with_the_update(tmp_path: Path) -> None:
    # What docs/updating.md describes: cruft says it updated, git holds the chassis file
    # unmerged with both sides between markers, and the rest of the update is applied.
    template = template_repo(tmp_path)
    project = committed_project(tmp_path / "out", "cruft", "create", "--no-input", str(template))
    module = project / CHANGED_MODULE
    lines = module.read_text().splitlines(keepends=True)
    module.write_text('"""Our settings, patched in place."""\n' + "".join(lines[1:]))
    git(project, "commit", "-qam", "patch the chassis")
    change_the_chassis(template)
    updated = cruft(project, "update", "-y")
    text = module.read_text()
    ours, _, rest = text.partition("<<<<<<< ours\n")[2].partition("=======\n")
    theirs = rest.partition(">>>>>>> theirs\n")[0]
    assert (
        updated.returncode,
        leftovers(project),
        [line for line in git(project, "status", "--short").splitlines() if line.startswith("UU")],
        ours.splitlines()[0],
        theirs.splitlines()[0],
        (project / NEW_MODULE).read_text(),
    ) == (
        0,
        [CHANGED_MODULE],
        [f"UU {CHANGED_MODULE}"],
        '"""Our settings, patched in place."""',
        TEMPLATE_DOCSTRING,
        NEW_MODULE_TEXT,
    ), updated.stdout + updated.stderr
