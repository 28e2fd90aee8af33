"""The service's own processes (`SLUG COMMAND`), for the app's tests that start them.

Every process started here is killed when its context manager exits, whatever the test did.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from {{ cookiecutter.package_name }}.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A failsafe for waits that should end in well under a second; never a speed claim.
WAIT_SECONDS = 60.0
# A child process signals it is ready by answering; this only bounds a hang. Its start imports the
# whole app, which on a 2-core machine busy with another test suite can take far longer than usual.
STARTUP_SECONDS = 240.0
CLI = [sys.executable, "-m", "{{ cookiecutter.package_name }}.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, seconds: float = WAIT_SECONDS
) -> None:
    """Wait until `check()` is true; fail naming `what` if it never is."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.05)


def queues_json(settings: Settings, *, drain_seconds: int) -> str:
    """`QUEUES` for a child process: the test's queues, each draining for `drain_seconds`."""
    queues = {
        name: queue.model_copy(update={"drain_seconds": drain_seconds}).model_dump()
        for name, queue in settings.queues.items()
    }
    return json.dumps(queues)


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment a child process needs to reach this test's database and Redis."""
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "QUEUE_PREFIX": settings.queue_prefix,
        "QUEUES": queues_json(settings, drain_seconds=0),
        "LOG_JSON": "true",
        "WORKER_HTTP_PORT": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {**env, **overrides}


@contextmanager
def running(
    *commands: list[str], env: dict[str, str], output: IO[bytes] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run the commands as children; SIGTERM (then SIGKILL) all of them on the way out.

    Their output goes to `output`, or else to pytest's capture, which shows it in the report of a
    failing test (not of a later test that fails on a module fixture's result: give `output` then).
    """
    children: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            children.append(
                subprocess.Popen(
                    command, env=env, stdout=output, stderr=output and subprocess.STDOUT
                )
            )
        yield children
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
