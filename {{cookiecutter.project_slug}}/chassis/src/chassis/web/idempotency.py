"""HTTP `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header) for unsafe routes.

A route opts in with one parameter:

    idempotency: IdempotencyKeyDep          the key is required: 400 without it
    idempotency: OptionalIdempotencyKeyDep  the key is honoured when the client sends one

Keys are scoped to the caller (`web/principal.py`) and the route, and the payload is
fingerprinted (method, path, query and body). The first request claims the key atomically; when it
finishes, `IdempotencyMiddleware` stores its response (status, `STORED_HEADERS`, body) for
`IDEMPOTENCY_RETENTION_SECONDS`, or releases the key after a 5xx so that the client can retry.
A later request with the same key gets:

    same payload, first one finished    the stored response, with `Idempotent-Replayed: true`
    same payload, first one running     409
    different payload                   422

A route that enqueues a job uses `IdempotentRequest.job_id` as the job's id: even a retry after the
record has expired is recognised by the queue instead of creating a second job.

Round trips: on a rate-limited route the claim is made in the rate limiter's script
(`web/admission.py`), and a route that submits a job stores its response in the enqueue's script
(`web/accept.py`): the middleware then has nothing left to do.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from chassis.core.errors import BadRequest, Conflict, UnprocessableContent
from chassis.jobs.queue import CompareAndSet
from chassis.web import metrics
from chassis.web.dependencies import ResourcesDep
from chassis.web.idempotency_store import (
    Claim,
    IdempotencyStore,
    Record,
    StoredResponse,
)
from chassis.web.principal import PrincipalDep
from chassis.web.resources import Resources
from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import Response
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Response headers stored and replayed with the body; per-request ones (request id, rate limits)
# are written fresh on the replay.
STORED_HEADERS = frozenset({b"content-type", b"location"})
# The published key format (the draft asks servers to fix and validate one): a structured-field
# string, or the same characters unquoted, as most clients send a bare UUID.
_KEY_CHARACTERS = r"[A-Za-z0-9._:~+/=-]{1,255}"
_VALID_KEY = re.compile(f"^{_KEY_CHARACTERS}$")
# The same format in the OpenAPI document, where the quotes are part of the header's value.
_KEY_PATTERN = f'^({_KEY_CHARACTERS}|"{_KEY_CHARACTERS}")$'
# Where a claim waits, in the request's state, for the middleware to settle it.
STATE_KEY = "idempotency_claim"
# Where the rate limiter leaves the outcome of the claim it made (`web/admission.py`).
ADMITTED_KEY = "idempotency_admitted"
_TAKES_KEY: dict[Callable[..., Any], bool] = {}

_DESCRIPTION = "A unique key per operation (e.g. a UUID) that makes retries safe."
# Required in the OpenAPI document, with its format; a request without it, or with a key of another
# format, is answered 400 (`web/problems.py`).
RequiredKeyHeader = Annotated[
    str, Header(alias=KEY_HEADER, description=_DESCRIPTION, pattern=_KEY_PATTERN)
]
KeyHeader = Annotated[
    str | None, Header(alias=KEY_HEADER, description=_DESCRIPTION, pattern=_KEY_PATTERN)
]


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    key: str
    # The key scoped to the caller and the route: a digest, never the client's raw text.
    scoped_key: str

    @property
    def job_id(self) -> str:
        """A job id that is the same for every retry of this request."""
        return self.scoped_key[:32]


class IdempotentReplay(Exception):
    """The request repeats a finished one: answer with that one's stored response."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.response = response


@dataclass(frozen=True, slots=True)
class _Held:
    store: IdempotencyStore
    claim: Claim


@dataclass(frozen=True, slots=True)
class _Admitted:
    request: IdempotentRequest
    claim: Claim
    outcome: Claim | Record


async def require_idempotency_key(
    request: Request, principal: PrincipalDep, resources: ResourcesDep, key: RequiredKeyHeader
) -> IdempotentRequest:
    return await claim_request(request, principal, resources)


