"""Members: the people who use danvan, each with one role and one unit; who may manage whom
(admins everyone, officials the coordinators of their unit's subtree, nobody themself), the
members of a unit with their last report, and changes of role, unit and active."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, union_all
from sqlalchemy import select as core_select
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.access import ROLE_VALUES, ManageOutcome, Role, grantable_roles, manage_denial
from bot.domain.paging import page_within
from bot.domain.textnorm import nfc
from storage import scope
from storage.audit import record
from storage.models import (
    Activity,
    Invite,
    LandPledge,
    Member,
    MemberChange,
    Unit,
    Workday,
    invite_open_at,
    pk,
    utcnow,
)


async def by_telegram_id(session: AsyncSession, telegram_id: int) -> Member | None:
    return (await session.exec(select(Member).where(Member.telegram_id == telegram_id))).first()


async def roles_of_active(session: AsyncSession, roles: Iterable[str]) -> dict[int, str]:
    """Telegram id → role of every active member with one of `roles`."""
    query = select(Member.telegram_id, Member.role).where(
        col(Member.active).is_(True), col(Member.role).in_(list(roles))
    )
    return {int(chat): role for chat, role in (await session.exec(query)).all()}


async def change_generation(session: AsyncSession) -> int:
    """The member table's change counter (see storage.models.MemberChange)."""
    return (await session.exec(select(MemberChange.generation))).one()


class MemberCache:
    """Members by Telegram id, so that an update need not look its sender up again.

    Looking the sender up was a query on every update; under load, that query and the wait
    for a pooled connection for it cost the bot some two fifths of its throughput. The cache
    is only as old as the last check of the member table's change counter, which the bot
    makes in the transaction that stores each batch of updates it receives (bot/inbox.py):
    when the counter has moved, everything is forgotten before those updates are handled. So
    an update is judged by its sender as they were when it arrived, at the latest: a member
    deactivated by the CLI is refused from the next update on. Before the first check,
    nothing is remembered."""

    def __init__(self) -> None:
        self._generation: int | None = None
        self._members: dict[int, Member] = {}

    def check(self, generation: int | None) -> None:
        """After reading the counter (None: it could not be read)."""
        if generation is None or generation != self._generation:
            self._members.clear()
        self._generation = generation

    @property
    def generation(self) -> int | None:
        return self._generation

    def get(self, telegram_id: int) -> Member | None:
        """A detached copy, to be merged into the session that uses it."""
        return self._members.get(telegram_id) if self._generation is not None else None

    def put(self, member: Member, generation: int | None) -> None:
        """Remember `member`, read when the counter was at `generation`; a member read before
        the counter moved is not kept (it may be what changed)."""
        if generation is None or generation != self._generation:
            return
        copy = Member(**{name: getattr(member, name) for name in _MEMBER_COLUMNS})
        make_transient_to_detached(copy)
        self._members[member.telegram_id] = copy


_MEMBER_COLUMNS = tuple(Member.__table__.columns.keys())  # type: ignore[attr-defined]


async def roots(session: AsyncSession) -> list[Unit]:
    query = select(Unit).where(col(Unit.parent_id).is_(None)).order_by(col(Unit.code))
    return list((await session.exec(query)).all())


async def add_admin(
    session: AsyncSession, telegram_id: int, full_name: str, unit: Unit, *, actor_label: str
) -> tuple[Member, bool]:
    """Make `telegram_id` an admin; returns the member and whether it was newly created."""
    member = await by_telegram_id(session, telegram_id)
    if member is None:
        member = Member(
            telegram_id=telegram_id, full_name=nfc(full_name), role=Role.ADMIN, unit_id=pk(unit)
        )
        session.add(member)
        await session.flush()
        await record(
            session,
            "member",
            member.id,
            "create",
            None,
            {"role": Role.ADMIN, "unit_id": unit.id},
            unit_id=member.unit_id,
            actor_label=actor_label,
        )
        return member, True
    before = {"role": member.role, "unit_id": member.unit_id, "active": member.active}
    member.full_name, member.role, member.unit_id = nfc(full_name), Role.ADMIN, pk(unit)
    member.active, member.updated_at = True, utcnow()
    after = {"role": member.role, "unit_id": member.unit_id, "active": True}
    await record(
        session,
        "member",
        member.id,
        "update",
        before,
        after,
        unit_id=member.unit_id,
        actor_label=actor_label,
    )
    return member, False


# --- who may manage whom ---------------------------------------------------------------------

MEMBER_PAGE_SIZE = 10


