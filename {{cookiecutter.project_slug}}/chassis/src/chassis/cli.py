"""The service's one command, for every process it runs; an app's `cli.main` calls `run`.

SERVICE web        serve the HTTP API (uvicorn)
SERVICE worker     run one queue's worker until SIGTERM, then drain (`--queue NAME`)
SERVICE migrate    apply the chassis's and the app's migrations (alembic upgrade heads)
SERVICE dev        run web and a worker per queue together, for local development
SERVICE dlq        list, show, replay and purge dead letters (jobs/cli.py)
SERVICE jobs       queue again the jobs Redis lost (`jobs requeue`)

Each feature adds its own commands (`Feature.cli`).
"""

import argparse
import importlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from chassis.core import tracing
from chassis.jobs import cli as jobs_cli
from chassis.jobs.registry import DEFAULT_QUEUE
from chassis.service import Service
from chassis.settings import InvalidSettings, Settings


def _web(service: Service, settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn
    from chassis.core.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir(settings)
    # After the directory is set: importing chassis.web loads the metrics library.
    from chassis.web.lingering_close import LingeringHttpToolsProtocol

    uvicorn.run(
        service.app,
        factory=True,
        host=settings.web_host,
        port=settings.web_port,
        workers=settings.web_workers,
        # An answer sent before the body was read (413) must reach a client still writing it.
        http=LingeringHttpToolsProtocol,
        log_config=None,  # our structlog set-up owns logging
        proxy_headers=False,  # client addresses are resolved by our own trusted-proxy rule
        timeout_graceful_shutdown=10,
        # With WEB_WORKERS > 1, uvicorn kills a worker that has not answered its health ping
        # within this time, and a worker still importing the app cannot answer. Its default of
        # 5 s restarts workers forever on a busy machine: the app never comes up.
        timeout_worker_healthcheck=60,
    )
    return 0


def _worker(service: Service, settings: Settings, args: argparse.Namespace) -> int:
    # The worker is one process serving its own registry; files in the web tier's directory
    # would put worker series on the web's /metrics.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from chassis.jobs import run_worker
    from chassis.jobs._worker import WorkerConfigError
    from chassis.jobs.schedules import ScheduleError

    # The feature list imported every task; their worker-side metrics are this process's alone.
    for feature in service.load_features():
        for module in feature.worker_metrics:
            importlib.import_module(module)
    try:
        run_worker(settings, args.queue)
    except (WorkerConfigError, ScheduleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _migrate(_service: Service, _settings: Settings, args: argparse.Namespace) -> int:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    ini = Path(args.config)
    if not ini.is_file():
        print(
            f"error: {ini} not found; run from the project root or pass --config", file=sys.stderr
        )
        return 2
    try:
        # "heads": the chassis's line and the app's, each to its newest revision.
        command.upgrade(Config(str(ini)), args.revision)
    except CommandError as exc:  # a revision it cannot find, or the env's own refusal
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _redis_answers(settings: Settings) -> bool:
    """PING through the service's own client (REDIS_URL, or the primary REDIS_SENTINELS name)."""
    import asyncio

    from chassis.core.redis import create_redis
    from redis.exceptions import RedisError

    async def ping() -> bool:
        client = create_redis(settings)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    try:
        return asyncio.run(ping())
    except RedisError:
        return False


def _take_terminal() -> Callable[[], None]:
    """Make this process the terminal's foreground job; return how to give the terminal back.

    Ctrl-C then reaches `dev` alone, not `make` or `uv run` around it, so a clean stop exits 0
    all the way up instead of make reporting an interrupt. This is what a shell does for a job.
    """
    try:
        terminal = sys.stdin.fileno()
        previous = os.tcgetpgrp(terminal)
        if previous != os.getpgrp():
            return lambda: None  # not in the foreground (or no terminal): leave it alone
        os.setpgid(0, 0)
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may take the terminal
        os.tcsetpgrp(terminal, os.getpgrp())
    except (OSError, ValueError):
        return lambda: None
    return lambda: os.tcsetpgrp(terminal, previous)


def _dev(service: Service, settings: Settings, _args: argparse.Namespace) -> int:
    """Run web and a worker per queue as children; stop all when one exits, on Ctrl-C or SIGTERM."""
    if not _redis_answers(settings):
        parts = urlsplit(settings.redis_url)  # host and port only: the URL may hold a password
        where = f"{parts.hostname}:{parts.port or 6379}"
        if settings.redis_sentinels:
            where = f"the primary REDIS_SENTINELS name {settings.redis_sentinel_master!r}"
        print(
            f"error: no Redis answers at {where}: start one with `redis-server` (or "
            "`docker run -p 6379:6379 redis:7`), or point REDIS_URL in .env at yours",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    give_back_terminal = _take_terminal()
    command = [sys.executable, "-m", service.cli]
    # Each child in a process group of its own: Ctrl-C reaches only this process, which then
    # sends each child one SIGTERM (the worker drains on it). Our own interpreter and module,
    # with fixed arguments: nothing untrusted reaches the command.
    children = [subprocess.Popen([*command, "web"], process_group=0)]  # noqa: S603
    for index, queue in enumerate(settings.queues):
        # One probe port per worker: WORKER_HTTP_PORT for the first queue, the next ones after it.
        port = settings.worker_http_port + index if settings.worker_http_port else 0
        env = {**os.environ, "WORKER_HTTP_PORT": str(port)}
        worker = [*command, "worker", "--queue", queue]
        children.append(subprocess.Popen(worker, env=env, process_group=0))  # noqa: S603
    drain = max(queue.drain_seconds for queue in settings.queues.values())
    try:
        while not stop.is_set() and all(child.poll() is None for child in children):
            stop.wait(0.2)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=drain + 5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        give_back_terminal()
    # uvicorn re-raises the SIGTERM it handled, so ending by our SIGTERM is a clean stop too.
    codes = [child.returncode for child in children]
    failures = [code for code in codes if code not in (0, -signal.SIGTERM)]
    return abs(failures[0]) if failures else 0


def build_parser(service: Service) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=service.name,
        description=__doc__.replace("SERVICE", service.name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("web", help="serve the HTTP API").set_defaults(
        handler=partial(_web, service)
    )
    worker = commands.add_parser("worker", help="run one queue's job worker")
    worker.add_argument("--queue", default=DEFAULT_QUEUE, help="a queue named in QUEUES")
    worker.set_defaults(handler=partial(_worker, service))
    commands.add_parser("dev", help="run web and a worker per queue").set_defaults(
        handler=partial(_dev, service)
    )
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="heads")
    migrate.add_argument("--config", default="alembic.ini", help="path to alembic.ini")
    migrate.set_defaults(handler=partial(_migrate, service))
    jobs_cli.register(commands)
    # A feature's commands, like this module, must not load the metrics library at import:
    # `web` sets up its multi-process directory first (core/metrics.py).
    for feature in service.load_features():
        if feature.cli is not None:
            feature.cli(commands)
    return parser


def run(service: Service, argv: list[str] | None = None) -> int:
    """Parse `argv` and run the command it names; the exit code."""
    args = build_parser(service).parse_args(argv)
    try:
        settings = service.load_settings()
    except InvalidSettings as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    # Each command names its own service (NAME-web, NAME-worker, ...) unless OTEL_SERVICE_NAME does.
    tracing.configure(f"{service.name}-{args.command}")
    code: int = args.handler(settings, args)
    return code
