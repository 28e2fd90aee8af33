from datetime import datetime

from chassis.core import Base, UTCDateTime
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The job that wrote it: one note per job, however often the job is delivered.
    job_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
