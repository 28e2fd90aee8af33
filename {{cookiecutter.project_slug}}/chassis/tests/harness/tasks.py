"""Tasks that exist only for the tests. Importing this module registers them."""

import asyncio
import time

from chassis.jobs import Backoff, JobContext, task

# What the tasks observed, per job id, in the test process (tasks run in-process via run_burst).
ATTEMPT_STARTS: dict[str, list[float]] = {}
FAILED_AT: dict[str, list[float]] = {}
BACKOFF_DELAYS: list[float] = []
# Orders whose processing fails permanently until a test "fixes" them.
BROKEN_ORDERS: set[str] = set()


class RecordingBackoff(Backoff):
    """The default policy, remembering every delay it hands out."""

    __slots__ = ()

    def delay(self, attempt: int) -> float:
        chosen = super().delay(attempt)
        BACKOFF_DELAYS.append(chosen)
        return chosen


@task(max_tries=3, backoff=RecordingBackoff(base_seconds=0.2, cap_seconds=0.3))
async def flaky(ctx: JobContext, *, failures: int) -> dict[str, int]:
    """Fails with a transient error on its first `failures` attempts."""
    ATTEMPT_STARTS.setdefault(ctx.job_id, []).append(time.time())
    if ctx.attempt <= failures:
        FAILED_AT.setdefault(ctx.job_id, []).append(time.time())
        raise ConnectionError("upstream refused the connection")
    return {"attempt": ctx.attempt}


class InvalidOrder(Exception):
    pass


@task(max_tries=3)
async def process_order(ctx: JobContext, *, order_id: str) -> dict[str, str]:
    """Fails permanently while the order is broken."""
    ATTEMPT_STARTS.setdefault(ctx.job_id, []).append(time.time())
    if order_id in BROKEN_ORDERS:
        raise InvalidOrder(f"order {order_id} has no lines")
    return {"order_id": order_id}


class RateLimited(Exception):
    pass


@task(max_tries=2, retry_on=(RateLimited,), backoff=Backoff(base_seconds=0.01, cap_seconds=0.01))
async def rate_limited(ctx: JobContext) -> None:
    """Always fails with an error the task declares transient."""
    raise RateLimited("429 from the partner API")


@task(timeout_seconds=1, max_tries=1)
async def hangs(ctx: JobContext) -> None:
    """Outlives its timeout."""
    await asyncio.sleep(30)
