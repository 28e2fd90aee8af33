import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from chassis.core.metrics import metric_name
from chassis.jobs import JobRecord, Queue
from chassis.jobs.history import utcnow
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harness.metrics_text import sample_value
from harness.processes import CLI, STARTUP_SECONDS, eventually, free_port, running, service_env
from sample.main import create_app
from sample.notes.tasks import write_note
from sample.settings import Settings

READY = metric_name("queue_ready_jobs")
OLDEST = metric_name("queue_oldest_ready_job_age_seconds")
REQUESTS = metric_name("http_requests_total")


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def enqueue_notes(settings: Settings, redis: Redis, count: int, **options: float) -> None:
    queue = Queue(redis, settings)
    for _ in range(count):
        message = write_note.message(title="Backlog", work_seconds=0)
        await queue.enqueue(message, defer_seconds=options.get("defer_seconds", 0))


async def test_ready_backlog_counts_jobs_enqueued_with_no_worker(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    await enqueue_notes(settings, redis, 7)

    assert sample_value(await scrape(client), READY, queue="default") == 7


async def test_deferred_jobs_are_not_ready(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    await enqueue_notes(settings, redis, 3, defer_seconds=600)

    text = await scrape(client)
    deferred = sample_value(text, metric_name("queue_deferred_jobs"), queue="default")
    assert (deferred, sample_value(text, READY, queue="default")) == (3, 0)


async def test_oldest_ready_age_grows_while_no_worker_runs(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    await enqueue_notes(settings, redis, 2)

    first = sample_value(await scrape(client), OLDEST, queue="default")
    await asyncio.sleep(0.05)
    second = sample_value(await scrape(client), OLDEST, queue="default")

    assert first is not None
    assert second is not None
    assert second > first


async def test_worker_drains_the_backlog_to_zero(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    from chassis.jobs import run_burst

    await enqueue_notes(settings, redis, 5)
    await run_burst(settings)

    text = await scrape(client)
    assert (sample_value(text, READY, queue="default"), sample_value(text, OLDEST)) == (
        0,
        0,
    )


async def test_dead_letters_are_counted_from_job_history(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    name = metric_name("dead_letter_jobs")
    before = sample_value(await scrape(client), name) or 0
    async with sessions.begin() as session:
        for n in range(2):
            now = utcnow()
            session.add(
                JobRecord(
                    job_id=f"dead-{now.timestamp()}-{n}",
                    task="write_note",
                    status="dead",
                    attempts=3,
                    kwargs={},
                    enqueued_at=now,
                    finished_at=now,
                )
            )

    assert sample_value(await scrape(client), name) == before + 2


async def test_requests_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    route = "/v1/jobs/{job_id}"
    before = sample_value(await scrape(client), REQUESTS, route=route, status="404") or 0
    for job_id in ("first-unknown", "second-unknown"):
        await client.get(f"/v1/jobs/{job_id}")

    text = await scrape(client)
    assert sample_value(text, REQUESTS, route=route, status="404") == before + 2
    assert "first-unknown" not in text


async def test_unknown_paths_share_one_series(client: httpx.AsyncClient) -> None:
    before = sample_value(await scrape(client), REQUESTS, route="unmatched") or 0
    for path in ("/nope/1", "/nope/2", "/wp-admin"):
        await client.get(path)

    assert sample_value(await scrape(client), REQUESTS, route="unmatched") == before + 3


async def test_latency_histogram_observes_every_request(client: httpx.AsyncClient) -> None:
    name = metric_name("http_request_duration_seconds_count")
    before = sample_value(await scrape(client), name, route="/healthz") or 0
    await client.get("/healthz")
    await client.get("/healthz")

    assert sample_value(await scrape(client), name, route="/healthz") == before + 2


@pytest.fixture
async def client_without_redis(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # Nothing listens on a port we just found free: every Redis command fails to connect.
    unreachable = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    app = create_app(unreachable)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_scrape_answers_while_redis_is_down(client_without_redis: httpx.AsyncClient) -> None:
    text = await scrape(client_without_redis)
    assert (sample_value(text, metric_name("queue_metrics_up")), sample_value(text, READY)) == (
        0,
        None,
    )


@pytest.mark.slow
async def test_several_web_processes_count_one_total(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(
        settings, WEB_PORT=str(port), WEB_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(tmp_path)
    )
    sent = 40
    with running([*CLI, "web"], env=env) as (web,):
        base = f"http://127.0.0.1:{port}"

        async def answering() -> bool:
            if web.poll() is not None:  # e.g. another suite took the port: say so at once
                raise AssertionError(f"the web tier exited early with status {web.returncode}")
            try:
                async with httpx.AsyncClient(base_url=base) as http:
                    return (await http.get("/metrics")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answering, "the web tier to listen", STARTUP_SECONDS)
        # A fresh connection per request, so both worker processes get some of them.
        for _ in range(sent):
            async with httpx.AsyncClient(base_url=base) as http:
                await http.get("/healthz")

        async def healthz_total() -> float | None:
            async with httpx.AsyncClient(base_url=base) as http:
                text = (await http.get("/metrics")).text
            return sample_value(text, REQUESTS, route="/healthz")

        # A request is counted just after its answer leaves, so the last one may lag a moment.
        async def all_counted() -> bool:
            return await healthz_total() == sent

        await eventually(all_counted, what=f"{sent} requests counted")
        totals = [await healthz_total() for _ in range(6)]

    assert totals == [sent] * 6
