"""The reports feature: its route, its task, and its examples of the in-process tiers.

The platform under it (idempotency, rate limits, problems, the worker, the fault tests) is
tested by the chassis's own suite, on a sample service of its own.
"""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from alembic import command
from asgi_lifespan import LifespanManager
from chassis.core.db import create_engine, create_session_factory
from chassis.jobs import Queue, history, new_job_id, run_burst
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs
from structlog.types import EventDict

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.reports import service, views
from {{ cookiecutter.package_name }}.reports.models import Report
from {{ cookiecutter.package_name }}.reports.tasks import generate_report
from {{ cookiecutter.package_name }}.settings import Settings
from tests.conftest import alembic_config, serve

PROBLEM_JSON = "application/problem+json"
# Nothing listens on port 1: connections are refused at once, as with a stopped Redis.
DEAD_REDIS = "redis://127.0.0.1:1/0"


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def submit_report(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post(
        "/v1/reports", json={"title": "Weekly", "work_seconds": 0, **body}, headers=new_key()
    )


@contextmanager
def captured_logs() -> Iterator[list[EventDict]]:
    """structlog's capture, with the context variables (request id, task name) merged in."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        yield logs


async def stored_report(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine).begin() as session:
            report = await service.create(session, job_id=new_job_id(), title="Viewed", body="…")
    finally:
        await engine.dispose()
    return report.id


# The route and the task


async def test_post_report_answers_202_with_location(client: httpx.AsyncClient) -> None:
    response = await submit_report(client)
    body = response.json()
    assert (response.status_code, body["status"]) == (202, "queued")
    assert response.headers["location"] == body["status_url"] == f"/v1/jobs/{body['job_id']}"


async def test_report_job_completes_through_real_worker(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    job_id = (await submit_report(client, title="Quarterly")).json()["job_id"]

    await run_burst(settings)

    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (job["status"], job["task"], job["attempts"]) == ("complete", "generate_report", 1)
    report = (await client.get(f"/v1/reports/{job['result']['report_id']}")).json()
    assert report["title"] == "Quarterly"


async def test_status_survives_arq_result_expiry(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    job_id = (await submit_report(client)).json()["job_id"]
    await run_burst(settings)
    before = (await client.get(f"/v1/jobs/{job_id}")).json()

    # What arq's keep_result expiry does: the job vanishes from Redis entirely.
    assert await redis.delete(f"arq:result:{job_id}") == 1
    after = (await client.get(f"/v1/jobs/{job_id}")).json()

    assert after == before


async def test_queued_job_status_comes_from_redis(client: httpx.AsyncClient) -> None:
    job_id = (await submit_report(client)).json()["job_id"]
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (job["status"], job["attempts"], job["started_at"]) == ("queued", 0, None)


async def test_request_id_travels_into_job_history(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/v1/reports",
        json={"title": "Traced", "work_seconds": 0},
        headers={"X-Request-ID": "req-42", **new_key()},
    )
    await run_burst(settings)

    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        record = await history.get(session, response.json()["job_id"])
    await engine.dispose()
    assert record is not None
    assert (response.headers["x-request-id"], record.request_id) == ("req-42", "req-42")


async def test_same_job_delivered_twice_writes_one_report(
    settings: Settings, redis: Redis, sessions: async_sessionmaker[AsyncSession]
) -> None:
    queue, job_id = Queue(redis, settings), new_job_id()
    message = generate_report.message(title="Delivered twice", work_seconds=0)
    results = []
    for _ in range(2):
        # The second round is a redelivery, as after a worker crash: the same job id again.
        await redis.delete(f"arq:result:{job_id}")
        await queue.enqueue(message, job_id=job_id)
        await run_burst(settings)
        live = await queue.live_state(job_id)
        assert live is not None
        results.append(live.result)
    async with sessions() as session:
        reports = await session.scalar(select(func.count()).where(Report.job_id == job_id))
    assert (reports, results[0] == results[1]) == (1, True)


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x", "work_seconds": "soon"},
        # Strict, as the OpenAPI schema reads: neither is a number.
        {"title": "x", "work_seconds": False},
        {"title": "x", "work_seconds": "1"},
        {"title": "x", "work_seconds": 16},
        {"title": "x", "work_seconds": -1},
        {"title": ""},
        {"work_seconds": 1},
        {"title": "x", "surprise": True},
        # A title Postgres cannot store.
        {"title": "a\u0000b"},
    ],
)
async def test_invalid_report_request_is_a_422_problem(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/v1/reports", json=body, headers=new_key())
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM_JSON)


async def test_report_request_needs_an_idempotency_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/reports", json={"title": "No key"})
    assert (response.status_code, response.json()["header"]) == (400, "Idempotency-Key")


async def test_post_reports_has_its_own_rate_limit_policy(client: httpx.AsyncClient) -> None:
    response = await submit_report(client)
    assert response.headers["ratelimit-policy"] == '"reports-create";q=30;w=60'


@pytest.mark.parametrize("bad_id", ["%00", "0123456789abcdef%000123456789abcde", "f" * 65])
async def test_id_no_report_can_have_is_a_404_problem(
    client: httpx.AsyncClient, bad_id: str
) -> None:
    response = await client.get(f"/v1/reports/{bad_id}")
    assert (response.status_code, response.headers["content-type"]) == (404, PROBLEM_JSON)


async def test_sqlite_dev_database_migrates_and_accepts_a_report(
    tmp_path: Path, settings: Settings, redis: Redis
) -> None:
    # The development default: no DATABASE_URL, the migrations on an embedded SQLite file.
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "heads")
    dev = settings.model_copy(update={"database_url": url})
    async with serve(create_app(dev)) as client:
        response = await submit_report(client, title="Dev")
    engine = create_engine(dev)
    async with create_session_factory(engine)() as session:
        row = await history.get(session, response.json()["job_id"])
    await engine.dispose()
    assert (response.status_code, row is not None and row.enqueued_at.utcoffset()) == (
        202,
        timedelta(0),
    )


# One example of each in-process tier: an audit line after the response, a view count spawned


async def test_report_audit_line_is_written_after_the_response(settings: Settings) -> None:
    app = create_app(settings)
    lines_when_sent: list[int] = []

    def audit_lines(logs: list[EventDict]) -> int:
        return sum(entry["event"] == "report_requested" for entry in logs)

    with captured_logs() as logs:
        async with LifespanManager(app) as manager:

            async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
                async def send_and_record(message: Message) -> None:
                    await send(message)
                    if message["type"] == "http.response.body" and not message.get("more_body"):
                        lines_when_sent.append(audit_lines(logs))

                await manager.app(scope, receive, send_and_record)

            transport = httpx.ASGITransport(app=recorded)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                await submit_report(http, title="Audited")
    assert (lines_when_sent, audit_lines(logs)) == ([0], 1)


async def test_report_audit_line_records_the_committed_job_and_request_id(
    client: httpx.AsyncClient,
) -> None:
    with captured_logs() as logs:
        response = await client.post(
            "/v1/reports",
            json={"title": "Audited", "work_seconds": 0},
            headers={"X-Request-ID": "req-audit", **new_key()},
        )
    lines = [
        (e["job_id"], e["title"], e["request_id"]) for e in logs if e["event"] == "report_requested"
    ]
    assert lines == [(response.json()["job_id"], "Audited", "req-audit")]


async def test_report_view_is_counted_in_redis_with_a_ttl(settings: Settings, redis: Redis) -> None:
    report_id = await stored_report(settings)
    async with serve(create_app(settings)) as http:
        await http.get(f"/v1/reports/{report_id}")
    # Leaving `serve` drained the spawned count.
    keys = await redis.keys(f"{views.KEY_PREFIX}:{report_id}:*")
    assert [(await redis.get(key), await redis.ttl(key) > 0) for key in keys] == [(b"1", True)]


async def test_report_read_answers_when_its_view_count_fails(settings: Settings) -> None:
    report_id = await stored_report(settings)
    app = create_app(settings.model_copy(update={"redis_url": DEAD_REDIS}))
    with captured_logs() as logs:
        async with serve(app) as http:
            response = await http.get(
                f"/v1/reports/{report_id}", headers={"X-Request-ID": "req-view"}
            )
    failed = [
        (e["background_task"], e["request_id"])
        for e in logs
        if e["event"] == "background_task_failed"
    ]
    assert (response.status_code, failed) == (200, [("record_report_view", "req-view")])
