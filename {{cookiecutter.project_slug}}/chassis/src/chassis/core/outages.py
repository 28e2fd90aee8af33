"""The one definition of "a dependency is down": Redis or the database did not answer.

Everything that reacts to an outage asks here: the worker (retry the delivery later, never fail the
job), the runner (a task that hit an outage is retried), submit, the rate limiter and the web
error handlers (503 with the dependency's name). An outage is any of these, wherever it sits in the
exception's chain (SQLAlchemy wraps asyncpg, redis-py wraps sockets, a WATCH wraps a reset):

    Redis      refused, reset or timed out; still loading its data set; a replica that refuses
               writes (a failover in progress); no primary the sentinels know (redis-py's
               MasterNotFoundError is a ConnectionError); a WATCH broken by a lost connection
    database   asyncpg's connection errors (refused, reset, "shutting down", "starting up", too many
               connections, terminated by an administrator or a crash); a session the server
               ended whose close asyncpg has not seen yet; a connection SQLAlchemy invalidated;
               the pool's own timeout; a bare network error raised inside asyncpg or SQLAlchemy
               (the pool's connect lets `ConnectionRefusedError` through unwrapped)

A bare `ConnectionError` from anywhere else (an HTTP client in a task) is not a dependency outage:
the task's retry policy treats it as transient (`jobs.retry`), the web tier as a bug.
"""

import traceback
from collections.abc import Iterator
from enum import StrEnum

import asyncpg.exceptions as pg
import redis.exceptions as rd
import sqlalchemy.exc as sa


class Dependency(StrEnum):
    REDIS = "redis"
    DATABASE = "database"


_REDIS_DOWN = (rd.ConnectionError, rd.TimeoutError, rd.BusyLoadingError, rd.ReadOnlyError)
_DATABASE_DOWN = (
    pg.PostgresConnectionError,  # SQLSTATE class 08: refused, reset, protocol violation
    pg.CannotConnectNowError,  # 57P03: shutting down, starting up, in recovery
    pg.AdminShutdownError,  # 57P01: terminated by pg_ctl stop or pg_terminate_backend
    pg.CrashShutdownError,  # 57P02
    pg.TooManyConnectionsError,  # 53300
    pg.ConnectionDoesNotExistError,  # the socket closed under a running statement
    sa.TimeoutError,  # the pool had no connection to give within its timeout
)
# A server that ends an idle session (a shutdown, pg_terminate_backend) sends it a FATAL error and
# then closes it. asyncpg, reading the error with no statement of its own running, stays busy
# consuming it until the close arrives, and refuses the next statement, unsent, with this message.
# Its own misuse (two statements at once) is an InterfaceError instead.
_SESSION_ENDED = "another operation"
_NETWORK = (ConnectionError, TimeoutError)
# Frames of these libraries mark a bare network error as the database's own.
_DATABASE_MODULES = ("asyncpg", "sqlalchemy")
# Exception chains are short; the bound only guards against a cycle.
_MAX_CHAIN = 16


def outage_of(exc: BaseException) -> Dependency | None:
    """Which dependency `exc` says is down, or None if it is not an outage."""
    chain = list(_chain(exc))
    for err in chain:
        if isinstance(err, _REDIS_DOWN):
            return Dependency.REDIS
        if isinstance(err, rd.WatchError) and isinstance(err.__cause__, _REDIS_DOWN):
            return Dependency.REDIS
        if isinstance(err, _DATABASE_DOWN):
            return Dependency.DATABASE
        if isinstance(err, sa.DBAPIError) and err.connection_invalidated:
            return Dependency.DATABASE
        if isinstance(err, pg.InterfaceError) and "connection is closed" in str(err):
            # asyncpg's word for a connection the server (or a reset) closed before this call.
            return Dependency.DATABASE
        if isinstance(err, pg.InternalClientError) and _SESSION_ENDED in str(err):
            return Dependency.DATABASE
    for err in chain:
        if _is_network_error(err) and _raised_in(err, _DATABASE_MODULES):
            return Dependency.DATABASE
    return None


def is_outage(exc: BaseException) -> bool:
    return outage_of(exc) is not None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, the driver error SQLAlchemy wraps, and every cause or context, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < _MAX_CHAIN:
        err = pending.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        orig = getattr(err, "orig", None)
        pending += [
            err.__context__,
            err.__cause__,
            orig if isinstance(orig, BaseException) else None,
        ]


def _is_network_error(err: BaseException) -> bool:
    # asyncio's connect to several addresses raises a plain OSError ("Multiple exceptions: ...").
    return isinstance(err, _NETWORK) or type(err) is OSError


def _raised_in(err: BaseException, modules: tuple[str, ...]) -> bool:
    for frame, _ in traceback.walk_tb(err.__traceback__):
        if frame.f_globals.get("__name__", "").startswith(modules):
            return True
    return False
