"""Units: the tree of places. Import, list, look up, and keep each unit's path right."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.domain.textnorm import fold
from bot.domain.unit_csv import ImportPlan, KnownUnit, UnitRow, plan_rows
from storage.audit import record
from storage.models import Unit, pk, utcnow

NAME_KEY_LENGTH = 200  # Unit.name_key's column


def name_key(name: str) -> str:
    """A unit name's matching key, cut to its column: folding can lengthen a name ("ß" → "ss"),
    and PostgreSQL refuses a value longer than the column."""
    return fold(name)[:NAME_KEY_LENGTH].rstrip()


async def by_code(session: AsyncSession, code: str) -> Unit | None:
    """The unit with this code, whatever the case typed ("cn1" finds CN1, "CN2A" finds cn2a):
    codes are unique regardless of case."""
    code = code.strip()
    exact = (await session.exec(select(Unit).where(Unit.code == code))).first()
    if exact is not None:
        return exact
    query = select(Unit).where(func.lower(col(Unit.code)) == code.lower())
    return (await session.exec(query)).first()


async def by_id(session: AsyncSession, unit_id: int) -> Unit | None:
    return await session.get(Unit, unit_id)


async def list_all(session: AsyncSession) -> list[Unit]:
    """Every unit, active or not, in tree order."""
    return list((await session.exec(select(Unit).order_by(col(Unit.path)))).all())


def depth(unit: Unit) -> int:
    return unit.path.count("/") - 2


async def known_units(session: AsyncSession) -> dict[str, KnownUnit]:
    """Every unit, by code, as an import compares its rows with them."""
    found = await list_all(session)
    code_by_id = {unit.id: unit.code for unit in found}
    return {
        unit.code: KnownUnit(
            unit.code,
            unit.name,
            unit.level,
            code_by_id.get(unit.parent_id) if unit.parent_id else None,
            unit.former_name,
            unit.active,
        )
        for unit in found
    }


async def plan_import(session: AsyncSession, rows: list[UnitRow]) -> ImportPlan:
    """Check parents and cycles against the file and the database, and sort rows into
    created, updated and unchanged (bot/domain/unit_csv.py, `plan_rows`). A plan with errors
    must not be applied."""
    return plan_rows(rows, await known_units(session))


async def apply_import(session: AsyncSession, plan: ImportPlan, *, actor_label: str) -> None:
    """Create or update every unit in the plan, then fix paths. Runs in the caller's
    transaction, so a failure leaves nothing half-imported."""
    if plan.errors:
        raise ValueError("refusing to apply an import plan with errors")
    units = {unit.code: unit for unit in await list_all(session)}
    now = utcnow()
    for row in plan.rows:
        unit = units.get(row.code)
        if unit is None:
            unit = Unit(
                code=row.code,
                name=row.name,
                name_key=name_key(row.name),
                level=row.level,
                former_name=row.former_name,
                path="/",
            )
            session.add(unit)
            units[row.code] = unit
        elif row.code in plan.updated:
            before = {"name": unit.name, "level": unit.level, "parent_id": unit.parent_id}
            if unit.name != row.name:
                # A rename keeps the old name, so pre-2025 names still match.
                unit.former_name = row.former_name or unit.name
            elif row.former_name is not None:
                unit.former_name = row.former_name
            unit.name, unit.name_key, unit.level = row.name, name_key(row.name), row.level
            unit.active, unit.updated_at = True, now
            changed = {"name": unit.name, "level": unit.level, "parent_code": row.parent_code}
            await record(
                session,
                "unit",
                unit.id,
                "import_update",
                before,
                changed,
                unit_id=unit.id,
                actor_label=actor_label,
            )
    await session.flush()
    for row in plan.rows:
        unit = units[row.code]
        unit.parent_id = units[row.parent_code].id if row.parent_code else None
    await session.flush()
    for code in plan.created:
        unit = units[code]
        after: dict[str, Any] = {
            "name": unit.name,
            "level": unit.level,
            "parent_id": unit.parent_id,
        }
        await record(
            session,
            "unit",
            unit.id,
            "import_create",
            None,
            after,
            unit_id=unit.id,
            actor_label=actor_label,
        )
    await rebuild_paths(session)


async def rebuild_paths(session: AsyncSession) -> None:
    """Recompute every unit's "/root/.../id/" path from the parent links."""
    rows = (await session.exec(select(Unit))).all()
    parent_of = {pk(unit): unit.parent_id for unit in rows}
    stored = {pk(unit): unit.path for unit in rows}
    computed: dict[int, str] = {}

    def path_of(unit_id: int) -> str:
        if unit_id not in computed:
            parent_id = parent_of[unit_id]
            prefix = path_of(parent_id) if parent_id is not None else "/"
            computed[unit_id] = f"{prefix}{unit_id}/"
        return computed[unit_id]

    for unit_id in parent_of:
        if path_of(unit_id) != stored[unit_id]:
            await session.exec(
                update(Unit).where(col(Unit.id) == unit_id).values(path=computed[unit_id])
            )
    session.expire_all()


def subtree_ids(unit: Unit) -> SelectOfScalar[int | None]:
    """The ids in `unit`'s subtree, itself included, as a subquery for IN clauses."""
    return select(col(Unit.id)).where(col(Unit.path).startswith(unit.path))
