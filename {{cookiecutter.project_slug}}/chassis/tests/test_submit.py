import uuid
from collections.abc import AsyncIterator

import pytest
from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import JobRecord, Queue, history, new_job_id, submit
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sample.notes.tasks import write_note
from sample.settings import Settings


@pytest.fixture
async def session(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        yield session
    await engine.dispose()


async def history_rows(session: AsyncSession, job_id: str) -> int:
    count = await session.scalar(select(func.count()).where(JobRecord.job_id == job_id))
    return count or 0


async def test_known_job_id_queues_nothing_new(
    session: AsyncSession, redis: Redis, settings: Settings
) -> None:
    queue, job_id = Queue(redis, settings), new_job_id()
    message = write_note.message(title=str(uuid.uuid4()), work_seconds=0)
    first = await submit(session, queue, message, request_id=None, job_id=job_id)
    second = await submit(session, queue, message, request_id=None, job_id=job_id)
    assert (first.created, second.created, await redis.zcard(settings.queue_key("default"))) == (
        True,
        False,
        1,
    )


async def test_known_job_id_keeps_one_history_row(
    session: AsyncSession, redis: Redis, settings: Settings
) -> None:
    queue, job_id = Queue(redis, settings), new_job_id()
    message = write_note.message(title=str(uuid.uuid4()), work_seconds=0)
    for _ in range(2):
        await submit(session, queue, message, request_id=None, job_id=job_id)
    assert await history_rows(session, job_id) == 1


async def test_job_lost_before_its_enqueue_is_queued_by_the_retry(
    session: AsyncSession, redis: Redis, settings: Settings
) -> None:
    queue, job_id = Queue(redis, settings), new_job_id()
    message = write_note.message(title=str(uuid.uuid4()), work_seconds=0)
    # A crash between the commit and the enqueue leaves a row for a job Redis never got.
    await history.insert_queued(
        session, job_id=job_id, task=message.task, kwargs=message.kwargs, request_id=None
    )
    await session.commit()
    retried = await submit(session, queue, message, request_id=None, job_id=job_id)
    assert (retried.created, await redis.zcard(settings.queue_key("default"))) == (True, 1)
