"""A job's status: from Redis while arq knows the job, from the job history afterwards.

Once the history holds a final state (complete, failed, dead) it answers, whatever Redis still says:
the worker writes the outcome before it tells arq, so Redis can only lag behind it (an outage left
arq's in-progress key behind, or a failed result stands for a job that is dead and replayed).
"""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from chassis.jobs import history
from chassis.jobs.models import FINAL_STATUSES, JobRecord, JobStatus
from chassis.jobs.queue import LiveState, Queue
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession


class JobView(BaseModel):
    """A job's status as `GET /v1/jobs/{job_id}` answers it."""

    job_id: str
    task: str
    status: JobStatus
    attempts: int
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    result: Any
    error: str | None
    replay_of: str | None = None
    replayed_as: str | None = None


async def get_status(session: AsyncSession, queue: Queue, job_id: str) -> JobView | None:
    live = await queue.live_state(job_id)
    record = await history.get(session, job_id)
    if record is not None and (live is None or record.status in FINAL_STATUSES):
        return _from_record(record)
    if live is not None:
        return _merge(job_id, live, record)
    return None


def _merge(job_id: str, live: LiveState, record: JobRecord | None) -> JobView:
    """Redis holds the live status; the history row, when there is one, holds the rest.

    The row counts tries the way the retry policy does (deliveries that never reached the task
    are not counted), so its count wins over arq's. While a job waits to retry, Redis has no
    error for it: the row has the last one.
    """
    if record is None:
        return JobView(job_id=job_id, **asdict(live))
    return JobView(
        job_id=job_id,
        task=live.task,
        status=live.status,
        attempts=record.attempts,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at if live.finished_at else None,
        result=live.result,
        error=live.error or (None if live.status == JobStatus.COMPLETE else record.error),
        replay_of=record.replay_of,
    )


def _from_record(record: JobRecord) -> JobView:
    return JobView(
        job_id=record.job_id,
        task=record.task,
        status=JobStatus(record.status),
        attempts=record.attempts,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        result=record.result,
        error=record.error,
        replay_of=record.replay_of,
        replayed_as=record.replayed_as,
    )
