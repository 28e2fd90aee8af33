"""Worker throughput and queue wait: our jobs layer against a plain arq Worker, a process each.

Throughput: the queue is filled first, then one worker process runs it empty in burst mode; the
rate is jobs / (last finish - first start), both read from the job results arq keeps in Redis.
Ours and arq alternate, and the full run repeats each pair and keeps the best of each, so a
neighbour's load spike does not land on one side only.
Queue wait: a long-running worker while jobs arrive at a steady rate; wait = start - enqueue.
"""

import asyncio
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from arq.connections import ArqRedis
from arq.constants import health_check_key_suffix, result_key_prefix
from arq.jobs import JobResult, deserialize_result
from chassis.settings import Settings
from redis.asyncio import Redis

from bench import ours, progress, tasks
from bench.context import BenchContext
from bench.report import Rendered, Table, Target, mib, ratio
from bench.services import ServiceError, child, rss_kib

OURS, ARQ = "ours", "arq"
LAYER_LABELS = {OURS: "ours (build_worker, Queue.enqueue)", ARQ: "plain arq Worker (pickle)"}
OUR_MAX_JOBS, OUR_POLL_DELAY = ours.defaults()
# arq's own Worker defaults.
ARQ_MAX_JOBS, ARQ_POLL_DELAY = 10, 0.5
MAX_JOBS_SWEEP = (10, 25, 50, 100, 200)
STEADY_RATE_OURS, STEADY_RATE_ARQ_DEFAULTS = 100, 10
# Below this share of the offered rate, the worker did not keep up: its waits measure a backlog.
SUSTAINED_SHARE = 0.95
WAIT_P50_TARGET_MS, WAIT_P99_TARGET_MS = 100, 500
START_TIMEOUT_SECONDS = 30
IDLE_SAMPLE_SECONDS = 2


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
    # Measured from arq's own times: jobs enqueued and finished per second over the run.
    offered_rate: float
    completed_rate: float

    @property
    def sustained(self) -> bool:
        return self.completed_rate >= SUSTAINED_SHARE * self.offered_rate

    def verdict(self) -> str:
        """One line that says whether the worker kept up with the offered rate."""
        rates = (
            f"offered {self.offered_rate:.1f} jobs/s (asked {self.rate}), "
            f"completed {self.completed_rate:.1f} jobs/s"
        )
        if self.sustained:
            return f"the worker kept up: {rates}"
        return (
            f"OFFERED RATE NOT SUSTAINED: {rates}, so the worker saturated below the offered "
            "rate and these waits measure a growing backlog"
        )


@dataclass
class WorkerResults:
    rounds: int
    throughput: dict[tuple[str, str, int, float], Throughput] = field(default_factory=dict)
    wait: dict[str, Wait] = field(default_factory=dict)
    rss_idle: dict[str, int] = field(default_factory=dict)
    rss_end: dict[str, int] = field(default_factory=dict)
    idle_cpu_percent: float = 0.0

    def keep_best(self, key: tuple[str, str, int, float], measured: Throughput) -> None:
        best = self.throughput.get(key)
        if best is None or measured.rate > best.rate:
            self.throughput[key] = measured


async def enqueue(redis: Redis, layer: str, settings: Settings, task: str, count: int) -> None:
    """`count` jobs, enqueued the way each layer enqueues, 100 at a time."""
    if layer == OURS:
        await ours.enqueue(redis, settings, task, count)
        return
    pool, queue_name = ArqRedis(connection_pool=redis.connection_pool), ours.queue_key(settings)
    for start in range(0, count, 100):
        batch = range(start, min(start + 100, count))
        await asyncio.gather(*(pool.enqueue_job(task, _queue_name=queue_name) for _ in batch))


async def job_results(redis: Redis, layer: str) -> list[JobResult]:
    keys = await redis.keys(result_key_prefix + "*")
    values = []
    for start in range(0, len(keys), 1000):
        values += await redis.mget(keys[start : start + 1000])
    deserializer = ours.deserialize if layer == OURS else None
    return [deserialize_result(value, deserializer=deserializer) for value in values if value]


def worker_args(layer: str, max_jobs: int, poll_delay: float) -> list[str]:
    return [
        sys.executable, "-m", "bench.worker_child", layer,
        "--max-jobs", str(max_jobs), "--poll-delay", str(poll_delay),
    ]  # fmt: skip


def job_count(ctx: BenchContext, max_jobs: int, poll_delay: float) -> int:
    """Enough jobs for a few seconds: a worker starts at most max_jobs per poll of 25 ms jobs."""
    seconds, cap = (2, 1000) if ctx.quick else (4, 3000)
    return min(cap, int(seconds * max_jobs / poll_delay))


