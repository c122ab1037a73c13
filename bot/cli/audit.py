"""`danvan audit`: the most recent audit events, newest first (storage/audit.py)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli.common import add_json, in_one_transaction, positive
from bot.domain.formatting import format_datetime
from bot.domain.i18n import Translator
from bot.settings import Settings
from storage import audit

DEFAULT_LIMIT = 20


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
            out.append(
                "  ".join(
                    (
                        format_datetime(line.at, settings.tz),
                        line.actor or "-",
                        line.action,
                        f"{line.entity} {line.reference}".strip(),
                    )
                )
            )
        return out

    return in_one_transaction(settings, args, work, show, say)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    log = commands.add_parser("audit", help="recent audit events, newest first")
    log.add_argument("--limit", type=positive, default=DEFAULT_LIMIT)
    log.set_defaults(handler=cmd_audit)
    add_json(log)
