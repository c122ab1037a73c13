"""each audit event records the unit it concerns, which /nhatky scopes by

Before, /nhatky scoped an event by its actor's current unit, so a member who moved brought
their old events along, and an admin's actions were scoped by the admin's own unit. The
column is filled for the events already there by what they are about, as the writers now
decide it (storage/audit.py): the unit itself for unit, schedule, broadcast and export events;
a record's, a member's or an invite's current unit; and the actor's unit for refusals and
anything else ("command"). An id that points nowhere leaves it empty (admins only).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_audit_event_unit_id_unit"
# entity -> the table whose row `entity_id` names, and that row's column holding its unit.
BY_ENTITY = {
    "unit": ("unit", "id"),
    "schedule": ("unit", "id"),
    "broadcast": ("unit", "id"),
    "export": ("unit", "id"),
    "activity": ("activity", "unit_id"),
    "land_pledge": ("land_pledge", "unit_id"),
    "workday": ("workday", "unit_id"),
    "nil_report": ("nil_report", "unit_id"),
    "member": ("member", "unit_id"),
    "invite": ("invite", "unit_id"),
}
audit = sa.table(
    "audit_event",
    sa.column("entity", sa.String),
    sa.column("entity_id", sa.Integer),
    sa.column("actor_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("unit_id", sa.Integer),
)


def unit_of(table_name: str, unit_column: str, row_id: sa.ColumnElement[int]) -> sa.ScalarSelect:
    """The unit of the row `row_id` of the table, correlated with each event updated."""
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(unit_column, sa.Integer))
    return sa.select(table.c[unit_column]).where(table.c.id == row_id).scalar_subquery()


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_event_unit_id"), ["unit_id"], unique=False)
        batch_op.create_foreign_key(FOREIGN_KEY, "unit", ["unit_id"], ["id"])
    for entity, (table_name, unit_column) in BY_ENTITY.items():
        op.execute(
            sa.update(audit)
            .where(audit.c.entity == entity)
            .values(unit_id=unit_of(table_name, unit_column, audit.c.entity_id))
        )
    # What the actor was refused, whatever it was about, and what else they did ("command"):
    # their own unit's.
    op.execute(
        sa.update(audit)
        .where((audit.c.action == "refused") | audit.c.entity.not_in(list(BY_ENTITY)))
        .values(unit_id=unit_of("member", "unit_id", audit.c.actor_id))
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_audit_event_unit_id"))
        batch_op.drop_column("unit_id")
