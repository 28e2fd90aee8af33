import asyncio
import uuid
from typing import Annotated, Any

import httpx
import pytest
from chassis.core.db import create_engine
from chassis.core.errors import ServiceUnavailable
from chassis.jobs import run_burst
from chassis.settings import RateLimitPolicy
from chassis.web.idempotency import (
    IdempotencyKeyDep,
    OptionalIdempotencyKeyDep,
)
from chassis.web.principal import get_principal
from fastapi import FastAPI, Header
from redis.asyncio import Redis
from sqlalchemy import text

from harness.app import serve
from sample.main import create_app
from sample.settings import Settings


def key(value: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": value or str(uuid.uuid4())}


def note(title: str = "Weekly") -> dict[str, Any]:
    return {"title": title, "work_seconds": 0}


async def scalar(settings: Settings, sql: str, **params: object) -> Any:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


async def jobs_titled(settings: Settings, title: str) -> int:
    sql = "SELECT count(*) FROM job_history WHERE kwargs->>'title' = :title"
    count: int = await scalar(settings, sql, title=title)
    return count


async def notes_titled(settings: Settings, title: str) -> int:
    sql = "SELECT count(*) FROM notes WHERE title = :title"
    count: int = await scalar(settings, sql, title=title)
    return count


async def forget_records(redis: Redis, settings: Settings) -> None:
    """What the retention expiry does to every idempotency record."""
    async for record in redis.scan_iter(f"{settings.redis_key_prefix}:idempotency:*"):
        await redis.delete(record)


async def test_replay_returns_the_stored_response(client: httpx.AsyncClient) -> None:
    headers = key()
    first = await client.post("/v1/notes", json=note(), headers=headers)
    again = await client.post("/v1/notes", json=note(), headers=headers)
    kept = ("content-type", "location")
    assert (again.status_code, again.content, [again.headers[h] for h in kept]) == (
        first.status_code,
        first.content,
        [first.headers[h] for h in kept],
    )


async def test_replay_is_marked_replayed(client: httpx.AsyncClient) -> None:
    headers = key()
    first = await client.post("/v1/notes", json=note(), headers=headers)
    again = await client.post("/v1/notes", json=note(), headers=headers)
    assert ("idempotent-replayed" in first.headers, again.headers["idempotent-replayed"]) == (
        False,
        "true",
    )


async def test_replay_creates_no_second_job(client: httpx.AsyncClient, settings: Settings) -> None:
    title, headers = f"Once {uuid.uuid4()}", key()
    for _ in range(3):
        await client.post("/v1/notes", json=note(title), headers=headers)
    assert await jobs_titled(settings, title) == 1


async def test_quoted_and_bare_key_are_the_same_key(client: httpx.AsyncClient) -> None:
    value = str(uuid.uuid4())
    await client.post("/v1/notes", json=note(), headers=key(f'"{value}"'))
    again = await client.post("/v1/notes", json=note(), headers=key(value))
    assert again.headers["idempotent-replayed"] == "true"


async def test_same_key_while_the_first_is_running_is_409(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    started, finish = asyncio.Event(), asyncio.Event()

    @app.post("/slow")
    async def slow(idempotency: IdempotencyKeyDep) -> dict[str, str]:
        started.set()
        await finish.wait()
        return {"done": idempotency.key}

    headers = key()
    first = asyncio.create_task(client.post("/slow", headers=headers))
    await started.wait()
    second = await client.post("/slow", headers=headers)
    finish.set()
    await first
    assert (second.status_code, second.headers["content-type"]) == (
        409,
        "application/problem+json",
    )


async def test_same_key_with_another_payload_is_422(client: httpx.AsyncClient) -> None:
    headers = key()
    await client.post("/v1/notes", json=note("One"), headers=headers)
    other = await client.post("/v1/notes", json=note("Another"), headers=headers)
    assert (other.status_code, other.headers["content-type"]) == (
        422,
        "application/problem+json",
    )


async def test_missing_key_is_400_where_the_route_requires_one(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/notes", json=note())
    assert (response.status_code, response.json()["title"]) == (400, "Bad Request")


@pytest.mark.parametrize(
    "headers",
    [
        [("Idempotency-Key", "has spaces")],
        [("Idempotency-Key", "x" * 256)],
        [("Idempotency-Key", "one"), ("Idempotency-Key", "two")],
    ],
)
async def test_malformed_key_is_400(
    client: httpx.AsyncClient, headers: list[tuple[str, str]]
) -> None:
    response = await client.post("/v1/notes", json=note(), headers=headers)
    assert response.status_code == 400


async def test_optional_key_route_runs_without_a_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.post("/optional")
    async def optional(idempotency: OptionalIdempotencyKeyDep) -> dict[str, str | None]:
        return {"key": idempotency.key if idempotency else None}

    responses = [await client.post("/optional") for _ in range(2)]
    assert [(r.json(), "idempotent-replayed" in r.headers) for r in responses] == [
        ({"key": None}, False)
    ] * 2


async def test_optional_key_route_replays_when_a_key_is_sent(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.post("/optional")
    async def optional(idempotency: OptionalIdempotencyKeyDep) -> dict[str, str | None]:
        return {"nonce": uuid.uuid4().hex}

    headers = key()
    first, again = [await client.post("/optional", headers=headers) for _ in range(2)]
    assert again.json() == first.json()


@pytest.mark.parametrize(
    "failure", [RuntimeError("crash"), ServiceUnavailable("The database is unavailable.")]
)
async def test_server_error_releases_the_key(
    app: FastAPI, client: httpx.AsyncClient, failure: Exception
) -> None:
    attempts: list[int] = []

    @app.post("/flaky")
    async def flaky(idempotency: IdempotencyKeyDep) -> dict[str, int]:
        attempts.append(1)
        if len(attempts) == 1:
            raise failure
        return {"attempt": len(attempts)}

    headers = key()
    failed = await client.post("/flaky", headers=headers)
    retried = await client.post("/flaky", headers=headers)
    assert (failed.status_code >= 500, retried.status_code, retried.json()) == (
        True,
        200,
        {"attempt": 2},
    )


async def test_client_error_is_replayed_like_a_success(client: httpx.AsyncClient) -> None:
    headers, invalid = key(), {"title": ""}
    first = await client.post("/v1/notes", json=invalid, headers=headers)
    again = await client.post("/v1/notes", json=invalid, headers=headers)
    assert (first.status_code, again.status_code, again.headers["idempotent-replayed"]) == (
        422,
        422,
        "true",
    )


async def test_keys_are_scoped_per_principal(app: FastAPI, client: httpx.AsyncClient) -> None:
    def by_user(x_user: Annotated[str, Header()]) -> str:
        return f"user:{x_user}"

    app.dependency_overrides[get_principal] = by_user
    headers = key()
    alice = await client.post("/v1/notes", json=note(), headers={**headers, "X-User": "a"})
    bob = await client.post("/v1/notes", json=note(), headers={**headers, "X-User": "b"})
    assert (bob.status_code, "idempotent-replayed" in bob.headers) == (202, False)
    assert alice.json()["job_id"] != bob.json()["job_id"]


async def test_keys_are_scoped_per_route(app: FastAPI, client: httpx.AsyncClient) -> None:
    @app.post("/first")
    async def first(idempotency: IdempotencyKeyDep) -> dict[str, str]:
        return {"job_id": idempotency.job_id}

    @app.post("/second")
    async def second(idempotency: IdempotencyKeyDep) -> dict[str, str]:
        return {"job_id": idempotency.job_id}

    headers = key()
    one, two = (
        await client.post("/first", headers=headers),
        await client.post("/second", headers=headers),
    )
    assert ("idempotent-replayed" in two.headers, one.json() != two.json()) == (False, True)


async def test_records_expire_after_the_retention(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    await client.post("/v1/notes", json=note(), headers=key())
    records = [r async for r in redis.scan_iter(f"{settings.redis_key_prefix}:idempotency:*")]
    ttl_ms = [await redis.pttl(record) for record in records]
    retention_ms = settings.idempotency_retention_seconds * 1000
    assert [0 < ttl <= retention_ms for ttl in ttl_ms] == [True]


async def test_one_hundred_concurrent_requests_make_one_job_and_one_note(
    settings: Settings, redis: Redis
) -> None:
    roomy = RateLimitPolicy(name="notes-create", quota=1000, window_seconds=60)
    settings = settings.model_copy(update={"rate_limit_routes": {"POST /v1/notes": roomy}})
    title, headers = f"Concurrent {uuid.uuid4()}", key()
    async with serve(create_app(settings)) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/notes", json=note(title), headers=headers) for _ in range(100))
        )
    await run_burst(settings)
    accepted = {r.json()["job_id"] for r in responses if r.status_code == 202}
    others = {r.status_code for r in responses} - {202}
    assert (len(accepted), others <= {409}) == (1, True)
    assert (await jobs_titled(settings, title), await notes_titled(settings, title)) == (1, 1)


async def test_retry_after_the_record_expired_returns_the_queued_job(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    headers = key()
    first = await client.post("/v1/notes", json=note(), headers=headers)
    await forget_records(redis, settings)
    retry = await client.post("/v1/notes", json=note(), headers=headers)
    assert (
        retry.status_code,
        retry.json()["job_id"],
        await redis.zcard(settings.queue_key("default")),
    ) == (
        202,
        first.json()["job_id"],
        1,
    )


async def test_retry_after_the_job_finished_and_expired_queues_nothing(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    headers = key()
    job_id = (await client.post("/v1/notes", json=note(), headers=headers)).json()["job_id"]
    await run_burst(settings)
    # Everything Redis knew is gone: the idempotency record and arq's result.
    await forget_records(redis, settings)
    await redis.delete(f"arq:result:{job_id}")
    retry = await client.post("/v1/notes", json=note(), headers=headers)
    assert (
        retry.json()["job_id"],
        retry.json()["status"],
        await redis.zcard(settings.queue_key("default")),
    ) == (
        job_id,
        "complete",
        0,
    )


async def test_request_refused_by_the_rate_limit_claims_no_key(
    settings: Settings, redis: Redis
) -> None:
    def limited(quota: int) -> Settings:
        policy = RateLimitPolicy(name=f"notes-{quota}", quota=quota, window_seconds=3600)
        return settings.model_copy(update={"rate_limit_routes": {"POST /v1/notes": policy}})

    headers = key()
    async with serve(create_app(limited(1))) as client:
        await client.post("/v1/notes", json=note(), headers=key())
        refused = await client.post("/v1/notes", json=note(), headers=headers)
    # Another policy, another bucket: the same key goes through as if it were new.
    async with serve(create_app(limited(10))) as client:
        retried = await client.post("/v1/notes", json=note(), headers=headers)
    assert (refused.status_code, retried.status_code) == (429, 202)
