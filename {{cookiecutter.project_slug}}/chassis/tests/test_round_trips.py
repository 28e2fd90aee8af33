"""What an accepted POST costs: two Redis round trips and one Postgres round trip.

Redis: the rate-limit decision with the idempotency claim, then the enqueue with the stored
response. Postgres: the job's row, group-committed in one statement.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from harness.app import serve, through_relay
from harness.redis_relay import RedisRelay
from sample.main import create_app
from sample.settings import Settings

BODY = {"title": "Costed", "work_seconds": 0}
POSTS = 20


def fresh_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_accepted_post_makes_two_redis_round_trips(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Warm up: the first call of each script after a server start also loads it.
    await client.post("/v1/notes", json=BODY, headers=fresh_key())

    sent: list[str] = []
    execute_command: Callable[..., Awaitable[Any]] = Redis.execute_command
    pipeline_execute: Callable[..., Awaitable[list[Any]]] = Pipeline.execute

    async def counted_command(self: Redis, *args: Any, **options: Any) -> Any:
        sent.append(str(args[0]).upper())
        return await execute_command(self, *args, **options)

    async def counted_pipeline(self: Pipeline, raise_on_error: bool = True) -> list[Any]:
        sent.append("PIPELINE")
        return await pipeline_execute(self, raise_on_error)

    monkeypatch.setattr(Redis, "execute_command", counted_command)
    monkeypatch.setattr(Pipeline, "execute", counted_pipeline)
    response = await client.post("/v1/notes", json=BODY, headers=fresh_key())

    # Rate limit with the idempotency claim; enqueue with the stored response.
    assert (response.status_code, sent) == (202, ["EVALSHA"] * 2)


async def test_accepted_post_makes_one_postgres_round_trip(
    settings: Settings, database_relay: RedisRelay
) -> None:
    async with serve(create_app(through_relay(settings, database_relay))) as client:
        # Warm up: the connection is opened and the statement prepared.
        await client.post("/v1/notes", json=BODY, headers=fresh_key())
        before = database_relay.client_reads
        statuses = {
            (await client.post("/v1/notes", json=BODY, headers=fresh_key())).status_code
            for _ in range(POSTS)
        }
        round_trips = database_relay.client_reads - before
    assert (statuses, round_trips / POSTS) == ({202}, 1)
