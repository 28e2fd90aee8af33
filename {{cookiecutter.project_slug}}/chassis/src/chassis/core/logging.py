"""structlog set-up shared by the web and worker processes."""

import logging
import sys
from typing import Any

import structlog
from chassis.core.tracing import add_trace_ids


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    """Render our lines and the stdlib's (uvicorn, arq, SQLAlchemy) alike, one per line on stdout.

    Context variables (request id, job id) bound anywhere in a request or job land on every line.
    Our own lines skip the stdlib's logging machinery: passing each through a `logging.Logger`,
    a record and a handler cost about 2.5 times as much as rendering and writing it here, and a
    request writes two, a job one. `LOG_LEVEL` filters both kinds.
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
        shared += [structlog.processors.dict_tracebacks, _event_first]
    else:
        renderer = structlog.dev.ConsoleRenderer()

    # Loggers cached on first use keep a reference to the processor list, so it is updated in
    # place: a later call (another app in the process, structlog's capture_logs) still reaches them.
    processors = structlog.get_config()["processors"]
    processors[:] = [*shared, renderer]
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=processors,
        logger_factory=_StdoutLogger,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
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
    root.setLevel(threshold)
    # uvicorn's access log duplicates our request log line; its error log is kept.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def _event_first(
    _logger: Any, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    # What happened leads the line, as a reader scanning `kubectl logs` looks for it.
    return {"event": event_dict.pop("event", None), **event_dict}


class _StdoutLogger:
    """Writes each rendered line to stdout; `name` is what `get_logger(name)` was given."""

    __slots__ = ("name",)

    def __init__(self, name: str = "", *_args: Any) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        # Looked up per line, not kept: tests and tools swap sys.stdout.
        stream = sys.stdout
        stream.write(message + "\n")
        stream.flush()

    debug = info = warning = error = critical = exception = msg
