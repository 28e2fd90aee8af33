"""Everything the benchmarks know about our jobs layer beyond its public surface, in one module.

The worker's entry point, its queue settings, the Redis key of a queue, how jobs are enqueued and
how their results are read back: when the jobs core moves, this is the file to adapt.
"""

import asyncio
from typing import Any

from arq import Worker
from chassis.core.logging import configure_logging
from chassis.jobs import Message, Queue
from chassis.jobs._worker import build_worker
from chassis.jobs.serializer import deserialize
from chassis.settings import QueueSettings, Settings
from redis.asyncio import Redis

from bench import tasks

__all__ = ["QUEUE", "build", "defaults", "deserialize", "enqueue", "queue_key"]

# The queue every benchmark job runs on: the bench tasks declare no queue, so they are on it.
QUEUE = "default"


def defaults() -> tuple[int, float]:
    """The shipped max_jobs and poll delay of the queue the benchmarks use."""
    shipped: dict[str, QueueSettings] = Settings.model_fields["queues"].default
    return shipped[QUEUE].max_jobs, shipped[QUEUE].poll_delay_seconds


def queue_key(settings: Settings) -> str:
    """The Redis key of the queue both workers serve (plain arq uses it as its queue name)."""
    return settings.queue_key(QUEUE)


def build(settings: Settings, *, max_jobs: int, poll_delay: float, burst: bool) -> Worker:
    """Our worker for the bench tasks, as `make worker` builds it but with these two settings."""
    tuned = settings.queues[QUEUE].model_copy(
        update={"max_jobs": max_jobs, "poll_delay_seconds": poll_delay}
    )
    settings = settings.model_copy(update={"queues": {**settings.queues, QUEUE: tuned}})
    configure_logging(json=settings.json_logs, level=settings.log_level)
    return build_worker(settings, QUEUE, tasks.OURS, burst=burst, handle_signals=not burst)


async def enqueue(
    redis: Redis,
    settings: Settings,
    task: str,
    count: int,
    kwargs: dict[str, Any] | None = None,
    *,
    batch: int = 100,
) -> None:
    """`count` jobs of `task` through our producer, `batch` at a time."""
    queue = Queue(redis, settings)
    message = Message(task=task, kwargs=kwargs or {}, queue=QUEUE)
    for start in range(0, count, batch):
        jobs = range(start, min(start + batch, count))
        await asyncio.gather(*(queue.enqueue(message) for _ in jobs))
