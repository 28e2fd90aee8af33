"""Accepting a job: its row is committed, then it is enqueued, so no worker sees a rolled-back job.

Two ways in, one path. `submit` adds the row to the caller's session and commits it, for a job
that must commit with other changes (a dead letter's replay, a route's own rows). `Intake` is the
web tier's accept path (behind `SubmitDep`, `web/accept.py`): a route that only accepts a job has
nothing else to commit, and an ORM session per request costs several milliseconds of Python for
one row, so the row joins the next group commit of the history's `Writer` instead, and the request
waits for that commit: a 202 still means the row is durable. Both enqueue the same way.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chassis.core.errors import ServiceUnavailable
from chassis.core.outages import Dependency, outage_of
from chassis.jobs import history
from chassis.jobs.models import JobStatus
from chassis.jobs.queue import CompareAndSet, Queue, new_job_id
from chassis.jobs.registry import Message
from chassis.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

# A job in these states has not started: enqueueing it again is safe (the queue de-duplicates).
_NOT_STARTED = {JobStatus.QUEUED, JobStatus.DEFERRED}

# Names a key to write in the enqueue's round trip, given the job's status (the idempotency
# record of the request).
Also = Callable[[JobStatus], CompareAndSet | None]


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    status: JobStatus
    # False when the job id was known already and no new job was queued.
    created: bool
    # Whether the key the caller asked to write alongside the enqueue was written; None when
    # there was none, or no enqueue ran (the job had started already).
    also_written: bool | None = None


async def submit(
    session: AsyncSession,
    queue: Queue,
    message: Message,
    *,
    request_id: str | None,
    job_id: str | None = None,
    defer_seconds: float = 0,
    replay_of: str | None = None,
    also: Also | None = None,
) -> Submitted:
    """Commit the session with the job's history row, then enqueue the job.

    A `job_id` that is known already (a retried request that derives its job id from its
    idempotency key) creates nothing new: the existing job is returned. If Redis cannot take the
    job the row is removed again and the caller gets a 503: the client retries, and no history
    row claims a job that was never queued. `also(status)` names a key to write in the enqueue's
    round trip (a request's idempotency record); `Submitted.also_written` says whether it was.
    """
    job_id = job_id or new_job_id()
    status = JobStatus.DEFERRED if defer_seconds > 0 else JobStatus.QUEUED
    inserted = await history.insert_queued(
        session,
        job_id=job_id,
        task=message.task,
        kwargs=message.kwargs,
        request_id=request_id,
        deferred=defer_seconds > 0,
        replay_of=replay_of,
    )
    if not inserted:
        record = await history.get(session, job_id)
        status = JobStatus(record.status) if record else status
    await session.commit()

    async def discard(job_id: str) -> None:
        await history.discard(session, job_id)
        await session.commit()

    return await _enqueue(
        queue,
        message,
        job_id=job_id,
        status=status,
        inserted=inserted,
        defer_seconds=defer_seconds,
        request_id=request_id,
        discard=discard,
        also=also,
    )


class Intake:
    """The web tier's accept path: the job's row group-committed, then its enqueue."""

    def __init__(self, engine: AsyncEngine, settings: Settings, queue: Queue) -> None:
        self._queue = queue
        self._history = history.Writer(engine, settings)

    async def submit(
        self,
        message: Message,
        *,
        request_id: str | None,
        job_id: str | None = None,
        defer_seconds: float = 0,
        session: AsyncSession | None = None,
        also: Also | None = None,
    ) -> Submitted:
        """Record the job's row durably, then enqueue it (`submit`'s guarantees).

        With a `session`, the row commits with the session's other changes (`submit`).
        """
        if session is not None:
            return await submit(
                session,
                self._queue,
                message,
                request_id=request_id,
                job_id=job_id,
                defer_seconds=defer_seconds,
                also=also,
            )
        job_id = job_id or new_job_id()
        inserted, status = await self._history.add_queued(
            job_id=job_id,
            task=message.task,
            kwargs=message.kwargs,
            request_id=request_id,
            deferred=defer_seconds > 0,
            enqueued_at=history.utcnow(),
        )
        return await _enqueue(
            self._queue,
            message,
            job_id=job_id,
            status=status,
            inserted=inserted,
            defer_seconds=defer_seconds,
            request_id=request_id,
            discard=self._history.discard,
            also=also,
        )

    async def close(self) -> None:
        await self._history.close()


async def _enqueue(
    queue: Queue,
    message: Message,
    *,
    job_id: str,
    status: JobStatus,
    inserted: bool,
    defer_seconds: float,
    request_id: str | None,
    discard: Callable[[str], Awaitable[None]],
    also: Also | None,
) -> Submitted:
    """Enqueue a job whose row is committed; `inserted` says whether this caller added the row."""
    if not inserted and status not in _NOT_STARTED:
        return Submitted(job_id, status, created=False)
    # A known job that never started is still in the queue, or was lost before it got there (a
    # crash right after the commit). Enqueueing again recovers the second case and is a no-op
    # in the first.
    write = also(status) if also else None
    try:
        created, written = await queue.enqueue_and_set(
            message,
            job_id=job_id,
            defer_seconds=defer_seconds,
            request_id=request_id,
            also=write,
        )
    except Exception as exc:
        if outage_of(exc) is not Dependency.REDIS:
            raise
        if inserted:
            await discard(job_id)
        raise ServiceUnavailable(
            "The job queue is unavailable; retry later.", dependency="redis"
        ) from exc
    return Submitted(
        job_id, status, created=created, also_written=written if write is not None else None
    )
