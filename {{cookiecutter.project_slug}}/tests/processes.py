"""Start the service's own processes for tests that need more than one of them."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from {{ cookiecutter.package_name }}.config import Settings

# Waits give up after this: far beyond a slow machine, short of a stuck CI job.
HANG_SECONDS = 60
CLI = [sys.executable, "-m", "{{ cookiecutter.package_name }}.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment a child process needs to reach this test's database and Redis."""
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "QUEUE_NAME": settings.queue_name,
        "LOG_JSON": "true",
        "WORKER_DRAIN_SECONDS": "0",
        "WORKER_HTTP_PORT": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {**env, **overrides}


@contextmanager
def running(*commands: list[str], env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run the commands as children; SIGTERM (then SIGKILL) all of them on the way out."""
    children: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            # Output goes to pytest's capture and shows in a failure's report.
            children.append(subprocess.Popen(command, env=env))
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


async def wait_until(condition: Callable[[], Awaitable[bool]], *, what: str) -> None:
    """Poll `condition` until true; the time limit only catches a hang, so it is generous."""
    try:
        async with asyncio.timeout(HANG_SECONDS):
            # The state lives in other processes and servers: nothing here could set an Event.
            while not await condition():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
