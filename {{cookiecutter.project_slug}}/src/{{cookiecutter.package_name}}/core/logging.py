"""structlog set-up shared by the web and worker processes."""

import logging
import sys

import structlog
{%- if cookiecutter.use_tracing %}

from {{ cookiecutter.package_name }}.core.tracing import add_trace_ids
{%- endif %}


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Route structlog and stdlib logging through one renderer.

    Context variables (request id, job id) bound anywhere in a request or job land on every line.
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
{%- if cookiecutter.use_tracing %}
        add_trace_ids,
{%- endif %}
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.dict_tracebacks)
    else:
        renderer = structlog.dev.ConsoleRenderer()

    # Loggers cached on first use keep a reference to the processor list, so it is updated in
    # place: a later call (another app in the process, structlog's capture_logs) still reaches them.
    processors = structlog.get_config()["processors"]
    processors[:] = [*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates our request log line; its error log is kept.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
