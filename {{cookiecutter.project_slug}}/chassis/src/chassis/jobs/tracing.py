"""A job's trace across the queue: its enqueue's PRODUCER span, and each delivery's CONSUMER span.

Tracing has two homes, one per layer: `core/tracing.py` starts it and covers what every process
has (HTTP requests, SQL, Redis, log lines); this module covers the job, whose message format core
must not know (core imports neither jobs nor arq).

`Queue.enqueue_and_set`, which every enqueue goes through, runs in a PRODUCER span, `send TASK`,
a child of whatever span is current (the request's, in the web tier). The job's keyword arguments
carry that span's `traceparent` and `tracestate` under TRACE_CONTEXT_KWARG, beside the request id.
The worker runs each delivery in a CONSUMER span, `process TASK`, a child of it (`traced`), which
takes the argument out before the task sees it: request, enqueue and run share one trace id
across the web and worker processes. An enqueue with no span current (the cron loop, `dlq
replay`) starts a trace of its own; a replay's links to the trace of the dead job it replays
(`link_to_dead_job`).
"""

import functools
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, Concatenate, ParamSpec, TypeVar

from arq.constants import result_key_prefix
from arq.jobs import deserialize_result
from arq.typing import WorkerCoroutine
from chassis.core import tracing
from chassis.jobs.registry import Message
from chassis.jobs.serializer import deserialize
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import AnyValue
from redis.asyncio import Redis

TRACE_CONTEXT_KWARG = "_trace_context"
# Attribute names of OpenTelemetry's messaging conventions; arq has no registered system name.
MESSAGING_SYSTEM = "arq"

P = ParamSpec("P")
Q = TypeVar("Q")
# `Queue.enqueue_and_set`: (queue, message, *, job_id, ...) -> (enqueued, also written).
Enqueue = Callable[Concatenate[Q, Message, P], Awaitable[tuple[bool, bool]]]

_tracer = trace.get_tracer(__name__)
# What the next enqueue in this context links to (set by `link_to_dead_job`), used once.
_origin: ContextVar[Link | None] = ContextVar("trace_origin", default=None)


async def link_to_dead_job(redis: Redis, job_id: str) -> None:
    """Make the next enqueue here a new trace linked to the one the dead job `job_id` ran in.

    The dead job's context is read from arq's result of it, which keeps the job's arguments for
    JOB_KEEP_RESULT_SECONDS; a replay after that starts its trace without a link.
    """
    _origin.set(await _dead_job_link(redis, job_id) if tracing.enabled() else None)


async def _dead_job_link(redis: Redis, job_id: str) -> Link | None:
    raw = await redis.get(result_key_prefix + job_id)
    if raw is None:
        return None
    headers = deserialize_result(raw, deserializer=deserialize).kwargs.get(TRACE_CONTEXT_KWARG)
    if not isinstance(headers, Mapping):
        return None
    origin = trace.get_current_span(tracing.context_from(headers)).get_span_context()
    return Link(origin, {"job.replay_of": job_id}) if origin.is_valid else None


def traced_enqueue(enqueue: Enqueue[Q, P]) -> Enqueue[Q, P]:
    """Run `Queue.enqueue_and_set` in a PRODUCER span whose context travels with the job."""

    @functools.wraps(enqueue)
    async def enqueue_in_span(
        queue: Q, message: Message, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[bool, bool]:
        if not tracing.enabled():
            return await enqueue(queue, message, *args, **kwargs)
        attributes = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.destination.name": message.queue,
            "job.task": message.task,
        }
        origin = _origin.get()
        _origin.set(None)
        with _tracer.start_as_current_span(
            f"send {message.task}",
            # A replay is a trace of its own, linked to its origin's.
            context=Context() if origin else None,
            kind=SpanKind.PRODUCER,
            attributes=attributes,
            links=[origin] if origin else None,
        ) as span:
            carried = {**message.kwargs, TRACE_CONTEXT_KWARG: tracing.carrier()}
            outcome = await enqueue(queue, replace(message, kwargs=carried), *args, **kwargs)
            # False: the job id was known already and nothing was queued.
            span.set_attribute("job.created", outcome[0])
            job_id = kwargs.get("job_id")
            if isinstance(job_id, str):
                span.set_attribute("messaging.message.id", job_id)
            return outcome

    return enqueue_in_span


def traced(task: str, queue: str, run: WorkerCoroutine) -> WorkerCoroutine:
    """Run each delivery in a CONSUMER span; the trace context never reaches the task function."""

    async def run_in_span(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any:
        # Taken out even when this worker does not trace: the web tier may.
        headers = kwargs.pop(TRACE_CONTEXT_KWARG, None)
        if not tracing.enabled():
            return await run(ctx, *args, **kwargs)
        parent = tracing.context_from(headers) if isinstance(headers, Mapping) else None
        attributes: dict[str, AnyValue] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "process",
            "messaging.destination.name": queue,
            "messaging.message.id": str(ctx["job_id"]),
            "job.task": task,
            # arq's delivery count; the try the history counts is on the job's log lines.
            "job.delivery": int(ctx["job_try"]),
        }
        with _tracer.start_as_current_span(
            f"process {task}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ):
            return await run(ctx, *args, **kwargs)

    return run_in_span
