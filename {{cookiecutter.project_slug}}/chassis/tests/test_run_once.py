import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import Queue, new_job_id, run_burst, run_once
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sample.notes.models import Note
from sample.notes.tasks import write_note
from sample.settings import Settings


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings)
    yield create_session_factory(engine)
    await engine.dispose()


async def test_same_job_delivered_twice_writes_one_note(
    settings: Settings, redis: Redis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    queue, job_id = Queue(redis, settings), new_job_id()
    message = write_note.message(title="Delivered twice", work_seconds=0)
    await queue.enqueue(message, job_id=job_id)
    await run_burst(settings)
    # A redelivery, as after a worker crash: arq runs the same job id once more.
    await redis.delete(f"arq:result:{job_id}")
    await queue.enqueue(message, job_id=job_id)
    await run_burst(settings)
    async with sessions() as session:
        notes = await session.scalar(select(func.count()).where(Note.job_id == job_id))
    assert notes == 1


async def test_redelivery_returns_the_first_delivery_s_note(
    settings: Settings, redis: Redis
) -> None:
    queue, job_id = Queue(redis, settings), new_job_id()
    message = write_note.message(title="Same result", work_seconds=0)
    results = []
    for _ in range(2):
        await redis.delete(f"arq:result:{job_id}")
        await queue.enqueue(message, job_id=job_id)
        await run_burst(settings)
        live = await queue.live_state(job_id)
        assert live is not None
        results.append(live.result)
    assert results[0] == results[1]


async def test_key_is_recorded_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    key = f"test:{uuid.uuid4()}"
    outcomes = []
    for _ in range(2):
        async with sessions.begin() as session:
            outcomes.append(await run_once(session, key))
    assert outcomes == [True, False]


async def test_rolled_back_effect_leaves_the_key_free(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    key = f"test:{uuid.uuid4()}"

    async def effect_fails() -> None:
        async with sessions.begin() as session:
            await run_once(session, key)
            raise RuntimeError("the effect failed")

    with pytest.raises(RuntimeError):
        await effect_fails()
    async with sessions.begin() as session:
        assert await run_once(session, key) is True


async def test_concurrent_deliveries_run_the_effect_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    key = f"test:{uuid.uuid4()}"

    async def deliver() -> bool:
        async with sessions.begin() as session:
            first = await run_once(session, key)
            await asyncio.sleep(0.05)  # the effect: keeps the transactions overlapping
            return first

    outcomes = await asyncio.gather(*(deliver() for _ in range(5)))
    assert sorted(outcomes) == [False, False, False, False, True]
