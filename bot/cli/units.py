"""`danvan units import | list | rename | move | deactivate | merge`: the tree of units.

The rules of the changes live in storage/unit_admin.py, shared with the chat's /donvi;
`describe_problem` words their problems for both.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli.common import (
    CLI_ACTOR,
    EXIT_ERROR,
    CliError,
    Refused,
    add_json,
    in_one_transaction,
    print_json,
    with_db,
)
from bot.domain.i18n import Translator
from bot.domain.unit_csv import ImportPlan, RowError, describe_row_error, parse_unit_csv
from bot.domain.units import Problem, UnitAdminError, describe_problem
from bot.settings import Settings
from storage import scope, unit_admin, units
from storage.engine import Database
from storage.models import Unit

Change = Callable[[AsyncSession, datetime], Awaitable[dict[str, Any]]]


def cmd_units_import(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(
            t._("Cannot read {file}: {reason}", file=path, reason=exc.strerror)
        ) from None

    async def work(db: Database) -> tuple[ImportPlan | None, list[RowError]]:
        rows, errors = parse_unit_csv(data)
        if errors:
            return None, errors
        async with db.session() as session:
            plan = await units.plan_import(session, rows)
            if not plan.errors:
                await units.apply_import(session, plan, actor_label=CLI_ACTOR)
        return plan, plan.errors

    plan, errors = with_db(settings, work)
    if errors:
        _print_import_errors(t, args, errors)
        return EXIT_ERROR
    assert plan is not None
    if args.json:
        print_json(
            {
                "ok": True,
                "created": plan.created,
                "updated": plan.updated,
                "unchanged": plan.unchanged,
            }
        )
    else:
        print(
            t._(
                "Imported: {created} created, {updated} updated, {unchanged} unchanged.",
                created=len(plan.created),
                updated=len(plan.updated),
                unchanged=len(plan.unchanged),
            )
        )
    return 0


def _print_import_errors(t: Translator, args: argparse.Namespace, errors: list[RowError]) -> None:
    """Nothing is imported: every bad line, as JSON on stdout or as lines on stderr."""
    if args.json:
        print_json(
            {
                "ok": False,
                "errors": [
                    {"line": e.line, "problem": e.problem, "message": describe_row_error(t, e)}
                    for e in errors
                ],
            }
        )
        return
    print(t._("Nothing was imported; fix these lines first:"), file=sys.stderr)
    for error in errors:
        print("  " + describe_row_error(t, error), file=sys.stderr)


def cmd_units_list(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> list[Unit]:
        return await units.list_all(session)

    def show(found: list[Unit]) -> object:
        code_by_id = {unit.id: unit.code for unit in found}
        return [
            {
                "code": unit.code,
                "name": unit.name,
                "level": unit.level,
                "parent_code": code_by_id.get(unit.parent_id),
                "former_name": unit.former_name,
                "active": unit.active,
            }
            for unit in found
        ]

    def say(found: list[Unit]) -> list[str]:
        lines = (
            [] if found else [t._("No units yet. Import them with: danvan units import FILE.csv")]
        )
        for unit in found:
            line = "  " * units.depth(unit) + f"{unit.code}  {unit.name} ({unit.level})"
            if unit.former_name:
                line += "  " + t._("formerly {name}", name=unit.former_name)
            if not unit.active:
                line += "  " + t._("[inactive]")
            lines.append(line)
        return lines

    return in_one_transaction(settings, args, work, show, say)


# --- changes to the tree -------------------------------------------------------------------------


def _change(
    settings: Settings,
    t: Translator,
    args: argparse.Namespace,
    work: Change,
    say: Callable[[dict[str, Any]], str],
) -> int:
    """Make one change of storage/unit_admin.py: its result printed as {"ok": true, ...} or as
    the sentence `say` words it; a problem it finds is refused in the domain's words."""

    async def change(session: AsyncSession, now: datetime) -> dict[str, Any]:
        try:
            return await work(session, now)
        except UnitAdminError as error:
            message = describe_problem(t, error)
            raise Refused(message, problem=error.problem.value, **error.details) from None

    return in_one_transaction(
        settings, args, change, lambda result: {"ok": True, **result}, lambda r: [say(r)]
    )


async def _unit(session: AsyncSession, code: str) -> Unit:
    unit = (await scope.find_unit(session, None, code=code)).unit
    if unit is None:
        raise UnitAdminError(Problem.UNKNOWN_UNIT, code=code.strip())
    return unit


