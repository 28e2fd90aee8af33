"""The chassis's tables: job history (with dead-letter links), run-once keys, cron schedules.

Revision ID: chassis_0001
Revises:
Create Date: 2026-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "chassis_0001"
down_revision: str | None = None
# The chassis's line: `chassis@head` is its newest revision (chassis.migrations.BRANCH).
branch_labels: str | Sequence[str] | None = ("chassis",)
depends_on: str | Sequence[str] | None = None

DEAD = sa.text("status = 'dead'")


def upgrade() -> None:
    op.create_table(
        "job_history",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        # A replayed dead letter and the job that replays it point at each other.
        sa.Column("replay_of", sa.String(length=64), nullable=True),
        sa.Column("replayed_as", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_history")),
    )
    op.create_index(op.f("ix_job_history_task"), "job_history", ["task"])
    op.create_index(op.f("ix_job_history_status"), "job_history", ["status"])
    op.create_index(op.f("ix_job_history_finished_at"), "job_history", ["finished_at"])
    # /metrics counts dead letters at every scrape; this index holds only those rows (JobRecord).
    op.create_index(
        "ix_job_history_dead",
        "job_history",
        ["job_id"],
        postgresql_where=DEAD,
        sqlite_where=DEAD,
    )
    op.create_table(
        "run_once",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_run_once")),
    )
    op.create_table(
        "cron_schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cron_schedules")),
    )


def downgrade() -> None:
    op.drop_table("cron_schedules")
    op.drop_table("run_once")
    op.drop_index("ix_job_history_dead", table_name="job_history")
    op.drop_index(op.f("ix_job_history_finished_at"), table_name="job_history")
    op.drop_index(op.f("ix_job_history_status"), table_name="job_history")
    op.drop_index(op.f("ix_job_history_task"), table_name="job_history")
    op.drop_table("job_history")
