"""The chassis's settings, read once from the environment (and `.env` in development).

An app subclasses `Settings` to give its own defaults (database file, key prefixes); each
feature keeps its own settings model with its own prefix (`service.Feature.settings`).
"""

import re
from enum import StrEnum
from typing import Annotated, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as EnvParseError

# The placeholder password the example settings ship with: fine on a laptop, never in production.
PLACEHOLDER_PASSWORD = "change-me"  # noqa: S105 - a marker we refuse, not a credential


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


# "METHOD /route/template", as the route is declared: `POST /v1/reports`, `GET /v1/jobs/{job_id}`.
_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_ROUTE_KEY = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /\S*$")


class RateLimitPolicy(BaseModel):
    """`quota` requests per `window_seconds` for each client (GCRA: the whole quota may burst)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Sent in the RateLimit headers and part of the Redis key, so plain characters only.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    quota: int = Field(ge=1, le=1_000_000)
    window_seconds: int = Field(ge=1, le=86_400)
    # Redis unavailable: True lets requests through (logged and counted), False answers 503.
    fail_open: bool = True


class QueueSettings(BaseModel):
    """How the workers of one queue run. Measured in `make bench`: arq's defaults (10 jobs, 0.5 s
    poll) run 25 ms jobs at ~20/s; 50 jobs and a 50 ms poll keep a 2-core worker busy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_jobs: int = Field(default=50, ge=1)
    # On SIGTERM the worker stops taking jobs and lets running ones finish for this long; deploy
    # files set the grace period above it.
    drain_seconds: int = Field(default=25, ge=0)
    poll_delay_seconds: float = Field(default=0.05, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    debug: bool = False
    log_level: str = "INFO"
    # None picks by environment: JSON lines in production, a readable console elsewhere.
    log_json: bool | None = None

    # With no DATABASE_URL the service runs on a local SQLite file, so a demo needs no Postgres.
    database_url: str = "sqlite+aiosqlite:///./service.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # DATABASE_URL points at PgBouncer in transaction mode (or a managed pooler like it): a server
    # connection serves one client only for a transaction, so no prepared statement may outlive
    # one. Turns asyncpg's statement caches off and gives each prepared statement a unique name
    # (core/db.py). Not needed with PgBouncer >= 1.21 and `max_prepared_statements` set.
    database_pgbouncer: bool = False

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Short timeouts: a request waiting on a dead Redis should fail fast with a 503, not hang.
    redis_socket_timeout_seconds: float = Field(default=2.0, gt=0)
    redis_max_connections: int = Field(default=50, ge=1)
    # Redis Sentinel (README, "Redis: Sentinel and failover"): with REDIS_SENTINELS set
    # (`host:port,host:port`), every Redis client asks these sentinels where the primary named
    # REDIS_SENTINEL_MASTER is and follows it through a failover (core/redis.py). REDIS_URL then
    # gives only the database, user and password of the data nodes; its host and port are unused.
    redis_sentinels: Annotated[list[tuple[str, int]], NoDecode] = []
    redis_sentinel_master: str = Field(default="mymaster", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # The sentinels' own password (`requirepass` in sentinel.conf); unset, they are asked without.
    redis_sentinel_password: SecretStr | None = None

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def sentinels_are_host_port(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        addresses = [_host_port(entry) for entry in entries]
        bad = [str(index + 1) for index, address in enumerate(addresses) if address is None]
        if bad:
            # Which entries, not what they hold: the message is printed at startup.
            raise ValueError(f"each sentinel must be HOST:PORT; entry {', '.join(bad)} is not")
        return addresses

    @model_validator(mode="after")
    def sentinels_need_a_plain_redis_url(self) -> Self:
        # TLS (rediss://) and unix sockets through Sentinel are not wired up, nor tested.
        if self.redis_sentinels and not self.redis_url.startswith("redis://"):
            raise ValueError("REDIS_SENTINELS needs a redis:// REDIS_URL (no TLS, no unix socket)")
        return self

    # Rate-limit and idempotency keys start with this; arq's keys start with `arq:`.
    redis_key_prefix: str = Field(default="service", min_length=1)

    rate_limit_enabled: bool = True
    rate_limit_default: RateLimitPolicy = RateLimitPolicy(
        name="default", quota=300, window_seconds=60
    )
    # Per-route overrides, keyed by "METHOD /route/template"; each replaces the default there.
    rate_limit_routes: dict[str, RateLimitPolicy] = {}
    # Proxies whose X-Forwarded-For is believed (CIDRs); from anyone else the header is ignored.
    trusted_proxies: list[IPvAnyNetwork] = []

    # How long a finished request's response is kept for replay under its Idempotency-Key.
    idempotency_retention_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # How long a key stays claimed by a request still running: above the longest request can
    # take (the proxy or ingress timeout), or a retry could run alongside the first attempt.
    idempotency_in_flight_seconds: int = Field(default=90, ge=1, le=3600)

    # A request body over this many bytes is answered 413 before the rest is read
    # (web/body_limit.py); it bounds what one request can make a web process hold in memory.
    max_request_body_bytes: int = Field(default=1_048_576, ge=1)

    # The OpenAPI document and its pages: /openapi.json, /docs (Swagger UI), /redoc. Unset, they
    # are served everywhere but in production, where they are a map of the API for anyone.
    api_docs: bool | None = None

    @property
    def api_docs_served(self) -> bool:
        if self.api_docs is not None:
            return self.api_docs
        return self.environment is not Environment.PRODUCTION

    web_host: str = "0.0.0.0"  # noqa: S104 - containers must listen on every interface
    web_port: int = Field(default=8000, ge=1, le=65535)
    web_workers: int = Field(default=1, ge=1)
    # In-process fan-out (web/background.py). The bound stays below REDIS_MAX_CONNECTIONS and the
    # database pool, so background work cannot starve requests of connections.
    spawn_max_concurrency: int = Field(default=20, ge=1)
    # On shutdown, after uvicorn's 10 s for open requests, spawned tasks get this long to finish
    # before they are cancelled (each one logged). Both fit in the deploy grace period.
    spawn_drain_seconds: float = Field(default=10, ge=0)

    # Every queue's Redis key starts with this: queue NAME lives at `<QUEUE_PREFIX>:NAME`.
    queue_prefix: str = Field(default="service:queue", min_length=1)
    # The queues and how their workers run; `<slug> worker --queue NAME` serves one of them.
    # A task names its queue (`@task(queue=...)`); each queue scales and drains on its own.
    queues: dict[str, QueueSettings] = {
        "default": QueueSettings(),
        # The digest takes up to 2 minutes: on its own queue it neither delays short jobs nor
        # stretches their redelivery after a crash, and its drain covers its timeout.
        "scheduled": QueueSettings(max_jobs=4, drain_seconds=150, poll_delay_seconds=0.5),
    }
    # The worker's probes and metrics (`/healthz`, `/readyz`, `/metrics`); port 0 picks a free one.
    worker_http_host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod on its own address
    worker_http_port: int = Field(default=9100, ge=0, le=65535)
    # `/healthz` fails once the poll loop has not gone round for this long.
    worker_stall_seconds: float = Field(default=30.0, gt=0)
    # Default per-task timeout. A killed worker's jobs run again once the largest timeout of a task
    # on its queue + 11 s has passed, and a drain waits for running jobs: keep it below the drain.
    job_timeout_seconds: int = Field(default=20, ge=1)
    job_keep_result_seconds: int = Field(default=3600, ge=0)

    # Where uvicorn's worker processes share metric files when WEB_WORKERS > 1. Empty: a fresh
    # temporary directory. Wiped when the web tier starts (see "Metrics and alerts" in README).
    prometheus_multiproc_dir: str | None = None

    @field_validator("rate_limit_routes")
    @classmethod
    def route_keys_are_method_and_path(
        cls, routes: dict[str, RateLimitPolicy]
    ) -> dict[str, RateLimitPolicy]:
        malformed = [key for key in routes if not _ROUTE_KEY.match(key)]
        if malformed:
            raise ValueError(f"route keys must look like 'POST /v1/reports', not {malformed}")
        return routes

    @model_validator(mode="after")
    def policy_names_are_unique(self) -> Self:
        # Buckets are keyed by policy name: two policies with one name would share a bucket.
        names = [self.rate_limit_default.name, *(p.name for p in self.rate_limit_routes.values())]
        if len(names) != len(set(names)):
            raise ValueError(f"rate-limit policy names must be unique, got {names}")
        return self

    @model_validator(mode="after")
    def refuse_unsafe_production(self) -> Self:
        # Each reason names the setting, never its value: a URL holds a password.
        if self.environment is not Environment.PRODUCTION:
            return self
        problems = []
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point at Postgres, not SQLite")
        if self.debug:
            problems.append("DEBUG must be off")
        for name, url in (("DATABASE_URL", self.database_url), ("REDIS_URL", self.redis_url)):
            if PLACEHOLDER_PASSWORD in url:
                problems.append(f"{name} holds the placeholder password {PLACEHOLDER_PASSWORD!r}")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    @field_validator("queues")
    @classmethod
    def queue_names_are_plain(cls, queues: dict[str, QueueSettings]) -> dict[str, QueueSettings]:
        # Names appear in Redis keys, metric labels, Kubernetes object names and the CLI.
        bad = [name for name in queues if not _QUEUE_NAME.match(name)]
        if bad or not queues:
            raise ValueError(f"queue names must match {_QUEUE_NAME.pattern}, got {bad or 'none'}")
        return queues

    def queue_key(self, queue: str) -> str:
        """The Redis key of a queue (arq's sorted set)."""
        return f"{self.queue_prefix}:{queue}"

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment is Environment.PRODUCTION


def _host_port(entry: str) -> tuple[str, int] | None:
    """`host:port` (or `[v6 address]:port`) as a pair; None when it is not one."""
    host, _, port = entry.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


class InvalidSettings(Exception):
    """Settings the service cannot start with, as one line naming the settings, never a value."""


def _one_line(exc: ValidationError, prefix: str = "") -> str:
    """`DIGEST_SCHEDULE: <problem>; ...`, named as in the environment.

    Only each error's location and message: pydantic's own rendering adds the input, and the
    input of a model validator is every setting, database password included.
    """
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = prefix.upper() + ".".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


S = TypeVar("S", bound=BaseSettings)


def load_settings(model: type[S]) -> S:
    """`model` read from the environment; `InvalidSettings` (one line, no values) when wrong."""
    try:
        return model()
    except ValidationError as exc:
        raise InvalidSettings(_one_line(exc, model.model_config.get("env_prefix") or "")) from None
    except EnvParseError as exc:
        # A complex setting (JSON) that does not parse; the message names it, not its value.
        raise InvalidSettings(str(exc)) from None
