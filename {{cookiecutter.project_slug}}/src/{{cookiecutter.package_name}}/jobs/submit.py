"""Record a job, commit, then enqueue: the worker never sees a job whose row was rolled back."""

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.core.errors import ServiceUnavailable
from {{ cookiecutter.package_name }}.jobs import history
from {{ cookiecutter.package_name }}.jobs.queue import Queue, new_job_id
from {{ cookiecutter.package_name }}.jobs.registry import Message


async def submit(
    session: AsyncSession,
    queue: Queue,
    message: Message,
    *,
    request_id: str | None,
    job_id: str | None = None,
    defer_seconds: float = 0,
    replay_of: str | None = None,
) -> str:
    """Commit the session with the job's history row, then enqueue the job.

    If Redis cannot take the job the row is removed again and the caller gets a 503: the
    client retries, and no history row claims a job that was never queued.
    """
    job_id = job_id or new_job_id()
    history.record_queued(
        session,
        job_id=job_id,
        task=message.task,
        kwargs=message.kwargs,
        request_id=request_id,
        deferred=defer_seconds > 0,
        replay_of=replay_of,
    )
    await session.commit()
    try:
        await queue.enqueue(
            message, job_id=job_id, defer_seconds=defer_seconds, request_id=request_id
        )
    except (RedisConnectionError, RedisTimeoutError) as exc:
        await history.discard(session, job_id)
        await session.commit()
        raise ServiceUnavailable(
            "The job queue is unavailable; retry later.", dependency="redis"
        ) from exc
    return job_id
