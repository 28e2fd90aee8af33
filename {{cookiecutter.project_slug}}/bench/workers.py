"""Worker throughput and queue wait: our jobs layer against a plain arq Worker, a process each.

Throughput: the queue is filled first, then one worker process runs it empty in burst mode; the
rate is jobs / (last finish - first start), both read from the job results arq keeps in Redis.
Queue wait: a long-running worker while jobs arrive at a steady rate; wait = start - enqueue.
"""

import asyncio
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from arq.connections import ArqRedis
from arq.constants import health_check_key_suffix, result_key_prefix
from arq.jobs import JobResult, deserialize_result
from redis.asyncio import Redis

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.jobs import Message, Queue
from {{ cookiecutter.package_name }}.jobs.serializer import deserialize

from bench import progress, tasks
from bench.context import BenchContext
from bench.report import Table, Target, mib, ratio
from bench.services import ServiceError, child, rss_kib

OURS, ARQ = "ours", "arq"
LAYER_LABELS = {OURS: "ours (build_worker, Queue.enqueue)", ARQ: "plain arq Worker (pickle)"}
OUR_MAX_JOBS: int = Settings.model_fields["worker_max_jobs"].default
OUR_POLL_DELAY: float = Settings.model_fields["worker_poll_delay_seconds"].default
# arq's own Worker defaults.
ARQ_MAX_JOBS, ARQ_POLL_DELAY = 10, 0.5
STEADY_RATE_OURS, STEADY_RATE_ARQ_DEFAULTS = 100, 10
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Throughput:
    jobs: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


@dataclass(frozen=True)
class Wait:
    rate: int
    jobs: int
    p50_ms: float
    p99_ms: float


@dataclass
class WorkerResults:
    jobs: int
    throughput: dict[tuple[str, str, int, float], Throughput] = field(default_factory=dict)
    wait: dict[str, Wait] = field(default_factory=dict)
    rss_idle: dict[str, int] = field(default_factory=dict)
    rss_end: dict[str, int] = field(default_factory=dict)


async def enqueue(redis: Redis, layer: str, queue_name: str, task: str, count: int) -> None:
    """`count` jobs, enqueued the way each layer enqueues, 100 at a time."""
    if layer == OURS:
        queue, message = Queue(redis, queue_name), Message(task=task)
        for start in range(0, count, 100):
            batch = range(start, min(start + 100, count))
            await asyncio.gather(*(queue.enqueue(message) for _ in batch))
        return
    pool = ArqRedis(connection_pool=redis.connection_pool)
    for start in range(0, count, 100):
        batch = range(start, min(start + 100, count))
        await asyncio.gather(*(pool.enqueue_job(task, _queue_name=queue_name) for _ in batch))


async def job_results(redis: Redis, layer: str) -> list[JobResult]:
    keys = await redis.keys(result_key_prefix + "*")
    values = []
    for start in range(0, len(keys), 1000):
        values += await redis.mget(keys[start : start + 1000])
    deserializer = deserialize if layer == OURS else None
    return [deserialize_result(value, deserializer=deserializer) for value in values if value]


def worker_args(layer: str, max_jobs: int, poll_delay: float) -> list[str]:
    return [
        sys.executable, "-m", "bench.worker_child", layer,
        "--max-jobs", str(max_jobs), "--poll-delay", str(poll_delay),
    ]  # fmt: skip


async def throughput(
    ctx: BenchContext, redis: Redis, layer: str, task: str, max_jobs: int, poll_delay: float
) -> Throughput:
    count = ctx_jobs(ctx, max_jobs, poll_delay)
    await redis.flushall()
    await enqueue(redis, layer, ctx.settings().queue_name, task, count)
    log = ctx.log(f"worker-{layer}-{task}-{max_jobs}-{poll_delay}")
    with child(
        [*worker_args(layer, max_jobs, poll_delay), "--burst"], log=log, env=ctx.service_env()
    ) as process:
        while process.poll() is None:
            await asyncio.sleep(0.1)
    if process.returncode != 0:
        raise ServiceError(f"the {layer} worker exited {process.returncode}; see {log}")
    results = await job_results(redis, layer)
    if len(results) != count or not all(result.success for result in results):
        raise ServiceError(f"{layer} worker: {len(results)} results for {count} jobs; see {log}")
    first = min(result.start_time for result in results)
    last = max(result.finish_time for result in results)
    return Throughput(jobs=count, seconds=(last - first).total_seconds())


def ctx_jobs(ctx: BenchContext, max_jobs: int, poll_delay: float) -> int:
    """Enough jobs for a few seconds of work: arq's defaults start at most 20 jobs a second."""
    if (max_jobs, poll_delay) == (ARQ_MAX_JOBS, ARQ_POLL_DELAY):
        return 50 if ctx.quick else 100
    return 1000 if ctx.quick else 3000


async def wait_polling(redis: Redis, queue_name: str, log: Path) -> None:
    """Until the worker has polled once: arq writes its health-check key on the first poll."""
    try:
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while not await redis.exists(queue_name + health_check_key_suffix):
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise ServiceError(f"the worker did not start polling; see {log}") from None


async def drained(redis: Redis, queue_name: str) -> None:
    while await redis.zcard(queue_name):
        await asyncio.sleep(0.05)


