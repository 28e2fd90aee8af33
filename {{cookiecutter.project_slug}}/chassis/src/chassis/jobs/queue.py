"""Enqueue jobs and read their live state, in arq's own Redis format, one round trip each.

arq's `enqueue_job` costs three round trips (WATCH, EXISTS checks, MULTI/EXEC) and pickles by
default. A server-side script does the same de-duplicating write atomically in one; the job itself
is encoded by arq's own `serialize_job`, with our msgpack serializer.
"""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arq.constants import (
    expires_extra_ms,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import deserialize_job, deserialize_result, serialize_job
from chassis.jobs.models import JobStatus
from chassis.jobs.registry import Message
from chassis.jobs.serializer import describe_error, deserialize, serialize
from chassis.jobs.tracing import traced_enqueue
from chassis.settings import Settings
from redis.asyncio import Redis

# The keyword that carries the enqueuing request's id to the worker, which binds it to its logs.
REQUEST_ID_KWARG = "_request_id"

# KEYS: job, result, queue[, a key to set alongside]. ARGV: payload, score (ms), job key TTL (ms),
# job id[, the value that key must hold, its new value, its TTL (ms)].
# A job id that arq still knows (queued, running or with a stored result) is not enqueued again.
# Returns {enqueued (0|1), set (0|1)}: the extra key is set whether or not the job was new.
_ENQUEUE = """
local created = 0
if redis.call('EXISTS', KEYS[1], KEYS[2]) == 0 then
  redis.call('PSETEX', KEYS[1], ARGV[3], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
  created = 1
end
local set = 0
if KEYS[4] and redis.call('GET', KEYS[4]) == ARGV[5] then
  redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[7])
  set = 1
end
return {created, set}
"""


@dataclass(frozen=True, slots=True)
class CompareAndSet:
    """A key to write in the enqueue's own round trip, if it still holds `expected`.

    The web tier stores an idempotent request's response this way (`web/idempotency.py`).
    """

    key: str
    expected: bytes
    value: bytes
    ttl_ms: int


def new_job_id() -> str:
    return uuid.uuid4().hex


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
    """The producer side of every job queue, over the shared Redis client."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        # Short name -> Redis key, for every queue a worker may serve.
        self.keys = {name: settings.queue_key(name) for name in settings.queues}
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
        created, _ = await self.enqueue_and_set(
            message, job_id=job_id, defer_seconds=defer_seconds, request_id=request_id
        )
        return job_id if created else None

    @traced_enqueue
    async def enqueue_and_set(
        self,
        message: Message,
        *,
        job_id: str,
        defer_seconds: float = 0,
        request_id: str | None = None,
        also: CompareAndSet | None = None,
    ) -> tuple[bool, bool]:
        """Enqueue unless `job_id` is known, and apply `also`, in one round trip.

        Returns whether the job was enqueued, and whether `also` was written.
        """
        enqueued_ms = int(time.time() * 1000)
        defer_ms = max(int(defer_seconds * 1000), 0)
        kwargs = dict(message.kwargs)
        if request_id:
            kwargs[REQUEST_ID_KWARG] = request_id
        key = self.keys.get(message.queue)
        if key is None:
            raise ValueError(f"task {message.task!r} is on queue {message.queue!r}, not in QUEUES")
        payload = serialize_job(message.task, (), kwargs, 1, enqueued_ms, serializer=serialize)
        keys = [job_key_prefix + job_id, result_key_prefix + job_id, key]
        args: list[bytes | str | int] = [
            payload,
            enqueued_ms + defer_ms,
            defer_ms + expires_extra_ms,
            job_id,
        ]
        if also is not None:
            keys.append(also.key)
            args += [also.expected, also.value, also.ttl_ms]
        created, written = await self._enqueue(keys=keys, args=args)
        return bool(created), bool(written)

    async def live_state(self, job_id: str) -> LiveState | None:
        """The job's state from Redis, or None once arq has forgotten it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(result_key_prefix + job_id)
            pipe.exists(in_progress_key_prefix + job_id)
            pipe.get(job_key_prefix + job_id)
            pipe.get(retry_key_prefix + job_id)
            for key in self.keys.values():
                pipe.zscore(key, job_id)
            result_raw, in_progress, job_raw, tries, *scores = await pipe.execute()

        if result_raw is not None:
            done = deserialize_result(result_raw, deserializer=deserialize)
            return LiveState(
                status=JobStatus.COMPLETE if done.success else JobStatus.FAILED,
                task=done.function,
                attempts=done.job_try,
                enqueued_at=done.enqueue_time,
                started_at=done.start_time,
                finished_at=done.finish_time,
                result=done.result if done.success else None,
                error=None if done.success else describe_error(done.result) or str(done.result),
            )
        if job_raw is None:
            return None
        job = deserialize_job(job_raw, deserializer=deserialize)
        attempts = int(tries) if tries is not None else 0
        score = next((score for score in scores if score is not None), None)
        if in_progress:
            status = JobStatus.IN_PROGRESS
        elif score is not None and score > time.time() * 1000:
            status = JobStatus.DEFERRED
        else:
            status = JobStatus.QUEUED
        return LiveState(
            status=status, task=job.function, attempts=attempts, enqueued_at=job.enqueue_time
        )
