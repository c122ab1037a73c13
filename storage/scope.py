"""What an official may see: their unit's subtree. Every query an official can trigger goes
through these, so that an official of commune A never reaches commune B."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.domain.access import in_scope, scope_path
from storage import units
from storage.models import Member, Unit


async def member_scope(session: AsyncSession, member: Member) -> str | None:
    """The member's scope as a unit path prefix; None for admins (everywhere)."""
    unit = await session.get(Unit, member.unit_id)
    assert unit is not None
    return scope_path(member.role, unit.path)


def units_in(scope: str | None) -> SelectOfScalar[Any]:
    """The ids of the units in scope, for `column.in_(...)`."""
    query = select(col(Unit.id))
    return query if scope is None else query.where(col(Unit.path).startswith(scope))


async def unit_in_scope(session: AsyncSession, member: Member, code: str) -> Unit | None:
    """The unit with this code if the member may act on it, else None (as if unknown)."""
    unit = await units.by_code(session, code)
    if unit is None or not in_scope(await member_scope(session, member), unit.path):
        return None
    return unit


async def unit_id_in_scope(session: AsyncSession, member: Member, unit_id: int) -> Unit | None:
    unit = await session.get(Unit, unit_id)
    if unit is None or not in_scope(await member_scope(session, member), unit.path):
        return None
    return unit
