"""The web tier's side of the job history: a queued job's row, and reads of it.

The worker's writes (claims and outcomes) are in `jobs/_worker/ledger.py`.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chassis.jobs.models import JobRecord, JobStatus
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


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
    replay_of: str | None = None,
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
        "replay_of": replay_of,
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
