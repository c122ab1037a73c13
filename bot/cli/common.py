"""What every `danvan` command shares: exit statuses, the one-line error and the refusal, JSON
output, the database each command opens (migrated first), the one transaction most commands do
their work in, the unit a command names by code, and the admin the command line acts as.

The rules live in storage/ and bot/services/, shared with the chat. Storage functions that take
an acting Member get `cli_actor(...)`: an admin that is nobody, a transient Member (never saved)
with no id, so nothing counts as "your own account". Every audit event a command adds without
an actor is labelled "cli" (`label_cli_events`), as are those it labels itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.access import Role
from bot.domain.i18n import Translator
from bot.settings import Settings
from storage import members, scope
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import AuditEvent, Member, Unit

CLI_ACTOR = "cli"
EXIT_ERROR = 1
EXIT_USAGE = 2

Result = TypeVar("Result")


class CliError(Exception):
    """A problem to print as one line on stderr (`danvan: ...`); the exit status is then 1."""


class Refused(CliError):
    """Nothing was done, and the message says why: one line on stderr or, with --json, a JSON
    object on stdout: {"ok": false, "problem": ..., "message": ..., **details} ("problem" only
    when given). The exit status is 1 either way."""

    def __init__(self, message: str, *, problem: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.problem = problem
        self.details = details

    def as_json(self) -> dict[str, Any]:
        problem = {} if self.problem is None else {"problem": self.problem}
        return {"ok": False, **problem, "message": str(self), **self.details}


def print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def with_db(settings: Settings, work: Callable[[Database], Awaitable[Result]]) -> Result:
    """Migrate the database, open it, run `work(db)` in an event loop and close it again."""

    async def run() -> Result:
        await upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def label_cli_events(session: AsyncSession) -> None:
    """Audit events added in `session` without an actor are labelled "cli"."""

    def before_flush(sync_session: Any, _context: Any, _instances: Any) -> None:
        for obj in sync_session.new:
            if isinstance(obj, AuditEvent) and obj.actor_id is None and obj.actor_label is None:
                obj.actor_label = CLI_ACTOR

    event.listen(session.sync_session, "before_flush", before_flush)


def in_one_transaction(
    settings: Settings,
    args: argparse.Namespace,
    work: Callable[[AsyncSession, datetime], Awaitable[Result]],
    show: Callable[[Result], object],
    say: Callable[[Result], Iterable[str]],
) -> int:
    """Do `work(session, now)` in one transaction, its audit events labelled "cli"; then print
    `show(result)` as JSON (--json) or the lines `say(result)` gives, and exit 0. A CliError
    (a Refused) raised by `work` changes nothing."""

    async def run(db: Database) -> Result:
        async with db.session() as session:
            label_cli_events(session)
            return await work(session, datetime.now(UTC))

    result = with_db(settings, run)
    if args.json:
        print_json(show(result))
    else:
        for line in say(result):
            print(line)
    return 0


async def unit_by_code(
    session: AsyncSession,
    t: Translator,
    code: str,
    *,
    active: bool = False,
    error: Callable[[str], CliError] = Refused,
) -> Unit:
    """The unit a command names by `code` (in any case), through the one lookup every path
    uses (storage.scope.find_unit, as the command line: everywhere); with `active`, it must be
    active. Otherwise `error` (a Refused, or a CliError: one line even with --json)."""
    unit = (await scope.find_unit(session, None, code=code)).unit
    if unit is None:
        raise error(t._("There is no unit with code {code}.", code=code))
    if active and not unit.active:
        raise error(t._("Unit {code} is inactive.", code=unit.code))
    return unit


async def unit_or_root(session: AsyncSession, t: Translator, code: str | None) -> Unit:
    """The unit named by `code` or, without one, the top-level unit if there is just one; a
    CliError otherwise (one line, even with --json)."""
    if code:
        return await unit_by_code(session, t, code, error=CliError)
    found = await members.roots(session)
    if not found:
        raise CliError(
            t._("There are no units yet. Import them first: danvan units import FILE.csv")
        )
    if len(found) > 1:
        raise CliError(t._("There are several top-level units; choose one with --unit."))
    return found[0]


def cli_actor(unit_id: int, role: Role = Role.ADMIN) -> Member:
    """The acting member for storage functions, never added to the session. `unit_id` must be
    an existing unit (storage reads the actor's unit); for an admin any one will do."""
    return Member(telegram_id=0, full_name=CLI_ACTOR, role=role, unit_id=unit_id)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"danvan: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_json(*parsers: argparse.ArgumentParser) -> None:
    for parser in parsers:
        parser.add_argument("--json", action="store_true", help="print JSON")
