"""forget what the admin chats kept between messages before they became flows

Every multi-step chat now keeps its state in the one draft of user_data (handlers/
conversation.py). The keys the admin chats used before (a typed answer awaited, a change
waiting for ✅, the /moi wizard's nonce, the /lich time being typed) and the /lich
ConversationHandler's states are read by nothing any more; removed, so that people who only
had those keep no rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KEYS = (
    "units_input",
    "units_confirm",
    "invite_wizard",
    "broadcast",
    "export",
    "export_sent",
    "schedule_time",
)
state = sa.table(
    "conversation_state",
    sa.column("namespace", sa.String),
    sa.column("key", sa.String),
    sa.column("data", sa.JSON),
)


def upgrade() -> None:
    connection = op.get_bind()
    connection.execute(sa.delete(state).where(state.c.namespace == "conversation:schedule_time"))
    rows = connection.execute(
        sa.select(state.c.key, state.c.data).where(state.c.namespace == "user_data")
    ).all()
    for key, data in rows:
        if not isinstance(data, dict) or not any(name in data for name in OLD_KEYS):
            continue
        kept = {name: value for name, value in data.items() if name not in OLD_KEYS}
        where = (state.c.namespace == "user_data") & (state.c.key == key)
        if kept:
            connection.execute(sa.update(state).where(where).values(data=kept))
        else:
            connection.execute(sa.delete(state).where(where))


def downgrade() -> None:
    """Nothing to restore: the old chats asked again for what they had waited for."""
