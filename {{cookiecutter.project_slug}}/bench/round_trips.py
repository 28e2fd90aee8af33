"""Redis round trips per accepted request, counted by the private redis-server itself.

Requests go one after the other, with nothing else talking to that Redis, so every request it
reads from a client (`total_reads_processed`) is one round trip of the route under test.
"""

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

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


async def count(redis_url: str, server_url: str, path: str) -> RoundTrips:
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
        for number in range(REQUESTS):
            headers = idempotency_key(f"bench-{tag}-{number}")
            response = await http.post(path, json=REQUEST_BODY, headers=headers)
            statuses[response.status_code] += 1
        reads_after, calls_after = await _counters(redis)
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
    )


def render(counted: dict[str, RoundTrips]) -> str:
    table = Table(
        f"Redis per request ({REQUESTS} sequential requests, from the server's INFO)",
        ("route", "accepted", "round trips", "commands (INFO commandstats)"),
    )
    for label, trips in counted.items():
        commands = ", ".join(f"{name} {n:g}" for name, n in trips.commands.items())
        table.add(label, trips.accepted, f"{trips.round_trips:.2f}", commands)
        if trips.accepted != REQUESTS:
            table.notes.append(f"{label} answered {trips.statuses}: not every request counted")
    table.notes.append(
        "round trips = requests Redis read (total_reads_processed); commands run inside a "
        "script or MULTI/EXEC count in commandstats but share their request's round trip"
    )
    return table.render()
