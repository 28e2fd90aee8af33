"""Dead letters: link a replayed job to the dead one it replays.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_history") as batch:
        batch.add_column(sa.Column("replay_of", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("replayed_as", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Batch mode: SQLite (the development database) rebuilds the table to drop columns.
    with op.batch_alter_table("job_history") as batch:
        batch.drop_column("replayed_as")
        batch.drop_column("replay_of")
