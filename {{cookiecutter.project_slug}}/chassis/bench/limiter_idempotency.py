"""What the rate limiter and the Idempotency-Key layer cost on POST /v1/notes, in one run.

    PYTHONPATH=tests uv run python -m bench.limiter_idempotency [--requests 1000] [--database-url URL]

Starts a private redis-server (so that INFO commandstats counts this run alone) and a scratch
database (a temporary SQLite file, or a scratch database on the Postgres server that
--database-url names, dropped at the end), then serves the app in-process and prints:

- the latency of the same endpoint with both layers, with each one alone and with neither (the
  layers are replaced by no-ops through `dependency_overrides`), measured in interleaved rounds;
- the cost of the layers' Redis work alone: one GCRA decision, and the decision with the
  idempotency claim in the same script (as shipped; the response is stored by the enqueue's
  script, which the route runs either way);
- the Redis round trips of one accepted POST, counted on the client, and the commands the server
  ran for it (INFO commandstats, which also counts the commands inside scripts).

Requests are sequential: this measures cost per request, not throughput. No thresholds: the
numbers are for reading and for comparing runs on the same machine.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from chassis.jobs.schemas import JobAccepted
from chassis.settings import Environment, RateLimitPolicy
from chassis.web.accept import Submitter
from chassis.web.api import rate_limited
from chassis.web.dependencies import RequestIdDep, ResourcesDep
from chassis.web.idempotency import IdempotentRequest
from chassis.web.idempotency_store import Claim
from chassis.web.resources import Resources
from fastapi import APIRouter, FastAPI, Request, Response
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.engine import make_url

from bench.services import private_redis
from harness.services import create_tables
from sample.main import create_app
from sample.notes import router as note_routes
from sample.notes.router import NoteRequest
from sample.settings import Settings

BODY = {"title": "Benchmark", "work_seconds": 0}
# Never refuse during the run: each decision is made and costed, and the request goes on.
ROOMY = RateLimitPolicy(name="default", quota=1_000_000, window_seconds=60)
ROOMY_NOTES = ROOMY.model_copy(update={"name": "notes-create"})
# The target for the rate limiter and the Idempotency-Key layer together, per request.
TARGET_MS = 0.3


@dataclass(frozen=True)
class Variant:
    rate_limit: bool
    idempotency: bool

    @property
    def path(self) -> str:
        return "/v1/notes" if self.idempotency else "/bench/notes"


VARIANTS = {
    "neither layer": Variant(rate_limit=False, idempotency=False),
    "rate limit only": Variant(rate_limit=True, idempotency=False),
    "idempotency only": Variant(rate_limit=False, idempotency=True),
    "both (as shipped)": Variant(rate_limit=True, idempotency=True),
}


async def without_idempotency(
    body: NoteRequest,
    request: Request,
    response: Response,
    resources: ResourcesDep,
    request_id: RequestIdDep,
) -> JobAccepted:
    """The shipped endpoint, given a submitter that holds no Idempotency-Key claim.

    Every request gets a fresh stand-in key (a new job id), so the route does all it does without
    the layer: dependency overrides would not do, FastAPI re-analyses every dependency on every
    request once any override is set, which costs more than the layers themselves.
    """
    stand_in = IdempotentRequest(key="none", scoped_key=uuid.uuid4().hex)
    submit = Submitter(request, response, resources, request_id, stand_in)
    return await note_routes.create_note(body, submit)


def variant_app(settings: Settings, variant: Variant) -> FastAPI:
    app = create_app(settings.model_copy(update={"rate_limit_enabled": variant.rate_limit}))
    if not variant.idempotency:
        plain = APIRouter()
        plain.add_api_route(
            "/bench/notes",
            without_idempotency,
            methods=["POST"],
            status_code=202,
            response_model=JobAccepted,
        )
        app.include_router(plain, dependencies=rate_limited)
    return app


async def wait_for_redis(url: str) -> None:
    client = Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                await client.ping()
                return
            except RedisConnectionError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"redis-server at {url} did not answer")
    finally:
        await client.aclose()


@asynccontextmanager
async def scratch_database(server_url: str | None) -> AsyncIterator[str]:
    """A database with the sample's tables for this run alone: a temporary SQLite file, or one on
    `server_url`."""
    if server_url is None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await create_tables(url)
            yield url
        return
    name = f"bench_{uuid.uuid4().hex[:12]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    admin = make_url(server_url).set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        await create_tables(url)
        yield url
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


async def post(client: httpx.AsyncClient, path: str = "/v1/notes") -> float:
    """One accepted POST with a fresh key; returns its latency in milliseconds."""
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    started = time.perf_counter()
    response = await client.post(path, json=BODY, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 202:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text}")
    return elapsed


async def latencies(settings: Settings, requests: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(serve(variant_app(settings, variant)))
            for name, variant in VARIANTS.items()
        }
        for name, client in clients.items():  # warm up: connections, loaded scripts, caches
            for _ in range(20):
                await post(client, VARIANTS[name].path)
        # Round robin, one request each: drift in the machine's speed lands on every variant alike.
        for _ in range(requests):
            for name, client in clients.items():
                samples[name].append(await post(client, VARIANTS[name].path))
    return samples


async def layer_costs(settings: Settings, calls: int) -> dict[str, float]:
    """Microseconds per call of each layer's Redis work, without HTTP around it."""
    resources = Resources.open(settings)
    try:
        limiter, store, admission = resources.limiter, resources.idempotency, resources.admission

        async def decide() -> None:
            await limiter.hit("bench:decision", quota=1_000_000, window_seconds=60)

        async def decide_and_claim() -> None:
            claim = store.prepare(uuid.uuid4().hex, "fingerprint")
            _, outcome = await admission.admit(
                "bench:decision", quota=1_000_000, window_seconds=60, claim=claim
            )
            assert isinstance(outcome, Claim), "a fresh key is always claimed"

        return {
            "rate-limit decision (1 EVALSHA)": await per_call_us(decide, calls),
            "decision + idempotency claim (1 EVALSHA)": await per_call_us(decide_and_claim, calls),
        }
    finally:
        await resources.close()


