"""`danvan invite list | revoke`, `danvan members ...`, `danvan schedule show | set` and
`danvan audit`: the chat's admin operations, for scripts.

bot/cli.py adds these with `register(commands, invite)`, where `invite` is its `invite`
subcommands. The rules live in storage/ (invites, members, schedules, audit), shared with the
chat. Those functions take an acting Member; the CLI acts as an admin that is nobody: a
transient Member (never saved) with the admin role and no id, so nothing counts as "your own
account", and every audit event the command adds without an actor is labelled "cli", as the
other commands' events are.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import event
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli import common as base
from bot.domain.access import ManageOutcome, Role
from bot.domain.formatting import format_date, format_datetime
from bot.domain.i18n import N_, Translator
from bot.domain.periods import WEEKDAYS
from bot.domain.schedule import FIELDS
from bot.settings import Settings
from storage import audit, invites, members, schedules, scope
from storage.engine import Database
from storage.models import AuditEvent, Invite, Member, Unit, pk

PAGE = 500  # rows fetched per query when listing everything
DEFAULT_AUDIT_LIMIT = 20
INHERIT = "inherit"


class Refused(Exception):
    """Nothing was done; the message says why (one line)."""


# --- running a command ---------------------------------------------------------------------------

Work = Callable[[AsyncSession, datetime], Coroutine[Any, Any, Any]]


def _label_cli_events(session: AsyncSession) -> None:
    def before_flush(sync_session: Any, _context: Any, _instances: Any) -> None:
        for obj in sync_session.new:
            if isinstance(obj, AuditEvent) and obj.actor_id is None and obj.actor_label is None:
                obj.actor_label = base.CLI_ACTOR

    event.listen(session.sync_session, "before_flush", before_flush)


def _run(
    settings: Settings,
    args: argparse.Namespace,
    work: Work,
    show: Callable[[Any], object],
    say: Callable[[Any], list[str]],
) -> int:
    """Do `work` in one transaction; print `show(result)` as JSON (--json) or the lines `say`
    gives. A Refused changes nothing and prints one line on stderr (with --json: a JSON object
    on stdout); the exit status is then 1."""

    async def run(db: Database) -> int:
        try:
            async with db.session() as session:
                _label_cli_events(session)
                result = await work(session, datetime.now(UTC))
        except Refused as refused:
            if args.json:
                base.print_json({"ok": False, "message": str(refused)})
            else:
                # Printed here rather than raised as bot.cli.CliError: under `python -m
                # bot.cli` that class is __main__'s, not the one this module would import.
                print(f"danvan: {refused}", file=sys.stderr)
            return base.EXIT_ERROR
        if args.json:
            base.print_json(show(result))
        else:
            for line in say(result):
                print(line)
        return 0

    return asyncio.run(base.with_db(settings, run))


def cli_actor(unit_id: int) -> Member:
    """The acting admin for storage functions: never added to the session. `unit_id` must be
    an existing unit (storage reads the actor's unit), any one will do for an admin."""
    return Member(telegram_id=0, full_name=base.CLI_ACTOR, role=Role.ADMIN, unit_id=unit_id)


async def _unit(session: AsyncSession, t: Translator, code: str) -> Unit:
    unit = (await scope.find_unit(session, None, code=code)).unit
    if unit is not None:
        return unit
    raise Refused(t._("There is no unit with code {code}.", code=code))


async def _member(session: AsyncSession, t: Translator, telegram_id: int) -> Member:
    member = await members.by_telegram_id(session, telegram_id)
    if member is None:
        raise Refused(t._("There is no member with Telegram id {id}.", id=telegram_id))
    return member


def _role(t: Translator, role: str) -> str:
    return t._(role)


# --- invites -------------------------------------------------------------------------------------


def cmd_invite_list(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> list[invites.OpenInvite]:
        if args.unit:
            # An official of the unit sees its subtree's invites.
            unit = await _unit(session, t, args.unit)
            actor = Member(
                telegram_id=0, full_name=base.CLI_ACTOR, role=Role.OFFICIAL, unit_id=pk(unit)
            )
        else:
            first = (await session.exec(select(Unit).limit(1))).first()
            if first is None:
                return []
            actor = cli_actor(pk(first))
        found: list[invites.OpenInvite] = []
        page = 0
        while True:
            result = await invites.open_invites(session, actor, now, page, PAGE)
            found += result.invites
            if page >= result.pages - 1:
                return found
            page += 1

    def show(found: list[invites.OpenInvite]) -> object:
        return [
            {
                "code": i.code,
                "role": i.role,
                "unit": i.unit_code,
                "uses": i.uses,
                "max_uses": i.max_uses,
                "uses_left": i.uses_left,
                "expires_at": i.expires_at.isoformat(),
            }
            for i in found
        ]

    def say(found: list[invites.OpenInvite]) -> list[str]:
        if not found:
            return [t._("No open invites.")]
        return [
            t._(
                "{code}  {role} of {unit} ({unit_code}): {left} of {uses} use(s) left, "
                "valid until {expires}",
                code=i.code,
                role=_role(t, i.role),
                unit=i.unit_name,
                unit_code=i.unit_code,
                left=i.uses_left,
                uses=i.max_uses,
                expires=format_datetime(i.expires_at, settings.tz),
            )
            for i in found
        ]

    return _run(settings, args, work, show, say)


def cmd_invite_revoke(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    code = invites.normalize_code(args.code)

    async def work(session: AsyncSession, now: datetime) -> Invite:
        invite = (await session.exec(select(Invite).where(Invite.code == code))).first()
        if invite is None:
            raise Refused(t._("There is no invite with code {code}.", code=code))
        done = await invites.revoke(session, cli_actor(invite.unit_id), pk(invite), now=now)
        if done.outcome is not ManageOutcome.OK:
            raise Refused(t._("Invite {code} was already withdrawn.", code=code))
        return invite

    def show(invite: Invite) -> object:
        revoked = invite.revoked_at.isoformat() if invite.revoked_at else None
        return {"ok": True, "code": invite.code, "revoked_at": revoked}

    def say(invite: Invite) -> list[str]:
        return [
            t._(
                "Invite {code} is withdrawn; people who already joined with it stay.",
                code=invite.code,
            )
        ]

    return _run(settings, args, work, show, say)


# --- members -------------------------------------------------------------------------------------


def cmd_members_list(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(
        session: AsyncSession, now: datetime
    ) -> tuple[Unit, list[tuple[members.MemberLine, int]]]:
        unit = await _unit(session, t, args.unit)
        lines: list[members.MemberLine] = []
        page = 0
        while True:
            result = await members.members_page(session, unit, page, PAGE)
            lines += result.lines
            if page >= result.pages - 1:
                break
            page += 1
        ids = [line.id for line in lines]
        telegram_ids: dict[int, int] = {}
        for start in range(0, len(ids), PAGE):
            query = select(Member.id, Member.telegram_id).where(
                col(Member.id).in_(ids[start : start + PAGE])
            )
            rows = (await session.exec(query)).all()
            telegram_ids.update({i: tg for i, tg in rows if i is not None})
        return unit, [(line, telegram_ids[line.id]) for line in lines]

    def show(result: tuple[Unit, list[tuple[members.MemberLine, int]]]) -> object:
        return [
            {
                "telegram_id": telegram_id,
                "name": line.full_name,
                "role": line.role,
                "phone": line.phone,
                "unit": line.unit_code,
                "active": line.active,
                "last_report": line.last_report.isoformat() if line.last_report else None,
            }
            for line, telegram_id in result[1]
        ]

    def say(result: tuple[Unit, list[tuple[members.MemberLine, int]]]) -> list[str]:
        unit, found = result
        if not found:
            return [t._("{unit} has no members.", unit=unit.name)]
        out = []
        for line, telegram_id in found:
            last: date | None = line.last_report
            text = "  ".join(
                (
                    str(telegram_id),
                    line.full_name,
                    _role(t, line.role),
                    line.unit_code,
                    line.phone or t._("no phone"),
                    t._("last report {date}", date=format_date(last))
                    if last
                    else t._("no reports yet"),
                )
            )
            if not line.active:
                text += "  " + t._("[inactive]")
            out.append(text)
        return out

    return _run(settings, args, work, show, say)


def _member_json(member: Member, unit: Unit | None) -> dict[str, Any]:
    return {
        "ok": True,
        "telegram_id": member.telegram_id,
        "name": member.full_name,
        "role": member.role,
        "unit": unit.code if unit else None,
        "active": member.active,
    }


def cmd_members_set_role(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> members.Change:
        member = await _member(session, t, args.telegram_id)
        if member.role == args.role:
            raise Refused(
                t._(
                    "{name} ({id}) is already a {role}.",
                    name=member.full_name,
                    id=member.telegram_id,
                    role=_role(t, args.role),
                )
            )
        done = await members.change_role(
            session,
            cli_actor(member.unit_id),
            pk(member),
            expected=member.role,
            role=args.role,
            now=now,
        )
        assert done.ok, done.outcome
        return done

    def say(done: members.Change) -> list[str]:
        assert done.member is not None
        return [
            t._(
                "{name} ({id}) is now a {role}.",
                name=done.member.full_name,
                id=done.member.telegram_id,
                role=_role(t, done.member.role),
            )
        ]

    return _run(settings, args, work, _change_json, say)


def _change_json(done: members.Change) -> object:
    assert done.member is not None
    return _member_json(done.member, done.unit)


def cmd_members_move(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> members.Change:
        member = await _member(session, t, args.telegram_id)
        unit = await _unit(session, t, args.unit)
        if not unit.active:
            raise Refused(t._("Unit {code} is inactive.", code=unit.code))
        if member.unit_id == unit.id:
            raise Refused(
                t._(
                    "{name} ({id}) is already in {unit}.",
                    name=member.full_name,
                    id=member.telegram_id,
                    unit=unit.name,
                )
            )
        done = await members.change_unit(
            session,
            cli_actor(member.unit_id),
            pk(member),
            expected_unit_id=member.unit_id,
            unit_id=pk(unit),
            now=now,
        )
        assert done.ok, done.outcome
        return done

    def say(done: members.Change) -> list[str]:
        assert done.member is not None and done.unit is not None
        return [
            t._(
                "{name} ({id}) is now in {unit}; their records stay where they were logged.",
                name=done.member.full_name,
                id=done.member.telegram_id,
                unit=done.unit.name,
            )
        ]

    return _run(settings, args, work, _change_json, say)


def _set_active(settings: Settings, t: Translator, args: argparse.Namespace, active: bool) -> int:
    async def work(session: AsyncSession, now: datetime) -> members.Change:
        member = await _member(session, t, args.telegram_id)
        if member.active == active:
            already = (
                N_("{name} ({id}) is already active.")
                if active
                else N_("{name} ({id}) is already inactive.")
            )
            raise Refused(t._(already, name=member.full_name, id=member.telegram_id))
        done = await members.set_active(
            session, cli_actor(member.unit_id), pk(member), active=active, now=now
        )
        assert done.ok, done.outcome
        return done

    def say(done: members.Change) -> list[str]:
        assert done.member is not None
        text = (
            N_("{name} ({id}) is active again.")
            if active
            else N_("{name} ({id}) is deactivated; their records are kept.")
        )
        return [t._(text, name=done.member.full_name, id=done.member.telegram_id)]

    return _run(settings, args, work, _change_json, say)


def cmd_members_deactivate(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    return _set_active(settings, t, args, active=False)


def cmd_members_activate(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    return _set_active(settings, t, args, active=True)


# --- schedules -----------------------------------------------------------------------------------


def _value_json(value: object) -> object:
    return value.strftime("%H:%M") if isinstance(value, time) else value


def _value_text(t: Translator, name: str, value: object) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if name.endswith("_weekday") and isinstance(value, int):
        return t._(WEEKDAYS[value])
    if name.endswith("_day"):
        return t._("day {day} of the month", day=value)
    return str(value)


def parse_value(t: Translator, name: str, text: str) -> object:
    """The value typed for schedule field `name`; None for "inherit"."""
    text = text.strip()
    if text.lower() == INHERIT:
        return None
    if name.endswith("_weekday"):
        if text.isdigit() and 0 <= int(text) <= 6:
            return int(text)
        raise Refused(t._("{field} must be a weekday from 0 (Monday) to 6 (Sunday).", field=name))
    if name.endswith("_day"):
        if text.isdigit() and 1 <= int(text) <= 28:
            return int(text)
        raise Refused(t._("{field} must be a day of the month from 1 to 28.", field=name))
    if name.endswith("_time"):
        hours, _, minutes = text.partition(":")
        if (
            hours.isdigit()
            and minutes.isdigit()
            and len(minutes) == 2
            and int(hours) <= 23
            and int(minutes) <= 59
        ):
            return time(int(hours), int(minutes))
        raise Refused(t._("{field} must be a time like 16:00.", field=name))
    raise Refused(t._("Unknown schedule field {field}.", field=name))


async def _schedule_of(session: AsyncSession, unit: Unit) -> list[dict[str, Any]]:
    """Each field's effective value, and where it comes from: the code of the unit that sets
    it (the unit itself or an ancestor), or None for the default."""
    times = (await schedules.effective_times(session))[pk(unit)]
    chain: list[tuple[str, dict[str, Any] | None]] = []
    current: Unit | None = unit
    while current is not None:
        chain.append((current.code, await schedules.own_times(session, pk(current))))
        current = await session.get(Unit, current.parent_id) if current.parent_id else None
    rows = []
    for name in FIELDS:
        source = next((code for code, own in chain if own and own.get(name) is not None), None)
        rows.append(
            {"field": name, "value": times[name], "own": source == unit.code, "from": source}
        )
    return rows


def _schedule_json(result: tuple[Unit, list[dict[str, Any]]]) -> object:
    unit, rows = result
    return {
        "unit": unit.code,
        "times": [row | {"value": _value_json(row["value"])} for row in rows],
    }


def _schedule_lines(
    t: Translator, unit: Unit, rows: list[dict[str, Any]], header: str
) -> list[str]:
    out = [header]
    for row in rows:
        if row["own"]:
            source = t._("own")
        elif row["from"]:
            source = t._("inherited from {code}", code=row["from"])
        else:
            source = t._("default")
        value = _value_text(t, row["field"], row["value"])
        out.append(f"  {row['field']}: {value}  ({source})")
    return out


def cmd_schedule_show(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> tuple[Unit, list[dict[str, Any]]]:
        unit = await _unit(session, t, args.unit)
        return unit, await _schedule_of(session, unit)

    def say(result: tuple[Unit, list[dict[str, Any]]]) -> list[str]:
        unit, rows = result
        header = t._("Reminder times of {unit} ({code}):", unit=unit.name, code=unit.code)
        return _schedule_lines(t, unit, rows, header)

    return _run(settings, args, work, _schedule_json, say)


def cmd_schedule_set(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> tuple[Unit, list[dict[str, Any]]]:
        value = parse_value(t, args.field, args.value)
        unit = await _unit(session, t, args.unit)
        if not unit.active:
            raise Refused(t._("Unit {code} is inactive.", code=unit.code))
        await schedules.set_times(session, pk(unit), {args.field: value}, actor_id=None)
        await session.flush()
        return unit, await _schedule_of(session, unit)

    def say(result: tuple[Unit, list[dict[str, Any]]]) -> list[str]:
        unit, rows = result
        header = t._("{code}: {field} is changed.", code=unit.code, field=args.field)
        return _schedule_lines(t, unit, rows, header)

    return _run(settings, args, work, _schedule_json, say)


# --- audit ---------------------------------------------------------------------------------------


def cmd_audit(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> list[audit.LogLine]:
        return (await audit.events_in_scope(session, None, 0, args.limit)).lines

    def show(lines: list[audit.LogLine]) -> object:
        return [
            {
                "id": line.id,
                "at": line.at.isoformat(),
                "actor": line.actor,
                "entity": line.entity,
                "entity_id": line.entity_id,
                "unit": line.unit_code,
                "action": line.action,
            }
            for line in lines
        ]

    def say(lines: list[audit.LogLine]) -> list[str]:
        if not lines:
            return [t._("No audit events yet.")]
        out = []
        for line in lines:
            target = line.unit_code or ("" if line.entity_id is None else f"#{line.entity_id}")
            out.append(
                "  ".join(
                    (
                        format_datetime(line.at, settings.tz),
                        line.actor or "-",
                        line.action,
                        f"{line.entity} {target}".strip(),
                    )
                )
            )
        return out

    return _run(settings, args, work, show, say)


# --- the parser ----------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction[Any], invite: Any) -> None:
    """Add `invite list | revoke` to the existing `invite` subcommands, and `members`,
    `schedule` and `audit` to the `danvan` subcommands."""
    parsers: list[argparse.ArgumentParser] = []

    listing = invite.add_parser("list", help="list open invites")
    listing.add_argument("--unit", help="only the invites of this unit and the units under it")
    listing.set_defaults(handler=cmd_invite_list)
    revoke = invite.add_parser("revoke", help="withdraw an invite; people who joined stay")
    revoke.add_argument("code", help="invite code")
    revoke.set_defaults(handler=cmd_invite_revoke)
    parsers += [listing, revoke]

    group = commands.add_parser("members", help="members").add_subparsers(
        dest="members_command", required=True
    )
    listed = group.add_parser("list", help="members of a unit and the units under it")
    listed.add_argument("unit", help="unit code")
    listed.set_defaults(handler=cmd_members_list)
    set_role = group.add_parser("set-role", help="change a member's role")
    set_role.add_argument("telegram_id", type=int, help="numeric Telegram user id")
    set_role.add_argument("role", choices=[role.value for role in Role])
    set_role.set_defaults(handler=cmd_members_set_role)
    move = group.add_parser("move", help="move a member to another unit")
    move.add_argument("telegram_id", type=int, help="numeric Telegram user id")
    move.add_argument("unit", help="unit code")
    move.set_defaults(handler=cmd_members_move)
    parsers += [listed, set_role, move]
    for name, handler, text in (
        ("deactivate", cmd_members_deactivate, "deactivate a member; their records are kept"),
        ("activate", cmd_members_activate, "reactivate a member"),
    ):
        sub = group.add_parser(name, help=text)
        sub.add_argument("telegram_id", type=int, help="numeric Telegram user id")
        sub.set_defaults(handler=handler)
        parsers.append(sub)

    schedule = commands.add_parser("schedule", help="reminder and digest times").add_subparsers(
        dest="schedule_command", required=True
    )
    show = schedule.add_parser("show", help="a unit's effective times, own or inherited")
    show.add_argument("unit", help="unit code")
    show.set_defaults(handler=cmd_schedule_show)
    set_ = schedule.add_parser("set", help="set one of a unit's times")
    set_.add_argument("unit", help="unit code")
    set_.add_argument("field", choices=FIELDS)
    set_.add_argument(
        "value",
        help="weekday 0-6 (Monday = 0), time HH:MM or day 1-28; 'inherit' clears it",
    )
    set_.set_defaults(handler=cmd_schedule_set)
    parsers += [show, set_]

    log = commands.add_parser("audit", help="recent audit events, newest first")
    log.add_argument("--limit", type=base.positive, default=DEFAULT_AUDIT_LIMIT)
    log.set_defaults(handler=cmd_audit)
    parsers.append(log)

    for sub in parsers:
        sub.add_argument("--json", action="store_true", help="print JSON")
