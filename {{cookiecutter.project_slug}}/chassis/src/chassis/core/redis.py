"""Every Redis client the service makes (web, worker, CLI), built from one set of settings.

Without REDIS_SENTINELS: the server at REDIS_URL. With them: the primary the sentinels name, found
again after a failover (`_FollowingPool`). A switch looks like any Redis outage to the rest of the
code: redis-py raises `ConnectionError` (its `MasterNotFoundError` while no primary is known, and
in place of READONLY from a demoted primary), which `core.outages` counts as Redis being down.
"""

import time
from contextlib import suppress
from typing import Any

from chassis.settings import Settings
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# How often a pool asks the sentinels which server is the primary, at most.
FOLLOW_SECONDS = 0.5


def retry_once() -> Retry:
    """Retry a command once, on a new connection, when Redis closed its pooled one.

    A restarted Redis closes every connection the pool holds: without this, the first request after
    an outage fails. Timeouts are not retried: a Redis that does not answer fails fast, not twice.
    """
    return Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,))


def create_redis(settings: Settings) -> Redis:
    """The web tier's (and the CLI's) client: at most REDIS_MAX_CONNECTIONS connections."""
    return Redis.from_pool(
        connection_pool(settings, max_connections=settings.redis_max_connections)
    )


def connection_pool(settings: Settings, *, max_connections: int | None = None) -> ConnectionPool:
    """A pool with the service's timeouts and retry; None leaves its size unbounded (the worker)."""
    timeout = settings.redis_socket_timeout_seconds
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "max_connections": max_connections,
        "health_check_interval": 30,
        "retry": retry_once(),
        "retry_on_error": [RedisConnectionError],
    }
    if not settings.redis_sentinels:
        return ConnectionPool.from_url(settings.redis_url, **options)
    password = settings.redis_sentinel_password
    sentinels = Sentinel(  # type: ignore[no-untyped-call]  # redis-py's Sentinel is untyped
        settings.redis_sentinels,
        sentinel_kwargs={
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "password": password.get_secret_value() if password else None,
        },
    )
    # The data nodes' database and credentials; their address comes from the sentinels.
    url = parse_url(settings.redis_url)
    credentials = {key: url[key] for key in ("db", "username", "password") if key in url}
    return _FollowingPool(settings.redis_sentinel_master, sentinels, **credentials, **options)


class _FollowingPool(SentinelConnectionPool):
    """A Sentinel pool whose open connections follow the primary too, not only new ones.

    redis-py asks the sentinels only when it opens a connection, so a pooled one stays on the old
    primary after a failover. After `SENTINEL FAILOVER` that server keeps accepting writes for
    about 10 s (Redis 7.0: Sentinel demotes it only once it has reported itself a primary for 8 s),
    and every write made there is discarded when it becomes a replica. Asking at most every
    FOLLOW_SECONDS, and closing a connection to any other address before it is used, brings
    every process over within about a second of the sentinels' switch.
    """

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self._asked_at = -FOLLOW_SECONDS

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        await self._follow_primary()
        connection: AbstractConnection = await super().get_connection(*args, **kwargs)
        return connection

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if connection.is_connected and self.master_address not in (
            None,
            (connection.host, connection.port),  # type: ignore[attr-defined]
        ):
            await connection.disconnect()  # it reconnects to the primary the sentinels name
        await super().ensure_connection(connection)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # the pool is closing (a failover closes only idle connections)
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.connection_pool.disconnect()

    async def _follow_primary(self) -> None:
        # Commands that come while one asks go on with what the pool knows.
        if time.monotonic() - self._asked_at < FOLLOW_SECONDS:
            return
        self._asked_at = time.monotonic()
        # Closes the idle connections when the primary moved. No sentinel answering, or none
        # knowing a primary, leaves the connections as they are: a new connection asks again,
        # and fails (a 503) while no primary is known. (redis-py's Sentinel code is untyped.)
        with suppress(RedisConnectionError, RedisTimeoutError):
            await self.get_master_address()  # type: ignore[no-untyped-call]
