"""A job history that stops answering (a dropped network path: no reset, no error) fails no job.

The worker's history connection goes through a relay that stalls: the claim's commit hangs. arq
would fail a job whose function outlives its timeout, so the runner hands the delivery back
before that, and the job completes once the database answers again.
"""

import asyncio

import pytest
from chassis.jobs import JobStatus, Queue, run_burst
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harness import tasks as test_tasks
from harness.jobs_helpers import record
from harness.redis_relay import RedisRelay
from sample.settings import Settings

# Waits out a job's whole time budget (2 s + arq's margin) while the history is stalled.
pytestmark = pytest.mark.slow

STALL_SECONDS = 4.0


async def test_job_completes_after_its_history_stalled(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> None:
    upstream = make_url(settings.database_url)
    relay = RedisRelay(f"redis://{upstream.host}:{upstream.port or 5432}/0")
    await relay.up()
    through_relay = settings.model_copy(
        update={
            "database_url": upstream.set(host="127.0.0.1", port=relay.port).render_as_string(
                hide_password=False
            ),
            "job_timeout_seconds": 2,
        }
    )
    queue = Queue(redis, through_relay)
    try:
        # A first job opens the worker's history connection through the relay.
        first = await queue.enqueue(test_tasks.flaky.message(failures=0))
        await run_burst(through_relay)
        relay.stall()
        stalled = await queue.enqueue(test_tasks.flaky.message(failures=0))
        worker = asyncio.create_task(run_burst(through_relay))
        await asyncio.sleep(STALL_SECONDS)
        relay.resume()
        await asyncio.wait_for(worker, timeout=60)
    finally:
        relay.resume()
        await relay.down()
    jobs = [job for job in (first, stalled) if job is not None]
    assert [(await record(sessions, job)).status for job in jobs] == [
        JobStatus.COMPLETE,
        JobStatus.COMPLETE,
    ]
