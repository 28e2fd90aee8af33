"""`{{ cookiecutter.project_slug }}`: the one command for every process the service runs.

{{ cookiecutter.project_slug }} web        serve the HTTP API (uvicorn)
{{ cookiecutter.project_slug }} worker     run one queue's worker until SIGTERM, then drain (`--queue NAME`)
{{ cookiecutter.project_slug }} migrate    apply database migrations (alembic upgrade head)
{{ cookiecutter.project_slug }} dev        run web and a worker per queue together, for local development
{{ cookiecutter.project_slug }} digest     send a cron digest now (`digest run --period START/END`)
{{ cookiecutter.project_slug }} dlq        list, show, replay and purge dead letters (see jobs/cli.py)
{{ cookiecutter.project_slug }} jobs       queue again the jobs Redis lost (`jobs requeue`)
"""

import argparse
import importlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from {{ cookiecutter.package_name }} import features
from {{ cookiecutter.package_name }}.config import InvalidSettings, Settings, get_settings
{%- if cookiecutter.use_tracing %}
from {{ cookiecutter.package_name }}.core import tracing
{%- endif %}
from {{ cookiecutter.package_name }}.jobs import cli as jobs_cli
from {{ cookiecutter.package_name }}.jobs.registry import DEFAULT_QUEUE


def _web(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from {{ cookiecutter.package_name }}.core.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir(settings)
    uvicorn.run(
        "{{ cookiecutter.package_name }}.main:create_app",
        factory=True,
        host=settings.web_host,
        port=settings.web_port,
        workers=settings.web_workers,
        log_config=None,  # our structlog set-up owns logging
        proxy_headers=False,  # client addresses are resolved by our own trusted-proxy rule
        timeout_graceful_shutdown=10,
        # With WEB_WORKERS > 1, uvicorn kills a worker that has not answered its health ping
        # within this time, and a worker still importing the app cannot answer. Its default of
        # 5 s restarts workers forever on a busy machine: the app never comes up.
        timeout_worker_healthcheck=60,
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    # The worker is one process serving its own registry; files in the web tier's directory
    # would put worker series on the web's /metrics.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from {{ cookiecutter.package_name }}.core.schedule import ScheduleError
    from {{ cookiecutter.package_name }}.jobs import run_worker
    from {{ cookiecutter.package_name }}.jobs._worker import WorkerConfigError

    try:
        run_worker(settings, args.queue)
    except (WorkerConfigError, ScheduleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from alembic import command
    from alembic.config import Config

    ini = Path(args.config)
    if not ini.is_file():
        print(
            f"error: {ini} not found; run from the project root or pass --config", file=sys.stderr
        )
        return 2
    command.upgrade(Config(str(ini)), args.revision)
    return 0


def _redis_answers(settings: Settings) -> bool:
    """PING through the service's own client (REDIS_URL, or the primary REDIS_SENTINELS name)."""
    import asyncio

    from redis.exceptions import RedisError

    from {{ cookiecutter.package_name }}.core.redis import create_redis

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


def _dev(settings: Settings, _args: argparse.Namespace) -> int:
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
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}.cli"]
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="{{ cookiecutter.project_slug }}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("web", help="serve the HTTP API").set_defaults(handler=_web)
    worker = commands.add_parser("worker", help="run one queue's job worker")
    worker.add_argument("--queue", default=DEFAULT_QUEUE, help="a queue named in QUEUES")
    worker.set_defaults(handler=_worker, needs_tasks=True)
    commands.add_parser("dev", help="run web and a worker per queue").set_defaults(handler=_dev)
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.add_argument("--config", default="alembic.ini", help="path to alembic.ini")
    migrate.set_defaults(handler=_migrate)
    jobs_cli.register(commands)
    # Each feature's `cli.py` adds its own commands; like this module, it must not load the
    # metrics library or a `tasks` module at import (see `needs_tasks` below).
    for module in features.parts("cli"):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except InvalidSettings as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "needs_tasks", False):
        # Registers every feature's tasks; `web` never loads them this early (core/exposition.py).
        importlib.import_module("{{ cookiecutter.package_name }}.tasks")
{%- if cookiecutter.use_tracing %}
    # Each command names its own service (SLUG-web, SLUG-worker, ...) unless OTEL_SERVICE_NAME does.
    tracing.configure(f"{{ cookiecutter.project_slug }}-{args.command}")
{%- endif %}
    handler = args.handler
    code: int = handler(settings, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
