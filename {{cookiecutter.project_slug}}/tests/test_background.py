"""The in-process background tiers, `@after_response` and `Spawner`, and the reports examples."""

import asyncio
import gc
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from chassis.core.db import create_engine, create_session_factory
from chassis.core.metrics import metric_name
from chassis.jobs import new_job_id
from chassis.web import background
from chassis.web.dependencies import SpawnerDep
from fastapi import BackgroundTasks, FastAPI
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs
from structlog.types import EventDict, Processor, WrappedLogger

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.reports import service, views
from {{ cookiecutter.package_name }}.settings import Settings

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


async def stored_report(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine).begin() as session:
            report = await service.create(session, job_id=new_job_id(), title="Viewed", body="…")
    finally:
        await engine.dispose()
    return report.id


@background.after_response
async def bust_unreachable_cache() -> None:
    raise RuntimeError("cache unreachable")


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


# The reports feature: one example of each in-process tier


async def test_report_audit_line_is_written_after_the_response(settings: Settings) -> None:
    app = create_app(settings)
    lines_when_sent: list[int] = []

    def audit_lines(logs: list[EventDict]) -> int:
        return sum(entry["event"] == "report_requested" for entry in logs)

    with captured_logs() as logs:
        async with LifespanManager(app) as manager:

            async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
                async def send_and_record(message: Message) -> None:
                    await send(message)
                    if message["type"] == "http.response.body" and not message.get("more_body"):
                        lines_when_sent.append(audit_lines(logs))

                await manager.app(scope, receive, send_and_record)

            transport = httpx.ASGITransport(app=recorded)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                await http.post(
                    "/v1/reports",
                    json={"title": "Audited", "work_seconds": 0},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
    assert (lines_when_sent, audit_lines(logs)) == ([0], 1)


async def test_report_audit_line_records_the_committed_job_and_request_id(
    client: httpx.AsyncClient,
) -> None:
    with captured_logs() as logs:
        response = await client.post(
            "/v1/reports",
            json={"title": "Audited", "work_seconds": 0},
            headers={"X-Request-ID": "req-audit", "Idempotency-Key": str(uuid.uuid4())},
        )
    lines = [
        (e["job_id"], e["title"], e["request_id"]) for e in logs if e["event"] == "report_requested"
    ]
    assert lines == [(response.json()["job_id"], "Audited", "req-audit")]


async def test_report_view_is_counted_in_redis_with_a_ttl(settings: Settings, redis: Redis) -> None:
    report_id = await stored_report(settings)
    async with serve(create_app(settings)) as http:
        await http.get(f"/v1/reports/{report_id}")
    # Leaving `serve` drained the spawned count.
    keys = await redis.keys(f"{views.KEY_PREFIX}:{report_id}:*")
    assert [(await redis.get(key), await redis.ttl(key) > 0) for key in keys] == [(b"1", True)]


async def test_report_read_answers_when_its_view_count_fails(settings: Settings) -> None:
    report_id = await stored_report(settings)
    app = create_app(settings.model_copy(update={"redis_url": DEAD_REDIS}))
    before = counted("failed", background.FANOUT)
    with captured_logs() as logs:
        async with serve(app) as http:
            response = await http.get(
                f"/v1/reports/{report_id}", headers={"X-Request-ID": "req-view"}
            )
    failed = events(logs, "background_task_failed")
    assert (response.status_code, failed, counted("failed", background.FANOUT) - before) == (
        200,
        [("record_report_view", "req-view")],
        1,
    )
