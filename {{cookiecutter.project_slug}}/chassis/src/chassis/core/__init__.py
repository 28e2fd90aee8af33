"""What the web tier and the worker share, as features use it: tables, text, errors.

Inside the chassis, `core` also holds Redis, logging, metric names, tracing and the one definition
of an outage (`core/outages.py`). It imports neither `jobs` nor `web` (`make lint`).
"""

from chassis.core.db import Base, UTCDateTime, create_engine, create_session_factory
from chassis.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    UnprocessableContent,
)
from chassis.core.logging import configure_logging
from chassis.core.text import StorableText

__all__ = [
    "AppError",
    "BadRequest",
    "Base",
    "Conflict",
    "NotFound",
    "ServiceUnavailable",
    "StorableText",
    "TooManyRequests",
    "UTCDateTime",
    "UnprocessableContent",
    "configure_logging",
    "create_engine",
    "create_session_factory",
]
