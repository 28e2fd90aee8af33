"""What an accepted POST costs in Redis: issue 7's budget is four round trips."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline


async def test_accepted_post_makes_four_redis_round_trips(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"title": "Costed", "work_seconds": 0}
    # Warm up: the first call of each script after a server start also loads it.
    await client.post("/v1/reports", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})

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
    response = await client.post(
        "/v1/reports", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )

    # Rate limit, idempotency claim, enqueue, stored response: one script call each.
    assert (response.status_code, sent) == (202, ["EVALSHA"] * 4)
