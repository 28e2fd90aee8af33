from datetime import datetime
from typing import Any

from chassis.core import Base, UTCDateTime
from sqlalchemy import JSON, CheckConstraint, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column


class DigestRun(Base):
    """One sent digest. The unique key is the guarantee: one row, hence one send, per period.

    A period is keyed by its start: two runs that both start where the last digest ended (two
    fire times racing, a retry, another worker) cannot both send, so periods never overlap.
    """

    __tablename__ = "digest_runs"
    __table_args__ = (
        UniqueConstraint("digest", "period_start"),
        CheckConstraint("period_end > period_start", name="period_order"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(100))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    notifier: Mapped[str] = mapped_column(String(50))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
