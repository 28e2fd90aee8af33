import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.jobs import JobStatus, history
from {{ cookiecutter.package_name }}.jobs.history_writer import HistoryWriter
from {{ cookiecutter.package_name }}.jobs.models import JobRecord
from tests.conftest import alembic_config


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[HistoryWriter]:
    writer = HistoryWriter(engine)
    writer.start()
    yield writer
    await writer.close()


def start(writer: HistoryWriter, job_id: str) -> None:
    writer.started(
        job_id=job_id,
        task="t",
        attempt=1,
        kwargs={"n": 1},
        request_id=None,
        enqueued_at=datetime.now(UTC),
    )


async def record(engine: AsyncEngine, job_id: str) -> JobRecord | None:
    async with create_session_factory(engine)() as session:
        return await history.get(session, job_id)


async def test_finished_returns_once_the_row_is_committed(
    writer: HistoryWriter, engine: AsyncEngine
) -> None:
    start(writer, "w-1")
    await writer.finished(job_id="w-1", status=JobStatus.COMPLETE, result={"ok": True})

    row = await record(engine, "w-1")
    assert row is not None
    assert (row.status, row.attempts, row.result, row.started_at is not None) == (
        "complete",
        1,
        {"ok": True},
        True,
    )


async def test_concurrent_jobs_share_one_statement_per_kind(
    writer: HistoryWriter, engine: AsyncEngine
) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    job_ids = [f"c-{number}" for number in range(20)]
    for job_id in job_ids:
        start(writer, job_id)
    await asyncio.gather(
        *(writer.finished(job_id=job_id, status=JobStatus.COMPLETE) for job_id in job_ids)
    )
    event.remove(engine.sync_engine, "before_cursor_execute", count)

    assert [statement.split()[0] for statement in statements] == ["INSERT", "UPDATE"]


async def test_a_bad_row_fails_only_its_own_job(writer: HistoryWriter, engine: AsyncEngine) -> None:
    start(writer, "good")
    start(writer, "bad")
    outcomes = await asyncio.gather(
        writer.finished(job_id="good", status=JobStatus.COMPLETE, result=1),
        # A result JSON cannot encode: the row fails, as it would in a transaction of its own.
        writer.finished(job_id="bad", status=JobStatus.COMPLETE, result=object()),
        return_exceptions=True,
    )

    row = await record(engine, "good")
    assert (outcomes[0], isinstance(outcomes[1], Exception), row and row.status) == (
        None,
        True,
        "complete",
    )


async def test_writes_after_close_are_written_alone(engine: AsyncEngine) -> None:
    writer = HistoryWriter(engine)
    writer.start()
    await writer.close()

    start(writer, "late")
    await writer.finished(job_id="late", status=JobStatus.QUEUED, error="interrupted")

    row = await record(engine, "late")
    assert (row and row.status, row and row.error) == ("queued", "interrupted")


async def test_batches_are_written_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    engine = create_engine(Settings(database_url=url))
    writer = HistoryWriter(engine)
    writer.start()
    for job_id in ("s-1", "s-2"):
        start(writer, job_id)
    await asyncio.gather(
        writer.finished(job_id="s-1", status=JobStatus.COMPLETE),
        writer.finished(job_id="s-2", status=JobStatus.FAILED, error="boom"),
    )
    await writer.close()

    rows = [await record(engine, job_id) for job_id in ("s-1", "s-2")]
    await engine.dispose()
    assert [row and (row.status, row.attempts) for row in rows] == [
        ("complete", 1),
        ("failed", 1),
    ]
