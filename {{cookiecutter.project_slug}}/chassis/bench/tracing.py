"""What tracing costs while no OTEL_* setting turns it on: the shipped code against the same code
without the tracing wrappers, in this process, on the private Redis and the scratch database.

- per enqueue: `Queue.enqueue_and_set`, which jobs/tracing.py wraps, against the function it wraps;
- per job: the worker's whole delivery of a no-op job (claim and outcome in the job history, the
  metrics), as arq calls it, with and without the `traced` wrapper of jobs/tracing.py.

What is compared is this process's CPU time per call: the wrappers run here, while Redis and
Postgres time is the same on both sides and, on a shared machine, mostly the neighbours' noise.
Rounds alternate (A B B A, so neither side always goes first) and each side keeps its cheapest
round: a dearer one met a garbage collection or a busy core. The job log lines go to a file,
through the structlog processors of production, the trace-id one included.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from arq.typing import WorkerCoroutine
from arq.worker import Function
from chassis.core import tracing
from chassis.core.db import create_engine, create_session_factory
from chassis.core.logging import configure_logging
from chassis.jobs import Message, Queue, new_job_id
from chassis.jobs._worker import runner
from chassis.jobs.history import Writer
from chassis.settings import Settings
from redis.asyncio import Redis

from bench import ours, progress, tasks
from bench.context import BenchContext
from bench.report import Rendered, Table, Target

# A job's delivery costs about 100 microseconds of this process's CPU; the wrapper's flag check is
# a fraction of one. The goal leaves room for the noise of a shared 2-core machine.
MAX_RATIO = 1.05


async def _median_rounds(
    sides: dict[str, Callable[[], Awaitable[None]]], rounds: int, calls: int
) -> dict[str, float]:
    """CPU microseconds per call of each side: its cheapest round, rounds alternating."""
    timings: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for number in range(rounds):
        for name in names if number % 2 == 0 else reversed(names):
            started = time.process_time()
            await sides[name]()
            timings[name].append((time.process_time() - started) / calls * 1e6)
    return {name: min(values) for name, values in timings.items()}


async def enqueue_cost(settings: Settings, rounds: int, calls: int) -> dict[str, float]:
    redis = Redis.from_url(settings.redis_url)
    queue = Queue(redis, settings)
    message = Message(task=tasks.NOOP, queue=ours.QUEUE)
    # Every enqueue goes through enqueue_and_set, the method the tracing wrapper is on.
    untraced = Queue.enqueue_and_set.__wrapped__  # type: ignore[attr-defined]  # functools.wraps keeps it

    async def shipped() -> None:
        for _ in range(calls):
            await queue.enqueue_and_set(message, job_id=new_job_id())

    async def baseline() -> None:
        for _ in range(calls):
            await untraced(queue, message, job_id=new_job_id())

    try:
        return await _median_rounds({"shipped": shipped, "baseline": baseline}, rounds, calls)
    finally:
        await redis.flushdb()
        await redis.aclose()


def _unwrapped(_task: str, _queue: str, run: WorkerCoroutine) -> WorkerCoroutine:
    return run


def _delivery(settings: Settings, ledger: Writer, *, wrapped: bool) -> Function:
    if wrapped:
        return runner.as_arq_function(tasks.noop, settings, ledger)
    # The same delivery, built without the tracing wrapper.
    with mock.patch.object(runner, "traced", _unwrapped):
        return runner.as_arq_function(tasks.noop, settings, ledger)


async def job_cost(settings: Settings, rounds: int, calls: int, log: Path) -> dict[str, float]:
    try:
        # The job lines go to the log file: ours are written to whatever stdout is at the time,
        # the stdlib's to the stream its handler was given at set-up.
        with log.open("a") as out, redirect_stdout(out):
            configure_logging(json=True, level="INFO")
            return await _job_cost(settings, rounds, calls)
    finally:
        configure_logging(json=True, level="INFO")  # back to stdout, for what runs next


async def _job_cost(settings: Settings, rounds: int, calls: int) -> dict[str, float]:
    engine = create_engine(settings)
    ledger = Writer(engine, settings)
    redis = Redis.from_url(settings.redis_url)
    base_ctx: dict[str, Any] = {
        "settings": settings,
        "redis": redis,
        "sessions": create_session_factory(engine),
        "job_try": 1,
    }

    def batch(function: Function) -> Callable[[], Awaitable[None]]:
        # As a worker runs them: many at once, sharing the history's group commits.
        async def run() -> None:
            now = datetime.now(UTC)
            await asyncio.gather(
                *(
                    function.coroutine(
                        {**base_ctx, "job_id": uuid.uuid4().hex, "enqueue_time": now}
                    )
                    for _ in range(calls)
                )
            )

        return run

    sides = {
        "shipped": batch(_delivery(settings, ledger, wrapped=True)),
        "baseline": batch(_delivery(settings, ledger, wrapped=False)),
    }
    try:
        return await _median_rounds(sides, rounds, calls)
    finally:
        await ledger.close()
        await engine.dispose()
        await redis.aclose()


async def measure(ctx: BenchContext) -> Rendered:
    settings = ctx.settings()
    assert not tracing.enabled(), "the benchmark process must run without OTEL_* settings"
    rounds, calls = (6, 200) if ctx.quick else (16, 500)
    progress(f"tracing off: {rounds} rounds of {calls} enqueues, with and without the wrapper")
    enqueue = await enqueue_cost(settings, rounds, calls)
    progress(f"tracing off: {rounds} rounds of {calls} no-op jobs, with and without the wrapper")
    job = await job_cost(settings, rounds, calls, ctx.log("tracing-jobs"))
    table = Table(
        "Tracing not configured (no OTEL_* settings), against the code without its wrappers",
        ("CPU time per call", "shipped", "without tracing", "ratio"),
        notes=["this process's CPU time, cheapest of alternating rounds (bench/tracing.py)"],
    )
    ratios = {}
    for name, cost in (("enqueue", enqueue), ("job delivery", job)):
        ratios[name] = cost["shipped"] / cost["baseline"]
        table.add(
            name, f"{cost['shipped']:.1f} us", f"{cost['baseline']:.1f} us", f"{ratios[name]:.3f}"
        )
    targets = [
        Target(f"tracing off: {name} cost ratio", ratio, MAX_RATIO, at_most=True, unit="x")
        for name, ratio in ratios.items()
    ]
    return [table.render()], targets