async def throughput(
    ctx: BenchContext, redis: Redis, layer: str, task: str, max_jobs: int, poll_delay: float
) -> Throughput:
    count = job_count(ctx, max_jobs, poll_delay)
    await redis.flushall()
    await enqueue(redis, layer, ctx.settings(), task, count)
    log = ctx.log(f"worker-{layer}-{task}-{max_jobs}-{poll_delay}")
    args = [*worker_args(layer, max_jobs, poll_delay), "--burst"]
    with child(args, log=log, env=ctx.service_env()) as process:
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime, the 14th and 15th fields of the whole line.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Steady:
    wait: Wait
    rss_idle: dict[str, int]
    rss_end: dict[str, int]
    idle_cpu_percent: float


async def steady(
    ctx: BenchContext, redis: Redis, layer: str, max_jobs: int, poll_delay: float, rate: int
) -> Steady:
    """Queue wait while 25 ms jobs arrive at `rate` a second, then a burst of them; the
    worker's memory and CPU at idle and its memory at the end."""
    settings = ctx.settings()
    queue_name = ours.queue_key(settings)
    seconds = 4 if ctx.quick else 8
    await redis.flushall()
    log = ctx.log(f"worker-{layer}-steady")
    with child(worker_args(layer, max_jobs, poll_delay), log=log, env=ctx.service_env()) as process:
        await wait_polling(redis, queue_name, log)
        idle = rss_kib(process.pid)
        cpu_before = cpu_seconds(process.pid)
        await asyncio.sleep(IDLE_SAMPLE_SECONDS)
        idle_cpu = (cpu_seconds(process.pid) - cpu_before) / IDLE_SAMPLE_SECONDS * 100
        loop = asyncio.get_running_loop()
        started = loop.time()
        for number in range(rate * seconds):
            await asyncio.sleep(max(0.0, started + number / rate - loop.time()))
            await enqueue(redis, layer, settings, tasks.SLEEP, 1)
        await drained(redis, queue_name)
        wait = queue_wait(rate, await job_results(redis, layer))
        # The end-of-load memory follows a full-concurrency run, not only a trickle.
        await enqueue(redis, layer, settings, tasks.SLEEP, job_count(ctx, max_jobs, poll_delay))
        await drained(redis, queue_name)
        end = rss_kib(process.pid)
    return Steady(wait, idle, end, idle_cpu)


def per_second(times: list[float]) -> float:
    """Events per second over the span from the first to the last of them."""
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else float("inf")


def queue_wait(rate: int, results: list[JobResult]) -> Wait:
    """Waits (start - enqueue), and the rates jobs really arrived and finished at."""
    waits = [(r.start_time - r.enqueue_time).total_seconds() * 1000 for r in results]
    percentiles = statistics.quantiles(waits, n=100, method="inclusive")
    return Wait(
        rate=rate,
        jobs=len(waits),
        p50_ms=percentiles[49],
        p99_ms=percentiles[98],
        offered_rate=per_second([r.enqueue_time.timestamp() for r in results]),
        completed_rate=per_second([r.finish_time.timestamp() for r in results]),
    )


async def run(ctx: BenchContext) -> WorkerResults:
    redis = Redis.from_url(ctx.redis.url)
    results = WorkerResults(rounds=1 if ctx.quick else 2)
    try:
        for round_number in range(1, results.rounds + 1):
            for task in (tasks.NOOP, tasks.SLEEP):
                for layer in (OURS, ARQ):
                    progress(
                        f"worker: {layer}, {task}, max_jobs={OUR_MAX_JOBS}, "
                        f"poll_delay={OUR_POLL_DELAY} (round {round_number}/{results.rounds})"
                    )
                    key = (layer, task, OUR_MAX_JOBS, OUR_POLL_DELAY)
                    results.keep_best(key, await throughput(ctx, redis, *key))
        progress(f"worker: arq defaults, max_jobs={ARQ_MAX_JOBS}, poll_delay={ARQ_POLL_DELAY}")
        key = (ARQ, tasks.SLEEP, ARQ_MAX_JOBS, ARQ_POLL_DELAY)
        results.keep_best(key, await throughput(ctx, redis, *key))
        if not ctx.quick:
            for max_jobs in MAX_JOBS_SWEEP:
                progress(f"worker: ours, 25 ms jobs, max_jobs={max_jobs}")
                key = (OURS, tasks.SLEEP, max_jobs, OUR_POLL_DELAY)
                results.keep_best(key, await throughput(ctx, redis, *key))
        progress(f"worker: queue wait, ours at {STEADY_RATE_OURS} jobs/s")
        ours = await steady(ctx, redis, OURS, OUR_MAX_JOBS, OUR_POLL_DELAY, STEADY_RATE_OURS)
        results.wait[OURS] = ours.wait
        results.rss_idle, results.rss_end = ours.rss_idle, ours.rss_end
        results.idle_cpu_percent = ours.idle_cpu_percent
        progress(f"worker: queue wait, plain arq defaults at {STEADY_RATE_ARQ_DEFAULTS} jobs/s")
        defaults = await steady(
            ctx, redis, ARQ, ARQ_MAX_JOBS, ARQ_POLL_DELAY, STEADY_RATE_ARQ_DEFAULTS
        )
        results.wait[ARQ] = defaults.wait
    finally:
        await redis.aclose()
    return results


