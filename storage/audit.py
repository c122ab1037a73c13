"""The audit trail: who changed what, when, from which value to which.

Reading it back (/nhatky): an event has no unit of its own, so an official's scope (their
unit's subtree, see storage/scope.py) is applied in two ways, and an event is shown when
either holds:

- the ACTOR is a member whose unit is in the subtree (what the people of the area did, and
  what they were refused), and
- the event is ABOUT a unit in the subtree: entity "unit" or "schedule", whose entity_id is a
  unit's id (e.g. an admin elsewhere renaming a village, or changing its reminder times).

Events without a member actor (the CLI, imports by "actor_label") are therefore seen by
officials only when they concern a unit in their subtree; admins (scope None) see everything.
Members keep their events when they move unit: the actor's CURRENT unit decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.paging import page_within
from storage.models import AuditEvent, Member, Unit, pk, utcnow

UNIT_ENTITIES = ("unit", "schedule")  # events whose entity_id is a unit's id


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


@dataclass(frozen=True)
class LogLine:
    """One event as the audit log lists it."""

    id: int
    at: datetime
    actor: str | None  # the member's name, else the actor label ("cli"); None when unknown
    entity: str
    entity_id: int | None
    action: str
    unit_code: str | None  # for events about a unit (UNIT_ENTITIES)


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    total: int
    page: int  # from 0
    pages: int  # at least 1


async def events_in_scope(
    session: AsyncSession, scope: str | None, page: int, page_size: int
) -> LogPage:
    """A page of the events in `scope` (a unit path prefix; None: all), newest first. A page
    past the end gives the last one."""
    actor = aliased(Member)
    actor_unit = aliased(Unit)
    about = aliased(Unit)
    condition = (
        None
        if scope is None
        else or_(col(actor_unit.path).startswith(scope), col(about.path).startswith(scope))
    )

    def joined(query: Any) -> Any:
        query = (
            query.outerjoin(actor, col(actor.id) == col(AuditEvent.actor_id))
            .outerjoin(actor_unit, col(actor_unit.id) == col(actor.unit_id))
            .outerjoin(
                about,
                and_(
                    col(AuditEvent.entity).in_(UNIT_ENTITIES),
                    col(about.id) == col(AuditEvent.entity_id),
                ),
            )
        )
        return query if condition is None else query.where(condition)

    total = (await session.exec(joined(select(func.count()).select_from(AuditEvent)))).one()
    page, pages = page_within(page, int(total), page_size)
    query = joined(
        select(AuditEvent, col(actor.full_name), col(about.code)).select_from(AuditEvent)
    )
    query = (
        query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset(page * page_size)
        .limit(page_size)
    )
    lines = [
        LogLine(
            id=event.id,
            at=event.at,
            actor=name or event.actor_label,
            entity=event.entity,
            entity_id=event.entity_id,
            action=event.action,
            unit_code=code,
        )
        for event, name, code in (await session.exec(query)).all()
    ]
    return LogPage(lines, total, page, pages)


async def broadcast_started(session: AsyncSession, unit_id: int, key: str) -> bool:
    """Whether the announcement `key` to the unit was confirmed before (its "sent" event)."""
    events = await session.exec(
        select(AuditEvent.after).where(
            col(AuditEvent.entity) == "broadcast",
            col(AuditEvent.entity_id) == unit_id,
            col(AuditEvent.action) == "sent",
        )
    )
    return any((after or {}).get("key") == key for after in events)


async def unfinished_broadcast(
    session: AsyncSession, unit: Unit, text: str, sender: str, actor_label: str
) -> AuditEvent | None:
    """The latest run by `actor_label` of this broadcast, if it never finished (it has no
    "delivered" event)."""
    events = (
        await session.exec(
            select(AuditEvent)
            .where(
                col(AuditEvent.entity) == "broadcast",
                col(AuditEvent.entity_id) == pk(unit),
                col(AuditEvent.actor_label) == actor_label,
            )
            .order_by(col(AuditEvent.id).desc())
            .limit(200)
        )
    ).all()
    delivered = {(e.after or {}).get("key") for e in events if e.action == "delivered"}
    for event in events:
        after = event.after or {}
        if event.action != "sent" or after.get("text") != text or after.get("sender") != sender:
            continue
        return None if after.get("key") in delivered else event
    return None
