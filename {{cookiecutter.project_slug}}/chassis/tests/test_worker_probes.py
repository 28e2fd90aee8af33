"""The worker's own HTTP endpoint: liveness from its poll loop, readiness from Redis, metrics."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from chassis.core.metrics import metric_name
from chassis.jobs._worker import runner  # noqa: F401 - registers the job metrics
from chassis.jobs._worker.heartbeat import Heartbeat, heartbeat_key
from chassis.jobs._worker.probes import start_probe_server
from redis.asyncio import Redis

from sample.settings import Settings

DEAD_REDIS = "redis://127.0.0.1:1/0"


@asynccontextmanager
async def probe_client(heartbeat: Heartbeat, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A probe server on a free port, and a client for it."""
    redis = Redis.from_url(redis_url, socket_connect_timeout=0.5)
    server = await start_probe_server("127.0.0.1", 0, heartbeat, redis)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        server.close()
        await server.wait_closed()
        await redis.aclose()


@pytest.fixture
async def probes(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with probe_client(Heartbeat(stall_after_seconds=30), settings.redis_url) as http:
        yield http


async def test_healthz_is_ok_while_the_poll_loop_beats(probes: httpx.AsyncClient) -> None:
    response = await probes.get("/healthz")
    assert (response.status_code, response.json()["status"]) == (200, "ok")


async def test_healthz_fails_when_the_poll_loop_stalls() -> None:
    stalled = Heartbeat(stall_after_seconds=0.05)
    await asyncio.sleep(0.1)  # no beat for longer than the limit
    async with probe_client(stalled, DEAD_REDIS) as http:
        response = await http.get("/healthz")
    assert (response.status_code, response.headers["content-type"]) == (
        503,
        "application/problem+json",
    )


async def test_readyz_is_ready_when_redis_answers(probes: httpx.AsyncClient) -> None:
    response = await probes.get("/readyz")
    assert response.json() == {"status": "ready", "checks": {"redis": "ok"}}


async def test_readyz_fails_when_redis_does_not_answer() -> None:
    async with probe_client(Heartbeat(stall_after_seconds=30), DEAD_REDIS) as http:
        response = await http.get("/readyz")
    assert (response.status_code, response.json()["checks"]) == (503, {"redis": "unavailable"})


async def test_metrics_serves_the_default_registry(probes: httpx.AsyncClient) -> None:
    response = await probes.get("/metrics")
    assert f"# TYPE {metric_name('jobs_dead_total')} counter" in response.text


async def test_unknown_path_is_404_problem(probes: httpx.AsyncClient) -> None:
    response = await probes.get("/nothing")
    assert (response.status_code, response.headers["content-type"]) == (
        404,
        "application/problem+json",
    )


async def test_heartbeat_is_published_under_a_key_that_expires(
    settings: Settings, redis: Redis
) -> None:
    heartbeat = Heartbeat(stall_after_seconds=30)
    await heartbeat.publish(redis, settings.queue_key("default"), running_jobs=0)
    ttl = await redis.ttl(heartbeat_key(settings.queue_key("default"), heartbeat.worker_id))
    assert 0 < ttl <= 30
