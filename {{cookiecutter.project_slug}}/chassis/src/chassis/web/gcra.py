"""A distributed rate limiter: GCRA in one Redis script, one round trip per decision.

GCRA (the generic cell rate algorithm) keeps one number per bucket, the theoretical arrival time
(TAT) of the next request. `quota` requests per `window` means one unit of quota returns every
`window / quota`; a request is admitted if the TAT it would leave is at most one window ahead of
now, so a full quota may be spent in one burst. The clock is Redis's own `TIME`: every web
process shares it, and no process's clock skew can widen a window.
"""

import math
from dataclasses import dataclass

from redis.asyncio import Redis

# gcra(bucket key, quota, interval in microseconds per unit of quota), a Lua function that
# `web/admission.py` also runs, next to an idempotency claim.
# Integer microseconds throughout: exact in Lua's doubles (below 2^53), so the boundary is exact.
# Returns {admitted (0|1), remaining, wait}: wait is the microseconds until one more unit of
# quota returns, which for a refused request is when it would be admitted.
GCRA_FUNCTION = """
local function gcra(key, quota, interval)
  local burst = quota * interval
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then
    tat = now
  end
  local next_tat = tat + interval
  if next_tat - now > burst then
    return {0, 0, next_tat - burst - now}
  end
  redis.call('SET', key, string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  local room = burst - (next_tat - now)
  local remaining = math.floor(room / interval)
  return {1, remaining, interval * (remaining + 1) - room}
end
"""
# KEYS: bucket. ARGV: quota, interval.
_GCRA = GCRA_FUNCTION + "return gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    # Quota left after this request.
    remaining: int
    # Seconds until one more unit of quota returns: for a refused request, when to retry.
    wait_seconds: float

    @property
    def wait_whole_seconds(self) -> int:
        """`wait_seconds` rounded up: the HTTP headers carry whole seconds, never early."""
        return math.ceil(self.wait_seconds)


def interval_us(quota: int, window_seconds: int) -> int:
    """Microseconds per unit of quota, rounded up: `quota` units never return faster."""
    return math.ceil(window_seconds * 1_000_000 / quota)


def verdict_of(reply: list[int]) -> Verdict:
    """The script's {admitted, remaining, wait}."""
    return Verdict(bool(reply[0]), int(reply[1]), int(reply[2]) / 1_000_000)


class GcraLimiter:
    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._script = redis.register_script(_GCRA)
        self._prefix = f"{key_prefix}:ratelimit:"

    def key(self, bucket: str) -> str:
        return self._prefix + bucket

    async def hit(self, bucket: str, *, quota: int, window_seconds: int) -> Verdict:
        """Spend one unit of `bucket`'s quota if there is one; the bucket's key expires once full."""
        reply = await self._script(
            keys=[self.key(bucket)], args=[quota, interval_us(quota, window_seconds)]
        )
        return verdict_of(reply)
