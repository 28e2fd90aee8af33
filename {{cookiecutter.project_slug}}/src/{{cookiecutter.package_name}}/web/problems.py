"""Rendering errors as RFC 9457 problem details (`application/problem+json`).

The exception tree is `core/errors.py`; this module turns it, FastAPI's own HTTP and validation
errors, and outages (`core/outages.py`) into problem responses.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from {{ cookiecutter.package_name }}.core.errors import AppError
from {{ cookiecutter.package_name }}.core.outages import Dependency

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


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
    return problem(exc.status_code, exc.detail, title=exc.title, **exc.extra)


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
    # So is a request without a header the operation requires (e.g. an Idempotency-Key).
    missing = [err["loc"][1] for err in errors if err["type"] == "missing" and _in_header(err)]
    if missing:
        detail = f"This operation requires the {', '.join(map(str, missing))} header."
        return problem(HTTPStatus.BAD_REQUEST, detail, errors=errors, header=missing[0])
    return problem(HTTPStatus.UNPROCESSABLE_ENTITY, "The request failed validation.", errors=errors)


def _in_header(error: dict[str, Any]) -> bool:
    return len(error["loc"]) == 2 and error["loc"][0] == "header"


def dependency_down(dependency: Dependency, exc: BaseException) -> JSONResponse:
    """The 503 for an outage (`core.outages`): names the dependency, asks to retry in 5 s."""
    log.warning("dependency_unavailable", dependency=dependency, error=str(exc))
    return problem(
        HTTPStatus.SERVICE_UNAVAILABLE,
        f"The {dependency} is unavailable; retry later.",
        dependency=str(dependency),
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
