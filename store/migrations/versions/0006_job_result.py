"""job results: a staff sizing's hours and its answer on the job row (workers/sizing.py)

Written to match `store.models.Job` (autogenerate finds no difference); nullable columns added,
so SQLite needs no table rebuild on upgrade; portable types only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("job", sa.Column("hours", sa.Float(), nullable=True))
    op.add_column("job", sa.Column("result", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("result")
        batch.drop_column("hours")
