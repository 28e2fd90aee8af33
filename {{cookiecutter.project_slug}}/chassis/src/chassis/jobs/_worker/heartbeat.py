"""Each worker process's own heartbeat: when its poll loop last ran, and whether Redis answered.

arq's `--check` reads one key that every worker shares and refreshes hourly, so it cannot tell which
process is stuck. Here each process keeps its own beat, serves it on `/healthz` (`jobs.probes`), and
publishes it to Redis under a key that expires when the beats stop.
"""

import json
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chassis.jobs._worker import metrics as job_metrics
from redis.asyncio import Redis

# How often the beat is written to Redis; the poll loop itself beats far more often.
PUBLISH_INTERVAL_SECONDS = 5.0


def heartbeat_key(queue_name: str, worker_id: str) -> str:
    return f"{queue_name}:workers:{worker_id}"


@dataclass
class Heartbeat:
    stall_after_seconds: float
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Starting counts as a beat, so a worker is live while it connects.
    last_beat: float = field(default_factory=time.monotonic)
    redis_ok: bool = False
    published: float = field(default=float("-inf"), init=False, repr=False)

    def beat(self, *, redis_ok: bool) -> None:
        """The poll loop went round once; an iteration that found Redis down still counts."""
        self.last_beat = time.monotonic()
        self.redis_ok = redis_ok
        job_metrics.record_poll()

    def seconds_since_beat(self) -> float:
        return time.monotonic() - self.last_beat

    def stalled(self) -> bool:
        return self.seconds_since_beat() > self.stall_after_seconds

    async def publish(self, redis: Redis, queue_name: str, *, running_jobs: int) -> None:
        """Write the beat to Redis at most every few seconds; the key expires with the beats."""
        now = time.monotonic()
        if now - self.published < PUBLISH_INTERVAL_SECONDS:
            return
        beat = {
            "worker_id": self.worker_id,
            "started_at": self.started_at.isoformat(),
            "beat_at": datetime.now(UTC).isoformat(),
            "running_jobs": running_jobs,
        }
        ttl = max(round(self.stall_after_seconds), round(2 * PUBLISH_INTERVAL_SECONDS))
        await redis.set(heartbeat_key(queue_name, self.worker_id), json.dumps(beat), ex=ttl)
        self.published = now
