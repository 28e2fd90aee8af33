"""A chassis update that adds a migration applies cleanly to a database the old chassis migrated.

The update is played by one new chassis revision in a folder only this test lists: to Alembic it is
the same as a new file in the chassis's own folder, which a `cruft update` or a new wheel brings.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from chassis.migrations import BRANCH
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import alembic_config
from tests.migration_databases import BACKENDS, applied_revisions, empty_database

UPDATE = '''
"""A chassis update: job history learns which worker ran each job."""

import sqlalchemy as sa
from alembic import op

revision = "chassis_update_probe"
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_history") as batch:
        batch.add_column(
            sa.Column("worker", sa.String(64), nullable=False, server_default="unknown")
        )


def downgrade() -> None:
    with op.batch_alter_table("job_history") as batch:
        batch.drop_column("worker")
'''

JOB = text(
    "INSERT INTO job_history (job_id, task, status, attempts, kwargs, enqueued_at)"
    " VALUES ('j-old', 'reports.generate', 'complete', 1, '{}', CURRENT_TIMESTAMP)"
)


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database(request.param, request, tmp_path) as url:
        yield url


def updated_config(url: str, folder: Path) -> Config:
    """The project's Alembic config with one more chassis revision, written into `folder`."""
    config = alembic_config(url)
    chassis_head = ScriptDirectory.from_config(config).get_revision(f"{BRANCH}@head").revision
    (folder / "20260201_chassis_update_probe_worker_column.py").write_text(
        UPDATE.lstrip().format(down_revision=chassis_head)
    )
    locations = [*(config.get_version_locations_list() or []), str(folder)]
    config.set_main_option("version_locations", "\n".join(locations))
    return config


async def test_a_new_chassis_revision_upgrades_an_old_database(
    empty_url: str, tmp_path: Path
) -> None:
    old = alembic_config(empty_url)
    old_heads = set(ScriptDirectory.from_config(old).get_heads())
    app_head = ScriptDirectory.from_config(old).get_revision("app@head").revision
    await asyncio.to_thread(command.upgrade, old, "heads")
    before = await applied_revisions(empty_url)
    engine = create_async_engine(empty_url)
    async with engine.begin() as connection:
        await connection.execute(JOB)  # a database in use: the update meets existing rows
    await engine.dispose()

    update = tmp_path / "chassis_update"
    update.mkdir()
    new = updated_config(empty_url, update)
    await asyncio.to_thread(command.upgrade, new, "heads")
    after = await applied_revisions(empty_url)
    engine = create_async_engine(empty_url)
    async with engine.connect() as connection:
        workers = (await connection.execute(text("SELECT worker FROM job_history"))).all()
    await engine.dispose()
    # The update also steps back: one revision down the chassis's line, the app's left alone.
    await asyncio.to_thread(command.downgrade, new, f"{BRANCH}@-1")
    stepped_back = await applied_revisions(empty_url)

    assert before == old_heads
    assert (set(ScriptDirectory.from_config(new).get_heads()), after) == (
        {"chassis_update_probe", app_head},
        {"chassis_update_probe", app_head},
    )
    assert ([tuple(row) for row in workers], stepped_back) == ([("unknown",)], old_heads)
