"""An answer sent before the body was read reaches a client that writes its whole body first.

The web process runs as `SERVICE web` runs it (chassis.cli, uvicorn, the lingering protocol),
serving a service of one feature declared in this module: a route that reads its body, behind
the chassis's body limit of 1 MiB. Clients send 10 MB and only then read.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chassis.cli import run
from chassis.service import Feature, Service
from chassis.settings import Settings
from chassis.web import build_app
from chassis.web.lingering_close import LINGER_BYTES, LINGER_SECONDS
from fastapi import APIRouter, FastAPI, Request

# It starts a web process.
pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024
BODY = b"x" * (10 * 1000 * 1000)
# Bounds a hang only: the child imports FastAPI and the chassis, slow on a busy 2-core machine.
STARTUP_SECONDS = 120.0
IO_SECONDS = 30.0

router = APIRouter()


@router.post("/v1/uploads")
async def upload(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


FEATURES = [Feature(name="uploads", router=f"{__name__}:router")]
SERVICE = Service(
    name="early-answer",
    title="Early answer",
    settings=Settings,
    features=f"{__name__}:FEATURES",
    app=f"{__name__}:create_app",
    cli=__name__,
)


def create_app() -> FastAPI:
    return build_app(SERVICE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_env(port: int) -> dict[str, str]:
    database = os.environ.get("TEST_DATABASE_URL")
    redis = os.environ.get("TEST_REDIS_URL")
    if not (database and redis):
        pytest.fail("set TEST_DATABASE_URL and TEST_REDIS_URL to a Postgres and a Redis")
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": database,
        "REDIS_URL": redis,
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "MAX_REQUEST_BODY_BYTES": str(LIMIT),
        # The chassis's default names the app's routes; this service has only its own.
        "RATE_LIMIT_ROUTES": "{}",
        # This module is the service: `python -m test_early_answer web`.
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            status: int = response.status
            return status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`early-answer web` on a free port, started from an empty folder (no `.env`)."""
    port = free_port()
    log = tmp_path_factory.mktemp("early-answer") / "web.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, "web"],
            cwd=log.parent,
            env=service_env(port),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the web process did not start:\n{log.read_text()[-4000:]}")
                time.sleep(0.1)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def request_head(length: int) -> bytes:
    return (
        f"POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_to_end(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def status_type_and_problem(raw: bytes) -> tuple[int, str, int]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers["content-type"], json.loads(body)["status"]


def test_a_raw_socket_reads_the_413_after_writing_10_mb(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=IO_SECONDS) as connection:
        connection.sendall(request_head(len(BODY)) + BODY)
        raw = read_to_end(connection)
    assert status_type_and_problem(raw) == (413, "application/problem+json", 413)


def test_urllib_reads_the_413_after_writing_10_mb(port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/uploads", data=BODY, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=IO_SECONDS)  # noqa: S310 - a loopback http URL
    problem = json.loads(answered.value.read())
    assert (answered.value.code, answered.value.headers["Content-Type"], problem["status"]) == (
        413,
        "application/problem+json",
        413,
    )


def test_the_answer_ends_at_once_while_the_client_still_owes_its_body(port: int) -> None:
    """The server half-closes right after the 413: the client sees the end before the linger's end."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_SECONDS) as connection:
        connection.sendall(request_head(len(BODY)) + BODY[:LIMIT])
        started = time.monotonic()
        read_to_end(connection)
        assert time.monotonic() - started < LINGER_SECONDS


def test_a_body_far_over_the_linger_bound_is_cut_off(port: int) -> None:
    """Lingering is bounded: past LINGER_BYTES the server closes, and the client's writes fail."""
    flood = b"x" * (4 * LINGER_BYTES)
    with socket.create_connection(("127.0.0.1", port), timeout=IO_SECONDS) as connection:
        connection.sendall(request_head(len(flood)))
        with pytest.raises(ConnectionError):
            connection.sendall(flood)


if __name__ == "__main__":
    sys.exit(run(SERVICE))
