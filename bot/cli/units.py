"""`danvan units rename | move | deactivate | merge`: the tree's changes for scripts.

bot/cli.py adds these to its `units` subcommands with `register(...)`. The rules live in
storage/unit_admin.py, shared with the chat's /donvi; `describe_problem` words their problems
for both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli import common as base
from bot.domain.i18n import Translator
from bot.domain.units import UnitAdminError, describe_problem
from bot.settings import Settings
from storage import unit_admin
from storage.engine import Database
from storage.models import utcnow

Work = Callable[[AsyncSession], Coroutine[Any, Any, dict[str, Any]]]


def _run(
    settings: Settings,
    t: Translator,
    args: argparse.Namespace,
    work: Work,
    say: Callable[[dict[str, Any]], str],
) -> int:
    """Do `work` in one transaction; print its result as JSON or as `say` words it. A
    problem changes nothing and prints one line on stderr (with --json: a JSON object on
    stdout); the exit status is then 1."""

    async def run(db: Database) -> int:
        try:
            async with db.session() as session:
                result = await work(session)
        except UnitAdminError as error:
            message = describe_problem(t, error)
            if args.json:
                base.print_json(
                    {"ok": False, "problem": error.problem.value, "message": message}
                    | error.details
                )
            else:
                # Printed here rather than raised as bot.cli.CliError: under `python -m
                # bot.cli` that class is __main__'s, not the one this module would import.
                print(f"danvan: {message}", file=sys.stderr)
            return base.EXIT_ERROR
        if args.json:
            base.print_json({"ok": True, **result})
        else:
            print(say(result))
        return 0

    return asyncio.run(base.with_db(settings, run))


def cmd_units_rename(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> dict[str, Any]:
        unit = await unit_admin.by_code(session, args.code, None)
        renamed = await unit_admin.rename(
            session, unit, args.name, now=utcnow(), actor_label=base.CLI_ACTOR
        )
        return {"code": renamed.code, "name": renamed.new, "former_name": renamed.old}

    def say(result: dict[str, Any]) -> str:
        return t._(
            "{code}: renamed from “{old}” to “{new}”; the old name is kept as its former name.",
            code=result["code"],
            old=result["former_name"],
            new=result["name"],
        )

    return _run(settings, t, args, work, say)


def cmd_units_move(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> dict[str, Any]:
        unit = await unit_admin.by_code(session, args.code, None)
        parent = await unit_admin.by_code(session, args.parent, None)
        moved = await unit_admin.move(
            session, unit, parent, now=utcnow(), actor_label=base.CLI_ACTOR
        )
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

    return _run(settings, t, args, work, say)


def cmd_units_deactivate(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> dict[str, Any]:
        unit = await unit_admin.by_code(session, args.code, None)
        done = await unit_admin.deactivate(session, unit, now=utcnow(), actor_label=base.CLI_ACTOR)
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

    return _run(settings, t, args, work, say)


def cmd_units_merge(settings: Settings, t: Translator, args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> dict[str, Any]:
        source = await unit_admin.by_code(session, args.source, None)
        target = await unit_admin.by_code(session, args.target, None)
        done = await unit_admin.merge(
            session, source, target, now=utcnow(), actor_label=base.CLI_ACTOR
        )
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

    return _run(settings, t, args, work, say)


def register(units: argparse._SubParsersAction[Any]) -> None:
    """Add rename, move, deactivate and merge to the `units` subcommands."""
    rename = units.add_parser("rename", help="rename a unit; the old name becomes its former name")
    rename.add_argument("code", help="unit code")
    rename.add_argument("--name", required=True, help="the new name")
    rename.set_defaults(handler=cmd_units_rename)

    move = units.add_parser("move", help="move a unit, with everything under it, to a new parent")
    move.add_argument("code", help="unit code")
    move.add_argument("--parent", required=True, help="code of the new parent unit")
    move.set_defaults(handler=cmd_units_move)

    deactivate = units.add_parser(
        "deactivate",
        help="deactivate a unit with no active units under it: its members are deactivated "
        "and its open invites withdrawn; records are kept",
    )
    deactivate.add_argument("code", help="unit code")
    deactivate.set_defaults(handler=cmd_units_deactivate)

    merge = units.add_parser(
        "merge",
        help="move records, members, invites, units and schedule of SOURCE to TARGET, "
        "then deactivate SOURCE",
    )
    merge.add_argument("source", help="code of the unit that goes away")
    merge.add_argument("--into", required=True, dest="target", help="code of the unit that stays")
    merge.set_defaults(handler=cmd_units_merge)

    for sub in (rename, move, deactivate, merge):
        sub.add_argument("--json", action="store_true", help="print JSON")
