"""Settings, read once from the environment (and `.env` in development)."""

from enum import StrEnum
from functools import lru_cache
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from {{ cookiecutter.package_name }}.core.crontab import Crontab

# The password that `.env.example` and compose.yaml ship with: fine on a laptop, never in production.
PLACEHOLDER_PASSWORD = "change-me"  # noqa: S105 - a marker we refuse, not a credential


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    debug: bool = False
    log_level: str = "INFO"
    # None picks by environment: JSON lines in production, a readable console elsewhere.
    log_json: bool | None = None

    # With no DATABASE_URL the service runs on a local SQLite file, so a demo needs no Postgres.
    database_url: str = "sqlite+aiosqlite:///./{{ cookiecutter.package_name }}.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Short timeouts: a request waiting on a dead Redis should fail fast with a 503, not hang.
    redis_socket_timeout_seconds: float = Field(default=2.0, gt=0)
    redis_max_connections: int = Field(default=50, ge=1)

    web_host: str = "0.0.0.0"  # noqa: S104 - containers must listen on every interface
    web_port: int = Field(default=8000, ge=1, le=65535)
    web_workers: int = Field(default=1, ge=1)
    # In-process fan-out (core/background.py). The bound stays below REDIS_MAX_CONNECTIONS and the
    # database pool, so background work cannot starve requests of connections.
    spawn_max_concurrency: int = Field(default=20, ge=1)
    # On shutdown, after uvicorn's 10 s for open requests, spawned tasks get this long to finish
    # before they are cancelled (each one logged). Both fit in the deploy grace period.
    spawn_drain_seconds: float = Field(default=10, ge=0)

    queue_name: str = "{{ cookiecutter.package_name }}:queue"
    # Measured in `make bench`: arq's defaults (10 jobs, 0.5 s poll) run 25 ms jobs at ~20/s.
    worker_max_jobs: int = Field(default=50, ge=1)
    worker_poll_delay_seconds: float = Field(default=0.05, gt=0)
    # On SIGTERM the worker stops taking jobs and lets running ones finish for this long.
    # Deploy files set their grace period above it.
    worker_drain_seconds: int = Field(default=25, ge=0)
    # The worker's probes and metrics (`/healthz`, `/readyz`, `/metrics`); port 0 picks a free one.
    worker_http_host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod on its own address
    worker_http_port: int = Field(default=9100, ge=0, le=65535)
    # `/healthz` fails once the poll loop has not gone round for this long.
    worker_stall_seconds: float = Field(default=30.0, gt=0)
    # Default per-task timeout. A killed worker's jobs run again once the largest timeout + 11 s
    # has passed, and a drain waits for running jobs: keep it short and below the drain.
    job_timeout_seconds: int = Field(default=20, ge=1)
    job_keep_result_seconds: int = Field(default=3600, ge=0)

    # Where uvicorn's worker processes share metric files when WEB_WORKERS > 1. Empty: a fresh
    # temporary directory. Wiped when the web tier starts (see "Metrics and alerts" in README).
    prometheus_multiproc_dir: str | None = None

    # Cron digests (digests/): a crontab in UTC, with an optional leading seconds field.
    digest_schedule: str = "0 8 * * *"
    digest_notifier: Literal["log", "smtp", "webhook"] = "log"
    digest_webhook_url: str | None = None
    digest_email_from: str | None = None
    # Comma-separated recipients.
    digest_email_to: str | None = None
    digest_send_timeout_seconds: float = Field(default=10.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True

    @field_validator("digest_schedule")
    @classmethod
    def schedule_parses(cls, value: str) -> str:
        Crontab.parse(value)
        return value

    @model_validator(mode="after")
    def digest_notifier_configured(self) -> Self:
        needs = {
            "smtp": {"SMTP_HOST": self.smtp_host, "DIGEST_EMAIL_TO": self.digest_email_to},
            "webhook": {"DIGEST_WEBHOOK_URL": self.digest_webhook_url},
        }.get(self.digest_notifier, {})
        missing = [name for name, value in needs.items() if not value]
        if missing:
            raise ValueError(f"DIGEST_NOTIFIER={self.digest_notifier} needs {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def refuse_unsafe_production(self) -> Self:
        if self.environment is not Environment.PRODUCTION:
            return self
        problems = []
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point at Postgres, not SQLite")
        if self.debug:
            problems.append("DEBUG must be off")
        if PLACEHOLDER_PASSWORD in self.database_url or PLACEHOLDER_PASSWORD in self.redis_url:
            problems.append(f"replace the placeholder password {PLACEHOLDER_PASSWORD!r}")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment is Environment.PRODUCTION


@lru_cache
def get_settings() -> Settings:
    return Settings()
