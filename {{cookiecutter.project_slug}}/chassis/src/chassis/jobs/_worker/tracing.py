"""Each delivery of a job runs in a CONSUMER span, `process TASK`, continuing its enqueue's trace.

The span's parent is the enqueue span whose context the job carries (jobs/trace_context.py):
request, enqueue and run share one trace id across the web and worker processes. A job enqueued
with no span current (a cron fire time, a `dlq replay`) is the root of a trace of its own.
"""

from collections.abc import Mapping
from typing import Any

from arq.typing import WorkerCoroutine
from chassis.core import tracing
from chassis.jobs.trace_context import MESSAGING_SYSTEM, TRACE_CONTEXT_KWARG
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AnyValue

_tracer = trace.get_tracer(__name__)


def traced(task: str, queue: str, run: WorkerCoroutine) -> WorkerCoroutine:
    """Wrap the coroutine arq calls; the trace context never reaches the task function."""

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
