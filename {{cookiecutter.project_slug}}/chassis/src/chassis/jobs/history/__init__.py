"""The job history's one writer: every statement that changes `job_history` is in this package.

    insert_queued, discard          a job's row in the caller's session (`jobs.submit`)
    set_replayed_as, delete_dead    a dead letter's replay, and the purge (`dlq`)
    Writer.add_queued               the accept path's rows, group-committed (`jobs/accept.py`)
    Writer.claim, Writer.record     the worker's tries and outcomes, group-committed

Two SQL styles, each where it pays. Writes in a session, and every write on SQLite, are
SQLAlchemy Core statements on the table (`_portable.py`). The group commits on Postgres are one
SQL text each over arrays, on an asyncpg connection of the writer's own (`_postgres.py`): through
SQLAlchemy a group cost more Python than its round trip. The groups themselves form in
`_group_commit.py`. Reads stay with their readers (`jobs/status.py`, `jobs/dead_letters.py`).
"""

from datetime import UTC, datetime
from typing import Any

from chassis.jobs.history import _portable
from chassis.jobs.history._writer import Claim, ClaimOutcome, JobRow, Writer
from chassis.jobs.models import JobRecord, JobStatus
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    """Add the job's row unless one exists; True if this call added it. The caller commits."""
    row = {
        "job_id": job_id,
        "task": task,
        "status": JobStatus.DEFERRED if deferred else JobStatus.QUEUED,
        "attempts": 0,
        "kwargs": kwargs,
        "request_id": request_id,
        "enqueued_at": utcnow(),
        "replay_of": replay_of,
    }
    dialect = session.get_bind().dialect.name
    return (await _portable.add_queued(session, [row], dialect=dialect))[job_id]


async def discard(session: AsyncSession, job_id: str) -> None:
    """Remove a job's row: its job never reached the queue. The caller commits."""
    await _portable.discard(session, job_id)


async def set_replayed_as(session: AsyncSession, job_id: str, new_id: str | None) -> None:
    """Link a dead letter to its replay (None: the replay failed, it is pending again)."""
    await _portable.set_replayed_as(session, job_id, new_id)


async def delete_dead(session: AsyncSession) -> int:
    """Delete every dead letter, replayed or not; returns how many. The caller commits."""
    return await _portable.delete_dead(session)


async def get(session: AsyncSession, job_id: str) -> JobRecord | None:
    return await session.scalar(select(JobRecord).where(JobRecord.job_id == job_id))


__all__ = [
    "Claim",
    "ClaimOutcome",
    "JobRow",
    "Writer",
    "delete_dead",
    "discard",
    "get",
    "insert_queued",
    "set_replayed_as",
    "utcnow",
]
