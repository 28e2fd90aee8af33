"""Request ids, the access log line, and the last line of defence against unhandled errors."""

import re
import time
import uuid
from http import HTTPStatus

import structlog
from chassis.core.outages import outage_of
from chassis.web.metrics import observe_request
from chassis.web.problems import dependency_down, problem
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("http")

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only if it is short and plain, so it cannot inject into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Bind a request id to every log line of the request and echo it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, REQUEST_ID_HEADER.lower().encode())
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.match(incoming) else new_request_id()
        )
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        status = HTTPStatus.INTERNAL_SERVER_ERROR.value
        response_started = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            dependency = outage_of(exc)
            if dependency is None:
                log.exception("unhandled_exception")
            if response_started:
                raise
            if dependency is None:
                response = problem(
                    HTTPStatus.INTERNAL_SERVER_ERROR, "An unexpected error occurred."
                )
            else:
                response = dependency_down(dependency, exc)
            await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            # The template the router matched: raw paths would give one series per id.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            observe_request(scope["method"], route, status, seconds)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
