import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from chassis.core.metrics import metric_name
from chassis.settings import RateLimitPolicy
from chassis.web.rate_limit import QUOTA_EXCEEDED, rate_limit
from fastapi import Depends
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from harness.app import serve
from harness.redis_relay import RedisRelay
from sample.main import create_app
from sample.settings import Settings

# Long enough that no quota returns while a test runs: admissions depend on counts alone.
WINDOW = 3600
# Rate limited by the default policy, and answered (404) from Postgres alone, so it keeps
# answering while Redis is down.
LIMITED = "/v1/notes/no-such-note"

QuotaSettings = Callable[..., Settings]


@pytest.fixture
def quota_settings(settings: Settings, redis: Redis) -> QuotaSettings:
    """Settings whose default policy allows `quota` requests per hour, on an emptied Redis db."""

    def make(quota: int, *, fail_open: bool = True, **update: object) -> Settings:
        policy = RateLimitPolicy(
            name="default", quota=quota, window_seconds=WINDOW, fail_open=fail_open
        )
        return settings.model_copy(update={"rate_limit_default": policy, **update})

    return make


def decisions(policy: str, decision: str) -> float:
    labels = {"policy": policy, "decision": decision}
    value = REGISTRY.get_sample_value(metric_name("rate_limit_decisions_total"), labels)
    return value or 0.0


async def statuses(client: httpx.AsyncClient, count: int) -> list[int]:
    return [(await client.get(LIMITED)).status_code for _ in range(count)]


async def test_admits_exactly_the_quota(quota_settings: QuotaSettings) -> None:
    async with serve(create_app(quota_settings(5))) as client:
        assert await statuses(client, 8) == [404] * 5 + [429] * 3


async def test_ratelimit_header_counts_the_quota_down(quota_settings: QuotaSettings) -> None:
    async with serve(create_app(quota_settings(5))) as client:
        responses = [await client.get(LIMITED) for _ in range(5)]
    # One unit of quota returns every 3600 / 5 = 720 s.
    assert [r.headers["ratelimit"] for r in responses] == [
        f'"default";r={left};t=720' for left in (4, 3, 2, 1, 0)
    ]


async def test_ratelimit_policy_header_states_quota_and_window(
    quota_settings: QuotaSettings,
) -> None:
    async with serve(create_app(quota_settings(5))) as client:
        response = await client.get(LIMITED)
    assert response.headers["ratelimit-policy"] == '"default";q=5;w=3600'


async def test_refusal_is_a_quota_exceeded_problem(quota_settings: QuotaSettings) -> None:
    async with serve(create_app(quota_settings(1))) as client:
        await client.get(LIMITED)
        refused = await client.get(LIMITED)
    assert (refused.status_code, refused.headers["content-type"]) == (
        429,
        "application/problem+json",
    )
    assert refused.json() == {
        "type": QUOTA_EXCEEDED,
        "title": "Too Many Requests",
        "status": 429,
        "detail": "Rate limit 'default' allows 1 requests per 3600 s; retry in 3600 s.",
        "violated-policies": ["default"],
    }


async def test_retry_after_is_the_ratelimit_reset(quota_settings: QuotaSettings) -> None:
    async with serve(create_app(quota_settings(1))) as client:
        await client.get(LIMITED)
        refused = await client.get(LIMITED)
    assert (refused.headers["retry-after"], refused.headers["ratelimit"]) == (
        "3600",
        '"default";r=0;t=3600',
    )


