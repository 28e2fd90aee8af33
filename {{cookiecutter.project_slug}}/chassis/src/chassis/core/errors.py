"""The service's exception tree: raise these anywhere; the web tier renders them as problem details.

    AppError                 status_code, title, detail
    ├── BadRequest           400
    ├── NotFound             404
    ├── Conflict             409
    ├── UnprocessableContent 422
    ├── TooManyRequests      429: a rate-limit policy refused the request
    └── ServiceUnavailable   503: a dependency (Redis, the database) did not answer

`web/problems.py` renders them as RFC 9457 `application/problem+json`; anything else that escapes a
route is caught by `web/request_context.py`, logged with its request id and answered as a bare 500.
"""

from http import HTTPStatus
from typing import Any


class AppError(Exception):
    status_code: int = HTTPStatus.INTERNAL_SERVER_ERROR
    title: str = "Internal Server Error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(AppError):
    status_code = HTTPStatus.BAD_REQUEST
    title = "Bad Request"


class NotFound(AppError):
    status_code = HTTPStatus.NOT_FOUND
    title = "Not Found"


class Conflict(AppError):
    status_code = HTTPStatus.CONFLICT
    title = "Conflict"


class UnprocessableContent(AppError):
    status_code = HTTPStatus.UNPROCESSABLE_ENTITY
    title = "Unprocessable Content"


class TooManyRequests(AppError):
    status_code = HTTPStatus.TOO_MANY_REQUESTS
    title = "Too Many Requests"


class ServiceUnavailable(AppError):
    status_code = HTTPStatus.SERVICE_UNAVAILABLE
    title = "Service Unavailable"
