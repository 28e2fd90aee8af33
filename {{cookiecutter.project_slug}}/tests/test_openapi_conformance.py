"""The features' routes answer as the OpenAPI document says: schemathesis fuzzes each of their
operations in-process, against the app on this run's Postgres and Redis.

The chassis's own routes and its rarer answers (413, 429, 503) are fuzzed and checked by the
chassis's suite; here every generated answer of a feature's route must be documented: no 5xx, a
documented status, content type, headers and body, and a 4xx for every request the document
calls invalid.
"""

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from chassis.service import resolve
from chassis.settings import Environment, RateLimitPolicy
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from {{ cookiecutter.package_name }}.features import FEATURES
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

KEY_HEADER = "Idempotency-Key"
# The paths the features' routers add; everything else in the document is the chassis's.
FEATURE_PATHS = {
    route.path for feature in FEATURES if feature.router for route in resolve(feature.router).routes
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# Cases are generated from the document (building it connects to nothing).
document = create_app(Settings(environment=Environment.TEST)).openapi()
schema = schemathesis.openapi.from_dict(document).include(
    path_regex="^(" + "|".join(map(re.escape, sorted(FEATURE_PATHS))) + ")$"
)


@pytest.fixture
def served(settings: Settings, redis: Redis) -> Iterator[FastAPI]:
    # Quotas no run of this test reaches: a spent one would answer every later case with a 429.
    roomy = RateLimitPolicy(name="fuzz", quota=100_000, window_seconds=60)
    yield create_app(
        settings.model_copy(update={"rate_limit_default": roomy, "rate_limit_routes": {}})
    )
    # schemathesis would keep the app's lifespan, and its connections, until the process exits.
    asgi.shutdown_lifespans()


def test_every_feature_route_is_fuzzed() -> None:
    # An operation the document does not describe well enough to fuzz is an Err, and missing.
    fuzzed = {result.ok().path for result in schema.get_all_operations() if isinstance(result, Ok)}
    assert fuzzed == FEATURE_PATHS != set()


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
