"""arq's Worker, kept alive through Redis outages and beating its own heartbeat.

arq 0.28 lets the first Redis error of its poll loop end the process, and then a restart loop
(Kubernetes backs off up to five minutes) keeps the worker down long after Redis is back. This
worker instead stops taking jobs, says so once in the log, reconnects with backoff and carries on:

- running jobs keep running; if arq cannot record their end, they stay in the queue and run again
  once their in-progress key expires, where the job history makes a finished job a no-op;
- no job is marked failed because of the outage.

It overrides methods of arq's Worker, which is pinned (==0.28.0) and in maintenance mode.
"""

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

import structlog
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from {{ cookiecutter.package_name }}.jobs.heartbeat import Heartbeat, heartbeat_key
from {{ cookiecutter.package_name }}.jobs.retry import Backoff

log = structlog.get_logger("worker")

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
# Reconnect quickly after a blip, and at least every 5 s during a long outage.
RECONNECT = Backoff(base_seconds=0.25, cap_seconds=5.0)


class OutageTolerantWorker(Worker):
    def __init__(self, *args: Any, heartbeat: Heartbeat, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat = heartbeat
        self._failed_polls = 0

    async def main(self) -> None:
        while not await self._redis_answers():
            await self._redis_down()
        await super().main()

    async def _poll_iteration(self) -> None:
        self._forget_unsaved_jobs()
        try:
            await super()._poll_iteration()
            await self.heartbeat.publish(self.pool, self.queue_name, running_jobs=len(self.tasks))
        except REDIS_DOWN as exc:
            await self._redis_down(exc)
            return
        if self._failed_polls:
            log.info("redis_reconnected", failed_polls=self._failed_polls)
            self._failed_polls = 0
        self.heartbeat.beat(redis_ok=True)

    def _forget_unsaved_jobs(self) -> None:
        """Drop jobs whose state arq could not save to Redis; arq would re-raise that here.

        Each one is still in the queue: it runs again once its in-progress key expires, and the
        job history makes that a no-op for a job that had completed.
        """
        for job_id, job in list(self.tasks.items()):
            if job.done() and not job.cancelled() and isinstance(job.exception(), REDIS_DOWN):
                del self.tasks[job_id]
                log.warning(
                    "job_state_not_saved",
                    job_id=job_id,
                    redelivery_after_seconds=self.in_progress_timeout_s,
                )

    async def start_jobs(self, job_ids: Sequence[bytes]) -> None:
        # arq takes a job slot before its Redis calls and keeps it if one of them fails; give it
        # back, or every outage would shrink the worker's capacity for good.
        for job_id in job_ids:
            if self.job_counter >= self.max_jobs:
                return
            try:
                await super().start_jobs([job_id])
            except REDIS_DOWN:
                self.job_counter -= 1
                self.sem.release()
                raise

    async def close(self) -> None:
        """arq's close, except that a Redis outage at shutdown still ends in a clean exit."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        # A job whose end arq could not record (Redis down) raised here; it runs again later.
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        try:
            await self.pool.delete(
                self.health_check_key, heartbeat_key(self.queue_name, self.heartbeat.worker_id)
            )
        except REDIS_DOWN as exc:
            log.warning("redis_unavailable_at_shutdown", error=str(exc))
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        await self.pool.close(close_connection_pool=True)
        self._pool = None

    async def _redis_answers(self) -> bool:
        try:
            await self.pool.ping()
        except REDIS_DOWN:
            return False
        return True

    async def _redis_down(self, exc: BaseException | None = None) -> None:
        self._failed_polls += 1
        self.heartbeat.beat(redis_ok=False)
        if self._failed_polls == 1:
            log.error(
                "redis_unavailable",
                error=str(exc) if exc else "no answer to PING",
                running_jobs=len(self.tasks),
                action="taking no jobs and reconnecting; running jobs continue",
            )
        await asyncio.sleep(RECONNECT.delay(self._failed_polls))
