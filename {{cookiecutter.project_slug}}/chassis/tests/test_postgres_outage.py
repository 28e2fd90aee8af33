"""Postgres stopped for 10 s while jobs run: no accepted job is lost, failed or run twice.

web and worker run as a service runs them (`sample web`, `sample worker`), on a Postgres of the test's own that
it stops with `pg_ctl stop -m fast` (what an operator's restart does) while a steady trickle of
note requests goes on, and starts again 10 s later.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from chassis.core.db import create_engine, create_session_factory
from redis.asyncio import Redis

from harness.app import make_settings
from harness.jobs_helpers import notes_per_job, record
from harness.live_service import (
    FINAL_STATUSES,
    Answer,
    Trickle,
    create_schema,
    job_status,
    not_complete,
    product_env,
    statuses_by,
    unexpected_answers,
    unfinished_summary,
    web,
    worker,
)
from harness.private_servers import private_postgres
from harness.processes import eventually

# Starts real processes and servers: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 10
# Ten requests a second of half-second jobs: about five are mid-run when Postgres stops.
POST_INTERVAL_SECONDS = 0.1
WORK_SECONDS = 0.5
# About 3 s of requests before the outage and after it.
ACCEPTED_BEFORE = 30
ACCEPTED_AFTER = 30
# After the trickle ends, the retried jobs have this long to reach a final state.
SETTLE_SECONDS = 90.0


@dataclass
class Outage:
    answers: list[Answer]
    job_ids: list[str]
    running_at_stop: list[str]
    statuses: dict[str, str]
    history: dict[str, str]
    notes_per_job: dict[str, int]
    worker_running: bool
    web_errors: list[str]
    worker_errors: list[str]


@pytest.fixture(scope="module")
async def outage(redis_url: str) -> AsyncIterator[Outage]:
    async with Redis.from_url(redis_url) as shared_redis:
        await shared_redis.flushdb()  # this run's own Redis database: no other test's jobs
    with private_postgres() as postgres:
        settings = make_settings(postgres.url, redis_url)
        env = product_env(settings)
        await create_schema(env)
        with web({**env, "RATE_LIMIT_ENABLED": "false"}) as api, worker(env) as work:
            await api.wait_until_live()
            await work.wait_until_live()
            async with httpx.AsyncClient(base_url=api.base_url, timeout=15) as http:
                async with Trickle(http, WORK_SECONDS, POST_INTERVAL_SECONDS) as trickle:
                    running: list[str] = []

                    async def jobs_are_running() -> bool:
                        accepted = trickle.accepted()
                        if len(accepted) < ACCEPTED_BEFORE:
                            return False
                        states = {j: await job_status(http, j) for j in accepted[-10:]}
                        running[:] = [j for j, s in states.items() if s == "in_progress"]
                        return bool(running)

                    await eventually(jobs_are_running, "accepted jobs running on the worker")
                    trickle.phase = "during"
                    await asyncio.to_thread(postgres.stop, "fast")
                    await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself
                    await asyncio.to_thread(postgres.start)
                    trickle.phase = "after"

                    async def accepted_again() -> bool:
                        return len(trickle.accepted("after")) >= ACCEPTED_AFTER

                    await eventually(accepted_again, "the web tier to accept jobs again")
                job_ids = trickle.accepted()
                statuses = await statuses_by(http, job_ids, FINAL_STATUSES, SETTLE_SECONDS)
            worker_running = work.running
            web_errors = api.errors()
            worker_errors = work.errors()
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            history = {j: (await record(sessions, j)).status for j in job_ids}
            notes = await notes_per_job(sessions, job_ids)
        finally:
            await engine.dispose()
        yield Outage(
            answers=trickle.answers,
            job_ids=job_ids,
            running_at_stop=running,
            statuses=statuses,
            history=history,
            notes_per_job=notes,
            worker_running=worker_running,
            web_errors=web_errors,
            worker_errors=worker_errors,
        )


def test_jobs_were_accepted_and_running_when_postgres_stopped(outage: Outage) -> None:
    assert outage.running_at_stop
    assert len(outage.job_ids) >= ACCEPTED_BEFORE + ACCEPTED_AFTER


def test_web_answers_202_or_a_503_problem_never_a_500(outage: Outage) -> None:
    assert unexpected_answers(outage.answers) == [], "\n".join(outage.web_errors)


def test_every_accepted_job_ends_complete(outage: Outage) -> None:
    unfinished = not_complete(outage.statuses)
    assert unfinished == {}, unfinished_summary(
        unfinished, len(outage.job_ids), outage.worker_errors
    )


def test_every_accepted_job_is_complete_in_the_history(outage: Outage) -> None:
    unfinished = not_complete(outage.history)
    assert unfinished == {}, unfinished_summary(
        unfinished, len(outage.job_ids), outage.worker_errors
    )


def test_each_job_writes_exactly_one_note(outage: Outage) -> None:
    assert outage.notes_per_job == dict.fromkeys(outage.job_ids, 1), "\n".join(outage.worker_errors)


def test_worker_process_is_still_running(outage: Outage) -> None:
    assert outage.worker_running
