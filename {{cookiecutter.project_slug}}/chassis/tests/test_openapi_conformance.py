"""The API answers as its OpenAPI document says: schemathesis fuzzes every operation in-process.

Each operation gets generated requests, valid and invalid, against the app on this run's Postgres
and Redis. Every answer must be documented: no 5xx, a status, a content type and headers the
document lists for the operation, a body that matches the documented schema, and a 4xx for every
request the document calls invalid.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from chassis.settings import Environment, RateLimitPolicy
from chassis.web.idempotency import KEY_HEADER
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness.app import serve
from harness.redis_relay import RedisRelay
from sample.main import create_app
from sample.settings import Settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # A request the document calls invalid must get a 4xx, not be accepted.
    negative_data_rejection,
]


def document() -> dict[str, Any]:
    """The document the app serves at /openapi.json (building it connects to nothing)."""
    return create_app(Settings(environment=Environment.TEST)).openapi()


# Cases are generated from the document; the app that answers them runs on this run's services.
schema = schemathesis.openapi.from_dict(document())


@pytest.fixture
def served(settings: Settings, redis: Redis) -> Iterator[FastAPI]:
    # Quotas no run of this test reaches: a spent one would answer every later case with a 429.
    roomy = RateLimitPolicy(name="fuzz", quota=100_000, window_seconds=60)
    yield create_app(
        settings.model_copy(update={"rate_limit_default": roomy, "rate_limit_routes": {}})
    )
    # schemathesis would keep the app's lifespan, and its connections, until the process exits.
    asgi.shutdown_lifespans()


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    # The app is built once per operation, not per example, on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_is_documented(served: FastAPI, case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(app=served, checks=CHECKS)
    if case.headers and KEY_HEADER in case.headers:
        # The key is checked before the body, and few generated keys are in its format: the same
        # case again with a well-formed key reaches the body and the success path too.
        case.headers[KEY_HEADER] = str(uuid.uuid4())
        case.call_and_validate(app=served, checks=CHECKS)


def test_an_undocumented_status_fails_the_checks(served: FastAPI) -> None:
    untrue = document()
    del untrue["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["404"]
    operation = schemathesis.openapi.from_dict(untrue)["/v1/jobs/{job_id}"]["GET"]
    case = operation.Case(path_parameters={"job_id": "no-such-job"})
    with pytest.raises(FailureGroup, match="Undocumented status code"):
        case.call_and_validate(app=served, checks=CHECKS)


# Answers the fuzzer cannot provoke, checked against the document all the same.
async def rare_answer(app: FastAPI, relay: RedisRelay, status: int) -> httpx.Response:
    async with serve(app) as http:

        async def post(title: str) -> httpx.Response:
            key = {KEY_HEADER: str(uuid.uuid4())}
            return await http.post("/v1/notes", json={"title": title}, headers=key)

        if status == 413:
            return await post("x" * 2_000_000)
        if status == 429:
            await post("first")
            return await post("second")
        await relay.down()
        return await post("redis is down")


@pytest.mark.parametrize("status", [413, 429, 503])
async def test_rare_answers_are_documented(
    settings: Settings, relay: RedisRelay, status: int
) -> None:
    one_post = RateLimitPolicy(name="one-post", quota=1, window_seconds=60)
    app = create_app(
        settings.model_copy(
            update={"redis_url": relay.url, "rate_limit_routes": {"POST /v1/notes": one_post}}
        )
    )
    response = await rare_answer(app, relay, status)
    case = schema["/v1/notes"]["POST"].Case()
    assert response.status_code == status
    # A 503 is a server error by definition; here it is the documented answer to an outage.
    case.validate_response(response, checks=CHECKS, excluded_checks=[not_a_server_error])