async def accept_idempotency_key(
    request: Request, principal: PrincipalDep, resources: ResourcesDep, key: KeyHeader = None
) -> IdempotentRequest | None:
    if key is None:
        return None
    return await claim_request(request, principal, resources)


IdempotencyKeyDep = Annotated[IdempotentRequest, Depends(require_idempotency_key)]
OptionalIdempotencyKeyDep = Annotated[IdempotentRequest | None, Depends(accept_idempotency_key)]


async def prepare_claim(
    request: Request, principal: str, resources: Resources
) -> tuple[IdempotentRequest, Claim] | None:
    """The claim this request's key would make, for the rate limiter to make in its round trip.

    None on a route that takes no key, or when the key is missing or malformed: the dependency
    then answers the request itself.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not _takes_key(route):
        return None
    values = request.headers.getlist(KEY_HEADER)
    if len(values) != 1 or (key := _valid_key(values[0])) is None:
        return None
    return await _prepare(request, principal, resources, key)


def hand_over(
    request: Request,
    store: IdempotencyStore,
    prepared: tuple[IdempotentRequest, Claim],
    outcome: Claim | Record,
) -> None:
    """Leave the outcome of a claim made by the rate limiter for the dependency."""
    state = request.scope.setdefault("state", {})
    state[ADMITTED_KEY] = _Admitted(*prepared, outcome)
    if isinstance(outcome, Claim):
        # Held from now on: should the request end before the dependency runs, the middleware
        # still releases or completes the claim.
        state[STATE_KEY] = _Held(store, outcome)


def completion(request: Request, response: StoredResponse) -> CompareAndSet | None:
    """The write that stores `response` for replay, for a caller that makes it in its own round
    trip; then call `settled` with whether it was written."""
    held: _Held | None = request.scope.get("state", {}).get(STATE_KEY)
    return held.store.completion(held.claim, response) if held else None


def settled(request: Request, *, written: bool) -> None:
    """The claim's response was stored (or the claim had expired): the middleware has nothing left."""
    if request.scope.get("state", {}).pop(STATE_KEY, None) is None:
        return
    if written:
        metrics.IDEMPOTENCY_OUTCOMES.labels("stored").inc()
    else:
        metrics.IDEMPOTENCY_OUTCOMES.labels("claim_expired").inc()
        log.warning("idempotency_claim_expired", status=202)


def _takes_key(route: APIRoute) -> bool:
    # By endpoint function: routes compare by value and do not hash, and an endpoint's own
    # parameters are where an Idempotency-Key is declared.
    takes = _TAKES_KEY.get(route.endpoint)
    if takes is None:
        takes = _TAKES_KEY[route.endpoint] = _declares_key(route.dependant)
    return takes


def _declares_key(dependant: Dependant) -> bool:
    return any(field.alias == KEY_HEADER for field in dependant.header_params) or any(
        _declares_key(sub) for sub in dependant.dependencies
    )


async def _prepare(
    request: Request, principal: str, resources: Resources, key: str
) -> tuple[IdempotentRequest, Claim]:
    """The key scoped to the caller and the route, and the claim it makes on this payload."""
    route_path = getattr(request.scope.get("route"), "path", request.url.path)
    scope_text = f"{principal}\n{request.method} {route_path}\n{key}"
    idempotent = IdempotentRequest(key, hashlib.sha256(scope_text.encode()).hexdigest())
    claim = resources.idempotency.prepare(idempotent.scoped_key, await _fingerprint(request))
    return idempotent, claim


