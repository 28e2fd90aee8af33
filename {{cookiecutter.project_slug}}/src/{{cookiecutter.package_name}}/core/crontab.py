"""Crontab expressions in UTC: parsed once, handed to the scheduler, and walked backwards.

Five fields (`minute hour day month weekday`) or six with a leading `second`. Each field is `*`,
`N`, `A-B`, a step (`*/N`, `A-B/N`) or a comma list of those. Weekdays run 0-7 with 0 and 7 both
Sunday. An expression may restrict the day of the month or the weekday, not both: classic cron
ORs the two, arq's scheduler ANDs them, and refusing the mix keeps the two readings equal.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

# Feb 29 comes back within eight years (the century rule can skip one leap year).
_SEARCH_DAYS = 8 * 366
_BOUNDS = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "weekday": (0, 7),
}


def _parse_field(text: str, field: str) -> frozenset[int] | None:
    """The values a field allows, or None for `*` (every value)."""
    low, high = _BOUNDS[field]
    if text == "*":
        return None
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            start_text, _, end_text = spec.partition("-")
            start, end = int(start_text), int(end_text)
        else:
            start = end = int(spec)
            if step_text:
                end = high
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"{field} field {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Crontab:
    """A parsed expression; None in a field means every value. Weekdays are Monday=0."""

    expression: str
    second: frozenset[int] | None
    minute: frozenset[int] | None
    hour: frozenset[int] | None
    day: frozenset[int] | None
    month: frozenset[int] | None
    weekday: frozenset[int] | None

    @classmethod
    def parse(cls, expression: str) -> "Crontab":
        fields = expression.split()
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError(f"crontab {expression!r} needs 5 fields (or 6 with seconds)")
        try:
            second, minute, hour, day, month, weekday = (
                _parse_field(text, name) for text, name in zip(fields, _BOUNDS, strict=True)
            )
        except ValueError as exc:
            raise ValueError(f"crontab {expression!r}: {exc}") from None
        if day is not None and weekday is not None:
            raise ValueError(f"crontab {expression!r} restricts both day and weekday; pick one")
        # Cron counts Sunday as 0 (or 7); Python's weekday() counts Monday as 0.
        python_weekday = None if weekday is None else frozenset((d - 1) % 7 for d in weekday)
        crontab = cls(expression, second, minute, hour, day, month, python_weekday)
        crontab.latest_at_or_before(datetime(2000, 1, 1, tzinfo=UTC))  # refuses Feb 30
        return crontab

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last time the schedule fires at or before `moment`."""
        moment = moment.astimezone(UTC).replace(microsecond=0)
        day, bound = moment.date(), moment.time()
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day) and (found := self._latest_time(bound)) is not None:
                return datetime.combine(day, found, tzinfo=UTC)
            day, bound = day - timedelta(days=1), time(23, 59, 59)
        raise ValueError(f"crontab {self.expression!r} never fires")

    def previous(self, moment: datetime) -> datetime:
        """The last time the schedule fires strictly before `moment`."""
        return self.latest_at_or_before(moment.replace(microsecond=0) - timedelta(seconds=1))

    def _day_matches(self, day: date) -> bool:
        return (
            (self.month is None or day.month in self.month)
            and (self.day is None or day.day in self.day)
            and (self.weekday is None or day.weekday() in self.weekday)
        )

    def _latest_time(self, bound: time) -> time | None:
        """The latest allowed time of day at or before `bound`."""
        for hour in _descending(self.hour, 23, bound.hour):
            minute_cap = bound.minute if hour == bound.hour else 59
            for minute in _descending(self.minute, 59, minute_cap):
                second_cap = bound.second if (hour, minute) == (bound.hour, bound.minute) else 59
                for second in _descending(self.second, 59, second_cap):
                    return time(hour, minute, second)
        return None


def _descending(allowed: frozenset[int] | None, high: int, cap: int) -> list[int]:
    values = range(high + 1) if allowed is None else allowed
    return sorted((value for value in values if value <= cap), reverse=True)
