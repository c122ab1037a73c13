"""The audit trail: who changed what, when, from which value to which.

Each event records the unit it concerns (`unit_id`), fixed when it is written: a record's
unit, a member's (after a move: where they went), an invite's, the unit itself for unit,
schedule, broadcast and export events, and the actor's own unit for a refusal. /nhatky shows
an official the events whose unit is in their subtree (storage/scope.py), whoever made them
and wherever the actor is now; admins (scope None) see all, and alone see the events with no
unit (a unit file import).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import records
from bot.domain.paging import page_within
from storage.models import AuditEvent, Member, Unit, pk, utcnow

# Events whose entity_id is a unit's id (a refused lookup's too: the unit asked for).
UNIT_ENTITIES = ("unit", "schedule", "broadcast", "export")
RECORD_KINDS = {entity: kind for kind, entity in records.ENTITY.items()}


async def record(
    session: AsyncSession,
    entity: str,
    entity_id: int | None,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None = None,
    *,
    unit_id: int | None,
    actor_id: int | None = None,
    actor_label: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one event to the session; `at` defaults to now (tests pass their clock).
    `unit_id` is the unit the event concerns, which decides who sees it (no default, so
    that every writer decides; None: admins only)."""
    event = AuditEvent(
        at=at or utcnow(),
        unit_id=unit_id,
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
    unit_id: int | None  # the unit the event concerns
    unit_code: str | None

    @property
    def reference(self) -> str:
        """What it was done to, after the entity's name: the code of a unit, #L-12 for a
        record, #7 for anything else with an id; then the code of the unit the event
        concerns, when that is not the entity itself: "#7 (CN1)" (a refused lookup is about
        another unit than the actor's own, which is its event's)."""
        if (
            self.entity in UNIT_ENTITIES
            and self.entity_id is not None
            and self.entity_id == self.unit_id
        ):
            return self.unit_code or ""
        where = f"({self.unit_code})" if self.unit_code is not None else ""
        if self.entity_id is None:
            return where
        kind = RECORD_KINDS.get(self.entity)
        name = f"#{self.entity_id}" if kind is None else records.reference(kind, self.entity_id)
        return f"{name} {where}".strip()


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    total: int
    page: int  # from 0
    pages: int  # at least 1


async def events_in_scope(
    session: AsyncSession, scope: str | None, page: int, page_size: int
) -> LogPage:
    """A page of the events whose unit is in `scope` (a unit path prefix; None: all, events
    without a unit too), newest first. A page past the end gives the last one."""
    actor = aliased(Member)

    def joined(query: Any) -> Any:
        query = query.outerjoin(Unit, col(Unit.id) == col(AuditEvent.unit_id))
        return query if scope is None else query.where(col(Unit.path).startswith(scope))

    total = (await session.exec(joined(select(func.count()).select_from(AuditEvent)))).one()
    page, pages = page_within(page, int(total), page_size)
    query = joined(
        select(AuditEvent, col(actor.full_name), col(Unit.code))
        .select_from(AuditEvent)
        .outerjoin(actor, col(actor.id) == col(AuditEvent.actor_id))
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
            unit_id=event.unit_id,
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
