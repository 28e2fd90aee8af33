"""The one Redis client that the web tier shares between the queue and request-time features."""

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from {{ cookiecutter.package_name }}.config import Settings


def retry_once() -> Retry:
    """Retry a command once, on a new connection, when Redis closed its pooled one.

    A restarted Redis closes every connection the pool holds: without this, the first request after
    an outage fails. Timeouts are not retried: a Redis that does not answer fails fast, not twice.
    """
    return Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,))


def create_redis(settings: Settings) -> Redis:
    timeout = settings.redis_socket_timeout_seconds
    client: Redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=settings.redis_max_connections,
        health_check_interval=30,
        retry=retry_once(),
        retry_on_error=[RedisConnectionError],
    )
    return client
