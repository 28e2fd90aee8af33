"""The rate-limit decision and the Idempotency-Key claim of a request, in one Redis round trip.

`rate_limit` runs first on every limited route; on a route that takes an Idempotency-Key it makes
the claim in the same script, right after the decision and only if the request is admitted (a
refused request claims nothing), and hands the outcome to the idempotency dependency
(`web/idempotency.py`), which then needs no round trip of its own.
"""

from chassis.web.gcra import (
    GCRA_FUNCTION,
    GcraLimiter,
    Verdict,
    interval_us,
    verdict_of,
)
from chassis.web.idempotency_store import (
    CLAIM_FUNCTION,
    Claim,
    IdempotencyStore,
    Record,
    outcome_of,
)
from redis.asyncio import Redis

# KEYS: bucket[, idempotency record]. ARGV: quota, interval[, pending marker, its TTL (ms)].
# Returns the GCRA verdict, with the claim's answer as a fourth element when one was made.
_ADMIT = (
    GCRA_FUNCTION
    + CLAIM_FUNCTION
    + """
local verdict = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if verdict[1] == 1 and KEYS[2] then
  verdict[4] = claim(KEYS[2], ARGV[3], ARGV[4])
end
return verdict
"""
)


class Admission:
    def __init__(self, redis: Redis, limiter: GcraLimiter, store: IdempotencyStore) -> None:
        self._script = redis.register_script(_ADMIT)
        self._limiter = limiter
        self._store = store

    async def admit(
        self, bucket: str, *, quota: int, window_seconds: int, claim: Claim | None
    ) -> tuple[Verdict, Claim | Record | None]:
        """Spend one unit of `bucket`'s quota; if admitted, make `claim` too.

        Returns the verdict and the claim's outcome (None when no claim was made).
        """
        keys = [self._limiter.key(bucket)]
        args: list[bytes | int] = [quota, interval_us(quota, window_seconds)]
        if claim is not None:
            keys.append(claim.key)
            args += [claim.marker, self._store.in_flight_ms]
        reply = await self._script(keys=keys, args=args)
        verdict = verdict_of(reply)
        if claim is None or not verdict.admitted:
            return verdict, None
        return verdict, outcome_of(claim, reply[3] if len(reply) > 3 else None)
