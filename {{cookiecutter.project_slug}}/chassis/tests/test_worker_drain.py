"""Deploy safety: SIGTERM drains the worker. No new jobs start, the running one finishes, exit 0.

The worker runs as a service's does: `sample worker --queue default`, with a 10 s drain.
"""

import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import JobStatus, Queue
from redis.asyncio import Redis

from harness.app import make_settings
from harness.jobs_helpers import record, submit
from harness.live_service import product_env, worker
from harness.processes import eventually, queues_json
from sample.notes.tasks import write_note

# Starts real processes: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow


@dataclass
class Drained:
    exit_code: int
    running_job: JobStatus
    job_sent_during_drain: JobStatus
    job_sent_during_drain_queued: bool
    in_progress_keys: list[bytes]


@pytest.fixture(scope="module")
async def drained(database_url: str, redis_url: str) -> AsyncIterator[Drained]:
    settings = make_settings(database_url, redis_url)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    queue = Queue(redis, settings)
    try:
        env = product_env(
            settings, QUEUES=queues_json(settings, drain_seconds=10), JOB_TIMEOUT_SECONDS="5"
        )
        with worker(env) as work:
            await work.wait_until_live()
            message = write_note.message(title="Drained", work_seconds=1.5)
            running = await submit(sessions, queue, message)

            async def started() -> bool:
                return (await record(sessions, running)).status == JobStatus.IN_PROGRESS

            await eventually(started, "the job to start")
            work.signal(signal.SIGTERM)
            await work.wait_for_log("worker_draining")
            late = await submit(sessions, queue, write_note.message(title="Late", work_seconds=0))
            exit_code = await work.wait_for_exit()
        yield Drained(
            exit_code=exit_code,
            running_job=JobStatus((await record(sessions, running)).status),
            job_sent_during_drain=JobStatus((await record(sessions, late)).status),
            job_sent_during_drain_queued=await redis.zscore(settings.queue_key("default"), late)
            is not None,
            in_progress_keys=await redis.keys("arq:in-progress:*"),
        )
    finally:
        await redis.flushdb()
        await redis.aclose()
        await engine.dispose()


def test_worker_exits_0_after_draining(drained: Drained) -> None:
    assert drained.exit_code == 0


def test_running_job_finishes_during_the_drain(drained: Drained) -> None:
    assert drained.running_job == JobStatus.COMPLETE


def test_draining_worker_starts_no_new_job(drained: Drained) -> None:
    assert (drained.job_sent_during_drain, drained.job_sent_during_drain_queued) == (
        JobStatus.QUEUED,
        True,
    )


def test_nothing_is_left_in_progress_after_the_drain(drained: Drained) -> None:
    assert drained.in_progress_keys == []
