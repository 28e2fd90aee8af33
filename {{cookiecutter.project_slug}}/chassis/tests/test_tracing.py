"""Tracing across the queue: a request, its enqueue and the job's run are one trace, across the
web and worker processes, exported over OTLP/HTTP to a real receiver (harness/otlp_receiver.py);
and a service with no OTEL_* settings puts no trace context in its jobs.

Web and worker start as a service's `web` and `worker` commands start, with the shipped defaults and
only OTEL_EXPORTER_OTLP_ENDPOINT (and a short export delay) added.
"""

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from chassis.core import tracing
from chassis.jobs import JobRecord, Queue, run_burst
from chassis.jobs.serializer import deserialize
from chassis.jobs.tracing import TRACE_CONTEXT_KWARG
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harness.app import make_settings
from harness.live_service import FINAL_STATUSES, post_note, product_env, statuses_by, web
from harness.otlp_receiver import ReceivedSpan, otlp_receiver
from harness.processes import CLI, TESTS_DIR, WAIT_SECONDS, eventually, free_port, running
from sample.notes.tasks import tally_notes, write_note
from sample.service import SERVICE
from sample.settings import Settings

SLUG = SERVICE.name
SEND = f"send {write_note.name}"
# A context the dead job carries, as if a traced service had enqueued it.
ORIGIN_TRACE, ORIGIN_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
ORIGIN = {"traceparent": f"00-{ORIGIN_TRACE}-{ORIGIN_SPAN}-01"}
PROCESS = f"process {write_note.name}"
CRON_SEND = f"send {tally_notes.name}"
CRON_PROCESS = f"process {tally_notes.name}"


@dataclass
class Traced:
    job_id: str
    status: str
    spans: list[ReceivedSpan]
    worker_lines: list[dict[str, object]]
    replayed: subprocess.CompletedProcess[str]

    def one(self, name: str, service: str = "") -> ReceivedSpan:
        found = [s for s in self.spans if s.name == name and service in ("", s.service)]
        assert len(found) == 1, (name, sorted(span.name for span in self.spans))
        return found[0]

    @property
    def send(self) -> ReceivedSpan:
        """The note request's enqueue."""
        return self.one(SEND, f"{SLUG}-web")

    @property
    def process(self) -> ReceivedSpan:
        """The note job's run."""
        return next(s for s in self.children(self.send) if s.name == PROCESS)

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
    """`sample worker --queue default`, its log lines written to `log`."""
    worker_env = {**env, "WORKER_HTTP_HOST": "127.0.0.1", "WORKER_HTTP_PORT": str(free_port())}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "worker", "--queue", "default"], env=worker_env, cwd=TESTS_DIR, stdout=out
        )
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
        # The scheduled queue's worker, its cron firing every second.
        cron_env = {**env, "NOTES_SCHEDULE": "* * * * * *"}
        scheduled_worker = [*CLI, "worker", "--queue", tally_notes.queue]
        with web(env) as service, logged_worker(env, log), running(scheduled_worker, env=cron_env):
            await service.wait_until_live()
            async with httpx.AsyncClient(base_url=service.base_url) as http:
                answer = await post_note(http, work_seconds=0)
                assert answer.status_code == 202, answer.text
                job_id = answer.json()["job_id"]
                statuses = await statuses_by(http, [job_id], FINAL_STATUSES, within=WAIT_SECONDS)
                dead_id = await enqueue_doomed(settings)
                await statuses_by(http, [dead_id], frozenset({"dead"}), within=WAIT_SECONDS)
            # `sample dlq replay JOB_ID`, traced like web and worker.
            replayed = await asyncio.to_thread(
                subprocess.run, [*CLI, "dlq", "replay", dead_id], env=env, cwd=TESTS_DIR,
                capture_output=True, text=True, timeout=WAIT_SECONDS,
            )  # fmt: skip

            async def replayed_and_cron_jobs_exported() -> bool:
                spans = receiver.received()
                sends = {s.span_id for s in spans if s.service == f"{SLUG}-dlq"}
                return any(s.name == PROCESS and s.parent_span_id in sends for s in spans) and any(
                    s.name == CRON_PROCESS for s in spans
                )

            await eventually(replayed_and_cron_jobs_exported, "the replayed and cron jobs' spans")
        # Both processes have stopped and flushed what they still held.
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        yield Traced(job_id, statuses[job_id], receiver.received(), lines, replayed)


async def enqueue_doomed(settings: Settings) -> str:
    """A job that dies at its first try (its task takes no `unknown`), carrying ORIGIN."""
    message = write_note.message(title="doomed", work_seconds=0)
    kwargs = {**message.kwargs, "unknown": 1, TRACE_CONTEXT_KWARG: ORIGIN}
    async with Redis.from_url(settings.redis_url) as redis:
        job_id = await Queue(redis, settings).enqueue(replace(message, kwargs=kwargs))
    assert job_id is not None
    return job_id


