"""Two lines of history, the chassis's and the app's: where each lives, up to heads and back."""

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import chassis.migrations
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from chassis.migrations import BRANCH, LOCATION

from tests.conftest import PROJECT_ROOT, alembic_config
from tests.migration_databases import BACKENDS, applied_revisions, empty_database, table_names
from tests.processes import CLI

APP_BRANCH = "app"
APP_VERSIONS = PROJECT_ROOT / "migrations" / "versions"
CHASSIS_VERSIONS = Path(chassis.migrations.__file__).parent / "versions"
# The chassis's job_history, run_once and cron_schedules; the features' reports and digest_runs.
TABLES = {"alembic_version", "job_history", "run_once", "cron_schedules", "reports", "digest_runs"}


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database(request.param, request, tmp_path) as url:
        yield url


def scripts() -> ScriptDirectory:
    """The project's revisions, both lines, as alembic.ini lists them (no database needed)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def test_each_line_lives_where_its_owner_keeps_it() -> None:
    script = scripts()
    folders = {}
    for label in (BRANCH, APP_BRANCH):
        line = script.iterate_revisions(f"{label}@head", "base")
        folders[label] = {Path(revision.path).parent for revision in line}
    heads = {script.get_revision(f"{label}@head").revision for label in (BRANCH, APP_BRANCH)}
    locations = alembic_config("sqlite://").get_version_locations_list() or []
    assert (LOCATION in locations, folders) == (
        True,
        {BRANCH: {CHASSIS_VERSIONS}, APP_BRANCH: {APP_VERSIONS}},
    )
    assert heads == set(script.get_heads())


async def test_upgrade_heads_then_downgrade_base_round_trips(empty_url: str) -> None:
    config = alembic_config(empty_url)
    await asyncio.to_thread(command.upgrade, config, "heads")
    upgraded = (await table_names(empty_url), await applied_revisions(empty_url))
    await asyncio.to_thread(command.downgrade, config, "base")
    downgraded = (await table_names(empty_url), await applied_revisions(empty_url))
    assert (upgraded, downgraded) == (
        (TABLES, set(scripts().get_heads())),
        ({"alembic_version"}, set()),
    )


def test_migrate_refuses_a_config_without_the_chassis_line(tmp_path: Path) -> None:
    """Alembic alone skips a location it cannot find, and would migrate the app's line only."""
    ini = tmp_path / "alembic.ini"
    lines = (PROJECT_ROOT / "alembic.ini").read_text().splitlines(keepends=True)
    ini.write_text("".join(line for line in lines if LOCATION not in line))
    ini.with_name("migrations").symlink_to(PROJECT_ROOT / "migrations")
    database = tmp_path / "dev.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    done = subprocess.run(
        [*CLI, "migrate", "--config", str(ini)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr.strip(), database.exists()) == (
        2,
        f"error: no chassis revisions: list {LOCATION} in version_locations",
        False,
    )


def test_make_revision_writes_on_the_apps_line(tmp_path: Path) -> None:
    """`make revision` in a copy of the project's Alembic files, on a SQLite file (the dev path)."""
    for name in ("Makefile", "alembic.ini"):
        shutil.copy2(PROJECT_ROOT / name, tmp_path / name)
    shutil.copytree(PROJECT_ROOT / "migrations", tmp_path / "migrations")
    chassis_before = sorted(CHASSIS_VERSIONS.glob("*.py"))
    app_head = scripts().get_revision(f"{APP_BRANCH}@head").revision
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}",
        # This interpreter's scripts (the service's command, alembic, ruff), with no `uv run`.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["make", "revision", "RUN=", "MESSAGE=add probe"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    written = ScriptDirectory.from_config(Config(str(tmp_path / "alembic.ini")))
    head = written.get_revision(f"{APP_BRANCH}@head")
    new = list((tmp_path / "migrations" / "versions").glob("*_add_probe.py"))
    assert (new, head.down_revision, len(written.get_heads())) == ([Path(head.path)], app_head, 2)
    assert sorted(CHASSIS_VERSIONS.glob("*.py")) == chassis_before
