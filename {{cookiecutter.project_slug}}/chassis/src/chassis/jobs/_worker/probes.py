"""The worker's HTTP endpoint: `/healthz`, `/readyz` and `/metrics` on `WORKER_HTTP_PORT`.

Three GET routes over asyncio streams rather than a web framework: the worker needs no more, and the
server runs on the worker's own event loop, so an answer at all proves that loop is alive.
"""

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import structlog
from chassis.jobs._worker.heartbeat import Heartbeat
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.asyncio import Redis

log = structlog.get_logger("worker.http")

# Answer before the kubelet gives up on a probe (1 s by default).
CHECK_TIMEOUT_SECONDS = 0.8
# A client that sends nothing does not hold a connection open for longer than this.
READ_TIMEOUT_SECONDS = 5.0
MAX_HEADER_LINES = 100
JSON = "application/json"
# The same RFC 9457 body the web tier sends (`web/problems.py`), written out: the worker has no web stack.
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes


def _json(status: int, payload: dict[str, object]) -> Reply:
    return Reply(status, JSON, json.dumps(payload).encode())


def _problem(status: int, detail: str, **extra: Any) -> Reply:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    return Reply(status, PROBLEM_JSON, json.dumps({**body, "detail": detail, **extra}).encode())


class ProbeRoutes:
    def __init__(self, heartbeat: Heartbeat, redis: Redis) -> None:
        self.heartbeat = heartbeat
        self.redis = redis

    async def reply(self, method: str, path: str) -> Reply:
        if method not in {"GET", "HEAD"}:
            return _problem(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} is not supported.")
        route = path.split("?", 1)[0]
        if route == "/healthz":
            return self.healthz()
        if route == "/readyz":
            return await self.readyz()
        if route == "/metrics":
            return Reply(HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        return _problem(HTTPStatus.NOT_FOUND, f"No route {route!r}.")

    def healthz(self) -> Reply:
        """Live while the poll loop keeps going round, whether or not Redis answers it."""
        since = round(self.heartbeat.seconds_since_beat(), 3)
        if self.heartbeat.stalled():
            limit = self.heartbeat.stall_after_seconds
            return _problem(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"The poll loop has not run for {since} s (limit {limit} s).",
                seconds_since_poll=since,
            )
        return _json(HTTPStatus.OK, {"status": "ok", "seconds_since_poll": since})

    async def readyz(self) -> Reply:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await self.redis.ping()
        except Exception:  # any failure, of any kind, means "not ready"
            return _problem(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "Not ready: redis unavailable.",
                checks={"redis": "unavailable"},
            )
        return _json(HTTPStatus.OK, {"status": "ready", "checks": {"redis": "ok"}})


async def start_probe_server(
    host: str, port: int, heartbeat: Heartbeat, redis: Redis
) -> asyncio.Server:
    routes = ProbeRoutes(heartbeat, redis)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                method, path = await _read_request(reader)
            reply = await routes.reply(method, path)
            body = b"" if method == "HEAD" else reply.body
            head = (
                f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\n"
                f"Content-Type: {reply.content_type}\r\n"
                f"Content-Length: {len(reply.body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError):
            pass  # a slow, malformed or vanished client gets no answer
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    log.info("worker_http_listening", host=host, port=port)
    return server


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and target of an HTTP/1.x request; its headers are read and ignored."""
    method, target, _version = (await reader.readline()).decode("latin-1").split(" ", 2)
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readline()).strip() == b"":
            return method, target
    raise ValueError("too many header lines")
