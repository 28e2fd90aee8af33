"""Rendering errors as RFC 9457 problem details (`application/problem+json`).

The exception tree is `core/errors.py`; this module turns it, FastAPI's own HTTP and validation
errors, and outages (`core/outages.py`) into problem responses, and documents them: a route lists
the problems it can answer with in one line, `responses=problem_responses(404, 503)`.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from chassis.core.errors import AppError
from chassis.core.outages import Dependency
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.exceptions import HTTPException

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class Problem(BaseModel):
    """An RFC 9457 problem: the body of every error response.

    Extension members, where they apply: `errors` (a body that failed to parse), `header` (the
    request header at fault), `dependency` (the one that is down), `violated-policies` (429),
    `checks` (`/readyz`).
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    # Left out when there is nothing to add to the title, never null.
    detail: str | SkipJsonSchema[None] = Field(
        default=None,
        description="What went wrong with this request, for a person.",
        json_schema_extra=_drop_default,
    )


class FieldError(BaseModel):
    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then the field."
    )
    type: str = Field(description="The kind of error, e.g. `missing` or `string_too_long`.")
    msg: str


class ValidationProblem(Problem):
    """A request that failed validation: one entry in `errors` per field at fault."""

    errors: list[FieldError]


# What each status means on our routes; a route lists the ones it can answer with.
_MEANINGS: dict[int, str] = {
    400: "The request is malformed: its body is not JSON, or a header it needs is missing or bad.",
    404: "There is no such resource.",
    409: "A request with this Idempotency-Key is still being processed: retry later.",
    413: "The request body is over the limit (MAX_REQUEST_BODY_BYTES).",
    422: "The request failed validation: `errors` names each field at fault.",
    429: "The caller's rate limit is spent: retry after `Retry-After` seconds.",
    500: "An unexpected error, logged under the response's X-Request-ID.",
    503: "A dependency is unavailable (named in `dependency`): retry later.",
}
# What every 503 asks of a client (RFC 9110 `Retry-After`): an outage is usually a blink.
RETRY_AFTER_SECONDS = 5
# A response's `Retry-After` (RFC 9110): the seconds to wait before trying again.
_RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}


def _schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def problem_responses(*statuses: int, idempotent: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status it can answer with, as an `application/problem+json`.

    `idempotent=True` for a route that takes an Idempotency-Key (`web/idempotency.py`): a key sent
    again with another payload is a 422 too, without `errors`.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        schema: dict[str, Any] = _schema_ref(ValidationProblem if status == 422 else Problem)
        description = _MEANINGS.get(status, HTTPStatus(status).phrase)
        if status == 422 and idempotent:
            schema = {"anyOf": [schema, _schema_ref(Problem)]}
            description += " Or the Idempotency-Key was used before for a different request."
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": {**_RETRY_AFTER, "required": True}}
        responses[status] = response
    return responses


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": int(status),
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(
        jsonable_encoder(body), status_code=int(status), headers=headers, media_type=PROBLEM_JSON
    )


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        log.warning("request_failed", status=exc.status_code, detail=exc.detail)
    headers = retry_later() if exc.status_code == HTTPStatus.SERVICE_UNAVAILABLE else None
    return problem(exc.status_code, exc.detail, title=exc.title, headers=headers, **exc.extra)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(exc.status_code, detail, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err["loc"]), "type": err["type"], "msg": err["msg"]} for err in exc.errors()
    ]
    # A body that is not JSON at all is a malformed request, not a semantic error.
    if any(err["type"] == "json_invalid" for err in errors):
        return problem(HTTPStatus.BAD_REQUEST, "The request body is not valid JSON.", errors=errors)
    # So is a request without a header the operation requires (e.g. an Idempotency-Key), or with
    # one that is not in the header's format.
    missing = [err["loc"][1] for err in errors if err["type"] == "missing" and _in_header(err)]
    if missing:
        detail = f"This operation requires the {', '.join(map(str, missing))} header."
        return problem(HTTPStatus.BAD_REQUEST, detail, errors=errors, header=missing[0])
    malformed = [err["loc"][1] for err in errors if _in_header(err)]
    if malformed:
        detail = f"The {', '.join(map(str, malformed))} header is not in its documented format."
        return problem(HTTPStatus.BAD_REQUEST, detail, errors=errors, header=malformed[0])
    return problem(HTTPStatus.UNPROCESSABLE_ENTITY, "The request failed validation.", errors=errors)


def _in_header(error: dict[str, Any]) -> bool:
    return len(error["loc"]) == 2 and error["loc"][0] == "header"


def retry_later() -> dict[str, str]:
    """The headers of every 503 this service answers."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def dependency_down(dependency: Dependency, exc: BaseException) -> JSONResponse:
    """The 503 for an outage (`core.outages`): names the dependency, asks to retry later."""
    log.warning("dependency_unavailable", dependency=dependency, error=str(exc))
    return problem(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"The {dependency} is unavailable; retry later.",
        dependency=str(dependency),
        headers=retry_later(),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
