"""drop land_pledge.notes, which nothing read or wrote

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("land_pledge", schema=None) as batch_op:
        batch_op.drop_column("notes")


def downgrade() -> None:
    with op.batch_alter_table("land_pledge", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))
