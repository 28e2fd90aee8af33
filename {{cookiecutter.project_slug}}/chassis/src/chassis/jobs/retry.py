"""Which failures are retried, and how long to wait before the next try.

A task's exception is permanent (the job is dead-lettered at once) unless it is an outage of
Redis or the database (`core.outages`), a network error or timeout, or an instance of one of the
task's own `retry_on` types. Retrying only what is known to be transient keeps a bug from
being re-run with growing delays: it lands in the dead letters at once, where it can be replayed
after the fix.
"""

import random
from dataclasses import dataclass

from chassis.core.outages import is_outage

# A task's own network errors and timeouts (an HTTP client, our task timeout) are worth a retry.
_TRANSIENT = (ConnectionError, TimeoutError)


def is_transient(exc: BaseException, retry_on: tuple[type[Exception], ...] = ()) -> bool:
    """True when another try may succeed: an outage, a network error, or one of `retry_on`."""
    return isinstance(exc, _TRANSIENT + retry_on) or is_outage(exc)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: a uniform draw below a ceiling that doubles, capped.

    Full jitter spreads the retries of many jobs that failed together (one outage) over the whole
    window instead of sending them back in step.
    """

    base_seconds: float = 2.0
    cap_seconds: float = 300.0

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1 for the first run)."""
        # The exponent is bounded so a long-lived job's ceiling cannot overflow a float.
        return min(self.cap_seconds, self.base_seconds * 2.0 ** min(attempt - 1, 64))

    def delay(self, attempt: int) -> float:
        # Jitter for spreading load, not security.
        return random.uniform(0, self.ceiling(attempt))  # noqa: S311


DEFAULT_BACKOFF = Backoff()
