"""Redis and Postgres round trips per accepted request.

Requests go one after the other, with nothing else talking to that Redis, so every request it
reads from a client (`total_reads_processed`) is one round trip of the route under test. Postgres
is reached through a relay in this process (`postgres_relay`) that counts the reads it makes from
the server's clients: one request at a time, each read is one round trip.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bench.report import Table

REQUESTS = 200
WARM_UP_REQUESTS = 20
REQUEST_BODY = {"title": "bench", "work_seconds": 0}


@dataclass(frozen=True)
class RoundTrips:
    accepted: int
    statuses: dict[int, int]
    round_trips: float
    commands: dict[str, float]
    postgres_round_trips: float | None = None


class PostgresRelay:
    """A TCP relay to the Postgres server that counts the reads it makes from its clients."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._upstream = (url.host or "127.0.0.1", url.port or 5432)
        self._url = url
        self.client_reads = 0
        self.port = 0

    @property
    def database_url(self) -> str:
        relayed = self._url.set(host="127.0.0.1", port=self.port)
        return relayed.render_as_string(hide_password=False)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        await asyncio.gather(
            self._pipe(reader, upstream_writer, count=True),
            self._pipe(upstream_reader, writer, count=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                self.client_reads += count
                writer.write(data)
                await writer.drain()
        finally:
            with suppress(ConnectionError, RuntimeError):
                writer.close()


@asynccontextmanager
async def postgres_relay(database_url: str) -> AsyncIterator[PostgresRelay]:
    relay = PostgresRelay(database_url)
    server = await asyncio.start_server(relay.serve, "127.0.0.1", 0)
    relay.port = server.sockets[0].getsockname()[1]
    try:
        yield relay
    finally:
        server.close()


def idempotency_key(key: str) -> dict[str, str]:
    # A Structured Fields string, as the IETF Idempotency-Key draft writes it.
    return {"Idempotency-Key": f'"{key}"'}


async def _counters(redis: Redis) -> tuple[int, Counter[str]]:
    """Requests read from clients, and calls per command, from Redis's own INFO."""
    info: dict[str, Any] = await redis.info("all")
    calls: Counter[str] = Counter()
    for key, value in info.items():
        if key.startswith("cmdstat_"):
            calls[key.removeprefix("cmdstat_")] = int(value["calls"])
    return int(info.get("total_reads_processed", 0)), calls


async def count(
    redis_url: str, server_url: str, path: str, postgres: PostgresRelay | None = None
) -> RoundTrips:
    tag = uuid.uuid4().hex[:12]
    redis = Redis.from_url(redis_url)
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as http:
        # Connections opened, scripts loaded, statements prepared before anything is counted.
        for number in range(WARM_UP_REQUESTS):
            await http.post(
                path, json=REQUEST_BODY, headers=idempotency_key(f"warm-{tag}-{number}")
            )
        reads_before, calls_before = await _counters(redis)
        postgres_before = postgres.client_reads if postgres else 0
        for number in range(REQUESTS):
            headers = idempotency_key(f"bench-{tag}-{number}")
            response = await http.post(path, json=REQUEST_BODY, headers=headers)
            statuses[response.status_code] += 1
        reads_after, calls_after = await _counters(redis)
        postgres_reads = postgres.client_reads - postgres_before if postgres else None
    await redis.aclose()
    accepted = sum(n for status, n in statuses.items() if 200 <= status < 300)
    per = max(accepted, 1)
    # The second INFO is itself one request read; INFO calls are not the route's.
    reads = reads_after - reads_before - 1
    calls = calls_after - calls_before
    del calls["info"]
    return RoundTrips(
        accepted=accepted,
        statuses=dict(statuses),
        round_trips=reads / per,
        commands={name: n / per for name, n in sorted(calls.items()) if n},
        postgres_round_trips=None if postgres_reads is None else postgres_reads / per,
    )


def render(counted: dict[str, RoundTrips]) -> str:
    table = Table(
        f"Round trips per request ({REQUESTS} sequential requests; Redis from the server's INFO)",
        ("route", "accepted", "Postgres", "Redis", "Redis commands (INFO commandstats)"),
    )
    for label, trips in counted.items():
        commands = ", ".join(f"{name} {n:g}" for name, n in trips.commands.items())
        pg = "n/a" if trips.postgres_round_trips is None else f"{trips.postgres_round_trips:.2f}"
        table.add(label, trips.accepted, pg, f"{trips.round_trips:.2f}", commands)
        if trips.accepted != REQUESTS:
            table.notes.append(f"{label} answered {trips.statuses}: not every request counted")
    table.notes.append(
        "Redis round trips = requests Redis read (total_reads_processed); commands run inside a "
        "script or MULTI/EXEC count in commandstats but share their request's round trip"
    )
    table.notes.append(
        "Postgres round trips = reads from the web process's connections, relayed (one request "
        "at a time: one read per round trip), on a server of its own started for this count"
    )
    return table.render()
