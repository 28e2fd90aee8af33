"""Idempotency records in Redis: an atomic claim, then the stored response, one round trip each.

A record is one key with a TTL, in one of two states:

    pending:<fingerprint>:<token>   a request holds the key (IDEMPOTENCY_IN_FLIGHT_SECONDS)
    done:<msgpack>                  the finished response (IDEMPOTENCY_RETENTION_SECONDS)

Only the request holding the claim (its token) may complete or release it, so a request that
outlived its claim cannot overwrite the record of the retry that claimed the key after it.
"""

import secrets
from dataclasses import dataclass
from typing import Any

import msgpack
from redis.asyncio import Redis

_PENDING = b"pending:"
_DONE = b"done:"

# KEYS: record. ARGV: pending marker, TTL (ms). Returns the existing record, or nil once claimed.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS: record. ARGV: our pending marker, the finished record (empty: release), its TTL (ms).
_SETTLE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Record:
    """What an earlier request with the same key left behind."""

    fingerprint: str
    # None while that request is still running.
    response: StoredResponse | None


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the key until it completes or releases it."""

    key: str
    fingerprint: str
    marker: bytes


class IdempotencyStore:
    def __init__(
        self, redis: Redis, key_prefix: str, *, in_flight_seconds: int, retention_seconds: int
    ) -> None:
        self._claim = redis.register_script(_CLAIM)
        self._settle = redis.register_script(_SETTLE)
        self._prefix = f"{key_prefix}:idempotency:"
        self._in_flight_ms = in_flight_seconds * 1000
        self._retention_ms = retention_seconds * 1000

    async def claim(self, scoped_key: str, fingerprint: str) -> Claim | Record:
        """Claim the key for this request, or return the record an earlier request left."""
        key = self._prefix + scoped_key
        marker = _PENDING + f"{fingerprint}:{secrets.token_hex(8)}".encode()
        existing = await self._claim(keys=[key], args=[marker, self._in_flight_ms])
        if existing is None:
            return Claim(key, fingerprint, marker)
        return _parse(existing)

    async def complete(self, claim: Claim, response: StoredResponse) -> bool:
        """Store the response for replay; False if the claim had expired (nothing stored)."""
        record = _DONE + msgpack.packb(
            {
                "fingerprint": claim.fingerprint,
                "status": response.status,
                "headers": response.headers,
                "body": response.body,
            },
            use_bin_type=True,
        )
        args = [claim.marker, record, self._retention_ms]
        return bool(await self._settle(keys=[claim.key], args=args))

    async def release(self, claim: Claim) -> bool:
        """Free the key so that a retry runs again; False if the claim had expired already."""
        return bool(await self._settle(keys=[claim.key], args=[claim.marker, b"", 0]))


def _parse(value: bytes) -> Record:
    if value.startswith(_PENDING):
        fingerprint = value[len(_PENDING) :].split(b":", 1)[0].decode()
        return Record(fingerprint, None)
    if not value.startswith(_DONE):
        raise ValueError(f"not an idempotency record: {value[:16]!r}")
    data: dict[str, Any] = msgpack.unpackb(value[len(_DONE) :], raw=False)
    headers = [(str(name), str(content)) for name, content in data["headers"]]
    response = StoredResponse(int(data["status"]), headers, bytes(data["body"]))
    return Record(str(data["fingerprint"]), response)
