"""Digest runs, and a partial index for counting dead letters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEAD = sa.text("status = 'dead'")


def upgrade() -> None:
    op.create_table(
        "digest_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=100), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notifier", sa.String(length=50), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_digest_runs_period_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_runs")),
        sa.UniqueConstraint(
            "digest",
            "period_start",
            "period_end",
            name=op.f("uq_digest_runs_digest_period_start_period_end"),
        ),
    )
    # /metrics counts dead letters at every scrape (jobs/queue_metrics.py); see JobRecord.
    op.create_index(
        "ix_job_history_dead",
        "job_history",
        ["job_id"],
        postgresql_where=DEAD,
        sqlite_where=DEAD,
    )


def downgrade() -> None:
    op.drop_index("ix_job_history_dead", table_name="job_history")
    op.drop_table("digest_runs")
