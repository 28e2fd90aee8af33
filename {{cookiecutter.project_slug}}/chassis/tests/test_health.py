from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from sample.main import create_app
from sample.settings import Settings

# Nothing listens on port 1: connections are refused at once, as with a stopped Redis.
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
async def redis_down_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"redis_url": DEAD_REDIS}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_healthz_needs_no_dependencies(redis_down_client: httpx.AsyncClient) -> None:
    response = await redis_down_client.get("/healthz")
    assert response.status_code == 200


async def test_readyz_is_ready_with_services_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.json() == {"status": "ready", "checks": {"redis": "ok", "database": "ok"}}


async def test_readyz_names_redis_when_it_is_down(redis_down_client: httpx.AsyncClient) -> None:
    response = await redis_down_client.get("/readyz")
    assert (response.status_code, response.json()["checks"]) == (
        503,
        {"redis": "unavailable", "database": "ok"},
    )


async def test_readyz_503_asks_to_retry_later(redis_down_client: httpx.AsyncClient) -> None:
    response = await redis_down_client.get("/readyz")
    assert response.headers.get("retry-after") == "5"


async def test_post_note_503_asks_to_retry_later(redis_down_client: httpx.AsyncClient) -> None:
    response = await redis_down_client.post(
        "/v1/notes", json={"title": "x"}, headers={"Idempotency-Key": "redis-down-2"}
    )
    assert (response.status_code, response.headers.get("retry-after")) == (503, "5")


async def test_post_note_is_503_problem_when_redis_is_down(
    redis_down_client: httpx.AsyncClient,
) -> None:
    response = await redis_down_client.post(
        "/v1/notes", json={"title": "x"}, headers={"Idempotency-Key": "redis-down-1"}
    )
    assert (response.status_code, response.headers["content-type"]) == (
        503,
        "application/problem+json",
    )


async def test_readyz_names_database_when_it_is_down(settings: Settings) -> None:
    dead_db = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
    app = create_app(settings.model_copy(update={"database_url": dead_db}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/readyz")
    assert (response.status_code, response.json()["checks"]["database"]) == (503, "unavailable")
