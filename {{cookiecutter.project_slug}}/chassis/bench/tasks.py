"""The jobs the worker benchmark runs, through our jobs layer and as plain arq functions."""

import asyncio
from typing import Any

from chassis.jobs import JobContext, task

# An I/O-bound job: what most background work is (an HTTP call, a query, an upload).
SLEEP_SECONDS = 0.025
NOOP = "bench_noop"
SLEEP = "bench_sleep"


@task(name=NOOP)
async def noop(ctx: JobContext) -> None:
    return None


@task(name=SLEEP)
async def sleep(ctx: JobContext) -> None:
    await asyncio.sleep(SLEEP_SECONDS)


async def plain_noop(ctx: dict[str, Any]) -> None:
    return None


async def plain_sleep(ctx: dict[str, Any]) -> None:
    await asyncio.sleep(SLEEP_SECONDS)


OURS = (noop, sleep)
PLAIN = {NOOP: plain_noop, SLEEP: plain_sleep}
