"""A cron schedule in UTC: the service's one cron engine, read once and asked both ways.

Schedules are croniter's: croniter and cronsim both give next and previous fire times, names
(`mon-fri`, `jan`), ranges and steps, and OR the day of the month with the weekday as cron does;
only croniter also reads the `@daily`-style macros (cronsim 2.8 answers "Wrong number of fields")
and, with `second_at_beginning`, an optional leading seconds field. croniter is kept by
pallets-eco; its stubs come from typeshed (`types-croniter`).

Settings validate `DIGEST_SCHEDULE` with it, `@cron` schedules its tasks with it, and digests find
their periods with it, so all three read an expression the same way.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

# A date every valid schedule reaches within croniter's search window (50 years).
_PROBE = datetime(2000, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """A schedule that does not parse, or never fires: start-up stops on it."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron expression in UTC: five fields, six with a leading seconds field, or a macro."""

    expression: str

    @classmethod
    def parse(cls, expression: str) -> "Schedule":
        text = " ".join(expression.split())
        if not (text.startswith("@") or len(text.split()) in (5, 6)):
            raise ScheduleError(
                f"{expression!r} needs 5 fields (6 with leading seconds) or a macro like @daily"
            )
        schedule = cls(text)
        try:
            schedule.next_after(_PROBE)  # also refuses a date that never comes (Feb 30)
        except (ValueError, TypeError, KeyError) as exc:
            raise ScheduleError(f"{expression!r} is not a cron schedule: {exc}") from None
        return schedule

    def _iterator(self, moment: datetime) -> "croniter[datetime]":
        return croniter(
            self.expression, moment.astimezone(UTC), ret_type=datetime, second_at_beginning=True
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`."""
        return self._iterator(moment).get_next(datetime).astimezone(UTC)

    def previous_before(self, moment: datetime) -> datetime:
        """The last fire time strictly before `moment`."""
        return self._iterator(moment).get_prev(datetime).astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last fire time at or before `moment`."""
        return self.previous_before(moment + timedelta(microseconds=1))
