"""Schedules of units: stored overrides, and each unit's effective times."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.schedule import FIELDS, effective
from storage.audit import record
from storage.models import Schedule, Unit, pk, utcnow


def _row_values(row: Schedule | None) -> dict[str, Any] | None:
    return None if row is None else {name: getattr(row, name) for name in FIELDS}


async def effective_times(session: AsyncSession) -> dict[int, dict[str, object]]:
    """Every unit's effective times, following the parent links up to the root."""
    parents = {pk(unit): unit.parent_id for unit in (await session.exec(select(Unit))).all()}
    own = {row.unit_id: _row_values(row) for row in (await session.exec(select(Schedule))).all()}
    result: dict[int, dict[str, object]] = {}
    for unit_id in parents:
        chain: list[dict[str, Any] | None] = []
        current: int | None = unit_id
        while current is not None:
            chain.append(own.get(current))
            current = parents.get(current)
        result[unit_id] = effective(chain)
    return result


async def own_times(session: AsyncSession, unit_id: int) -> dict[str, Any] | None:
    return _row_values(await session.get(Schedule, unit_id))


async def set_times(
    session: AsyncSession, unit_id: int, changes: dict[str, Any], *, actor_id: int | None
) -> None:
    """Set (or, with None, clear back to inherited) some of a unit's times."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown schedule fields: {sorted(unknown)}")
    row = await session.get(Schedule, unit_id)
    before = _row_values(row)
    if row is None:
        row = Schedule(unit_id=unit_id)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    after = _row_values(row)
    await record(
        session,
        "schedule",
        unit_id,
        "update",
        _jsonable(before),
        _jsonable(after),
        unit_id=unit_id,
        actor_id=actor_id,
    )


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}
