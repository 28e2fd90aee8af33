"""Background work that stays inside the web process: after the response, or spawned right away.

Choosing where background work runs (the README's "Choosing where background work runs" has more):

    Would losing it hurt a user (an email, a payment, a report)?      -> a durable job: jobs.submit
    Can it take more than a few seconds?                              -> a durable job
    Does it need retries, a schedule, or to scale apart from the web? -> a durable job
    Otherwise it is loss-tolerant and quick, and stays in-process:
      a follow-up to one request, once its response is sent           -> @after_response
      start now, run alongside, or bound it across requests           -> Spawner.spawn

Both in-process tiers die with the process: a crash or an OOM kill loses them without a trace, and
a deploy gives them only a bounded time to finish. Hand them ids and process-wide resources (the
session factory, the Redis client), never ORM objects or the request's session.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec

import structlog
from chassis.web import metrics

log = structlog.get_logger(__name__)

P = ParamSpec("P")

# The tiers, as the background counters label them (`web/metrics.py`).
AFTER_RESPONSE, FANOUT = metrics.BACKGROUND_TIERS


def after_response(
    func: Callable[P, Awaitable[object]],
) -> Callable[P, Coroutine[Any, Any, None]]:
    """Make `func` safe to hand to FastAPI's `BackgroundTasks`: counted, logged, never raising.

    For a small loss-tolerant follow-up to one request (an audit line, a cache bust); work whose
    loss would hurt a user, that can take more than a few seconds, or that needs retries, a schedule
    or its own scaling is a durable job (`jobs.submit`) instead. Starlette runs these one after
    another once the response is sent, still inside the request's ASGI call, so the request id stays
    bound; the server waits for them on shutdown up to its graceful timeout, then cancels them. Left
    alone, an exception would skip the tasks queued after it and reach the server as an unhandled
    error. The request's session is still open while they run, so passing it along appears to work:
    pass ids and open a session of its own instead.
    """
    name = func.__qualname__

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        metrics.BACKGROUND_SPAWNED.labels(tier=AFTER_RESPONSE).inc()
        with structlog.contextvars.bound_contextvars(background_task=name):
            try:
                await func(*args, **kwargs)
            except asyncio.CancelledError:
                metrics.BACKGROUND_CANCELLED.labels(tier=AFTER_RESPONSE).inc()
                log.warning("background_task_cancelled", tier=AFTER_RESPONSE)
                raise
            except Exception:
                metrics.BACKGROUND_FAILED.labels(tier=AFTER_RESPONSE).inc()
                log.exception("background_task_failed", tier=AFTER_RESPONSE)

    return run


class Spawner:
    """Fire-and-forget coroutines that are not garbage-collected, not silent, and drained.

    For loss-tolerant work that should start now and run alongside the request (warming a cache,
    fanning out calls, counting a view), that must be bounded across requests, or that starts
    outside a request; work whose loss would hurt a user, that can take more than a few seconds, or
    that needs retries, a schedule or its own scaling is a durable job (`jobs.submit`) instead. A
    bare `asyncio.create_task` gets none of what follows: the event loop holds tasks only weakly, so
    one nobody references can vanish mid-way, and its exception is only reported (without the
    request id) when it is garbage-collected.

    Each task runs in a copy of the spawning context, so its log lines carry the request id. At most
    `max_concurrency` run at once; the rest wait for a slot in memory. One Spawner per app, owned by
    the lifespan (`Resources.spawner`, `SpawnerDep` in routes), which calls `drain` on shutdown.
    """

    def __init__(self, *, drain_seconds: float, max_concurrency: int | None = None) -> None:
        self.drain_seconds = drain_seconds
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        # The strong references that keep tasks alive, with the request id that spawned each.
        self._tasks: dict[asyncio.Task[None], str | None] = {}
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, object], *, name: str) -> asyncio.Task[None]:
        """Run `coro` in the background; its failure is logged and counted, never raised here."""
        if self._closed:
            coro.close()  # it will never run: close it so Python does not warn it was not awaited
            raise RuntimeError(f"cannot spawn {name!r}: background tasks were drained for shutdown")
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        task = asyncio.create_task(self._run(coro, name), name=name)
        self._tasks[task] = request_id
        task.add_done_callback(functools.partial(self._forget, coro))
        metrics.BACKGROUND_SPAWNED.labels(tier=FANOUT).inc()
        return task

    async def _run(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        with structlog.contextvars.bound_contextvars(background_task=name):
            try:
                if self._slots is None:
                    await coro
                else:
                    async with self._slots:
                        await coro
            except Exception:
                metrics.BACKGROUND_FAILED.labels(tier=FANOUT).inc()
                log.exception("background_task_failed", tier=FANOUT)

    def _forget(self, coro: Coroutine[Any, Any, object], task: asyncio.Task[None]) -> None:
        del self._tasks[task]
        # A task cancelled before its first step never started `coro`; closing a finished one is a
        # no-op. Either way no "coroutine was never awaited" warning follows.
        coro.close()

    async def drain(self) -> None:
        """Wait up to `drain_seconds` for spawned tasks, then cancel the rest, logging each one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_seconds
        if self._tasks:
            log.info("background_drain_started", tasks=len(self._tasks), seconds=self.drain_seconds)
        # Tasks may spawn more while we wait: those are waited for too, within the same deadline.
        while (pending := self._pending()) and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(pending, timeout=remaining)
        self._closed = True
        stragglers = self._pending()
        for task in stragglers:
            task.cancel()
            metrics.BACKGROUND_CANCELLED.labels(tier=FANOUT).inc()
            log.warning(
                "background_task_cancelled",
                background_task=task.get_name(),
                tier=FANOUT,
                request_id=self._tasks[task],
                drain_seconds=self.drain_seconds,
            )
        await asyncio.gather(*stragglers, return_exceptions=True)

    def _pending(self) -> list[asyncio.Task[None]]:
        return [task for task in self._tasks if not task.done()]
