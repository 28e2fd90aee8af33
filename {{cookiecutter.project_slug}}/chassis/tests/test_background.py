"""The in-process background tiers: `@after_response` and `Spawner`."""

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from chassis.core.metrics import metric_name
from chassis.web import background
from chassis.web.dependencies import RedisDep, SpawnerDep
from fastapi import BackgroundTasks, FastAPI
from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs
from structlog.types import EventDict, Processor, WrappedLogger

from sample.main import create_app
from sample.settings import Settings

# Nothing listens on port 1: connections are refused at once, as with a stopped Redis.
DEAD_REDIS = "redis://127.0.0.1:1/0"


def counted(outcome: str, tier: str) -> float:
    name = metric_name(f"background_tasks_{outcome}_total")
    return REGISTRY.get_sample_value(name, {"tier": tier}) or 0.0


@contextmanager
def captured_logs(*processors: Processor) -> Iterator[list[EventDict]]:
    """structlog's capture, with the context variables (request id, task name) merged in."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars, *processors]) as logs:
        yield logs


def events(logs: list[EventDict], name: str) -> list[tuple[str, str]]:
    return [(e["background_task"], e["request_id"]) for e in logs if e["event"] == name]


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `app`; leaving it runs the lifespan's shutdown, which drains spawned tasks."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@background.after_response
async def bust_unreachable_cache() -> None:
    raise RuntimeError("cache unreachable")


AUDITED: list[str] = []


@background.after_response
async def audit(*, title: str) -> None:
    AUDITED.append(title)


# Spawner


async def test_spawned_task_with_no_other_reference_survives_gc() -> None:
    spawner = background.Spawner(drain_seconds=5)
    future_refs: list[weakref.ref[asyncio.Future[None]]] = []
    finished: list[bool] = []

    async def wait_on_private_future() -> None:
        # Only this task holds the future and only the future's callback holds the task: a cycle
        # that the collector frees unless something else keeps a reference to the task.
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future_refs.append(weakref.ref(future))
        await future
        finished.append(True)

    spawner.spawn(wait_on_private_future(), name="private_future")
    await asyncio.sleep(0)
    gc.collect()
    if (future := future_refs[0]()) is not None:
        future.set_result(None)
    await spawner.drain()
    assert finished == [True]


async def test_spawned_tasks_beyond_the_bound_wait_for_a_slot() -> None:
    spawner = background.Spawner(drain_seconds=5, max_concurrency=1)
    release = asyncio.Event()
    started: list[str] = []

    async def hold_slot(name: str) -> None:
        started.append(name)
        await release.wait()

    spawner.spawn(hold_slot("first"), name="first")
    spawner.spawn(hold_slot("second"), name="second")
    for _ in range(10):
        await asyncio.sleep(0)
    while_first_holds_the_slot = list(started)
    release.set()
    await spawner.drain()
    assert (while_first_holds_the_slot, started) == (["first"], ["first", "second"])


async def test_spawn_after_drain_is_refused() -> None:
    spawner = background.Spawner(drain_seconds=0)
    await spawner.drain()
    with pytest.raises(RuntimeError, match="drained for shutdown"):
        spawner.spawn(asyncio.sleep(0), name="late")


async def test_shutdown_waits_for_spawned_tasks_then_cancels_and_logs_the_rest(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"spawn_drain_seconds": 1}))
    drain_started = asyncio.Event()
    finished: list[str] = []

    async def finish_once_draining() -> None:
        await drain_started.wait()
        finished.append("quick")

    @app.post("/fan-out")
    async def fan_out(spawner: SpawnerDep) -> dict[str, str]:
        spawner.spawn(finish_once_draining(), name="quick")
        spawner.spawn(asyncio.Event().wait(), name="stuck")
        return {"status": "spawned"}

    def signal_drain(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        if event_dict["event"] == "background_drain_started":
            drain_started.set()
        return event_dict

    before = counted("cancelled", background.FANOUT)
    with captured_logs(signal_drain) as logs:
        async with serve(app) as http:
            await http.post("/fan-out", headers={"X-Request-ID": "req-fan-out"})
    cancelled = events(logs, "background_task_cancelled")
    assert (finished, cancelled, counted("cancelled", background.FANOUT) - before) == (
        ["quick"],
        [("stuck", "req-fan-out")],
        1,
    )


async def test_spawned_task_failure_is_logged_and_counted_and_the_answer_stands(
    settings: Settings,
) -> None:
    # A count in Redis, spawned by a read: Redis is down, the reader still gets its answer.
    app = create_app(settings.model_copy(update={"redis_url": DEAD_REDIS}))

    @app.get("/viewed")
    async def viewed(spawner: SpawnerDep, redis: RedisDep) -> dict[str, str]:
        async def record_view() -> None:
            await redis.incr("views")

        spawner.spawn(record_view(), name="record_view")
        return {"status": "ok"}

    before = counted("failed", background.FANOUT)
    with captured_logs() as logs:
        async with serve(app) as http:
            response = await http.get("/viewed", headers={"X-Request-ID": "req-view"})
    failed = events(logs, "background_task_failed")
    assert (response.status_code, failed, counted("failed", background.FANOUT) - before) == (
        200,
        [("record_view", "req-view")],
        1,
    )


# @after_response


async def test_after_response_failure_is_logged_and_counted_not_raised(
    settings: Settings,
) -> None:
    app = create_app(settings)

    @app.post("/bust")
    async def bust(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(bust_unreachable_cache)
        return {"status": "ok"}

    before = counted("failed", background.AFTER_RESPONSE)
    with captured_logs() as logs:
        async with serve(app) as http:
            # Were the error raised, the transport would raise it here.
            response = await http.post("/bust", headers={"X-Request-ID": "req-bust"})
    failed = events(logs, "background_task_failed")
    assert (response.status_code, failed, counted("failed", "after_response") - before) == (
        200,
        [("bust_unreachable_cache", "req-bust")],
        1,
    )


async def test_after_response_runs_once_the_response_is_sent(settings: Settings) -> None:
    app = create_app(settings)
    seen_when_sent: list[list[str]] = []

    @app.post("/audited")
    async def audited(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(audit, title="Audited")
        return {"status": "ok"}

    AUDITED.clear()
    async with LifespanManager(app) as manager:

        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_and_record(message: Message) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    seen_when_sent.append(list(AUDITED))

            await manager.app(scope, receive, send_and_record)

        transport = httpx.ASGITransport(app=recorded)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            await http.post("/audited")
    assert (seen_when_sent, AUDITED) == ([[]], ["Audited"])
