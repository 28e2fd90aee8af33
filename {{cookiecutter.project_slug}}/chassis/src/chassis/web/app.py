"""The web app of a service: its features' routers on the chassis's middleware and handlers."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import structlog
from chassis.core import tracing
from chassis.core.heap import frozen_startup_heap
from chassis.core.logging import configure_logging
from chassis.service import Service
from chassis.settings import InvalidSettings, Settings
from chassis.web.api import api_router
from chassis.web.api_docs import install_api_docs
from chassis.web.body_limit import BodyLimitMiddleware
from chassis.web.idempotency import (
    IdempotencyMiddleware,
    IdempotentReplay,
    replay_stored_response,
)
from chassis.web.problems import install_error_handlers
from chassis.web.rate_limit import (
    RateLimitHeadersMiddleware,
    check_route_policies,
)
from chassis.web.request_context import RequestContextMiddleware
from chassis.web.resources import Resources
from fastapi import FastAPI

log = structlog.get_logger(__name__)


class State(TypedDict):
    resources: Resources


def _settings_or_exit(service: Service) -> Settings:
    """The environment's settings; wrong ones stop the process with one line, as the CLI does.

    Raised from here, uvicorn would print a traceback ending in the same line: one line is
    what a log collector and a reader of `kubectl logs` need.
    """
    try:
        return service.load_settings()
    except InvalidSettings as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def build_app(service: Service, settings: Settings | None = None) -> FastAPI:
    """The service's FastAPI app; `settings` read from the environment when not given."""
    settings = settings or _settings_or_exit(service)
    configure_logging(json=settings.json_logs, level=settings.log_level)
    # Before the lifespan creates the engine and the Redis client, so that both are instrumented.
    tracing.configure(f"{service.name}-web")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        resources = Resources.open(settings)
        log.info("web_started", environment=settings.environment)
        try:
            with frozen_startup_heap():
                yield {"resources": resources}
        finally:
            await resources.close()
            log.info("web_stopped")

    app = FastAPI(
        title=service.title,
        description=service.description,
        version=service.version,
        debug=settings.debug,
        lifespan=lifespan,
        # Served by web/api_docs.py instead, without a CDN, and only where API_DOCS allows.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_exception_handler(IdempotentReplay, replay_stored_response)
    # Added innermost first. The body limit sits next to the routes, so its 413 is rendered by the
    # error handlers and counted under its route. A response is stored for replay before the request id
    # and the rate-limit headers are added, so a replay carries fresh ones; the rate-limit headers
    # go on last, so that even the 500 answered for an unhandled error carries them.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.include_router(api_router(service.load_features()))
    install_api_docs(app, served=settings.api_docs_served)
    check_route_policies(app, settings)
    tracing.instrument_web(app)
    return app
