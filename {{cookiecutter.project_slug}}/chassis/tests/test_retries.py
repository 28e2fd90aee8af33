"""The retry policy: transient errors are retried with backoff; the rest, and exhausted tries, die."""

import httpx
import pytest
from chassis.core.metrics import metric_name
from chassis.jobs import Backoff, JobStatus, Queue, run_burst
from chassis.jobs.models import JobRecord
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harness import tasks
from harness.jobs_helpers import job_status, record, submit
from sample.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric_name(name), labels) or 0.0


async def test_transient_failures_are_retried_until_attempt_3_completes(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    job_id = await submit(sessions, queue, tasks.flaky.message(failures=2))
    await run_burst(settings)
    job = await job_status(client, job_id)
    assert (job["status"], job["attempts"], job["result"]) == ("complete", 3, {"attempt": 3})


async def test_each_retry_waits_for_its_backoff_delay(
    settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    tasks.BACKOFF_DELAYS.clear()
    job_id = await submit(sessions, queue, tasks.flaky.message(failures=2))
    await run_burst(settings)
    # From the moment an attempt raised to the start of the next one; arq keeps whole milliseconds.
    waited = [
        start - failed
        for failed, start in zip(
            tasks.FAILED_AT[job_id], tasks.ATTEMPT_STARTS[job_id][1:], strict=True
        )
    ]
    assert len(tasks.BACKOFF_DELAYS) == 2
    assert all(w >= d - 0.002 for w, d in zip(waited, tasks.BACKOFF_DELAYS, strict=True)), (
        waited,
        tasks.BACKOFF_DELAYS,
    )


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=5)
    assert [backoff.ceiling(attempt) for attempt in range(1, 6)] == [1, 2, 4, 5, 5]


def test_backoff_draws_spread_over_the_whole_window() -> None:
    draws = [Backoff(base_seconds=1, cap_seconds=5).delay(3) for _ in range(2000)]
    # Full jitter: anywhere from 0 to the ceiling (4 s here), not bunched near it.
    assert (min(draws) < 0.5, max(draws) > 3.5, max(draws) <= 4) == (True, True, True)


async def test_retries_are_counted(settings: Settings, sessions: Sessions, queue: Queue) -> None:
    before = sample("jobs_retried_total", task="flaky")
    await submit(sessions, queue, tasks.flaky.message(failures=2))
    await run_burst(settings)
    assert sample("jobs_retried_total", task="flaky") - before == 2


async def test_permanent_error_is_not_retried(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    tasks.BROKEN_ORDERS.add("o-permanent")
    job_id = await submit(sessions, queue, tasks.process_order.message(order_id="o-permanent"))
    await run_burst(settings)
    job = await job_status(client, job_id)
    assert (job["status"], job["attempts"], len(tasks.ATTEMPT_STARTS[job_id])) == ("dead", 1, 1)


async def test_error_type_the_task_declares_transient_is_retried(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    job_id = await submit(sessions, queue, tasks.rate_limited.message())
    await run_burst(settings)
    job = await job_status(client, job_id)
    assert (job["status"], job["attempts"]) == ("dead", 2)


async def test_exhausted_tries_leave_a_dead_letter(
    settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    job_id = await submit(sessions, queue, tasks.flaky.message(failures=5))
    await run_burst(settings)
    dead = await record(sessions, job_id)
    assert (dead.status, dead.task, dead.kwargs, dead.attempts, dead.error) == (
        JobStatus.DEAD,
        "flaky",
        {"failures": 5},
        3,
        "ConnectionError: upstream refused the connection",
    )


async def test_timeout_ends_the_attempt_with_a_recorded_error(
    settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    job_id = await submit(sessions, queue, tasks.hangs.message())
    await run_burst(settings)
    dead = await record(sessions, job_id)
    assert (dead.status, dead.error) == (JobStatus.DEAD, "timed out after 1 s")


async def test_dead_letters_are_counted_by_reason(
    settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    before = sample("jobs_dead_total", task="flaky", reason="exhausted")
    await submit(sessions, queue, tasks.flaky.message(failures=5))
    await run_burst(settings)
    assert sample("jobs_dead_total", task="flaky", reason="exhausted") - before == 1


async def test_dead_status_wins_over_arqs_failed_result(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, queue: Queue, redis: Redis
) -> None:
    tasks.BROKEN_ORDERS.add("o-dead")
    job_id = await submit(sessions, queue, tasks.process_order.message(order_id="o-dead"))
    await run_burst(settings)
    job = await job_status(client, job_id)
    assert (job["status"], await redis.exists(f"arq:result:{job_id}")) == ("dead", 1)


@pytest.mark.slow
async def test_last_attempt_cut_off_by_a_crash_is_dead_lettered_without_running(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, queue: Queue
) -> None:
    job_id = await submit(sessions, queue, tasks.process_order.message(order_id="o-cut"))
    # What a worker killed during the third and last try leaves behind.
    async with sessions.begin() as session:
        await session.execute(
            update(JobRecord)
            .where(JobRecord.job_id == job_id)
            .values(status=JobStatus.IN_PROGRESS, attempts=3)
        )
    await run_burst(settings)
    job = await job_status(client, job_id)
    assert (job["status"], job_id in tasks.ATTEMPT_STARTS) == ("dead", False)


async def test_completed_job_delivered_again_does_not_run_again(
    client: httpx.AsyncClient, settings: Settings, sessions: Sessions, queue: Queue, redis: Redis
) -> None:
    message = tasks.process_order.message(order_id="o-twice")
    job_id = await submit(sessions, queue, message)
    await run_burst(settings)
    # What Redis losing arq's record of the finish looks like: the job is delivered again.
    await redis.delete(f"arq:result:{job_id}")
    assert await queue.enqueue(message, job_id=job_id) == job_id
    await run_burst(settings)
    job = await job_status(client, job_id)
    assert (job["status"], len(tasks.ATTEMPT_STARTS[job_id])) == ("complete", 1)


@pytest.mark.parametrize("max_tries", [0, -1])
def test_task_needs_at_least_one_try(max_tries: int) -> None:
    from chassis.jobs import task

    with pytest.raises(ValueError, match="at least 1"):
        task(max_tries=max_tries)
