"""The one Redis client that the web tier shares between the queue and request-time features."""

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from {{ cookiecutter.package_name }}.config import Settings


def create_redis(settings: Settings) -> Redis:
    timeout = settings.redis_socket_timeout_seconds
    client: Redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=settings.redis_max_connections,
        health_check_interval=30,
        # A pooled connection that a restarted Redis closed fails once; retrying on a new
        # connection makes the first request after an outage succeed instead of answering 503.
        retry=Retry(NoBackoff(), retries=1),
        retry_on_error=[RedisConnectionError],
    )
    return client
