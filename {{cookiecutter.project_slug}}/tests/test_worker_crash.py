"""Crash safety: jobs of a SIGKILLed worker run again on another worker, each side effect once.

arq redelivers a job when its in-progress key expires: the largest task timeout on that worker plus
11 s (arq's 10 s and our 1 s timeout margin). The workers here get a 2 s timeout, so 13 s.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.jobs import JobStatus, Queue
from {{ cookiecutter.package_name }}.jobs.runner import ARQ_TIMEOUT_MARGIN_SECONDS
from {{ cookiecutter.package_name }}.reports.tasks import generate_report
from tests.conftest import make_settings
from tests.jobs_helpers import record, reports_per_job, submit
from tests.processes import eventually, worker_process

# Starts real processes: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow

JOB_TIMEOUT_SECONDS = 2
# arq's in-progress key lives for the largest task timeout (ours plus the margin) + 10 s.
REDELIVERY_BOUND_MS = (JOB_TIMEOUT_SECONDS + ARQ_TIMEOUT_MARGIN_SECONDS + 10) * 1000
JOBS = 4


@dataclass
class Crash:
    job_ids: list[str]
    redelivery_wait_ms: list[int]
    statuses: list[JobStatus]
    attempts: list[int]
    reports_per_job: dict[str, int]


@pytest.fixture(scope="module")
async def crash(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Crash]:
    settings = make_settings(database_url, redis_url)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    queue = Queue(redis, settings.queue_name)
    logs = tmp_path_factory.mktemp("crash")
    timeout = {"JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT_SECONDS)}
    try:
        with worker_process(settings, logs, **timeout) as first:
            await first.wait_until_live()
            message = generate_report.message(title="Crash", work_seconds=1.0)
            job_ids = [await submit(sessions, queue, message) for _ in range(JOBS)]

            async def all_running() -> bool:
                states = [(await record(sessions, job_id)).status for job_id in job_ids]
                return all(state == JobStatus.IN_PROGRESS for state in states)

            await eventually(all_running, "every job to start on the first worker")
            first.process.kill()
            first.process.wait()
        waits = [await redis.pttl(f"arq:in-progress:{job_id}") for job_id in job_ids]

        # The second worker starts while the killed one's jobs are still held by their keys.
        with worker_process(settings, logs, **timeout):

            async def all_done() -> bool:
                states = [(await record(sessions, job_id)).status for job_id in job_ids]
                return all(state == JobStatus.COMPLETE for state in states)

            await eventually(all_done, "every job to complete on the second worker")
        records = [await record(sessions, job_id) for job_id in job_ids]
        reports = await reports_per_job(sessions, job_ids)
        yield Crash(
            job_ids=job_ids,
            redelivery_wait_ms=waits,
            statuses=[JobStatus(r.status) for r in records],
            attempts=[r.attempts for r in records],
            reports_per_job=reports,
        )
    finally:
        await redis.flushdb()
        await redis.aclose()
        await engine.dispose()


def test_killed_jobs_wait_at_most_the_largest_timeout_plus_11_s(crash: Crash) -> None:
    assert all(0 < wait <= REDELIVERY_BOUND_MS for wait in crash.redelivery_wait_ms), (
        crash.redelivery_wait_ms
    )


def test_every_killed_job_completes_on_another_worker(crash: Crash) -> None:
    assert crash.statuses == [JobStatus.COMPLETE] * JOBS


def test_killed_attempt_counts_as_a_try(crash: Crash) -> None:
    assert crash.attempts == [2] * JOBS


def test_each_report_is_written_exactly_once(crash: Crash) -> None:
    assert crash.reports_per_job == dict.fromkeys(crash.job_ids, 1)
