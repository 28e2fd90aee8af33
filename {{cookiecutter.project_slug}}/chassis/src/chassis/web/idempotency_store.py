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
from chassis.jobs.queue import CompareAndSet
from redis.asyncio import Redis

_PENDING = b"pending:"
_DONE = b"done:"

# claim(record key, pending marker, TTL in ms), a Lua function that `web/admission.py` also runs,
# next to a rate-limit decision. Returns the existing record, or false once claimed.
CLAIM_FUNCTION = """
local function claim(key, marker, ttl)
  local current = redis.call('GET', key)
  if current then
    return current
  end
  redis.call('SET', key, marker, 'PX', ttl)
  return false
end
"""
# KEYS: record. ARGV: pending marker, TTL (ms).
_CLAIM = CLAIM_FUNCTION + "return claim(KEYS[1], ARGV[1], ARGV[2])"

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

    @property
    def in_flight_ms(self) -> int:
        return self._in_flight_ms

    def prepare(self, scoped_key: str, fingerprint: str) -> Claim:
        """The claim this request would hold: `claim` (or `web/admission.py`) makes it."""
        marker = _PENDING + f"{fingerprint}:{secrets.token_hex(8)}".encode()
        return Claim(self._prefix + scoped_key, fingerprint, marker)

    async def claim(self, scoped_key: str, fingerprint: str) -> Claim | Record:
        """Claim the key for this request, or return the record an earlier request left."""
        return await self.claim_prepared(self.prepare(scoped_key, fingerprint))

    async def claim_prepared(self, claim: Claim) -> Claim | Record:
        existing = await self._claim(keys=[claim.key], args=[claim.marker, self._in_flight_ms])
        return outcome_of(claim, existing)

    def completion(self, claim: Claim, response: StoredResponse) -> CompareAndSet:
        """The write that stores `response` for replay, if `claim` still holds the key.

        For a caller that makes it in a round trip of its own (`Queue.enqueue_and_set`).
        """
        record = _DONE + msgpack.packb(
            {
                "fingerprint": claim.fingerprint,
                "status": response.status,
                "headers": response.headers,
                "body": response.body,
            },
            use_bin_type=True,
        )
        return CompareAndSet(claim.key, claim.marker, record, self._retention_ms)

    async def complete(self, claim: Claim, response: StoredResponse) -> bool:
        """Store the response for replay; False if the claim had expired (nothing stored)."""
        write = self.completion(claim, response)
        args: list[bytes | int] = [write.expected, write.value, write.ttl_ms]
        return bool(await self._settle(keys=[claim.key], args=args))

    async def release(self, claim: Claim) -> bool:
        """Free the key so that a retry runs again; False if the claim had expired already."""
        return bool(await self._settle(keys=[claim.key], args=[claim.marker, b"", 0]))


def outcome_of(claim: Claim, existing: bytes | None) -> Claim | Record:
    """What a claim script answered: nothing (the claim is ours), or the record found instead."""
    return claim if existing is None else _parse(existing)


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
