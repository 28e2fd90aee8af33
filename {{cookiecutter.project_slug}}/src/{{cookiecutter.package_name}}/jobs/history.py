"""Writes to the job history table, from the web tier (queued) and the worker (start, finish)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.jobs.models import JobRecord, JobStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


def _insert(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's INSERT, which has ON CONFLICT on both Postgres and SQLite."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def insert_queued(
    session: AsyncSession,
    *,
    job_id: str,
    task: str,
    kwargs: dict[str, Any],
    request_id: str | None,
    deferred: bool = False,
) -> bool:
    """Add the job's row unless one exists; True if this call added it."""
    values = {
        "job_id": job_id,
        "task": task,
        "status": JobStatus.DEFERRED if deferred else JobStatus.QUEUED,
        "attempts": 0,
        "kwargs": kwargs,
        "request_id": request_id,
        "enqueued_at": utcnow(),
    }
    statement = (
        _insert(session)(JobRecord)
        .values(values)
        .on_conflict_do_nothing(index_elements=[JobRecord.job_id])
        .returning(JobRecord.job_id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def discard(session: AsyncSession, job_id: str) -> None:
    await session.execute(delete(JobRecord).where(JobRecord.job_id == job_id))


async def get(session: AsyncSession, job_id: str) -> JobRecord | None:
    return await session.scalar(select(JobRecord).where(JobRecord.job_id == job_id))


async def mark_started(
    session: AsyncSession,
    *,
    job_id: str,
    task: str,
    attempt: int,
    kwargs: dict[str, Any],
    request_id: str | None,
    enqueued_at: datetime,
) -> None:
    """Record an attempt; creates the row for jobs enqueued without one (cron, other services)."""
    now = utcnow()
    values = {
        "job_id": job_id,
        "task": task,
        "status": JobStatus.IN_PROGRESS,
        "attempts": attempt,
        "kwargs": kwargs,
        "request_id": request_id,
        "enqueued_at": enqueued_at,
        "started_at": now,
    }
    on_retry = {"status": JobStatus.IN_PROGRESS, "attempts": attempt, "started_at": now}
    statement = _insert(session)(JobRecord).values(values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[JobRecord.job_id], set_=on_retry)
    )


async def mark_finished(
    session: AsyncSession,
    *,
    job_id: str,
    status: JobStatus,
    result: Any = None,
    error: str | None = None,
) -> None:
    await session.execute(
        update(JobRecord)
        .where(JobRecord.job_id == job_id)
        .values(status=status, result=result, error=error, finished_at=utcnow())
    )
