"""The period a digest covers: from the end of the last digest sent to a scheduled time."""

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): a job that finished exactly at `end` belongs to the next period."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds need a time zone")
        if self.end <= self.start:
            raise ValueError("a period must end after it starts")

    @classmethod
    def parse(cls, text: str) -> "Period":
        """An ISO 8601 interval `START/END`; times without an offset are UTC."""
        start_text, separator, end_text = text.partition("/")
        if not separator:
            raise ValueError(f"period {text!r} is not START/END")
        return cls(start=_utc(start_text), end=_utc(end_text))

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
