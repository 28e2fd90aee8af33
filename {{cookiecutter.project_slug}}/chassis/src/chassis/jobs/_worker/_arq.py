"""The one place that reaches into arq's Worker: every private attribute we use is here.

arq 0.28 is in maintenance mode and pinned (==0.28.0). `WRITTEN_FOR` names the version this module
was read against; a test fails when the installed arq differs, so an upgrade starts by rereading
the methods overridden below.

What the overrides add to arq's Worker:
- It outlives Redis outages. arq lets the first Redis error of its poll loop end the process
  (arq issues #386, #435, #498), and a restart loop then keeps the worker down long after Redis is
  back. Here the worker stops taking jobs, says so once, reconnects with backoff and carries on;
  running jobs keep running, and a job whose end arq could not record stays in the queue and runs
  again once its in-progress key expires, where the job history makes it a no-op.
- It beats its own heartbeat every poll (`heartbeat.py`).
"""

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

import structlog
from arq.worker import Worker as ArqWorker
from chassis.core.outages import Dependency, outage_of
from chassis.jobs._worker.heartbeat import Heartbeat, heartbeat_key
from chassis.jobs.retry import Backoff

log = structlog.get_logger("worker")

WRITTEN_FOR = "0.28.0"
# Reconnect quickly after a blip, and at least every 5 s during a long outage.
RECONNECT = Backoff(base_seconds=0.25, cap_seconds=5.0)


def _redis_down(exc: BaseException) -> bool:
    return outage_of(exc) is Dependency.REDIS


class Worker(ArqWorker):
    def __init__(self, *args: Any, heartbeat: Heartbeat, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat = heartbeat
        self._failed_polls = 0

    @property
    def redelivery_after_seconds(self) -> float:
        """How long a killed worker's jobs wait: arq's in-progress key lives this long."""
        # private: set in Worker.__init__ from the largest function timeout + 10 s.
        return float(self.in_progress_timeout_s)

    @property
    def running_jobs(self) -> int:
        # private: `tasks` maps job id -> the asyncio task running it.
        return len(self.tasks)

    async def main(self) -> None:
        # arq's main() reads INFO and runs on_startup before its poll loop, outside any handler.
        while True:
            while not await self._redis_answers():
                await self._redis_is_down()
            try:
                await super().main()
                return
            except Exception as exc:
                if not _redis_down(exc):
                    raise
                await self._redis_is_down(exc)

    async def _poll_iteration(self) -> None:
        # private: arq's poll loop body (pick jobs, reap finished ones, record health).
        self._forget_unsaved_jobs()
        try:
            await super()._poll_iteration()
            await self.heartbeat.publish(self.pool, self.queue_name, running_jobs=self.running_jobs)
        except Exception as exc:
            if not _redis_down(exc):
                raise
            await self._redis_is_down(exc)
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
            if job.done() and not job.cancelled() and _redis_down(job.exception() or Exception()):
                del self.tasks[job_id]
                log.warning(
                    "job_state_not_saved",
                    job_id=job_id,
                    redelivery_after_seconds=self.redelivery_after_seconds,
                )

    async def start_jobs(self, job_ids: Sequence[bytes]) -> None:
        # private: arq takes a job slot (`job_counter`, `sem`) before its Redis calls and keeps it
        # if one fails (a WATCH broken by a reset included); give it back, or every outage would
        # shrink the worker's capacity for good.
        for job_id in job_ids:
            if self.job_counter >= self.max_jobs:
                return
            try:
                await super().start_jobs([job_id])
            except Exception as exc:
                if _redis_down(exc):
                    self.job_counter -= 1
                    self.sem.release()
                raise

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        # arq's drain on SIGTERM/SIGINT (set when `job_completion_wait` is): it stops taking jobs,
        # waits for running ones up to the drain time, then cancels what is left.
        log.info(
            "worker_draining", signal=signal.Signals(signum).name, running_jobs=self.running_jobs
        )
        super().handle_sig_wait_for_completion(signum)

    async def close(self) -> None:
        """arq's close, except that a Redis outage at shutdown still ends in a clean exit."""
        # private: `_handle_signals` and `_pool` are arq's; `handle_sig` cancels running jobs.
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
        except Exception as exc:
            if not _redis_down(exc):
                raise
            log.warning("redis_unavailable_at_shutdown", error=str(exc))
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        await self.pool.close(close_connection_pool=True)
        self._pool = None

    async def _redis_answers(self) -> bool:
        try:
            await self.pool.ping()
        except Exception as exc:
            if not _redis_down(exc):
                raise
            return False
        return True

    async def _redis_is_down(self, exc: BaseException | None = None) -> None:
        self._failed_polls += 1
        self.heartbeat.beat(redis_ok=False)
        if self._failed_polls == 1:
            log.error(
                "redis_unavailable",
                error=str(exc) if exc else "no answer to PING",
                running_jobs=self.running_jobs,
                action="taking no jobs and reconnecting; running jobs continue",
            )
        await asyncio.sleep(RECONNECT.delay(self._failed_polls))
