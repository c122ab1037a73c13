"""What a member may see and act on: their unit's subtree (admins: everything). Every command,
button and CLI path finds the unit it is asked about through `find_unit`, so that an official of
commune A never reaches commune B, and a code is found the same way everywhere."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select, SelectOfScalar

from bot.domain.access import in_scope, scope_path
from bot.domain.units import UnitOption
from storage import units
from storage.audit import record
from storage.models import Member, Unit, utcnow


async def member_scope(session: AsyncSession, member: Member | None) -> str | None:
    """The member's scope as a unit path prefix; None for admins and the command line
    (`member` None): everywhere."""
    if member is None:
        return None
    unit = await session.get(Unit, member.unit_id)
    assert unit is not None
    return scope_path(member.role, unit.path)


def units_in(scope: str | None) -> SelectOfScalar[Any]:
    """The ids of the units in scope, for `column.in_(...)`."""
    query = select(col(Unit.id))
    return query if scope is None else query.where(col(Unit.path).startswith(scope))


class Missing(enum.StrEnum):
    """Why a unit asked for was not given."""

    UNKNOWN = "unknown"  # no such code or id
    INACTIVE = "inactive"  # it exists but is inactive, and only an active one will do
    OUT_OF_SCOPE = "out_of_scope"  # outside the actor's area (shown as if unknown)


@dataclass(frozen=True)
class UnitLookup:
    unit: Unit | None
    missing: Missing | None = None

    @property
    def out_of_scope(self) -> bool:
        return self.missing is Missing.OUT_OF_SCOPE


async def find_unit(
    session: AsyncSession,
    actor: Member | None,
    *,
    code: str | None = None,
    unit_id: int | None = None,
    active_only: bool = False,
    audit_as: str | None = None,
    now: datetime | None = None,
) -> UnitLookup:
    """The unit a command, a button or the command line asks about, by its code (in any case,
    spaces around it ignored) or by its id, if `actor` may act on it (`actor` None: the
    command line, everywhere). An attempt outside the actor's area is audited as a refusal
    of `audit_as`, when given."""
    if (code is None) == (unit_id is None):
        raise TypeError("give a code or an id")
    unit = await units.by_code(session, code) if code is not None else None
    if unit_id is not None:
        unit = await session.get(Unit, unit_id)
    if unit is None:
        return UnitLookup(None, Missing.UNKNOWN)
    if active_only and not unit.active:
        return UnitLookup(None, Missing.INACTIVE)
    if not in_scope(await member_scope(session, actor), unit.path):
        if audit_as is not None and actor is not None:
            after = {"handler": audit_as, "reason": Missing.OUT_OF_SCOPE.value}
            at = now or utcnow()
            await record(
                session,
                "unit",
                unit.id,
                "refused",
                None,
                after,
                unit_id=actor.unit_id,  # a refusal concerns the actor's own unit
                actor_id=actor.id,
                at=at,
            )
        return UnitLookup(None, Missing.OUT_OF_SCOPE)
    return UnitLookup(unit)


async def area_units(session: AsyncSession, member: Member) -> list[UnitOption]:
    """The active units of the member's area (admins: all), as a unit picker offers them, by
    name, each with its parent and whether units are under it: what a picker of the whole
    area (bot/domain/forms/unit_tree.py) browses and searches. Only the columns a button
    needs are read, so a province's thousands are cheap."""
    # sqlmodel's select() types at most four columns; its Select class takes any number.
    query: Select[*tuple[Any, ...]] = Select(
        col(Unit.id),
        col(Unit.code),
        col(Unit.name),
        col(Unit.level),
        col(Unit.former_name),
        col(Unit.parent_id),
    ).where(col(Unit.active).is_(True))
    scope = await member_scope(session, member)
    if scope is not None:
        query = query.where(col(Unit.path).startswith(scope))
    rows = (await session.exec(query.order_by(col(Unit.name_key), col(Unit.code)))).all()
    parents = {row[5] for row in rows}
    return [
        UnitOption(
            unit_id,
            code,
            name,
            level,
            former_name,
            has_children=unit_id in parents,
            parent_id=parent_id,
        )
        for unit_id, code, name, level, former_name, parent_id in rows
    ]