async def per_call_us(operation: Callable[[], Awaitable[None]], calls: int) -> float:
    for _ in range(50):
        await operation()
    started = time.perf_counter()
    for _ in range(calls):
        await operation()
    return (time.perf_counter() - started) / calls * 1_000_000


async def redis_traffic(settings: Settings, requests: int) -> tuple[Counter[str], Counter[str]]:
    """Per accepted POST: commands the client sent (one round trip each), commands Redis ran."""
    sent: Counter[str] = Counter()
    execute_command: Callable[..., Awaitable[Any]] = Redis.execute_command
    pipeline_execute: Callable[..., Awaitable[list[Any]]] = Pipeline.execute

    async def counted_command(self: Redis, *args: Any, **options: Any) -> Any:
        sent[str(args[0]).lower()] += 1
        return await execute_command(self, *args, **options)

    async def counted_pipeline(self: Pipeline, raise_on_error: bool = True) -> list[Any]:
        sent["pipeline"] += 1
        return await pipeline_execute(self, raise_on_error)

    async with serve(create_app(settings)) as client:
        await post(client)  # loads the scripts
        observer = Redis.from_url(settings.redis_url)
        before = await observer.info("commandstats")
        with (
            patch.object(Redis, "execute_command", counted_command),
            patch.object(Pipeline, "execute", counted_pipeline),
        ):
            for _ in range(requests):
                await post(client)
        after = await observer.info("commandstats")
        await observer.aclose()
    ran = Counter(
        {
            name.removeprefix("cmdstat_"): stats["calls"] - before.get(name, {}).get("calls", 0)
            for name, stats in after.items()
            if name != "cmdstat_info"
        }
    )
    return sent, +ran


def report(
    samples: dict[str, list[float]],
    costs: dict[str, float],
    traffic: tuple[Counter[str], Counter[str], int],
    database: str,
) -> None:
    requests = len(samples["neither layer"])
    print(
        f"POST /v1/notes: {requests} sequential requests per variant, in-process (ASGI), "
        f"{database}, private redis-server\n"
    )
    print(f"  {'variant':<22}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}")
    for variant, values in samples.items():
        mean, median = statistics.fmean(values), statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[-1]
        print(f"  {variant:<22}{mean:>10.3f}{median:>10.3f}{p95:>10.3f}")
    base = samples["neither layer"]
    print(f"\n  {'added by':<22}{'mean ms':>10}{'p50 ms':>10}")
    for label, variant in (
        ("the rate limiter", "rate limit only"),
        ("the idempotency layer", "idempotency only"),
        ("both", "both (as shipped)"),
    ):
        mean = statistics.fmean(samples[variant]) - statistics.fmean(base)
        median = statistics.median(samples[variant]) - statistics.median(base)
        print(f"  {label:<22}{mean:>+10.3f}{median:>+10.3f}")
    shipped = samples["both (as shipped)"]
    print()
    # Both statistics: the mean carries every stall a busy machine puts into a run, the median
    # what a request costs when nothing else intervenes.
    for name, statistic in (("mean", statistics.fmean), ("median", statistics.median)):
        both = statistic(shipped) - statistic(base)
        verdict = "PASS" if both <= TARGET_MS else "MISS"
        print(
            f"  {verdict}  both layers add {both:.3f} ms per request by the {name} (target <= {TARGET_MS} ms)"
        )
    print("\nEach layer's Redis work alone (no HTTP):")
    for label, micros in costs.items():
        print(f"  {label:<40}{micros:>8.0f} µs per call")
    sent, ran, posts = traffic
    print(f"\nRedis per accepted POST (as shipped, mean of {posts}):")
    trips = sum(sent.values()) / posts
    detail = ", ".join(f"{name} {count / posts:.2f}" for name, count in sent.most_common())
    print(f"  round trips (counted on the client): {trips:.2f}  [{detail}]")
    detail = ", ".join(f"{name} {count / posts:.2f}" for name, count in ran.most_common())
    print(f"  commands Redis ran (INFO commandstats, script internals included): {detail}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests per variant")
    parser.add_argument(
        "--database-url", help="a Postgres server for a scratch database (default: SQLite)"
    )
    args = parser.parse_args()
    requests = max(args.requests, 20)
    with tempfile.TemporaryDirectory() as workdir, private_redis(Path(workdir)) as server:
        redis_url = server.url
        await wait_for_redis(redis_url)
        async with scratch_database(args.database_url) as database_url:
            settings = Settings(
                _env_file=None,
                environment=Environment.TEST,
                database_url=database_url,
                redis_url=redis_url,
                log_level="WARNING",
                rate_limit_default=ROOMY,
                rate_limit_routes={"POST /v1/notes": ROOMY_NOTES},
            )
            samples = await latencies(settings, requests)
            costs = await layer_costs(settings, requests)
            posts = min(requests, 200)
            sent, ran = await redis_traffic(settings, posts)
    database = "Postgres" if args.database_url else "SQLite"
    report(samples, costs, (sent, ran, posts), database)


if __name__ == "__main__":
    asyncio.run(main())
