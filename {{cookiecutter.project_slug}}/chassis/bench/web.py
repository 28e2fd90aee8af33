"""Enqueue path: POST /v1/notes against a bare route and a plain arq enqueue in the same app.

Real uvicorn processes on a free loopback port, loaded by wrk from a separate process, with the
Redis round trips of each enqueue counted first (bench/round_trips.py).
"""

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis

from bench import progress, round_trips
from bench.context import BenchContext
from bench.report import Rendered, Table, Target, mib, ms, ratio
from bench.services import ServiceError, child, free_port, plain_dsn, rss_kib

LUA_SCRIPT = Path(__file__).with_name("post.lua")
# Concurrent connections from wrk: more than one process serves at once, fewer than the pools.
CONNECTIONS = 32
WEB_WORKER_COUNTS = (1, 2)
READY_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Route:
    key: str
    path: str
    label: str


HELLO = Route("hello", "/bench/hello", "bare route of the same app (baseline)")
ARQ = Route("arq", "/bench/arq-enqueue", "plain arq enqueue_job, pool opened at start-up")
HISTORY = Route("history", "/bench/history-row", "the job's Postgres row alone (insert, commit)")
FULL = Route("full", "/v1/notes", "POST /v1/notes, the full path")
ROUTES = (HELLO, ARQ, HISTORY, FULL)


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_us: int
    p99_us: int
    requests: int
    http_errors: int
    socket_errors: int


@dataclass
class WebResults:
    seconds: int
    load: dict[tuple[int, str], Load] = field(default_factory=dict)
    redis_trips: dict[str, round_trips.RoundTrips] = field(default_factory=dict)
    rss_idle: dict[str, int] = field(default_factory=dict)
    rss_end: dict[str, int] = field(default_factory=dict)
    peak_db_connections: dict[int, int] = field(default_factory=dict)
    peak_redis_clients: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Server:
    pid: int
    url: str
    log: Path
    workers: int


@contextmanager
def web_server(
    ctx: BenchContext, workers: int, database_url: str | None = None
) -> Iterator[Server]:
    port = free_port()
    log = ctx.log(f"web-{workers}-workers" + ("-relayed" if database_url else ""))
    args = [sys.executable, "-m", "bench.app", "--port", str(port), "--workers", str(workers)]
    env = ctx.service_env(**({"DATABASE_URL": database_url} if database_url else {}))
    with child(args, log=log, env=env) as process:
        yield Server(process.pid, f"http://127.0.0.1:{port}", log, workers)


async def wait_ready(server: Server) -> None:
    """Until /readyz answers 200 and every worker process has finished its start-up."""
    async with httpx.AsyncClient(base_url=server.url, timeout=2) as http:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                while True:
                    started = server.log.read_text().count("Application startup complete")
                    try:
                        ready = (await http.get("/readyz")).status_code == 200
                    except httpx.TransportError:
                        ready = False
                    if ready and started >= server.workers:
                        return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise ServiceError(f"the web server did not get ready; see {server.log}") from None


async def wrk(url: str, seconds: int) -> Load:
    tag = uuid.uuid4().hex[:12]
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    process = await asyncio.create_subprocess_exec(
        *args, "-s", str(LUA_SCRIPT), url, "--", tag,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise ServiceError(f"wrk failed on {url}: {err.decode().strip()}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    return Load(
        requests_per_second=summary["requests"] / (summary["duration_us"] / 1e6),
        p50_us=summary["p50_us"],
        p99_us=summary["p99_us"],
        requests=summary["requests"],
        http_errors=summary["http_errors"],
        socket_errors=summary["socket_errors"],
    )


@dataclass
class Peaks:
    database: int = 0
    redis: int = 0


@asynccontextmanager
async def connection_peaks(ctx: BenchContext) -> AsyncIterator[Peaks]:
    """Sample the Postgres connections open to the scratch database and the Redis connections
    that ran a command in the last second, keeping the peaks."""
    peaks = Peaks()
    database = await asyncpg.connect(plain_dsn(ctx.database_url))
    redis = Redis.from_url(ctx.redis.url)
    name = ctx.database_url.rsplit("/", 1)[-1]

    async def sample() -> None:
        while True:
            open_connections = await database.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                "AND pid <> pg_backend_pid()",
                name,
            )
            clients = await redis.client_list()
            busy = [c for c in clients if int(c["idle"]) <= 1 and c["cmd"] != "client|list"]
            peaks.database = max(peaks.database, int(open_connections))
            peaks.redis = max(peaks.redis, len(busy))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:
        yield peaks
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        await database.close()
        await redis.aclose()


