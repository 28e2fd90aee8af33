"""A wall clock that tests move by hand, for the cron loop (`jobs/_worker/scheduler.py`)."""

import asyncio
from datetime import datetime

# A failsafe for waits that end in milliseconds; never a speed claim.
WAIT_SECONDS = 15.0


class FakeClock:
    """`now()` is what the test set; `sleep_until` returns once the test moves time past it."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._changed = asyncio.Condition()
        # The moments that sleepers wait for, one entry per sleeper.
        self.sleeping_until: list[datetime] = []

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, moment: datetime) -> None:
        async with self._changed:
            self.sleeping_until.append(moment)
            self._changed.notify_all()
            try:
                await self._changed.wait_for(lambda: self._now >= moment)
            finally:
                self.sleeping_until.remove(moment)

    async def set(self, moment: datetime) -> None:
        async with self._changed:
            self._now = moment
            self._changed.notify_all()

    async def sleepers(self, moment: datetime, count: int = 1) -> None:
        """Wait until `count` sleepers wait for exactly `moment` (the loop has done its step)."""
        try:
            async with asyncio.timeout(WAIT_SECONDS), self._changed:
                await self._changed.wait_for(lambda: self.sleeping_until.count(moment) >= count)
        except TimeoutError:
            raise AssertionError(
                f"expected {count} sleeper(s) until {moment}, found {self.sleeping_until}"
            ) from None
