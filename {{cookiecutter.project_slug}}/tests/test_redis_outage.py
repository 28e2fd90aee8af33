"""Redis outages: the worker rides them out and loses no job; the web tier answers 503, then recovers.

A private redis-server is stopped and started again mid-run (with a snapshot, as a Redis with
persistence restarts). Two jobs are running when it stops; the rest wait in the queue.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.exceptions import ConnectionError as RedisConnectionError

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.core.db import create_engine, create_session_factory
from {{ cookiecutter.package_name }}.core.redis import create_redis
from {{ cookiecutter.package_name }}.jobs import JobStatus, Queue, registered_tasks
from {{ cookiecutter.package_name }}.jobs.worker import build_worker
from {{ cookiecutter.package_name }}.main import create_app
from tests.conftest import make_settings
from tests.jobs_helpers import record, reports_per_job
from tests.processes import eventually, private_redis, worker_process

# Starts real processes: `pytest -m "not slow"` leaves this module out.
pytestmark = pytest.mark.slow

JOBS = 6
REPORT = {"title": "Outage", "work_seconds": 1.5}


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@dataclass
class Outage:
    job_ids: list[str]
    healthz_during: int
    readyz_during: int
    web_during: tuple[int, str]
    web_after: int
    readyz_after: int
    worker_alive_after: bool
    queue_states: list[JobStatus | None]
    history: list[tuple[str, int]]
    reports_per_job: dict[str, int]
    worker_log: str


@pytest.fixture(scope="module")
async def outage(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outage]:
    data = tmp_path_factory.mktemp("outage")
    with private_redis(data) as server:
        settings = make_settings(database_url, server.url)
        redis = create_redis(settings)
        queue = Queue(redis, settings.queue_name)
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        app = create_app(settings)
        worker_env = {"JOB_TIMEOUT_SECONDS": "2", "WORKER_MAX_JOBS": "2"}
        try:
            async with (
                LifespanManager(app) as manager,
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
                ) as web,
            ):
                job_ids = [
                    (await web.post("/v1/reports", json=REPORT, headers=new_key())).json()["job_id"]
                    for _ in range(JOBS)
                ]
                with worker_process(settings, data, **worker_env) as worker:

                    async def statuses() -> list[str]:
                        return [(await record(sessions, job_id)).status for job_id in job_ids]

                    async def two_running() -> bool:
                        return (await statuses()).count(JobStatus.IN_PROGRESS) == 2

                    await eventually(two_running, "two jobs to start")
                    server.stop()
                    await worker.wait_for_log('"redis_unavailable"')
                    healthz_during = (await worker.get("/healthz")).status_code
                    readyz_during = (await worker.get("/readyz")).status_code
                    during = await web.post("/v1/reports", json=REPORT, headers=new_key())

                    async def running_ones_done() -> bool:
                        return (await statuses()).count(JobStatus.COMPLETE) == 2

                    # They finish while Redis is down, so arq cannot record it.
                    await eventually(running_ones_done, "the running jobs to finish")
                    server.start()
                    after = await web.post("/v1/reports", json=REPORT, headers=new_key())
                    job_ids.append(after.json()["job_id"])

                    async def all_finished_in_redis() -> bool:
                        states = [await queue.live_state(job_id) for job_id in job_ids]
                        return all(s is not None and s.status == JobStatus.COMPLETE for s in states)

                    await eventually(all_finished_in_redis, "arq to finish every job")
                    readyz_after = (await worker.get("/readyz")).status_code
                    alive = worker.process.poll() is None
                    log = worker.log()
                live = [await queue.live_state(job_id) for job_id in job_ids]
                records = [await record(sessions, job_id) for job_id in job_ids]
                reports = await reports_per_job(sessions, job_ids)
                yield Outage(
                    job_ids=job_ids,
                    healthz_during=healthz_during,
                    readyz_during=readyz_during,
                    web_during=(during.status_code, during.headers["content-type"]),
                    web_after=after.status_code,
                    readyz_after=readyz_after,
                    worker_alive_after=alive,
                    queue_states=[state.status if state else None for state in live],
                    history=[(r.status, r.attempts) for r in records],
                    reports_per_job=reports,
                    worker_log=log,
                )
        finally:
            await redis.aclose()
            await engine.dispose()


def test_worker_stays_live_but_not_ready_during_the_outage(outage: Outage) -> None:
    assert (outage.healthz_during, outage.readyz_during) == (200, 503)


def test_worker_logs_the_outage_once_and_its_end(outage: Outage) -> None:
    assert (
        outage.worker_log.count('"redis_unavailable"'),
        outage.worker_log.count('"redis_reconnected"'),
    ) == (1, 1)


def test_worker_keeps_running_and_is_ready_again(outage: Outage) -> None:
    assert (outage.worker_alive_after, outage.readyz_after) == (True, 200)


def test_no_job_is_lost(outage: Outage) -> None:
    assert outage.queue_states == [JobStatus.COMPLETE] * len(outage.job_ids)


def test_no_job_is_failed_or_charged_a_try_by_the_outage(outage: Outage) -> None:
    assert outage.history == [(JobStatus.COMPLETE, 1)] * len(outage.job_ids)


def test_each_report_is_written_exactly_once(outage: Outage) -> None:
    assert outage.reports_per_job == dict.fromkeys(outage.job_ids, 1)


def test_web_answers_503_problem_while_redis_is_down(outage: Outage) -> None:
    assert outage.web_during == (503, "application/problem+json")


def test_web_recovers_by_itself_when_redis_returns(outage: Outage) -> None:
    assert outage.web_after == 202


async def test_job_start_that_fails_on_redis_gives_its_slot_back(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    worker = build_worker(down, registered_tasks(), burst=True, handle_signals=False)
    with pytest.raises(RedisConnectionError):
        await worker.start_jobs([b"some-job"])
    await worker.close()
    assert worker.job_counter == 0
