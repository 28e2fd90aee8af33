"""The app factory: `uvicorn --factory {{ cookiecutter.package_name }}.main:create_app`."""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import structlog
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.api import api_router
from {{ cookiecutter.package_name }}.config import InvalidSettings, Settings, get_settings
{%- if cookiecutter.use_tracing %}
from {{ cookiecutter.package_name }}.core import tracing
{%- endif %}
from {{ cookiecutter.package_name }}.core.heap import frozen_startup_heap
from {{ cookiecutter.package_name }}.core.logging import configure_logging
from {{ cookiecutter.package_name }}.web.api_docs import install_api_docs
from {{ cookiecutter.package_name }}.web.body_limit import BodyLimitMiddleware
from {{ cookiecutter.package_name }}.web.idempotency import (
    IdempotencyMiddleware,
    IdempotentReplay,
    replay_stored_response,
)
from {{ cookiecutter.package_name }}.web.problems import install_error_handlers
from {{ cookiecutter.package_name }}.web.rate_limit import (
    RateLimitHeadersMiddleware,
    check_route_policies,
)
from {{ cookiecutter.package_name }}.web.request_context import RequestContextMiddleware
from {{ cookiecutter.package_name }}.web.resources import Resources

log = structlog.get_logger(__name__)


class State(TypedDict):
    resources: Resources


def _settings_or_exit() -> Settings:
    """The environment's settings; wrong ones stop the process with one line, as the CLI does.

    Raised from here, uvicorn would print a traceback ending in the same line: one line is
    what a log collector and a reader of `kubectl logs` need.
    """
    try:
        return get_settings()
    except InvalidSettings as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or _settings_or_exit()
    configure_logging(json=settings.json_logs, level=settings.log_level)
{%- if cookiecutter.use_tracing %}
    # Before the lifespan creates the engine and the Redis client, so that both are instrumented.
    tracing.configure("{{ cookiecutter.project_slug }}-web")
{%- endif %}

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
        title="{{ cookiecutter.project_name }}",
        description="{{ cookiecutter.description }}",
        version="0.1.0",
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
    app.include_router(api_router)
    install_api_docs(app, served=settings.api_docs_served)
    check_route_policies(app, settings)
{%- if cookiecutter.use_tracing %}
    tracing.instrument_web(app)
{%- endif %}
    return app
