"""Before the full template suite: are Postgres and Redis reachable? One line if not, exit 2.

The generated projects' suites use TEST_DATABASE_URL and TEST_REDIS_URL when both are set, and
otherwise start containers through a Docker engine. Standard library only: it runs before the
template's tools are installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from urllib.parse import urlsplit

EXAMPLE = (
    "TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test "
    "TEST_REDIS_URL=redis://127.0.0.1:6379/0"
)
DEFAULT_PORTS = {"TEST_DATABASE_URL": 5432, "TEST_REDIS_URL": 6379}


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def unreachable(name: str, url: str) -> str | None:
    """Why nothing answers at the URL's host and port, or None if something does."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or DEFAULT_PORTS[name]
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({name}: {exc.strerror or exc})"


def problem(environ: dict[str, str], docker: bool) -> str | None:
    urls = {name: environ.get(name, "") for name in DEFAULT_PORTS}
    missing = [name for name, url in urls.items() if not url]
    if len(missing) == len(urls):
        if docker:
            return None
        return (
            "the tests need Postgres and Redis, and no Docker engine answered: set both URLs, e.g. "
            f"`{EXAMPLE} bash scripts/test.sh` (or run `bash scripts/test.sh --fast`, which needs neither)"
        )
    if missing:
        return f"{missing[0]} is not set: set both TEST_DATABASE_URL and TEST_REDIS_URL, e.g. {EXAMPLE}"
    for name, url in urls.items():
        if reason := unreachable(name, url):
            return f"{reason}: start the server or fix the URL"
    return None


def main() -> int:
    environ = dict(os.environ)
    urls_set = any(environ.get(name) for name in DEFAULT_PORTS)
    message = problem(environ, docker=not urls_set and docker_answers())
    if message is None:
        return 0
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
