"""The sample's settings: the chassis's, with its own file and key names and its route's policy."""

from chassis import settings
from chassis.settings import RateLimitPolicy
from pydantic import Field


class Settings(settings.Settings):
    database_url: str = "sqlite+aiosqlite:///./sample.db"
    redis_key_prefix: str = Field(default="sample", min_length=1)
    queue_prefix: str = Field(default="sample:queue", min_length=1)
    # The accept route's own quota, as an app gives its expensive routes a tighter one.
    rate_limit_routes: dict[str, RateLimitPolicy] = Field(
        default_factory=lambda: {
            "POST /v1/notes": RateLimitPolicy(name="notes-create", quota=30, window_seconds=60)
        }
    )