async def test_post_notes_has_a_tighter_policy(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/notes", json={"title": "x"}, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.headers["ratelimit-policy"] == '"notes-create";q=30;w=60'


async def test_unexpected_error_still_carries_the_headers(
    quota_settings: QuotaSettings,
) -> None:
    app = create_app(quota_settings(5))

    @app.get("/boom", dependencies=[Depends(rate_limit)])
    async def boom() -> None:
        raise RuntimeError("unexpected")

    async with serve(app) as client:
        response = await client.get("/boom")
    assert (response.status_code, response.headers["ratelimit"]) == (500, '"default";r=4;t=720')


async def test_route_policy_spends_its_own_bucket(quota_settings: QuotaSettings) -> None:
    tight = RateLimitPolicy(name="notes-create", quota=1, window_seconds=WINDOW)
    settings = quota_settings(1, rate_limit_routes={"POST /v1/notes": tight})
    async with serve(create_app(settings)) as client:
        await client.get(LIMITED)
        post = await client.post(
            "/v1/notes", json={"title": "x"}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
    assert post.status_code == 202


async def test_two_app_instances_never_admit_more_than_the_quota(
    quota_settings: QuotaSettings,
) -> None:
    settings = quota_settings(10)
    # Two apps, two Redis connection pools: what two web processes share is Redis alone.
    async with serve(create_app(settings)) as first, serve(create_app(settings)) as second:
        responses = await asyncio.gather(*(c.get(LIMITED) for c in [first, second] * 20))
    assert sum(r.status_code != 429 for r in responses) == 10


async def test_decisions_are_counted(quota_settings: QuotaSettings) -> None:
    before = (decisions("default", "allowed"), decisions("default", "limited"))
    async with serve(create_app(quota_settings(2))) as client:
        await statuses(client, 3)
    after = (decisions("default", "allowed"), decisions("default", "limited"))
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)


async def test_rate_limit_keys_have_the_prefix_and_a_ttl(
    quota_settings: QuotaSettings, redis: Redis
) -> None:
    settings = quota_settings(5)
    async with serve(create_app(settings)) as client:
        await client.get(LIMITED)
    keys = [key async for key in redis.scan_iter("*")]
    expected = f"{settings.redis_key_prefix}:ratelimit:default:ip:127.0.0.1".encode()
    assert (keys, await redis.pttl(expected) > 0) == ([expected], True)


async def test_disabled_limiter_sends_no_headers(quota_settings: QuotaSettings) -> None:
    async with serve(create_app(quota_settings(1, rate_limit_enabled=False))) as client:
        responses = [await client.get(LIMITED) for _ in range(3)]
    assert [("ratelimit" in r.headers, r.status_code) for r in responses] == [(False, 404)] * 3


async def test_fail_open_admits_requests_while_redis_is_down(
    quota_settings: QuotaSettings, relay: RedisRelay
) -> None:
    async with serve(create_app(quota_settings(1, redis_url=relay.url))) as client:
        await relay.down()
        responses = [await client.get(LIMITED) for _ in range(3)]
    assert [(r.status_code, "ratelimit" in r.headers) for r in responses] == [(404, False)] * 3


async def test_fail_open_is_counted(quota_settings: QuotaSettings, relay: RedisRelay) -> None:
    before = decisions("default", "fail_open")
    async with serve(create_app(quota_settings(1, redis_url=relay.url))) as client:
        await relay.down()
        await statuses(client, 2)
    assert decisions("default", "fail_open") - before == 2


async def fail_closed_answer(quota_settings: QuotaSettings, relay: RedisRelay) -> httpx.Response:
    """What a limited route answers with Redis down and a policy that fails closed."""
    settings = quota_settings(5, fail_open=False, redis_url=relay.url)
    async with serve(create_app(settings)) as client:
        await relay.down()
        return await client.get(LIMITED)


async def test_fail_closed_answers_503_while_redis_is_down(
    quota_settings: QuotaSettings, relay: RedisRelay
) -> None:
    response = await fail_closed_answer(quota_settings, relay)
    assert (response.status_code, response.headers["content-type"]) == (
        503,
        "application/problem+json",
    )


async def test_fail_closed_503_names_redis_and_asks_to_retry_later(
    quota_settings: QuotaSettings, relay: RedisRelay
) -> None:
    response = await fail_closed_answer(quota_settings, relay)
    assert (response.json()["dependency"], response.headers.get("retry-after")) == ("redis", "5")


async def test_limits_apply_again_once_redis_is_back(
    quota_settings: QuotaSettings, relay: RedisRelay
) -> None:
    async with serve(create_app(quota_settings(1, redis_url=relay.url))) as client:
        admitted = await client.get(LIMITED)
        await relay.down()
        await client.get(LIMITED)
        await relay.up()
        refused = await client.get(LIMITED)
    assert (admitted.status_code, refused.status_code) == (404, 429)


async def test_hanging_redis_fails_open_after_the_redis_timeout(
    quota_settings: QuotaSettings, relay: RedisRelay
) -> None:
    settings = quota_settings(1, redis_url=relay.url, redis_socket_timeout_seconds=0.2)
    async with serve(create_app(settings)) as client:
        await relay.hang()
        response = await client.get(LIMITED)
    assert response.status_code == 404


async def test_answer_read_late_by_a_busy_loop_still_refuses(
    quota_settings: QuotaSettings, relay: RedisRelay
) -> None:
    async with serve(create_app(quota_settings(1, redis_url=relay.url))) as client:
        await client.get(LIMITED)
        relay.stall()
        second = asyncio.create_task(client.get(LIMITED))
        await asyncio.sleep(0.05)  # the decision is on its way to Redis
        relay.resume()
        # A loaded web process: Redis answers at once, the loop reads the answer 0.4 s later.
        time.sleep(0.4)  # noqa: ASYNC251 - blocking the loop is the point
        refused = await second
    assert refused.status_code == 429


def test_override_for_an_unknown_route_refuses_to_start(settings: Settings) -> None:
    policy = RateLimitPolicy(name="typo", quota=1, window_seconds=1)
    with pytest.raises(ValueError, match="GET /v1/note"):
        create_app(settings.model_copy(update={"rate_limit_routes": {"GET /v1/note": policy}}))
