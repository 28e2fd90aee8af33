from collections.abc import Callable

import httpx
import pytest
from chassis.core.metrics import metric_name
from chassis.jobs import JobContext, Queue, run_burst, task
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from harness.metrics_text import sample_value
from harness.processes import CLI, eventually, free_port, running, service_env
from sample.notes.tasks import write_note
from sample.settings import Settings

OUTCOMES = ("started", "completed", "failed", "retried")


@task(name="metrics_test_always_fails", max_tries=1)
async def always_fails(ctx: JobContext) -> None:
    raise RuntimeError("this task always fails")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric_name(name), labels) or 0.0


def snapshot(task_name: str) -> Callable[[], dict[str, float]]:
    """Counts since the snapshot was taken: the registry is shared by the whole test run."""
    before = {outcome: value(f"jobs_{outcome}_total", task=task_name) for outcome in OUTCOMES}

    def since() -> dict[str, float]:
        return {
            outcome: value(f"jobs_{outcome}_total", task=task_name) - before[outcome]
            for outcome in OUTCOMES
        }

    return since


async def run_jobs(settings: Settings, redis: Redis, *, succeeding: int, failing: int) -> None:
    queue = Queue(redis, settings)
    for _ in range(succeeding):
        await queue.enqueue(write_note.message(title="Counted", work_seconds=0))
    for _ in range(failing):
        await queue.enqueue(always_fails.message())
    await run_burst(settings)


async def test_each_started_job_is_counted_once_by_outcome(
    settings: Settings, redis: Redis
) -> None:
    notes, failures = snapshot(write_note.name), snapshot(always_fails.name)

    await run_jobs(settings, redis, succeeding=4, failing=2)

    assert (notes(), failures()) == (
        {"started": 4, "completed": 4, "failed": 0, "retried": 0},
        {"started": 2, "completed": 0, "failed": 2, "retried": 0},
    )


async def test_queue_wait_and_duration_are_observed_per_job(
    settings: Settings, redis: Redis
) -> None:
    labels = {"task": write_note.name}
    waits = value("job_queue_wait_seconds_count", **labels)
    runs = value("job_duration_seconds_count", **labels, outcome="completed")

    await run_jobs(settings, redis, succeeding=3, failing=0)

    assert (
        value("job_queue_wait_seconds_count", **labels) - waits,
        value("job_duration_seconds_count", **labels, outcome="completed") - runs,
    ) == (3, 3)


async def test_nothing_is_in_progress_after_a_drain(settings: Settings, redis: Redis) -> None:
    await run_jobs(settings, redis, succeeding=2, failing=1)

    assert (
        value("jobs_in_progress", task=write_note.name),
        value("jobs_in_progress", task=always_fails.name),
    ) == (0, 0)


async def test_every_poll_refreshes_the_heartbeat(settings: Settings, redis: Redis) -> None:
    before = value("worker_last_poll_timestamp_seconds", queue="default")

    await run_jobs(settings, redis, succeeding=0, failing=0)

    assert value("worker_last_poll_timestamp_seconds", queue="default") > before


@pytest.mark.slow
async def test_worker_process_serves_its_metrics_on_its_port(settings: Settings) -> None:
    port = free_port()
    heartbeat = metric_name("worker_last_poll_timestamp_seconds")
    with running(
        [*CLI, "worker", "--queue", "default"],
        env=service_env(settings, WORKER_HTTP_PORT=str(port)),
    ):

        async def heartbeat_served() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    response = await http.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.TransportError:
                return False
            return (sample_value(response.text, heartbeat) or 0) > 0

        await eventually(heartbeat_served, what="the worker's /metrics to show a heartbeat")
