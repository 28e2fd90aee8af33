"""A request-body limit: 413 problem+json before a body over `MAX_REQUEST_BODY_BYTES` is read.

The check runs when the route reads the body, after routing, so the 413 is counted under its route
and the error handlers render it like any other HTTP error. A declared `Content-Length` over the
limit fails the first read, before a byte is read. A body without one (chunked) is counted as it
streams: the read that crosses the limit raises `RequestBodyTooLarge`, and no more are read.
"""

from http import HTTPStatus

from chassis.web.problems import problem
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestBodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI lets it out of its body parsing instead of answering 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The request body is over the limit of {max_bytes} bytes.",
            # The rest of the body is never read, so the connection cannot carry another request.
            headers={"Connection": "close"},
        )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise RequestBodyTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestBodyTooLarge(self.max_bytes)
            return message

        started = False

        async def watch_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watch_send)
        except RequestBodyTooLarge as error:
            # Read outside the error handlers' reach (a middleware of the app's own, say).
            if started:
                raise
            response = problem(error.status_code, error.detail, headers=error.headers)
            await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server rejects a malformed one; if it got here, the stream count still holds.
            return int(value) if value.isdigit() else None
    return None
