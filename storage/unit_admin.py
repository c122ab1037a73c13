"""Changing the tree of units: add, rename, move, deactivate and merge, each checked first and
audited, shared by the chat (/donvi) and the command line (`danvan units ...`). No Telegram.

Rules:

* a code is unique (also ignoring case, as people type it) and uses only A-Z, 0-9, "-", "_"
  and "."; a name is at most 200 characters, a level at most 50;
* a rename keeps the old name in `former_name`, so pre-reform names still match;
* a unit cannot be moved under itself or under one of its own units (a cycle), nor merged into
  itself or into one of its own units; the paths of the moved subtree are rebuilt;
* deactivating a unit needs every unit under it to be inactive already (moved, merged or
  deactivated); its active members are deactivated with it, so they can no longer log, and its
  open invites are withdrawn. Its records stay, and still count for the units above it;
* merging moves everything of the source to the target: records of every kind (also deleted
  ones), members, invites, the units under it and its own schedule (when the target has its
  own, the target keeps it and the source's is written to the audit event). The source becomes
  inactive; its "merge" audit event is the note saying where everything went.

Problems raise `UnitAdminError(problem, details)` (bot/domain/units.py, which words them).
Everything runs in the caller's transaction: a failure leaves nothing half-done.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.units import (
    Problem,
    UnitAdminError,
    check_code_free,
    check_merge,
    check_move,
    check_parent,
    check_rename,
    clean_code,
    clean_level,
    clean_name,
)
from storage.audit import record
from storage.members import withdraw_invite
from storage.models import (
    Activity,
    AuditEvent,
    Invite,
    LandPledge,
    Member,
    NilReport,
    Schedule,
    Unit,
    Workday,
    pk,
)
from storage.records import tidy_nil_reports
from storage.units import name_key, rebuild_paths

# The tables whose rows belong to a unit and move with it in a merge, by table name.
RECORD_MODELS: dict[str, type[Activity] | type[LandPledge] | type[Workday] | type[NilReport]] = {
    "activity": Activity,
    "land_pledge": LandPledge,
    "workday": Workday,
    "nil_report": NilReport,
}


# --- reading ------------------------------------------------------------------------------------


def tree_order(units: list[Unit]) -> list[Unit]:
    """Depth first, children in the order they were made (by id); units whose parent is not
    in `units` start a tree of their own (e.g. an official's own unit)."""
    ids = {pk(unit) for unit in units}
    children: dict[int | None, list[Unit]] = defaultdict(list)
    for unit in sorted(units, key=pk):
        children[unit.parent_id if unit.parent_id in ids else None].append(unit)
    ordered: list[Unit] = []
    stack = list(reversed(children[None]))
    while stack:
        unit = stack.pop()
        ordered.append(unit)
        stack.extend(reversed(children[pk(unit)]))
    return ordered


async def tree(session: AsyncSession, scope: str | None) -> list[Unit]:
    """The units in scope (a unit path prefix; None: all), inactive ones too, in tree order."""
    query = select(Unit)
    if scope is not None:
        query = query.where(col(Unit.path).startswith(scope))
    return tree_order(list((await session.exec(query)).all()))


def relative_depth(unit: Unit, units: list[Unit]) -> int:
    """How deep `unit` sits below the shallowest of `units`."""
    top = min((other.path.count("/") for other in units), default=unit.path.count("/"))
    return unit.path.count("/") - top


def move_choices(unit: Unit, units: list[Unit]) -> list[Unit]:
    """Those of `units` that `unit` may be moved under: active, outside its own subtree, other
    than its parent."""
    return [
        other
        for other in units
        if other.active and not other.path.startswith(unit.path) and other.id != unit.parent_id
    ]


def merge_choices(source: Unit, units: list[Unit]) -> list[Unit]:
    """Those of `units` that `source` may be merged into: active, outside its own subtree."""
    return [other for other in units if other.active and not other.path.startswith(source.path)]


async def common_levels(session: AsyncSession, parent: Unit, limit: int = 6) -> list[str]:
    """Level labels to offer for a new unit under `parent`: those of its units first, then the
    most used ones."""
    siblings = (await session.exec(select(Unit.level).where(Unit.parent_id == pk(parent)))).all()
    counted = (
        await session.exec(
            select(Unit.level).group_by(col(Unit.level)).order_by(func.count().desc(), Unit.level)
        )
    ).all()
    levels = list(dict.fromkeys([*sorted(set(siblings)), *counted]))
    return levels[:limit]


@dataclass(frozen=True)
class Summary:
    """What is in and under a unit, for its card."""

    children: int
    subtree: int  # units under it, at any depth
    members: int  # active members of the unit itself
    records: dict[str, int]  # rows of the unit itself per table, deleted ones left out


async def summary(session: AsyncSession, unit: Unit) -> Summary:
    unit_id = pk(unit)
    children = await _count(
        session, select(func.count()).select_from(Unit).where(Unit.parent_id == unit_id)
    )
    subtree = await _count(
        session,
        select(func.count()).select_from(Unit).where(col(Unit.path).startswith(unit.path)),
    )
    members = await _count(
        session,
        select(func.count())
        .select_from(Member)
        .where(Member.unit_id == unit_id, col(Member.active).is_(True)),
    )
    records = {
        name: await _count(
            session,
            select(func.count())
            .select_from(model)
            .where(model.unit_id == unit_id, col(model.deleted_at).is_(None)),
        )
        for name, model in RECORD_MODELS.items()
    }
    return Summary(children, subtree - 1, members, records)


@dataclass(frozen=True)
class MergeNote:
    into_code: str
    into_name: str
    at: datetime


async def merge_note(session: AsyncSession, unit: Unit) -> MergeNote | None:
    """Where a merged unit went, from its latest "merge" audit event."""
    event = (
        await session.exec(
            select(AuditEvent)
            .where(
                AuditEvent.entity == "unit",
                AuditEvent.entity_id == pk(unit),
                AuditEvent.action == "merge",
            )
            .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        )
    ).first()
    if event is None or not event.after:
        return None
    return MergeNote(
        str(event.after.get("into_code", "")), str(event.after.get("into_name", "")), event.at
    )


async def _count(session: AsyncSession, query: Any) -> int:
    return int((await session.exec(query)).one())


# --- checking typed values ----------------------------------------------------------------------
# The pure rules (codes, names, levels, renames, moves and merges) are bot/domain/units.py's, so
# that the chat's steps refuse a bad answer with the same words; here, what needs the database.


async def code_taken(session: AsyncSession, code: str) -> str | None:
    """The code of the unit that already has `code`, ignoring case ("cn1" is taken when CN1
    exists), if one has."""
    taken: str | None = (
        await session.exec(select(Unit.code).where(func.lower(Unit.code) == code.lower()))
    ).first()
    return taken


async def taken_codes(session: AsyncSession) -> dict[str, str]:
    """Every unit's code, lower-cased, to the code as stored: what a new code must not be."""
    return {code.lower(): code for code in (await session.exec(select(Unit.code))).all()}


async def check_new_code(session: AsyncSession, text: str) -> str:
    """A valid code that no unit has yet, ignoring case."""
    code = clean_code(text)
    check_code_free(await code_taken(session, code))
    return code


# --- changing -----------------------------------------------------------------------------------


async def add_unit(
    session: AsyncSession,
    parent: Unit,
    *,
    code: str,
    name: str,
    level: str,
    now: datetime,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> Unit:
    """A new active unit under `parent`."""
    check_parent(parent)
    code = await check_new_code(session, code)
    unit = Unit(
        code=code,
        name=clean_name(name),
        name_key="",
        level=clean_level(level),
        parent_id=pk(parent),
        path="/",
        created_at=now,
        updated_at=now,
    )
    unit.name_key = name_key(unit.name)
    session.add(unit)
    await session.flush()
    unit.path = f"{parent.path}{pk(unit)}/"
    after = {"code": code, "name": unit.name, "level": unit.level, "parent_id": unit.parent_id}
    await record(
        session,
        "unit",
        unit.id,
        "create",
        None,
        after,
        unit_id=unit.id,
        actor_id=actor_id,
        actor_label=actor_label,
        at=now,
    )
    await session.flush()
    return unit


@dataclass(frozen=True)
class Renamed:
    code: str
    old: str
    new: str


async def rename(
    session: AsyncSession,
    unit: Unit,
    text: str,
    *,
    now: datetime,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> Renamed:
    """A new name; the old one becomes the former name, so it still matches."""
    name = check_rename(unit, text)
    before = {"name": unit.name, "former_name": unit.former_name}
    unit.former_name, unit.name, unit.name_key = unit.name, name, name_key(name)
    unit.updated_at = now
    after = {"name": unit.name, "former_name": unit.former_name}
    await record(
        session,
        "unit",
        unit.id,
        "rename",
        before,
        after,
        unit_id=unit.id,
        actor_id=actor_id,
        actor_label=actor_label,
        at=now,
    )
    await session.flush()
    return Renamed(unit.code, before["name"] or "", name)


@dataclass(frozen=True)
class Moved:
    code: str
    old_parent: str | None  # code
    new_parent: str  # code
    units: int  # the unit and every unit under it


async def move(
    session: AsyncSession,
    unit: Unit,
    parent: Unit,
    *,
    now: datetime,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> Moved:
    """Put `unit`, with everything under it, under `parent`, and rebuild the paths."""
    check_move(unit, parent)
    old_parent = await session.get(Unit, unit.parent_id) if unit.parent_id else None
    moved = Moved(
        unit.code,
        old_parent.code if old_parent else None,
        parent.code,
        await _count(
            session,
            select(func.count()).select_from(Unit).where(col(Unit.path).startswith(unit.path)),
        ),
    )
    unit_id, parent_id = pk(unit), pk(parent)
    before = {"parent_id": unit.parent_id, "path": unit.path}
    unit.parent_id, unit.updated_at = parent_id, now
    await session.flush()
    await rebuild_paths(session)  # expires every loaded row
    new_path = (await session.exec(select(Unit.path).where(Unit.id == unit_id))).one()
    after = {"parent_id": parent_id, "path": new_path}
    await record(
        session,
        "unit",
        unit_id,
        "move",
        before,
        after,
        unit_id=unit_id,
        actor_id=actor_id,
        actor_label=actor_label,
        at=now,
    )
    await session.flush()
    return moved


@dataclass(frozen=True)
class Deactivation:
    code: str
    members: list[int] = field(default_factory=list)  # member ids deactivated with the unit
    invites: list[int] = field(default_factory=list)  # open invites withdrawn


async def plan_deactivation(
    session: AsyncSession, unit: Unit, *, now: datetime, actor_unit_id: int | None = None
) -> Deactivation:
    """What deactivating `unit` would do; raises when it must not be deactivated."""
    if not unit.active:
        raise UnitAdminError(Problem.ALREADY_INACTIVE, code=unit.code)
    if actor_unit_id is not None and actor_unit_id == pk(unit):
        raise UnitAdminError(Problem.OWN_UNIT, code=unit.code)
    active_below = await _count(
        session,
        select(func.count())
        .select_from(Unit)
        .where(
            col(Unit.path).startswith(unit.path),
            Unit.id != pk(unit),
            col(Unit.active).is_(True),
        ),
    )
    if active_below:
        raise UnitAdminError(Problem.HAS_ACTIVE_UNITS, code=unit.code, count=str(active_below))
    members = (
        await session.exec(
            select(Member.id).where(Member.unit_id == pk(unit), col(Member.active).is_(True))
        )
    ).all()
    invites = (
        await session.exec(
            select(Invite.id).where(
                Invite.unit_id == pk(unit),
                col(Invite.revoked_at).is_(None),
                Invite.expires_at > now,
                col(Invite.uses) < col(Invite.max_uses),
            )
        )
    ).all()
    return Deactivation(
        unit.code,
        sorted(member_id for member_id in members if member_id is not None),
        sorted(invite_id for invite_id in invites if invite_id is not None),
    )


async def deactivate(
    session: AsyncSession,
    unit: Unit,
    *,
    now: datetime,
    actor_id: int | None = None,
    actor_unit_id: int | None = None,
    actor_label: str | None = None,
) -> Deactivation:
    """Mark `unit` inactive, deactivate its members and withdraw its open invites."""
    plan = await plan_deactivation(session, unit, now=now, actor_unit_id=actor_unit_id)
    audit: dict[str, Any] = {"actor_id": actor_id, "actor_label": actor_label, "at": now}
    for member_id in plan.members:
        member = await session.get(Member, member_id)
        assert member is not None
        member.active, member.updated_at = False, now
        after = {"active": False, "reason": "unit_deactivated", "unit_id": unit.id}
        await record(
            session,
            "member",
            member_id,
            "deactivate",
            {"active": True},
            after,
            unit_id=member.unit_id,
            **audit,
        )
    for invite_id in plan.invites:
        invite = await session.get(Invite, invite_id)
        assert invite is not None
        await withdraw_invite(
            session,
            invite,
            now,
            reason="unit_deactivated",
            actor_id=actor_id,
            actor_label=actor_label,
        )
    unit.active, unit.updated_at = False, now
    after = {"active": False, "members": plan.members, "invites": plan.invites}
    await record(
        session, "unit", unit.id, "deactivate", {"active": True}, after, unit_id=unit.id, **audit
    )
    await session.flush()
    return plan


@dataclass(frozen=True)
class Merge:
    """What a merge moves (or moved) from `source` to `target`, as ids per kind."""

    source: str  # code
    target: str  # code
    records: dict[str, list[int]]  # table name -> ids, deleted rows too
    members: list[int]
    invites: list[int]
    children: list[int]  # units directly under the source
    schedule: str  # "none", "moved" (to the target), or "dropped" (the target keeps its own)

    @property
    def record_count(self) -> int:
        return sum(len(ids) for ids in self.records.values())

    def counts(self) -> dict[str, int]:
        return {
            **{name: len(ids) for name, ids in self.records.items()},
            "members": len(self.members),
            "invites": len(self.invites),
            "units": len(self.children),
        }


async def plan_merge(session: AsyncSession, source: Unit, target: Unit) -> Merge:
    """What merging `source` into `target` would move; raises when it must not be done."""
    check_merge(source, target)
    source_id = pk(source)

    async def ids(query: Any) -> list[int]:
        return sorted(value for value in (await session.exec(query)).all() if value is not None)

    records = {
        name: await ids(select(model.id).where(model.unit_id == source_id))
        for name, model in RECORD_MODELS.items()
    }
    schedule = "none"
    if await session.get(Schedule, source_id) is not None:
        schedule = "dropped" if await session.get(Schedule, pk(target)) else "moved"
    return Merge(
        source=source.code,
        target=target.code,
        records=records,
        members=await ids(select(Member.id).where(Member.unit_id == source_id)),
        invites=await ids(select(Invite.id).where(Invite.unit_id == source_id)),
        children=await ids(select(Unit.id).where(Unit.parent_id == source_id)),
        schedule=schedule,
    )


async def merge(
    session: AsyncSession,
    source: Unit,
    target: Unit,
    *,
    now: datetime,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> Merge:
    """Move everything of `source` to `target`, then make `source` inactive. Nothing is
    deleted except a source schedule the target overrides (kept in the audit event), and
    "nothing to report" of a week the target has a record or one already in (superseded)."""
    plan = await plan_merge(session, source, target)
    source_id, target_id = pk(source), pk(target)
    audit: dict[str, Any] = {"actor_id": actor_id, "actor_label": actor_label, "at": now}
    for name, model in RECORD_MODELS.items():
        if plan.records[name]:
            await session.exec(
                update(model).where(col(model.unit_id) == source_id).values(unit_id=target_id)
            )
    if plan.records["nil_report"]:
        await tidy_nil_reports(session, target_id, now)
    for member_id in plan.members:
        member = await session.get(Member, member_id)
        assert member is not None
        member.unit_id, member.updated_at = target_id, now
        moved_to = {"unit_id": target_id, "reason": "unit_merged"}
        await record(
            session,
            "member",
            member_id,
            "move",
            {"unit_id": source_id},
            moved_to,
            unit_id=target_id,
            **audit,
        )
    if plan.invites:
        await session.exec(
            update(Invite).where(col(Invite.unit_id) == source_id).values(unit_id=target_id)
        )
    if plan.children:
        await session.exec(
            update(Unit).where(col(Unit.parent_id) == source_id).values(parent_id=target_id)
        )
    source_schedule = await session.get(Schedule, source_id)
    schedule_values = None
    if source_schedule is not None:
        schedule_values = {
            key: (value.isoformat() if hasattr(value, "isoformat") else value)
            for key, value in source_schedule.model_dump().items()
        }
        kept = source_schedule.model_dump(exclude={"unit_id"})
        await session.delete(source_schedule)
        await session.flush()
        if plan.schedule == "moved":
            session.add(Schedule(**{**kept, "unit_id": target_id}))
    before: dict[str, Any] = {
        "active": source.active,
        "parent_id": source.parent_id,
        "schedule": schedule_values,
    }
    after: dict[str, Any] = {
        "active": False,
        "into_id": target_id,
        "into_code": target.code,
        "into_name": target.name,
        "records": plan.records,
        "members": plan.members,
        "invites": plan.invites,
        "children": plan.children,
        "schedule": plan.schedule,
    }
    source.active, source.updated_at = False, now
    await record(session, "unit", source_id, "merge", before, after, unit_id=source_id, **audit)
    into = {"from_id": source_id, "from_code": source.code, **plan.counts()}
    await record(session, "unit", target_id, "merge_from", None, into, unit_id=target_id, **audit)
    await session.flush()
    if plan.children:
        await rebuild_paths(session)  # expires every loaded row
    return plan
