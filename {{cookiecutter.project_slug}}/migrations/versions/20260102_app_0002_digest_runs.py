"""Digest runs: one row per sent digest, keyed by its period's start (the digests feature).

A digest covers everything since the last one sent, so two runs that start at the same time
must not both send: the unique key on (digest, period_start) makes them race for one row.

Revision ID: app_0002
Revises: app_0001
Create Date: 2026-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "app_0002"
down_revision: str | None = "app_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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
            "digest", "period_start", name=op.f("uq_digest_runs_digest_period_start")
        ),
    )


def downgrade() -> None:
    op.drop_table("digest_runs")