async def record_refusal(
    session: AsyncSession,
    actor: Member,
    entity: str,
    entity_id: int | None,
    reason: ManageOutcome,
    action: str,
    now: datetime,
    **detail: Any,
) -> None:
    """Audit a refused request (the `@guarded` decorator does this for a missing role), as
    concerning the actor's own unit: what they were refused is their area's business, not
    the target's."""
    after = {"handler": action, "reason": reason.value, **detail}
    await record(
        session,
        entity,
        entity_id,
        "refused",
        None,
        after,
        unit_id=actor.unit_id,
        actor_id=actor.id,
        at=now,
    )


# --- units to choose from --------------------------------------------------------------------


async def unit_for(
    session: AsyncSession, actor: Member, unit_id: int, *, now: datetime, action: str
) -> tuple[ManageOutcome, Unit | None]:
    """The unit a button names, if it still exists and is in the actor's scope (OK); STALE
    when it is gone; OUT_OF_SCOPE (audited) when it is outside."""
    found = await scope.find_unit(session, actor, unit_id=unit_id, audit_as=action, now=now)
    if found.unit is not None:
        return ManageOutcome.OK, found.unit
    return (ManageOutcome.OUT_OF_SCOPE if found.out_of_scope else ManageOutcome.STALE), None


# --- the members of a unit -------------------------------------------------------------------


@dataclass(frozen=True)
class MemberLine:
    id: int
    full_name: str
    role: str
    phone: str | None
    active: bool
    unit_id: int
    unit_name: str
    unit_code: str
    unit_path: str
    last_report: date | None  # the latest on_date of their live records


@dataclass(frozen=True)
class MembersPage:
    unit: Unit
    lines: list[MemberLine]
    page: int
    pages: int
    total: int
    first_number: int  # the 1-based number of the page's first line


async def last_reports(session: AsyncSession, member_ids: list[int]) -> dict[int, date]:
    """Each member's latest record date (activities, land pledges, workdays; deleted records
    do not count), in one aggregate query."""
    if not member_ids:
        return {}
    branches: list[Any] = [
        core_select(
            col(model.reporter_id).label("reporter_id"), col(model.on_date).label("on_date")
        ).where(col(model.reporter_id).in_(member_ids), col(model.deleted_at).is_(None))
        for model in (Activity, LandPledge, Workday)
    ]
    live = union_all(*branches).subquery("live_records")
    query = select(live.c.reporter_id, func.max(live.c.on_date)).group_by(live.c.reporter_id)
    found: dict[int, date] = {}
    for reporter_id, last in (await session.exec(query)).all():
        found[int(reporter_id)] = last if isinstance(last, date) else date.fromisoformat(last)
    return found


async def members_page(
    session: AsyncSession, unit: Unit, page: int, page_size: int = MEMBER_PAGE_SIZE
) -> MembersPage:
    """One page of the members of `unit`'s subtree (the caller checked that it is in the
    actor's scope): active ones first, by unit, then by name. A page past the end gives the
    last page."""
    where = col(Member.unit_id).in_(scope.units_in(unit.path))
    total = int((await session.exec(select(func.count(col(Member.id))).where(where))).one())
    page, pages = page_within(page, total, page_size)
    query = (
        select(Member, Unit)
        .join(Unit, col(Unit.id) == col(Member.unit_id))
        .where(where)
        .order_by(col(Member.active).desc(), col(Unit.path), col(Member.full_name), col(Member.id))
        .offset(page * page_size)
        .limit(page_size)
    )
    rows = (await session.exec(query)).all()
    last = await last_reports(session, [pk(member) for member, _ in rows])
    lines = [
        MemberLine(
            id=pk(member),
            full_name=member.full_name,
            role=member.role,
            phone=member.phone,
            active=member.active,
            unit_id=pk(member_unit),
            unit_name=member_unit.name,
            unit_code=member_unit.code,
            unit_path=member_unit.path,
            last_report=last.get(pk(member)),
        )
        for member, member_unit in rows
    ]
    return MembersPage(unit, lines, page, pages, total, page * page_size + 1)


