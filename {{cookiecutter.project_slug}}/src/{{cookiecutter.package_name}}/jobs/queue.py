"""Enqueue jobs and read their live state, in arq's own Redis format, one round trip each.

arq's `enqueue_job` costs three round trips (WATCH, EXISTS checks, MULTI/EXEC) and pickles by
default. A server-side script does the same de-duplicating write atomically in one.
"""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arq.constants import (
    expires_extra_ms,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from redis.asyncio import Redis

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.jobs.models import JobStatus
from {{ cookiecutter.package_name }}.jobs.registry import Message
from {{ cookiecutter.package_name }}.jobs.serializer import describe_error, deserialize, serialize

# The keyword that carries the enqueuing request's id to the worker, which binds it to its logs.
REQUEST_ID_KWARG = "_request_id"

# KEYS: job, result, queue. ARGV: payload, score (ms), job key TTL (ms), job id.
# A job id that arq still knows (queued, running or with a stored result) is not enqueued again.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
return 1
"""


def new_job_id() -> str:
    return uuid.uuid4().hex


def _from_ms(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms is not None else None


@dataclass(frozen=True, slots=True)
class LiveState:
    """What Redis knows about a job while arq still holds it."""

    status: JobStatus
    task: str
    attempts: int
    enqueued_at: datetime | None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Any = None
    error: str | None = None


class Queue:
    """The producer side of the job queue, over the shared Redis client."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        # The default queue's key, which `live_state` and the queue gauges read.
        self.name = settings.queue_key("default")
        self._enqueue = redis.register_script(_ENQUEUE)

    async def enqueue(
        self,
        message: Message,
        *,
        job_id: str | None = None,
        defer_seconds: float = 0,
        request_id: str | None = None,
    ) -> str | None:
        """Enqueue a task call; returns its job id, or None if that job id is already known."""
        job_id = job_id or new_job_id()
        enqueued_ms = int(time.time() * 1000)
        defer_ms = max(int(defer_seconds * 1000), 0)
        kwargs = dict(message.kwargs)
        if request_id:
            kwargs[REQUEST_ID_KWARG] = request_id
        payload = serialize({"t": 1, "f": message.task, "a": [], "k": kwargs, "et": enqueued_ms})
        created = await self._enqueue(
            keys=[
                job_key_prefix + job_id,
                result_key_prefix + job_id,
                self.settings.queue_key(message.queue),
            ],
            args=[payload, enqueued_ms + defer_ms, defer_ms + expires_extra_ms, job_id],
        )
        return job_id if created else None

    async def live_state(self, job_id: str) -> LiveState | None:
        """The job's state from Redis, or None once arq has forgotten it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(result_key_prefix + job_id)
            pipe.exists(in_progress_key_prefix + job_id)
            pipe.zscore(self.name, job_id)
            pipe.get(job_key_prefix + job_id)
            pipe.get(retry_key_prefix + job_id)
            result_raw, in_progress, score, job_raw, tries = await pipe.execute()

        if result_raw is not None:
            done = deserialize(result_raw)
            success = bool(done["s"])
            return LiveState(
                status=JobStatus.COMPLETE if success else JobStatus.FAILED,
                task=done["f"],
                attempts=int(done["t"]),
                enqueued_at=_from_ms(done["et"]),
                started_at=_from_ms(done["st"]),
                finished_at=_from_ms(done["ft"]),
                result=done["r"] if success else None,
                error=None if success else describe_error(done["r"]) or str(done["r"]),
            )
        if job_raw is None:
            return None
        job = deserialize(job_raw)
        attempts = int(tries) if tries is not None else 0
        if in_progress:
            status = JobStatus.IN_PROGRESS
        elif score is not None and score > time.time() * 1000:
            status = JobStatus.DEFERRED
        else:
            status = JobStatus.QUEUED
        return LiveState(
            status=status, task=job["f"], attempts=attempts, enqueued_at=_from_ms(job["et"])
        )
