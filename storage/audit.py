"""The audit trail: who changed what, when, from which value to which."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent, utcnow


async def record(
    session: AsyncSession,
    entity: str,
    entity_id: int | None,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None = None,
    *,
    actor_id: int | None = None,
    actor_label: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one event to the session; `at` defaults to now (tests pass their clock)."""
    event = AuditEvent(
        at=at or utcnow(),
        actor_id=actor_id,
        actor_label=actor_label,
        entity=entity,
        entity_id=entity_id,
        action=action,
        before=before,
        after=after,
    )
    session.add(event)
    return event