def render(results: WorkerResults) -> Rendered:
    def rate(
        layer: str, task: str, max_jobs: int = OUR_MAX_JOBS, poll: float = OUR_POLL_DELAY
    ) -> float:
        return results.throughput[layer, task, max_jobs, poll].rate

    best = " (best of 2 alternating runs)" if results.rounds > 1 else ""
    table = Table(
        f"Worker throughput, one process, jobs/s{best}",
        ("jobs", LAYER_LABELS[OURS], LAYER_LABELS[ARQ], "ours / arq"),
    )
    same = f"max_jobs={OUR_MAX_JOBS}, poll_delay={OUR_POLL_DELAY} s for both"
    for task, label in ((tasks.NOOP, "no-op"), (tasks.SLEEP, "25 ms sleep")):
        ours, arq = rate(OURS, task), rate(ARQ, task)
        table.add(f"{label}, {same}", f"{ours:,.0f}", f"{arq:,.0f}", ratio(ours, arq))
    defaults = rate(ARQ, tasks.SLEEP, ARQ_MAX_JOBS, ARQ_POLL_DELAY)
    ours_sleep = rate(OURS, tasks.SLEEP)
    table.add(
        f"25 ms sleep, each at its defaults (arq: max_jobs={ARQ_MAX_JOBS}, "
        f"poll_delay={ARQ_POLL_DELAY} s)",
        f"{ours_sleep:,.0f}",
        f"{defaults:,.1f}",
        ratio(ours_sleep, defaults),
    )
    sections = [table.render()]
    sweep = [
        n for n in MAX_JOBS_SWEEP if (OURS, tasks.SLEEP, n, OUR_POLL_DELAY) in results.throughput
    ]
    if len(sweep) > 1:
        by_max_jobs = Table(
            f"Our worker on 25 ms jobs by WORKER_MAX_JOBS (poll_delay={OUR_POLL_DELAY} s)",
            ("max_jobs", "jobs/s", f"vs {OUR_MAX_JOBS}"),
        )
        for max_jobs in sweep:
            measured = rate(OURS, tasks.SLEEP, max_jobs)
            by_max_jobs.add(max_jobs, f"{measured:,.0f}", ratio(measured, ours_sleep))
        sections.append(by_max_jobs.render())
    wait = Table(
        "Queue wait (start - enqueue) of 25 ms jobs arriving at a steady rate",
        ("worker", "offered jobs/s", "completed jobs/s", "jobs", "p50", "p99"),
    )
    for layer, label in (
        (OURS, f"ours, max_jobs={OUR_MAX_JOBS}, poll_delay={OUR_POLL_DELAY} s"),
        (ARQ, f"plain arq defaults, max_jobs={ARQ_MAX_JOBS}, poll_delay={ARQ_POLL_DELAY} s"),
    ):
        w = results.wait[layer]
        wait.add(
            label,
            f"{w.offered_rate:.1f}",
            f"{w.completed_rate:.1f}",
            w.jobs,
            f"{w.p50_ms:.1f} ms",
            f"{w.p99_ms:.1f} ms",
        )
        wait.notes.append(f"{label.split(',')[0]}: {w.verdict()}")
    sections.append(wait.render())
    sections.append(
        f"Worker process (ours): {mib(results.rss_idle['VmRSS'])} and "
        f"{results.idle_cpu_percent:.1f}% of a core when idle; {mib(results.rss_end['VmRSS'])} "
        f"after the load runs (peak {mib(results.rss_end['VmHWM'])})"
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
    ours_wait = results.wait[OURS]
    backlog = "" if ours_wait.sustained else "offered rate NOT sustained: waits measure a backlog"
    for name, value, goal in (
        ("p50", ours_wait.p50_ms, WAIT_P50_TARGET_MS),
        ("p99", ours_wait.p99_ms, WAIT_P99_TARGET_MS),
    ):
        targets.append(
            Target(
                f"queue wait {name} at {ours_wait.rate} jobs/s offered, ours",
                value,
                goal,
                at_most=True,
                unit=" ms",
                note=backlog,
            )
        )
    return sections, targets


async def measure(ctx: BenchContext) -> Rendered:
    return render(await run(ctx))