async def run(ctx: BenchContext) -> WebResults:
    results = WebResults(seconds=3 if ctx.quick else 8)
    progress("enqueue path: starting uvicorn behind a counting Postgres relay")
    async with round_trips.postgres_relay(ctx.database_url) as relay:
        with web_server(ctx, 1, relay.database_url) as server:
            await wait_ready(server)
            for route in (ARQ, FULL):
                progress(f"enqueue path: round trips of {route.path}")
                counted = await round_trips.count(ctx.redis.url, server.url, route.path, relay)
                results.redis_trips[route.key] = counted
    for workers in WEB_WORKER_COUNTS:
        progress(f"enqueue path: starting uvicorn with {workers_label(workers)}")
        with web_server(ctx, workers) as server:
            await wait_ready(server)
            if workers == 1:
                results.rss_idle = rss_kib(server.pid)
            for route in ROUTES:
                progress(f"enqueue path: wrk on {route.path}, {workers_label(workers)}")
                await wrk(server.url + route.path, 1)  # warm-up, not counted
                async with connection_peaks(ctx) as peaks:
                    load = await wrk(server.url + route.path, results.seconds)
                results.load[workers, route.key] = load
                if route is FULL:
                    results.peak_db_connections[workers] = peaks.database
                    results.peak_redis_clients[workers] = peaks.redis
            if workers == 1:
                results.rss_end = rss_kib(server.pid)
    return results


def workers_label(workers: int) -> str:
    return f"{workers} worker" + ("s" if workers > 1 else "")


def render(results: WebResults) -> Rendered:
    table = Table(
        f"Enqueue path: wrk, {CONNECTIONS} connections, {results.seconds} s per run",
        ("route", "workers", "req/s", "p50", "p99", "vs bare", "errors"),
    )
    for workers in WEB_WORKER_COUNTS:
        hello = results.load[workers, HELLO.key].requests_per_second
        for route in ROUTES:
            load = results.load[workers, route.key]
            table.add(
                route.label,
                workers,
                f"{load.requests_per_second:,.0f}",
                ms(load.p50_us),
                ms(load.p99_us),
                ratio(load.requests_per_second, hello),
                load.http_errors + load.socket_errors,
            )
    if any(load.http_errors or load.socket_errors for load in results.load.values()):
        table.notes.append(
            "req/s counts every response, errors included: a rejected request (429, 4xx, 5xx) "
            "is cheaper than an accepted one; see bench/README.md"
        )
    for workers in WEB_WORKER_COUNTS:
        table.notes.append(
            f"{workers_label(workers)}, full path: at most {results.peak_db_connections[workers]} "
            f"Postgres connections open, {results.peak_redis_clients[workers]} Redis "
            "connections busy"
        )
    trips = round_trips.render(
        {route.label: results.redis_trips[route.key] for route in (ARQ, FULL)}
    )
    memory = (
        f"Web process memory (1 worker): {mib(results.rss_idle['VmRSS'])} idle, "
        f"{mib(results.rss_end['VmRSS'])} after the load runs (peak {mib(results.rss_end['VmHWM'])})"
    )
    targets = [
        Target(
            f"full POST req/s / plain arq route req/s, {workers_label(workers)}",
            results.load[workers, FULL.key].requests_per_second
            / results.load[workers, ARQ.key].requests_per_second,
            1.0,
        )
        for workers in WEB_WORKER_COUNTS
    ]
    targets += [
        Target(
            f"full POST p99 / plain arq route p99, {workers_label(workers)}",
            results.load[workers, FULL.key].p99_us / results.load[workers, ARQ.key].p99_us,
            2.0,
            True,
        )
        for workers in WEB_WORKER_COUNTS
    ]
    targets += [
        Target(
            "Redis round trips per accepted POST",
            results.redis_trips[FULL.key].round_trips,
            2,
            True,
        ),
        Target(
            "Postgres round trips per accepted POST (sequential)",
            results.redis_trips[FULL.key].postgres_round_trips,
            1,
            True,
        ),
    ]
    return [table.render(), trips, memory], targets


async def measure(ctx: BenchContext) -> Rendered:
    return render(await run(ctx))
