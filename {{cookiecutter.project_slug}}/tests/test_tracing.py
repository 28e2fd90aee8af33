"""Tracing across the queue: a request, its enqueue and the job's run are one trace, across the
web and worker processes, exported over OTLP/HTTP to a real receiver (tests/otlp_receiver.py);
and a service with no OTEL_* settings puts no trace context in its jobs.

Web and worker start as `make web` and `make worker` start them, with the shipped defaults and
only OTEL_EXPORTER_OTLP_ENDPOINT (and a short export delay) added.
"""

import json
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.jobs import JobRecord, Queue, run_burst
from {{ cookiecutter.package_name }}.jobs.serializer import deserialize
from {{ cookiecutter.package_name }}.jobs.trace_context import TRACE_CONTEXT_KWARG
from {{ cookiecutter.package_name }}.reports.tasks import generate_report
from tests.conftest import make_settings
from tests.live_service import FINAL_STATUSES, post_report, product_env, statuses_by, web
from tests.otlp_receiver import ReceivedSpan, otlp_receiver
from tests.processes import CLI, WAIT_SECONDS, eventually, free_port

SLUG = "{{ cookiecutter.project_slug }}"
SEND = f"send {generate_report.name}"
PROCESS = f"process {generate_report.name}"


@dataclass
class Traced:
    job_id: str
    status: str
    spans: list[ReceivedSpan]
    worker_lines: list[dict[str, object]]

    def one(self, name: str) -> ReceivedSpan:
        found = [span for span in self.spans if span.name == name]
        assert len(found) == 1, (name, sorted(span.name for span in self.spans))
        return found[0]

    def ancestors(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        by_id = {s.span_id: s for s in self.spans}
        chain = []
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            chain.append(span)
        return chain

    def children(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.parent_span_id == span.span_id]


@contextmanager
def logged_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`SLUG worker`, as `make worker` runs it, its log lines written to `log`."""
    worker_env = {**env, "WORKER_HTTP_HOST": "127.0.0.1", "WORKER_HTTP_PORT": str(free_port())}
    with log.open("wb") as out:
        process = subprocess.Popen([*CLI, "worker"], env=worker_env, stdout=out)
        try:
            yield process
        finally:
            # SIGTERM: the worker drains and its tracer provider flushes at exit.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# The tests of a traced service start real processes: `pytest -m "not slow"` leaves them out.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
async def traced(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Traced]:
    settings = make_settings(database_url, redis_url)
    async with Redis.from_url(redis_url) as redis:
        await redis.flushdb()
    log = tmp_path_factory.mktemp("tracing") / "worker.log"
    with otlp_receiver() as receiver:
        env = product_env(
            settings,
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="50",
            LOG_JSON="true",
        )
        with web(env) as service, logged_worker(env, log):
            await service.wait_until_live()
            async with httpx.AsyncClient(base_url=service.base_url) as http:
                answer = await post_report(http, work_seconds=0)
                assert answer.status_code == 202, answer.text
                job_id = answer.json()["job_id"]
                statuses = await statuses_by(http, [job_id], FINAL_STATUSES, within=WAIT_SECONDS)

            async def job_span_exported() -> bool:
                return any(span.name == PROCESS for span in receiver.received())

            await eventually(job_span_exported, "the job's span at the receiver")
        # Both processes have stopped and flushed what they still held.
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        yield Traced(job_id, statuses[job_id], receiver.received(), lines)


@slow
async def test_job_completes_while_traced(traced: Traced) -> None:
    assert traced.status == "complete"


@slow
async def test_request_enqueue_and_job_share_one_trace(traced: Traced) -> None:
    server = next(s for s in traced.ancestors(traced.one(SEND)) if s.kind == "SERVER")
    assert {traced.one(SEND).trace_id, traced.one(PROCESS).trace_id} == {server.trace_id}


@slow
async def test_enqueue_span_is_a_producer_under_the_request(traced: Traced) -> None:
    send = traced.one(SEND)
    kinds = [(span.kind, span.service) for span in traced.ancestors(send)]
    assert (send.kind, send.service, kinds[-1]) == (
        "PRODUCER",
        f"{SLUG}-web",
        ("SERVER", f"{SLUG}-web"),
    )


@slow
async def test_job_span_is_a_consumer_child_of_the_enqueue_span(traced: Traced) -> None:
    send, process = traced.one(SEND), traced.one(PROCESS)
    assert (process.kind, process.service, process.parent_span_id) == (
        "CONSUMER",
        f"{SLUG}-worker",
        send.span_id,
    )


@slow
async def test_spans_name_the_job(traced: Traced) -> None:
    send, process = traced.one(SEND), traced.one(PROCESS)
    assert (
        send.attributes["messaging.message.id"],
        process.attributes["messaging.message.id"],
        process.attributes["job.task"],
        process.attributes["messaging.destination.name"],
    ) == (traced.job_id, traced.job_id, generate_report.name, generate_report.queue)


@slow
async def test_the_jobs_statements_are_in_its_span(traced: Traced) -> None:
    process = traced.one(PROCESS)
    statements = [
        (span.service, str(span.attributes.get("db.statement", "")).split(" (")[0])
        for span in traced.spans
        if process in traced.ancestors(span)
    ]
    assert (f"{SLUG}-worker", "INSERT INTO reports") in statements, statements


@slow
async def test_the_enqueue_script_runs_in_the_enqueue_span(traced: Traced) -> None:
    children = traced.children(traced.one(SEND))
    assert [span.name for span in children if span.service == f"{SLUG}-web"] == ["EVALSHA"]


@slow
async def test_job_log_lines_carry_the_trace_and_span_ids(traced: Traced) -> None:
    process = traced.one(PROCESS)
    done = [line for line in traced.worker_lines if line.get("event") == "job_complete"]
    assert [(line["trace_id"], line["span_id"]) for line in done] == [
        (process.trace_id, process.span_id)
    ]


@slow
async def test_probes_are_not_traced(traced: Traced) -> None:
    assert [s.name for s in traced.spans if "healthz" in s.name] == []


async def test_untraced_enqueue_carries_no_trace_context(database_url: str, redis_url: str) -> None:
    # No OTEL_* here: the test process never started tracing.
    settings = make_settings(database_url, redis_url)
    async with Redis.from_url(redis_url) as redis:
        job_id = await Queue(redis, settings).enqueue(
            generate_report.message(title="x", work_seconds=0)
        )
        assert job_id is not None
        # arq's job key and its msgpack payload, with the task's keyword arguments under "k".
        job = deserialize(await redis.get(f"arq:job:{job_id}"))
    assert TRACE_CONTEXT_KWARG not in job["k"]


async def test_untracing_worker_keeps_a_carried_context_from_the_task(
    queue: Queue, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # A traced web tier and an untraced worker: the task must not receive the context as an
    # argument (generate_report would fail on an unexpected keyword).
    carried = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    message = generate_report.message(title="x", work_seconds=0)
    job_id = await queue.enqueue(
        replace(message, kwargs={**message.kwargs, TRACE_CONTEXT_KWARG: carried})
    )
    assert job_id is not None
    await run_burst(settings)
    async with sessions() as session:
        record = await session.get(JobRecord, job_id)
    assert record is not None
    assert (record.status, record.kwargs) == ("complete", message.kwargs)
