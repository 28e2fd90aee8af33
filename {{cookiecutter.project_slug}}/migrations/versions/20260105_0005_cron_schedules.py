"""Cron schedules (when each began), and digest periods keyed by their start.

A digest now covers everything since the last one sent, so two runs that start at the same time
must not both send: the unique key on (digest, period_start) makes them race for one row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-01-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cron_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cron_schedules")),
    )
    # Batch mode rebuilds the table on SQLite, which cannot drop a constraint in place.
    with op.batch_alter_table("digest_runs") as batch:
        batch.drop_constraint("uq_digest_runs_digest_period_start_period_end", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_digest_runs_digest_period_start"), ["digest", "period_start"]
        )


def downgrade() -> None:
    with op.batch_alter_table("digest_runs") as batch:
        batch.drop_constraint("uq_digest_runs_digest_period_start", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_digest_runs_digest_period_start_period_end"),
            ["digest", "period_start", "period_end"],
        )
    op.drop_table("cron_schedules")
