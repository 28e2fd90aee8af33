"""Writes to the job history table, from the web tier (queued) and the worker (attempts, outcomes)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.jobs.models import JobRecord, JobStatus

FINAL_STATUSES = frozenset({JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.DEAD})


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


class ClaimOutcome(StrEnum):
    RUN = "run"
    # Delivered again after it finished (Redis lost arq's bookkeeping): nothing to run.
    ALREADY_COMPLETE = "already_complete"
    ALREADY_DEAD = "already_dead"
    # Its last try was cut off (worker killed, or stopped past its drain time).
    OUT_OF_TRIES = "out_of_tries"


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    attempt: int
    result: Any = None
    error: str | None = None


async def claim_attempt(
    session: AsyncSession,
    *,
    job_id: str,
    task: str,
    kwargs: dict[str, Any],
    request_id: str | None,
    enqueued_at: datetime,
    max_tries: int,
) -> Claim:
    """Count the next try and mark the job running, unless it is finished or out of tries.

    A try is counted here, just before the task runs, so a delivery that never got this far
    (Redis or the database down) does not use one up. Creates the row for jobs enqueued without
    one (cron, other services).
    """
    await session.execute(
        _insert(session)(JobRecord)
        .values(
            job_id=job_id,
            task=task,
            status=JobStatus.QUEUED,
            attempts=0,
            kwargs=kwargs,
            request_id=request_id,
            enqueued_at=enqueued_at,
        )
        .on_conflict_do_nothing(index_elements=[JobRecord.job_id])
    )
    record = await session.scalar(
        select(JobRecord).where(JobRecord.job_id == job_id).with_for_update()
    )
    assert record is not None  # inserted above if it was missing
    if record.status == JobStatus.COMPLETE:
        return Claim(ClaimOutcome.ALREADY_COMPLETE, record.attempts, result=record.result)
    if record.status == JobStatus.DEAD:
        return Claim(ClaimOutcome.ALREADY_DEAD, record.attempts, error=record.error)
    if record.attempts >= max_tries:
        error = f"attempt {record.attempts} of {max_tries} was cut off and no tries are left"
        record.status, record.error, record.finished_at = JobStatus.DEAD, error, utcnow()
        return Claim(ClaimOutcome.OUT_OF_TRIES, record.attempts, error=error)
    record.attempts += 1
    record.status, record.started_at = JobStatus.IN_PROGRESS, utcnow()
    return Claim(ClaimOutcome.RUN, record.attempts)


async def record_outcome(
    session: AsyncSession,
    *,
    job_id: str,
    status: JobStatus,
    result: Any = None,
    error: str | None = None,
) -> None:
    """Store how an attempt ended; `finished_at` is set only when the job is over."""
    finished_at = utcnow() if status in FINAL_STATUSES else None
    await session.execute(
        update(JobRecord)
        .where(JobRecord.job_id == job_id)
        .values(status=status, result=result, error=error, finished_at=finished_at)
    )