async def steady(
    ctx: BenchContext, redis: Redis, layer: str, max_jobs: int, poll_delay: float, rate: int
) -> tuple[Wait, dict[str, int], dict[str, int]]:
    """Queue wait while 25 ms jobs arrive at `rate` a second; then, for ours, a burst of them.

    Returns the wait and the worker's memory when idle and at the end.
    """
    queue_name = ctx.settings().queue_name
    seconds = 5 if ctx.quick else 10
    await redis.flushall()
    log = ctx.log(f"worker-{layer}-steady")
    with child(worker_args(layer, max_jobs, poll_delay), log=log, env=ctx.service_env()) as process:
        await wait_polling(redis, queue_name, log)
        idle = rss_kib(process.pid)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for number in range(rate * seconds):
            await asyncio.sleep(max(0.0, started + number / rate - loop.time()))
            await enqueue(redis, layer, queue_name, tasks.SLEEP, 1)
        await drained(redis, queue_name)
        waits = [
            (result.start_time - result.enqueue_time).total_seconds() * 1000
            for result in await job_results(redis, layer)
        ]
        if layer == OURS:
            # The end-of-load memory figure follows a full-concurrency run, not only a trickle.
            await enqueue(
                redis, layer, queue_name, tasks.SLEEP, ctx_jobs(ctx, max_jobs, poll_delay)
            )
            await drained(redis, queue_name)
        end = rss_kib(process.pid)
    percentiles = statistics.quantiles(waits, n=100, method="inclusive")
    wait = Wait(rate=rate, jobs=len(waits), p50_ms=percentiles[49], p99_ms=percentiles[98])
    return wait, idle, end


async def run(ctx: BenchContext) -> WorkerResults:
    redis = Redis.from_url(ctx.redis.url)
    results = WorkerResults(jobs=ctx_jobs(ctx, OUR_MAX_JOBS, OUR_POLL_DELAY))
    try:
        runs = [
            (layer, task, OUR_MAX_JOBS, OUR_POLL_DELAY)
            for task in (tasks.NOOP, tasks.SLEEP)
            for layer in (OURS, ARQ)
        ]
        runs.append((ARQ, tasks.SLEEP, ARQ_MAX_JOBS, ARQ_POLL_DELAY))
        for layer, task, max_jobs, poll_delay in runs:
            progress(f"worker: {layer}, {task}, max_jobs={max_jobs}, poll_delay={poll_delay}")
            key = (layer, task, max_jobs, poll_delay)
            results.throughput[key] = await throughput(ctx, redis, *key)
        progress(f"worker: queue wait, ours at {STEADY_RATE_OURS} jobs/s")
        wait, results.rss_idle, results.rss_end = await steady(
            ctx, redis, OURS, OUR_MAX_JOBS, OUR_POLL_DELAY, STEADY_RATE_OURS
        )
        results.wait[OURS] = wait
        progress(f"worker: queue wait, plain arq defaults at {STEADY_RATE_ARQ_DEFAULTS} jobs/s")
        results.wait[ARQ], _, _ = await steady(
            ctx, redis, ARQ, ARQ_MAX_JOBS, ARQ_POLL_DELAY, STEADY_RATE_ARQ_DEFAULTS
        )
    finally:
        await redis.aclose()
    return results


def render(results: WorkerResults) -> tuple[list[str], list[Target]]:
    def rate(
        layer: str, task: str, max_jobs: int = OUR_MAX_JOBS, poll: float = OUR_POLL_DELAY
    ) -> float:
        return results.throughput[layer, task, max_jobs, poll].rate

    table = Table(
        f"Worker throughput, one process (jobs/s; max_jobs={OUR_MAX_JOBS}, "
        f"poll_delay={OUR_POLL_DELAY} s unless stated)",
        ("jobs", LAYER_LABELS[OURS], LAYER_LABELS[ARQ], "ours / arq"),
    )
    for task, label in ((tasks.NOOP, "no-op"), (tasks.SLEEP, "25 ms sleep")):
        ours, arq = rate(OURS, task), rate(ARQ, task)
        table.add(label, f"{ours:,.0f}", f"{arq:,.0f}", ratio(ours, arq))
    defaults = rate(ARQ, tasks.SLEEP, ARQ_MAX_JOBS, ARQ_POLL_DELAY)
    ours_sleep = rate(OURS, tasks.SLEEP)
    table.add(
        f"25 ms sleep, ours at our defaults vs arq at its defaults ({ARQ_MAX_JOBS}, {ARQ_POLL_DELAY} s)",
        f"{ours_sleep:,.0f}",
        f"{defaults:,.1f}",
        ratio(ours_sleep, defaults),
    )
    wait = Table(
        "Queue wait (start - enqueue) of 25 ms jobs arriving at a steady rate",
        ("worker", "jobs/s", "jobs", "p50", "p99"),
    )
    for layer, label in (
        (OURS, f"ours, max_jobs={OUR_MAX_JOBS}, poll_delay={OUR_POLL_DELAY} s"),
        (ARQ, f"plain arq defaults, max_jobs={ARQ_MAX_JOBS}, poll_delay={ARQ_POLL_DELAY} s"),
    ):
        w = results.wait[layer]
        wait.add(label, w.rate, w.jobs, f"{w.p50_ms:.1f} ms", f"{w.p99_ms:.1f} ms")
    memory = (
        f"Worker process memory (ours): {mib(results.rss_idle['VmRSS'])} idle, "
        f"{mib(results.rss_end['VmRSS'])} after the load runs (peak {mib(results.rss_end['VmHWM'])})"
    )
    targets = [
        Target(
            "worker no-op jobs/s, ours / plain arq",
            rate(OURS, tasks.NOOP) / rate(ARQ, tasks.NOOP),
            0.9,
        ),
        Target("worker 25 ms jobs/s, ours / plain arq", ours_sleep / rate(ARQ, tasks.SLEEP), 0.9),
        Target("25 ms jobs/s, our defaults / arq defaults", ours_sleep / defaults, 20),
    ]
    return [table.render(), wait.render(), memory], targets
