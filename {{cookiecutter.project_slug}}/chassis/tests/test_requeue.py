"""`jobs requeue`: a job Redis lost (its history row still `queued`) goes back into the queue
under its own id; a job Redis still holds is left alone.

Redis losing a job is played by deleting what the enqueue wrote, as a failover that discarded
the old primary's last writes leaves it.
"""

import pytest
from chassis.cli import build_parser
from chassis.jobs import JobStatus, Queue
from chassis.jobs import cli as jobs_cli
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harness import tasks
from harness.jobs_helpers import submit
from sample.service import SERVICE
from sample.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


async def requeue(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `jobs requeue ARGV` in-process; what it printed."""
    capsys.readouterr()
    code = await jobs_cli.run(
        settings, build_parser(SERVICE).parse_args(["jobs", "requeue", *argv])
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    return printed.out


async def lost_job(sessions: Sessions, queue: Queue, redis: Redis, order_id: str) -> str:
    job_id = await submit(sessions, queue, tasks.process_order.message(order_id=order_id))
    await redis.delete(f"arq:job:{job_id}")
    await redis.zrem(queue.keys["default"], job_id)
    return job_id


async def test_requeue_puts_a_lost_job_back_in_the_queue(
    settings: Settings,
    sessions: Sessions,
    queue: Queue,
    redis: Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job_id = await lost_job(sessions, queue, redis, "o-lost")
    out = await requeue(settings, capsys, "--older-than", "0")
    state = await queue.live_state(job_id)
    assert (f"requeued {job_id}" in out, state and state.status) == (True, JobStatus.QUEUED)


async def test_requeue_leaves_a_job_redis_still_holds(
    settings: Settings, sessions: Sessions, queue: Queue, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = await submit(sessions, queue, tasks.process_order.message(order_id="o-held"))
    out = await requeue(settings, capsys, "--older-than", "0")
    state = await queue.live_state(job_id)
    assert (job_id in out, state and state.status) == (False, JobStatus.QUEUED)


async def test_requeue_leaves_a_job_newer_than_older_than(
    settings: Settings,
    sessions: Sessions,
    queue: Queue,
    redis: Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Its submit may still be between the history commit and the enqueue.
    job_id = await lost_job(sessions, queue, redis, "o-new")
    out = await requeue(settings, capsys)
    assert (job_id in out, await queue.live_state(job_id)) == (False, None)