async def claim_request(
    request: Request, principal: str, resources: Resources
) -> IdempotentRequest:
    """Claim the request's key, or raise what an earlier request with it calls for (replay, 409,
    422); for a dependency that declares the key header itself (`RequiredKeyHeader`)."""
    admitted: _Admitted | None = request.scope.get("state", {}).pop(ADMITTED_KEY, None)
    if admitted is not None:
        idempotent, claim, outcome = admitted.request, admitted.claim, admitted.outcome
    else:
        key = _parse_key(request.headers.getlist(KEY_HEADER))
        idempotent, claim = await _prepare(request, principal, resources, key)
        outcome = await resources.idempotency.claim_prepared(claim)
    if isinstance(outcome, Claim):
        metrics.IDEMPOTENCY_OUTCOMES.labels("claimed").inc()
        request.scope.setdefault("state", {})[STATE_KEY] = _Held(resources.idempotency, outcome)
        return idempotent
    if outcome.fingerprint != claim.fingerprint:
        metrics.IDEMPOTENCY_OUTCOMES.labels("payload_mismatch").inc()
        raise UnprocessableContent(
            f"This {KEY_HEADER} was used for a different request; use a new key per operation.",
            header=KEY_HEADER,
        )
    if outcome.response is None:
        metrics.IDEMPOTENCY_OUTCOMES.labels("in_flight").inc()
        raise Conflict(
            f"A request with this {KEY_HEADER} is still being processed; retry later.",
            header=KEY_HEADER,
        )
    metrics.IDEMPOTENCY_OUTCOMES.labels("replayed").inc()
    raise IdempotentReplay(outcome.response)


def _parse_key(values: list[str]) -> str:
    if len(values) != 1:
        metrics.IDEMPOTENCY_OUTCOMES.labels("invalid").inc()
        raise BadRequest(f"Send one {KEY_HEADER} header, not {len(values)}.", header=KEY_HEADER)
    key = _valid_key(values[0])
    if key is None:
        metrics.IDEMPOTENCY_OUTCOMES.labels("invalid").inc()
        raise BadRequest(
            f"{KEY_HEADER} must be 1-255 characters of A-Z a-z 0-9 . _ : ~ + / = -",
            header=KEY_HEADER,
        )
    return key


def _valid_key(value: str) -> str | None:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value if _VALID_KEY.match(value) else None


async def _fingerprint(request: Request) -> str:
    """Method, path, query and body: a key reused for anything else is a client error."""
    target = f"{request.method} {request.scope['path']}?".encode() + request.scope["query_string"]
    digest = hashlib.sha256(target + b"\0")
    digest.update(await request.body())
    return digest.hexdigest()


async def replay_stored_response(request: Request, exc: Exception) -> Response:
    """Exception handler for `IdempotentReplay`."""
    assert isinstance(exc, IdempotentReplay)
    stored = exc.response
    headers = {**dict(stored.headers), REPLAYED_HEADER: "true"}
    return Response(stored.body, status_code=stored.status, headers=headers)


class IdempotencyMiddleware:
    """Settle the claim of a request that holds an Idempotency-Key once its response is ready.

    The response is buffered and stored before it is sent, so a client that retries the moment
    it has the answer finds the stored response rather than a claim still in flight.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            held: _Held | None = scope.get("state", {}).get(STATE_KEY)
            if held is None:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                del scope["state"][STATE_KEY]
                body = b"".join(chunks)
                await _settle(held, int(start["status"]), start.get("headers", []), body)
                await send(start)
                await send({"type": "http.response.body", "body": body})
            else:
                await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            held = scope.get("state", {}).pop(STATE_KEY, None)
            if held is not None:
                await _settle(held, 500, [], b"")
            raise


async def _settle(
    held: _Held, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    try:
        if status >= 500:
            await held.store.release(held.claim)
            metrics.IDEMPOTENCY_OUTCOMES.labels("released").inc()
            return
        kept = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in headers
            if name.lower() in STORED_HEADERS
        ]
        if await held.store.complete(held.claim, StoredResponse(status, kept, body)):
            metrics.IDEMPOTENCY_OUTCOMES.labels("stored").inc()
        else:
            # The request outlived IDEMPOTENCY_IN_FLIGHT_SECONDS: a retry may have run meanwhile.
            metrics.IDEMPOTENCY_OUTCOMES.labels("claim_expired").inc()
            log.warning("idempotency_claim_expired", status=status)
    except RedisError as exc:
        # The response still goes out; the claim expires and a retry is de-duplicated by job id.
        metrics.IDEMPOTENCY_OUTCOMES.labels("store_failed").inc()
        log.warning("idempotency_store_failed", status=status, error=str(exc))
