"""The service's settings: the chassis's, with this service's own names for its files and keys.

Each feature's own settings live with it (`digests/settings.py`, prefix `DIGEST_`).
"""

from chassis import settings
from chassis.settings import RateLimitPolicy
from pydantic import Field


class Settings(settings.Settings):
    # With no DATABASE_URL the service runs on a local SQLite file, so a demo needs no Postgres.
    database_url: str = "sqlite+aiosqlite:///./{{ cookiecutter.package_name }}.db"
    # Rate-limit and idempotency keys start with this; arq's keys start with `arq:`.
    redis_key_prefix: str = Field(default="{{ cookiecutter.package_name }}", min_length=1)
    # Every queue's Redis key starts with this: queue NAME lives at `<QUEUE_PREFIX>:NAME`.
    queue_prefix: str = Field(default="{{ cookiecutter.package_name }}:queue", min_length=1)
    # Per-route overrides, keyed by "METHOD /route/template"; each replaces the default there.
    rate_limit_routes: dict[str, RateLimitPolicy] = Field(
        default_factory=lambda: {
            "POST /v1/reports": RateLimitPolicy(name="reports-create", quota=30, window_seconds=60)
        }
    )
