"""OpenTelemetry tracing, set up from the standard `OTEL_*` variables; a no-op without them.

Tracing starts when OTEL_TRACES_EXPORTER names an exporter (`otlp`, `console`) or an OTLP endpoint
is set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true
keeps it off whatever else is set. Without them nothing is installed or instrumented: the API
stays OpenTelemetry's no-op default, and an unconfigured service pays for one flag check per
request and job (`make bench` measures it). Empty variables count as unset, as in `.env`.

Once started, a process traces its HTTP requests (FastAPI), SQLAlchemy statements and Redis
commands, and every job from its enqueue to its run. Tracing has two homes, one per layer: this
module, for what every process has, and `jobs/tracing.py`, for a job's spans across the queue,
which need the job's message format (core imports neither jobs nor arq). The job history's group
commits use raw asyncpg and are not traced: one commit serves many jobs, so it belongs to no one
job's trace. The SDK reads the other variables itself:
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_PROPAGATORS,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_* (batching). OTLP goes over HTTP with protobuf (port 4318).
"""

import os
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace.export import SpanExporter

log = structlog.get_logger(__name__)

# Probes and scrapes arrive every few seconds from every kubelet and Prometheus: no traces.
UNTRACED_URLS = "/healthz,/readyz,/metrics"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_enabled = False


def enabled() -> bool:
    """Whether this process exports spans; checked before any per-request or per-job work."""
    return _enabled


def configure(service_name: str) -> bool:
    """Start tracing if the environment asks for it; True if it runs. Once per process.

    `service_name` names the process unless OTEL_SERVICE_NAME (or service.name in
    OTEL_RESOURCE_ATTRIBUTES) does.
    """
    global _enabled
    if _enabled:
        return True
    # Deploy files pass every OTEL_* variable, empty when not chosen; the SDK would read an
    # empty endpoint as a relative URL.
    for name in [name for name, value in os.environ.items() if name.startswith("OTEL_")]:
        if not os.environ[name].strip():
            del os.environ[name]
    exporters = _exporters()
    if not exporters:
        return False

    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    # The provider flushes its batches at interpreter exit: a drained worker exports its last jobs.
    sampler = _InsideTraces(TracerProvider(shutdown_on_exit=False).sampler)  # OTEL_TRACES_SAMPLER's
    provider = TracerProvider(resource=resource, sampler=sampler)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # Every engine and client created from here on, in the web tier and the worker alike. The
    # SQLAlchemy instrumentation declares SQLAlchemy < 2.1 but works on it: tests/test_tracing.py
    # sees the task's statements in its trace.
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    RedisInstrumentor().instrument()
    _enabled = True
    log.info("tracing_started", service=resource.attributes.get(SERVICE_NAME))
    return True


def instrument_web(app: "FastAPI") -> None:
    """A SERVER span per request, the parent of the request's statements, commands and enqueues."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", UNTRACED_URLS)
    # Without a span per ASGI message: a request is one span, its work the children.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=excluded, exclude_spans=["receive", "send"]
    )


def carrier() -> dict[str, str]:
    """The current span's context as W3C headers (`traceparent`, `tracestate`), for a job."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def context_from(headers: Mapping[str, str]) -> Context:
    """The context a `carrier()` was taken in, to continue its trace."""
    return propagate.extract(headers)


def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the active span's ids on every line, to find a line's trace."""
    if _enabled:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", trace.format_trace_id(context.trace_id))
            event_dict.setdefault("span_id", trace.format_span_id(context.span_id))
    return event_dict


class _InsideTraces(Sampler):
    """Drops a CLIENT span that has no parent, else asks the configured sampler.

    A Redis command or SQL statement outside any request or job is bookkeeping: the worker polls
    its queue every 50 ms and beats its heartbeat; each would be a trace of one span.
    """

    def __init__(self, configured: Sampler) -> None:
        self._configured = configured

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self._configured.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"InsideTraces({self._configured.get_description()})"


def _exporters() -> list["SpanExporter"]:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = os.environ.get("OTEL_TRACES_EXPORTER")
    if names is None:
        # The specification's default is otlp; here it takes an endpoint to mean it.
        names = "otlp" if any(os.environ.get(name) for name in _ENDPOINTS) else "none"
    exporters: list[SpanExporter] = []
    for name in (part.strip().lower() for part in names.split(",")):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name not in ("none", ""):
            log.warning("tracing_exporter_unknown", exporter=name, known="otlp, console, none")
    return exporters
