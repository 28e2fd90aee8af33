"""Trace context across the queue: a job carries the W3C trace context of its enqueue.

`Queue.enqueue` runs in a PRODUCER span, `send TASK`, a child of whatever span is current (the
request's, in the web tier). The job's keyword arguments carry that span's `traceparent` and
`tracestate` under TRACE_CONTEXT_KWARG, beside the request id, and the worker runs the job in a
child of it (jobs/_worker/tracing.py), which takes the argument out before the task sees it.
An enqueue with no span current (the cron loop, `dlq replay`) starts a trace of its own.
"""

import functools
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Concatenate, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from {{ cookiecutter.package_name }}.core import tracing
from {{ cookiecutter.package_name }}.jobs.registry import Message

TRACE_CONTEXT_KWARG = "_trace_context"
# Attribute names of OpenTelemetry's messaging conventions; arq has no registered system name.
MESSAGING_SYSTEM = "arq"

P = ParamSpec("P")
Q = TypeVar("Q")
Enqueue = Callable[Concatenate[Q, Message, P], Awaitable[str | None]]

_tracer = trace.get_tracer(__name__)


def traced_enqueue(enqueue: Enqueue[Q, P]) -> Enqueue[Q, P]:
    """Run `Queue.enqueue` in a PRODUCER span whose context travels with the job."""

    @functools.wraps(enqueue)
    async def enqueue_in_span(
        queue: Q, message: Message, /, *args: P.args, **kwargs: P.kwargs
    ) -> str | None:
        if not tracing.enabled():
            return await enqueue(queue, message, *args, **kwargs)
        attributes = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.destination.name": message.queue,
            "job.task": message.task,
        }
        with _tracer.start_as_current_span(
            f"send {message.task}", kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            carried = {**message.kwargs, TRACE_CONTEXT_KWARG: tracing.carrier()}
            job_id = await enqueue(queue, replace(message, kwargs=carried), *args, **kwargs)
            # None: the job id was known already and nothing was queued.
            span.set_attribute("job.created", job_id is not None)
            known_id = job_id or kwargs.get("job_id")
            if isinstance(known_id, str):
                span.set_attribute("messaging.message.id", known_id)
            return job_id

    return enqueue_in_span
