"""solve parts: the parts of a fanned-out solve job and their schedules (workers/fanout.py)

Written to match `store.models.SolvePart` (autogenerate finds no difference); portable types only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "solve_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("zone_change_through", sa.Integer(), nullable=True),
        sa.Column("input_key", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_solve_part_job_id_job"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["schedule_version.id"],
            name=op.f("fk_solve_part_parent_id_schedule_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_solve_part")),
        sa.UniqueConstraint("job_id", "part", name=op.f("uq_solve_part_job_id_part")),
    )


def downgrade() -> None:
    op.drop_table("solve_part")
