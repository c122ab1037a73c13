"""member change counter, kept by triggers

A later migration that rebuilds the member table on SQLite (batch_alter_table copies it to a
new table) drops these triggers with the old table and must create them again;
tests/test_storage.py checks that every change to a member moves the counter at head.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE member_change SET generation = generation + 1 WHERE id = 1"
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "member_change",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO member_change (id, generation) VALUES (1, 0)")
    # In the transaction of the change itself, so the new count is seen with the change.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION member_changed() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER member_changed AFTER INSERT OR UPDATE OR DELETE ON member "
            "FOR EACH STATEMENT EXECUTE FUNCTION member_changed()"
        )
        return
    for event in EVENTS:
        op.execute(
            f"CREATE TRIGGER member_changed_{event.lower()} AFTER {event} ON member "
            f"BEGIN {BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER member_changed ON member")
        op.execute("DROP FUNCTION member_changed()")
    else:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER member_changed_{event.lower()}")
    op.drop_table("member_change")
