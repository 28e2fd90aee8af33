"""The accept path's job rows: group-committed on Postgres, one session each on SQLite, and the
same guarantees as `jobs.submit` (a row before the enqueue, no row for a job Redis never took).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from chassis.core.db import create_engine, create_session_factory
from chassis.core.errors import ServiceUnavailable
from chassis.core.redis import create_redis
from chassis.jobs import JobStatus, Queue, history, new_job_id
from chassis.jobs.accept import Intake
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.app import serve, through_relay
from harness.redis_relay import RedisRelay
from harness.services import create_tables
from sample.main import create_app
from sample.notes.tasks import write_note
from sample.settings import Settings

CONCURRENT = 40


def fresh_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def test_concurrent_posts_share_commits(
    settings: Settings, database_relay: RedisRelay
) -> None:
    # No limiter: the shipped quota would refuse most of the burst before it reached the rows.
    relayed = through_relay(settings, database_relay, rate_limit_enabled=False)
    async with serve(create_app(relayed)) as client:
        await client.post("/v1/notes", json={"title": "Warm"}, headers=fresh_key())
        before = database_relay.client_reads
        posts = [
            client.post("/v1/notes", json={"title": "Grouped"}, headers=fresh_key())
            for _ in range(CONCURRENT)
        ]
        statuses = {response.status_code for response in await asyncio.gather(*posts)}
        round_trips = database_relay.client_reads - before
    assert (statuses, round_trips < CONCURRENT / 2) == ({202}, True), round_trips


async def test_row_is_committed_before_the_job_is_queued(
    engine: AsyncEngine, settings: Settings, redis: Redis
) -> None:
    queue = Queue(redis, settings)
    intake = Intake(engine, settings, queue)
    message = write_note.message(title="Durable", work_seconds=0)
    try:
        submitted = await intake.submit(message, request_id="req-intake")
    finally:
        await intake.close()
    async with create_session_factory(engine)() as session:
        row = await history.get(session, submitted.job_id)
    assert (submitted.created, row is not None and row.request_id) == (True, "req-intake")


async def test_known_job_id_answers_the_rows_status(
    engine: AsyncEngine, settings: Settings, redis: Redis
) -> None:
    sessions = create_session_factory(engine)
    intake = Intake(engine, settings, Queue(redis, settings))
    message = write_note.message(title="Known", work_seconds=0)
    job_id = new_job_id()
    try:
        await intake.submit(message, request_id=None, job_id=job_id)
        async with sessions.begin() as session:
            row = await history.get(session, job_id)
            assert row is not None
            row.status = JobStatus.COMPLETE
        again = await intake.submit(message, request_id=None, job_id=job_id)
    finally:
        await intake.close()
    assert (again.created, again.status) == (False, JobStatus.COMPLETE)


async def test_queue_outage_removes_the_row_and_is_a_503(
    engine: AsyncEngine, settings: Settings, relay: RedisRelay
) -> None:
    sessions = create_session_factory(engine)
    redis = create_redis(settings.model_copy(update={"redis_url": relay.url}))
    intake = Intake(engine, settings, Queue(redis, settings))
    job_id = new_job_id()
    await relay.down()
    try:
        with pytest.raises(ServiceUnavailable):
            await intake.submit(
                write_note.message(title="Lost", work_seconds=0),
                request_id=None,
                job_id=job_id,
            )
    finally:
        await intake.close()
        await redis.aclose()
    async with sessions() as session:
        assert await history.get(session, job_id) is None


async def test_sqlite_accepts_a_note(tmp_path: Path, settings: Settings, redis: Redis) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    await create_tables(url)
    dev = settings.model_copy(update={"database_url": url})
    async with serve(create_app(dev)) as client:
        response = await client.post("/v1/notes", json={"title": "Dev"}, headers=fresh_key())
    engine = create_engine(dev)
    async with create_session_factory(engine)() as session:
        row = await history.get(session, response.json()["job_id"])
    await engine.dispose()
    assert (response.status_code, row is not None) == (202, True)


async def test_missing_key_is_a_400_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/notes", json={"title": "No key"})
    assert (response.status_code, response.headers["content-type"], response.json()["header"]) == (
        400,
        "application/problem+json",
        "Idempotency-Key",
    )


async def test_openapi_declares_the_key_required(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/v1/notes"]["post"]
    keys = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert [(p["in"], p["required"]) for p in keys] == [("header", True)]