def cmd_units_rename(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> dict[str, Any]:
        unit = await _unit(session, args.code)
        renamed = await unit_admin.rename(session, unit, args.name, now=now, actor_label=CLI_ACTOR)
        return {"code": renamed.code, "name": renamed.new, "former_name": renamed.old}

    def say(result: dict[str, Any]) -> str:
        return t._(
            "{code}: renamed from “{old}” to “{new}”; the old name is kept as its former name.",
            code=result["code"],
            old=result["former_name"],
            new=result["name"],
        )

    return _change(settings, t, args, work, say)


def cmd_units_move(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> dict[str, Any]:
        unit = await _unit(session, args.code)
        parent = await _unit(session, args.parent)
        moved = await unit_admin.move(session, unit, parent, now=now, actor_label=CLI_ACTOR)
        return {
            "code": moved.code,
            "parent": moved.new_parent,
            "old_parent": moved.old_parent,
            "units_moved": moved.units,
        }

    def say(result: dict[str, Any]) -> str:
        return t._(
            "{code} is now under {parent} ({count} unit(s) moved).",
            code=result["code"],
            parent=result["parent"],
            count=result["units_moved"],
        )

    return _change(settings, t, args, work, say)


def cmd_units_deactivate(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> dict[str, Any]:
        unit = await _unit(session, args.code)
        done = await unit_admin.deactivate(session, unit, now=now, actor_label=CLI_ACTOR)
        return {
            "code": done.code,
            "members_deactivated": done.members,
            "invites_revoked": done.invites,
        }

    def say(result: dict[str, Any]) -> str:
        return t._(
            "{code} is now inactive: {members} member(s) deactivated, {invites} open invite(s) "
            "withdrawn. Its records are kept.",
            code=result["code"],
            members=len(result["members_deactivated"]),
            invites=len(result["invites_revoked"]),
        )

    return _change(settings, t, args, work, say)


def cmd_units_merge(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession, now: datetime) -> dict[str, Any]:
        source = await _unit(session, args.source)
        target = await _unit(session, args.target)
        done = await unit_admin.merge(session, source, target, now=now, actor_label=CLI_ACTOR)
        return {
            "source": done.source,
            "target": done.target,
            "moved": done.counts(),
            "schedule": done.schedule,
        }

    def say(result: dict[str, Any]) -> str:
        moved = result["moved"]
        return t._(
            "{source} was merged into {target}: {records} record(s), {members} member(s), "
            "{invites} invite(s) and {units} unit(s) moved; {source} is now inactive.",
            source=result["source"],
            target=result["target"],
            records=sum(moved[name] for name in unit_admin.RECORD_MODELS),
            members=moved["members"],
            invites=moved["invites"],
            units=moved["units"],
        )

    return _change(settings, t, args, work, say)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    group = commands.add_parser("units", help="units (places)").add_subparsers(
        dest="units_command", required=True
    )
    load = group.add_parser("import", help="create or update units from a CSV file")
    load.add_argument("file", help="CSV: code,name,level,parent_code[,former_name]")
    load.set_defaults(handler=cmd_units_import)
    listing = group.add_parser("list", help="list units")
    listing.set_defaults(handler=cmd_units_list)

    rename = group.add_parser("rename", help="rename a unit; the old name becomes its former name")
    rename.add_argument("code", help="unit code")
    rename.add_argument("--name", required=True, help="the new name")
    rename.set_defaults(handler=cmd_units_rename)

    move = group.add_parser("move", help="move a unit, with everything under it, to a new parent")
    move.add_argument("code", help="unit code")
    move.add_argument("--parent", required=True, help="code of the new parent unit")
    move.set_defaults(handler=cmd_units_move)

    deactivate = group.add_parser(
        "deactivate",
        help="deactivate a unit with no active units under it: its members are deactivated "
        "and its open invites withdrawn; records are kept",
    )
    deactivate.add_argument("code", help="unit code")
    deactivate.set_defaults(handler=cmd_units_deactivate)

    merge = group.add_parser(
        "merge",
        help="move records, members, invites, units and schedule of SOURCE to TARGET, "
        "then deactivate SOURCE",
    )
    merge.add_argument("source", help="code of the unit that goes away")
    merge.add_argument("--into", required=True, dest="target", help="code of the unit that stays")
    merge.set_defaults(handler=cmd_units_merge)

    add_json(load, listing, rename, move, deactivate, merge)
