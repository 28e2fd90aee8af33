"""Dead letters: jobs the job history records as `dead`, and their replay under a new job id."""

from collections.abc import Collection

from chassis.core.errors import ServiceUnavailable
from chassis.jobs import history
from chassis.jobs.accept import submit
from chassis.jobs.models import JobRecord, JobStatus
from chassis.jobs.queue import Queue, new_job_id
from chassis.jobs.registry import Message
from chassis.jobs.tracing import link_to_dead_job
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

_DEAD = JobRecord.status == JobStatus.DEAD
# Replayed dead letters stay in the history, linked to their replay, but are no longer pending.
_PENDING = _DEAD & JobRecord.replayed_as.is_(None)


class ReplayRefused(Exception):
    """The job cannot be replayed; the message says why."""


async def pending(session: AsyncSession, *, limit: int | None = None) -> list[JobRecord]:
    """Dead letters not yet replayed, newest first."""
    query = select(JobRecord).where(_PENDING).order_by(JobRecord.finished_at.desc()).limit(limit)
    return list(await session.scalars(query))


async def replay(
    session: AsyncSession, queue: Queue, job_id: str, *, known_tasks: Collection[str]
) -> str:
    """Enqueue a dead job again with its arguments under a new job id, and return that id.

    The dead row records `replayed_as` and the new row `replay_of` in the same commit, and the row
    lock refuses a second replay of the same dead letter.
    """
    locked = select(JobRecord).where(JobRecord.job_id == job_id).with_for_update()
    # The row as it is now, not as this session may have loaded it before the lock.
    record = await session.scalar(locked.execution_options(populate_existing=True))
    if record is None:
        raise ReplayRefused(f"no job {job_id!r}")
    if record.status != JobStatus.DEAD:
        raise ReplayRefused(f"job {job_id} is {record.status}, not dead")
    if record.replayed_as is not None:
        raise ReplayRefused(f"job {job_id} was already replayed as {record.replayed_as}")
    if record.task not in known_tasks:
        raise ReplayRefused(f"job {job_id} ran task {record.task!r}, which no worker has now")
    new_id = new_job_id()
    await history.set_replayed_as(session, job_id, new_id)
    message = Message(task=record.task, kwargs=dict(record.kwargs))
    await link_to_dead_job(queue.redis, job_id)
    try:
        await submit(
            session, queue, message, request_id=record.request_id, job_id=new_id, replay_of=job_id
        )
    except ServiceUnavailable:
        # submit removed the new row; the dead letter is pending again.
        await history.set_replayed_as(session, job_id, None)
        await session.commit()
        raise
    return new_id


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(JobRecord).where(_DEAD)) or 0


async def purge(session: AsyncSession) -> int:
    """Delete every dead letter, replayed or not; returns how many. The caller commits."""
    return await history.delete_dead(session)
