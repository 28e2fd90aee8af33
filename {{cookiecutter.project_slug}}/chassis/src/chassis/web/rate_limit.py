"""Per-client rate limits, enforced across every web process by the shared Redis (`web/gcra.py`).

`rate_limit` is a dependency of the API routers (`api.py`): it picks the route's policy
(`RATE_LIMIT_ROUTES`, else `RATE_LIMIT_DEFAULT`), spends one unit of the caller's quota and
refuses the request with a 429 problem once the quota is spent. On a route that takes an
Idempotency-Key, the key's claim rides in the same round trip (`web/admission.py`).

The decision waits for Redis as long as the Redis client does (`REDIS_SOCKET_TIMEOUT_SECONDS`).
Only an outage (`core/outages.py`: Redis refused, reset or timed out) lets the policy decide
between admitting (`fail_open`) and a 503: a busy event loop that answers late is never a reason
to admit a request past its quota. `RateLimitHeadersMiddleware` then
writes the IETF RateLimit headers on whatever response the request ends with: a success, an error
or an idempotent replay.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import structlog
from chassis.core.errors import ServiceUnavailable, TooManyRequests
from chassis.core.outages import Dependency, outage_of
from chassis.settings import RateLimitPolicy, Settings
from chassis.web import idempotency, metrics
from chassis.web.gcra import Verdict
from chassis.web.principal import PrincipalDep
from chassis.web.resources import Resources
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

# The problem type that the RateLimit draft registers for a spent quota.
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"
# Where the decision waits, in the request's state, for the middleware to turn it into headers.
STATE_KEY = "rate_limit"


@dataclass(frozen=True, slots=True)
class Decision:
    policy: RateLimitPolicy
    verdict: Verdict

    def headers(self) -> list[tuple[bytes, bytes]]:
        """`RateLimit-Policy` and `RateLimit` (structured-field lists); `Retry-After` on refusal."""
        policy, verdict = self.policy, self.verdict
        reset = verdict.wait_whole_seconds
        headers = [
            (b"ratelimit-policy", f'"{policy.name}";q={policy.quota};w={policy.window_seconds}'),
            (b"ratelimit", f'"{policy.name}";r={verdict.remaining};t={reset}'),
        ]
        if not verdict.admitted:
            # The same instant as the RateLimit reset: never earlier, as the draft requires.
            headers.append((b"retry-after", str(reset)))
        return [(name, value.encode("ascii")) for name, value in headers]


def policy_for(settings: Settings, method: str, route_path: str) -> RateLimitPolicy:
    return settings.rate_limit_routes.get(f"{method} {route_path}", settings.rate_limit_default)


async def rate_limit(request: Request, principal: PrincipalDep) -> None:
    """Spend one unit of the caller's quota for this route, or refuse the request with 429."""
    # Not through ResourcesDep: every nested dependency costs FastAPI a solve per request.
    resources: Resources = request.state.resources
    settings = resources.settings
    if not settings.rate_limit_enabled:
        return
    route_path = getattr(request.scope.get("route"), "path", request.url.path)
    policy = policy_for(settings, request.method, route_path)
    prepared = await idempotency.prepare_claim(request, principal, resources)
    try:
        verdict, outcome = await resources.admission.admit(
            f"{policy.name}:{principal}",
            quota=policy.quota,
            window_seconds=policy.window_seconds,
            claim=prepared[1] if prepared else None,
        )
    except Exception as exc:
        # Only an outage: anything else (a script error, a bug) is a 500 like any other.
        if outage_of(exc) is not Dependency.REDIS:
            raise
        error = str(exc) or type(exc).__name__
        if not policy.fail_open:
            metrics.RATE_LIMIT_DECISIONS.labels(policy.name, "fail_closed").inc()
            raise ServiceUnavailable(
                "The rate limiter is unavailable; retry later.", dependency="redis"
            ) from exc
        # No claim was made: the idempotency dependency makes its own, and meets the outage itself.
        metrics.RATE_LIMIT_DECISIONS.labels(policy.name, "fail_open").inc()
        log.warning("rate_limit_unavailable", policy=policy.name, action="fail_open", error=error)
        return

    if prepared is not None and outcome is not None:
        idempotency.hand_over(request, resources.idempotency, prepared, outcome)
    request.scope.setdefault("state", {})[STATE_KEY] = Decision(policy, verdict)
    if verdict.admitted:
        metrics.RATE_LIMIT_DECISIONS.labels(policy.name, "allowed").inc()
        return
    metrics.RATE_LIMIT_DECISIONS.labels(policy.name, "limited").inc()
    raise TooManyRequests(
        f"Rate limit {policy.name!r} allows {policy.quota} requests per "
        f"{policy.window_seconds} s; retry in {verdict.wait_whole_seconds} s.",
        type=QUOTA_EXCEEDED,
        **{"violated-policies": [policy.name]},
    )


class RateLimitHeadersMiddleware:
    """Write the request's rate-limit decision as headers on its response, whatever produced it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision: Decision | None = scope.get("state", {}).get(STATE_KEY)
                if decision is not None:
                    message["headers"] = [*message.get("headers", []), *decision.headers()]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def check_route_policies(app: FastAPI, settings: Settings) -> None:
    """Refuse to start if an override names no route: a typo would silently limit nothing."""
    declared = {
        f"{method} {route.path}"
        for route in _api_routes(app.routes)
        for method in route.methods or ()
    }
    unknown = sorted(set(settings.rate_limit_routes) - declared)
    if unknown:
        raise ValueError(f"RATE_LIMIT_ROUTES names routes that do not exist: {unknown}")


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # Recent FastAPI versions keep an included router as one route holding the original.
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)
