"""What every benchmark gets: where the services are, where logs go, and how long to run."""

import os
from dataclasses import dataclass
from pathlib import Path

from bench.services import TESTS_DIR, PrivateRedis
from sample.settings import Settings

# Settings every service process runs with in a benchmark; all others keep their defaults.
SERVICE_SETTINGS = {
    # Production's log format and level: JSON lines at INFO, written to a log file per process.
    "ENVIRONMENT": "development",
    "LOG_JSON": "true",
    "LOG_LEVEL": "INFO",
    # wrk sends everything from one address: quotas this large keep the limiter deciding on every
    # request (its cost is measured) without refusing any (a 429 is cheaper than a job).
    "RATE_LIMIT_DEFAULT": '{"name":"default","quota":1000000,"window_seconds":60}',
    "RATE_LIMIT_ROUTES": (
        '{"POST /v1/notes":{"name":"notes-create","quota":1000000,"window_seconds":60}}'
    ),
}


@dataclass(frozen=True)
class BenchContext:
    database_url: str
    redis: PrivateRedis
    workdir: Path
    quick: bool

    def service_env(self, **overrides: str) -> dict[str, str]:
        """A child's environment: the defaults under test, not the developer's .env or shell."""
        names = {name.upper() for name in Settings.model_fields}
        inherited = {key: value for key, value in os.environ.items() if key not in names}
        return {
            **inherited,
            **SERVICE_SETTINGS,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            # The sample service the benchmarks run lives with the chassis's tests.
            "PYTHONPATH": str(TESTS_DIR),
            **overrides,
        }

    def settings(self, **overrides: object) -> Settings:
        """The same settings, in this process."""
        base = Settings(_env_file=None, database_url=self.database_url, redis_url=self.redis.url)
        return base.model_copy(update=overrides)

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"
