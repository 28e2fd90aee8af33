"""Benchmark: time of a /metrics scrape with an empty queue, then with 100 000 queued jobs.

The queue gauges are three O(log N) Redis commands, so the two times should be close; the ratio
is what to watch. Runs the app in-process against a private redis-server on a free port (the
`redis-server` binary must be installed) and a throwaway SQLite database, so it touches no
shared service:

    uv run python -m bench.scrape [--jobs 100000] [--scrapes 200]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from chassis.settings import Environment
from redis.asyncio import Redis

from bench import ours
from bench.services import private_redis
from harness.services import create_tables
from sample.main import create_app
from sample.notes.tasks import write_note
from sample.settings import Settings

ENQUEUE_BATCH = 1000


async def time_scrapes(client: httpx.AsyncClient, count: int) -> list[float]:
    for _ in range(10):  # warm-up: connections, caches
        await client.get("/metrics")
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get("/metrics")
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
    return timings


async def fill_queue(settings: Settings, jobs: int) -> None:
    redis = Redis.from_url(settings.redis_url)
    message = write_note.message(title="bench", work_seconds=0)
    await ours.enqueue(redis, settings, message.task, jobs, message.kwargs, batch=ENQUEUE_BATCH)
    await redis.aclose()


def summary(label: str, timings: list[float]) -> float:
    median = statistics.median(timings) * 1000
    p95 = statistics.quantiles(timings, n=20)[-1] * 1000
    print(f"{label:<22} median {median:7.2f} ms   p95 {p95:7.2f} ms   ({len(timings)} scrapes)")
    return median


async def main(jobs: int, scrapes: int, redis_url: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        database_url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        await create_tables(database_url)
        settings = Settings(
            environment=Environment.TEST,
            database_url=database_url,
            redis_url=redis_url,
            log_level="WARNING",
        )
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                empty = summary("empty queue", await time_scrapes(client, scrapes))
                started = time.perf_counter()
                await fill_queue(settings, jobs)
                print(f"enqueued {jobs} jobs in {time.perf_counter() - started:.1f} s")
                full = summary(f"{jobs} queued jobs", await time_scrapes(client, scrapes))
    print(f"ratio (queued / empty, medians): {full / empty:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=200)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, private_redis(Path(workdir)) as server:
        url = server.url
        asyncio.run(main(arguments.jobs, arguments.scrapes, url))
