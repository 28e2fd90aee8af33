"""Crash safety: the jobs of a SIGKILLed worker run again on a new one, soon, each side effect once.

Both workers start exactly as a service's worker starts: `sample worker --queue default`, its
task modules and the default settings. A killed worker's jobs come back once their claim expires,
JOB_TIMEOUT_SECONDS + 11 s after they started, whatever other (slower) tasks the project ships.
"""

import time
from dataclasses import dataclass

import httpx
import pytest
from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import JobStatus
from redis.asyncio import Redis

from harness.app import make_settings
from harness.jobs_helpers import notes_per_job, record
from harness.live_service import (
    FINAL_STATUSES,
    post_note,
    product_env,
    statuses_by,
    web,
    worker,
)
from harness.processes import eventually
from sample.settings import Settings

JOB_TIMEOUT_SECONDS: int = Settings.model_fields["job_timeout_seconds"].default
# Starts real processes and servers: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow

REDELIVERY_SECONDS = JOB_TIMEOUT_SECONDS + 11
# Long enough to be mid-run when the worker is killed; the redelivered run takes it again.
WORK_SECONDS = 5.0
# The new worker's 0.05 s poll, this test's 0.2 s status poll and a loaded machine.
POLL_SLACK_SECONDS = 2.0
COMPLETION_BOUND_SECONDS = REDELIVERY_SECONDS + WORK_SECONDS + POLL_SLACK_SECONDS
JOBS = 3


@dataclass
class Crash:
    job_ids: list[str]
    statuses: dict[str, str]
    completed_after_kill: float
    attempts: list[int]
    notes_per_job: dict[str, int]


@pytest.fixture(scope="module")
async def crash(database_url: str, redis_url: str) -> Crash:
    settings = make_settings(database_url, redis_url)
    async with Redis.from_url(redis_url) as shared_redis:
        await shared_redis.flushdb()  # this run's own Redis database: no other test's jobs
    env = product_env(settings)
    assert "JOB_TIMEOUT_SECONDS" not in env
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    try:
        with web({**env, "RATE_LIMIT_ENABLED": "false"}) as api:
            await api.wait_until_live()
            async with httpx.AsyncClient(base_url=api.base_url, timeout=15) as http:
                with worker(env) as first:
                    await first.wait_until_live()
                    answers = [await post_note(http, WORK_SECONDS) for _ in range(JOBS)]
                    assert [a.status_code for a in answers] == [202] * JOBS, answers[0].text
                    job_ids = [a.json()["job_id"] for a in answers]

                    async def all_running() -> bool:
                        # The history, not Redis: the try is counted and the task has started.
                        states = [(await record(sessions, job_id)).status for job_id in job_ids]
                        return states == [JobStatus.IN_PROGRESS] * JOBS

                    await eventually(all_running, "every job to start on the first worker")
                    first.process.kill()
                    killed_at = time.monotonic()
                    first.process.wait()
                with worker(env):
                    # Polled up to the bound only: a 131 s redelivery must not hold the suite.
                    statuses = await statuses_by(
                        http, job_ids, FINAL_STATUSES, COMPLETION_BOUND_SECONDS
                    )
                    completed_after_kill = time.monotonic() - killed_at
        attempts = [(await record(sessions, job_id)).attempts for job_id in job_ids]
        notes = await notes_per_job(sessions, job_ids)
    finally:
        await engine.dispose()
    return Crash(
        job_ids=job_ids,
        statuses=statuses,
        completed_after_kill=completed_after_kill,
        attempts=attempts,
        notes_per_job=notes,
    )


def test_killed_jobs_complete_within_job_timeout_plus_11_s(crash: Crash) -> None:
    assert crash.statuses == dict.fromkeys(crash.job_ids, "complete"), (
        f"not complete {crash.completed_after_kill:.1f} s after the kill "
        f"(bound: {REDELIVERY_SECONDS} s + {WORK_SECONDS} s of work + {POLL_SLACK_SECONDS} s)"
    )
    assert crash.completed_after_kill <= COMPLETION_BOUND_SECONDS


def test_killed_attempt_counts_as_a_try(crash: Crash) -> None:
    assert crash.attempts == [2] * JOBS


def test_each_note_is_written_exactly_once(crash: Crash) -> None:
    assert crash.notes_per_job == dict.fromkeys(crash.job_ids, 1)