# --- changing a member -----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """The outcome of a request about a member, with the member and their unit (after the
    change, if one was made) when they exist."""

    outcome: ManageOutcome
    member: Member | None = None
    unit: Unit | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is ManageOutcome.OK


async def find_target(
    session: AsyncSession, actor: Member, member_id: int, *, now: datetime, action: str
) -> Change:
    """The member a button names, if the actor may manage them (OK); a refusal is audited."""
    member = await session.get(Member, member_id)
    if member is None:
        return Change(ManageOutcome.STALE)
    unit = await session.get(Unit, member.unit_id)
    assert unit is not None
    denial = manage_denial(
        actor_id=actor.id,
        actor_role=actor.role,
        actor_scope=await scope.member_scope(session, actor),
        target_id=member.id,
        target_role=member.role,
        target_unit_path=unit.path,
    )
    if denial is not None:
        await record_refusal(session, actor, "member", member.id, denial, action, now)
        return Change(denial, member, unit)
    return Change(ManageOutcome.OK, member, unit)


async def change_role(
    session: AsyncSession,
    actor: Member,
    member_id: int,
    *,
    expected: str,
    role: str,
    now: datetime,
    apply: bool = True,
) -> Change:
    """Give the member `role`, if they still have `expected` and the actor may give it.
    `apply=False` only checks (for the confirmation question)."""
    found = await find_target(session, actor, member_id, now=now, action="member_role")
    if not found.ok:
        return found
    member = found.member
    assert member is not None
    if role not in ROLE_VALUES or member.role != expected or role == expected:
        return Change(ManageOutcome.STALE, member, found.unit)
    if Role(role) not in grantable_roles(actor.role):
        await record_refusal(
            session, actor, "member", member.id, ManageOutcome.ROLE, "member_role", now, role=role
        )
        return Change(ManageOutcome.ROLE, member, found.unit)
    if apply:
        member.role, member.updated_at = role, now
        await record(
            session,
            "member",
            member.id,
            "update",
            {"role": expected},
            {"role": role},
            unit_id=member.unit_id,
            actor_id=actor.id,
            at=now,
        )
        await _withdraw_invites_of(session, member, grantable_roles(role), actor, now)
    return found


async def change_unit(
    session: AsyncSession,
    actor: Member,
    member_id: int,
    *,
    expected_unit_id: int,
    unit_id: int,
    now: datetime,
    apply: bool = True,
) -> Change:
    """Move the member to the active unit `unit_id` in the actor's scope, if they are still
    in `expected_unit_id`. `apply=False` only checks. The member's records stay where they
    were logged."""
    found = await find_target(session, actor, member_id, now=now, action="member_unit")
    if not found.ok:
        return found
    member = found.member
    assert member is not None
    if member.unit_id != expected_unit_id or unit_id == expected_unit_id:
        return Change(ManageOutcome.STALE, member, found.unit)
    outcome, unit = await unit_for(session, actor, unit_id, now=now, action="member_unit")
    if unit is None or not unit.active:
        return Change(outcome if unit is None else ManageOutcome.STALE, member, found.unit)
    if apply:
        member.unit_id, member.updated_at = pk(unit), now
        await record(
            session,
            "member",
            member.id,
            "update",
            {"unit_id": expected_unit_id},
            {"unit_id": unit.id},
            unit_id=member.unit_id,
            actor_id=actor.id,
            at=now,
        )
    return Change(ManageOutcome.OK, member, unit)


async def set_active(
    session: AsyncSession,
    actor: Member,
    member_id: int,
    *,
    active: bool,
    now: datetime,
    apply: bool = True,
) -> Change:
    """Deactivate (or reactivate) the member. A deactivated member is refused everywhere by
    bot.access.check; their records stay and keep counting. `apply=False` only checks."""
    action = "member_reactivate" if active else "member_deactivate"
    found = await find_target(session, actor, member_id, now=now, action=action)
    if not found.ok:
        return found
    member = found.member
    assert member is not None
    if member.active == active:
        return Change(ManageOutcome.STALE, member, found.unit)
    if apply:
        member.active, member.updated_at = active, now
        await record(
            session,
            "member",
            member.id,
            "reactivate" if active else "deactivate",
            {"active": not active},
            {"active": active},
            unit_id=member.unit_id,
            actor_id=actor.id,
            at=now,
        )
        if not active:
            await _withdraw_invites_of(session, member, [], actor, now)
    return found


async def _withdraw_invites_of(
    session: AsyncSession,
    member: Member,
    still_grantable: list[Role],
    actor: Member,
    now: datetime,
) -> None:
    """Withdraw the open invites `member` made for roles they may no longer give (deactivated:
    all): an invite carries its maker's authority, and must not outlive it."""
    query = select(Invite).where(
        col(Invite.created_by) == pk(member),
        col(Invite.role).not_in([role.value for role in still_grantable]),
        *invite_open_at(now),
    )
    for invite in (await session.exec(query)).all():
        await withdraw_invite(
            session, invite, now, reason="maker_lost_the_right", actor_id=actor.id
        )


async def withdraw_invite(
    session: AsyncSession,
    invite: Invite,
    now: datetime,
    *,
    reason: str | None = None,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> None:
    """Withdraw the invite, with its audit event. Here rather than in storage.invites, which
    builds on this module, because members and units withdraw invites too."""
    invite.revoked_at = now
    after: dict[str, Any] = {"revoked_at": now.isoformat()}
    if reason is not None:
        after["reason"] = reason
    await record(
        session,
        "invite",
        invite.id,
        "revoke",
        {"revoked_at": None},
        after,
        unit_id=invite.unit_id,
        actor_id=actor_id,
        actor_label=actor_label,
        at=now,
    )
