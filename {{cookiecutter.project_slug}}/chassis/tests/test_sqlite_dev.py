"""The development default: the tables and their timestamps on the embedded SQLite database."""

from pathlib import Path

from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import JobStatus, Queue, history, run_burst
from redis.asyncio import Redis

from harness import tasks
from harness.jobs_helpers import record, submit
from harness.services import create_tables
from sample.settings import Settings


async def test_sqlite_keeps_timestamps_in_utc(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    await create_tables(url)
    engine = create_engine(Settings(database_url=url))
    sessions = create_session_factory(engine)
    async with sessions.begin() as session:
        await history.insert_queued(session, job_id="j1", task="t", kwargs={}, request_id=None)
    async with sessions() as session:
        record = await history.get(session, "j1")
    await engine.dispose()
    assert record is not None
    assert record.enqueued_at.utcoffset() is not None


async def test_sqlite_runs_a_job_through_the_worker(
    tmp_path: Path, settings: Settings, redis: Redis
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    await create_tables(url)
    dev = settings.model_copy(update={"database_url": url})
    engine = create_engine(dev)
    sessions = create_session_factory(engine)
    message = tasks.process_order.message(order_id="o-sqlite")
    job_id = await submit(sessions, Queue(redis, dev), message)
    await run_burst(dev)
    done = await record(sessions, job_id)
    await engine.dispose()
    assert (done.status, done.attempts) == (JobStatus.COMPLETE, 1)