@slow
async def test_job_completes_while_traced(traced: Traced) -> None:
    assert traced.status == "complete"


@slow
async def test_request_enqueue_and_job_share_one_trace(traced: Traced) -> None:
    server = next(s for s in traced.ancestors(traced.send) if s.kind == "SERVER")
    assert {traced.send.trace_id, traced.process.trace_id} == {server.trace_id}


@slow
async def test_enqueue_span_is_a_producer_under_the_request(traced: Traced) -> None:
    send = traced.send
    kinds = [(span.kind, span.service) for span in traced.ancestors(send)]
    assert (send.kind, send.service, kinds[-1]) == (
        "PRODUCER",
        f"{SLUG}-web",
        ("SERVER", f"{SLUG}-web"),
    )


@slow
async def test_job_span_is_a_consumer_child_of_the_enqueue_span(traced: Traced) -> None:
    send, process = traced.send, traced.process
    assert (process.kind, process.service, process.parent_span_id) == (
        "CONSUMER",
        f"{SLUG}-worker",
        send.span_id,
    )


@slow
async def test_spans_name_the_job(traced: Traced) -> None:
    send, process = traced.send, traced.process
    assert (
        send.attributes["messaging.message.id"],
        process.attributes["messaging.message.id"],
        process.attributes["job.task"],
        process.attributes["messaging.destination.name"],
    ) == (traced.job_id, traced.job_id, write_note.name, write_note.queue)


@slow
async def test_the_jobs_statements_are_in_its_span(traced: Traced) -> None:
    process = traced.process
    statements = [
        (span.service, str(span.attributes.get("db.statement", "")).split(" (")[0])
        for span in traced.spans
        if process in traced.ancestors(span)
    ]
    assert (f"{SLUG}-worker", "INSERT INTO notes") in statements, statements


@slow
async def test_the_enqueue_script_runs_in_the_enqueue_span(traced: Traced) -> None:
    children = traced.children(traced.send)
    assert [span.name for span in children if span.service == f"{SLUG}-web"] == ["EVALSHA"]


@slow
async def test_job_log_lines_carry_the_trace_and_span_ids(traced: Traced) -> None:
    process = traced.process
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
        job_id = await Queue(redis, settings).enqueue(write_note.message(title="x", work_seconds=0))
        assert job_id is not None
        # arq's job key and its msgpack payload, with the task's keyword arguments under "k".
        job = deserialize(await redis.get(f"arq:job:{job_id}"))
    assert TRACE_CONTEXT_KWARG not in job["k"]


async def test_untracing_worker_keeps_a_carried_context_from_the_task(
    queue: Queue, settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # A traced web tier and an untraced worker: the task must not receive the context as an
    # argument (write_note would fail on an unexpected keyword).
    carried = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    message = write_note.message(title="x", work_seconds=0)
    job_id = await queue.enqueue(
        replace(message, kwargs={**message.kwargs, TRACE_CONTEXT_KWARG: carried})
    )
    assert job_id is not None
    await run_burst(settings)
    async with sessions() as session:
        record = await session.get(JobRecord, job_id)
    assert record is not None
    assert (record.status, record.kwargs) == ("complete", message.kwargs)


@slow
async def test_replay_is_a_trace_of_its_own_linked_to_the_dead_job(traced: Traced) -> None:
    replay = traced.one(SEND, f"{SLUG}-dlq")
    assert (traced.replayed.returncode, replay.parent_span_id, replay.trace_id != ORIGIN_TRACE) == (
        0,
        "",
        True,
    ), traced.replayed.stderr
    assert replay.links == [(ORIGIN_TRACE, ORIGIN_SPAN)]


@slow
async def test_replayed_job_runs_in_the_replays_trace(traced: Traced) -> None:
    replay = traced.one(SEND, f"{SLUG}-dlq")
    runs = [s for s in traced.children(replay) if s.name == PROCESS]
    assert [(s.service, s.trace_id) for s in runs] == [(f"{SLUG}-worker", replay.trace_id)]


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
        # What the deploy files pass when nothing is chosen.
        {"OTEL_TRACES_EXPORTER": "", "OTEL_EXPORTER_OTLP_ENDPOINT": " "},
    ],
    ids=["nothing", "exporter-none", "sdk-disabled", "empty"],
)
def test_tracing_stays_off_unless_an_exporter_is_chosen(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    started = tracing.configure(f"{SLUG}-test")
    assert (started, tracing.enabled()) == (False, False)


@slow
async def test_cron_fire_time_is_a_trace_of_its_own(traced: Traced) -> None:
    run = next(s for s in traced.spans if s.name == CRON_PROCESS)
    send = next(s for s in traced.spans if s.span_id == run.parent_span_id)
    assert (send.name, send.service, send.parent_span_id, send.links) == (
        CRON_SEND,
        f"{SLUG}-worker",
        "",
        [],
    )
