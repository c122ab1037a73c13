"""Announcements to the members of a unit's subtree: one Send per recipient, in their language,
and the audit event that says how the delivery ended. Shared by /thongbao and `danvan
broadcast`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.announcements import announcement_html, broadcast_key
from bot.domain.i18n import translator
from bot.domain.outgoing import OutMessage, Report, Send, SendKind
from storage.audit import record
from storage.export import Audience
from storage.models import Unit, pk


def broadcast_sends(
    audience: Audience, token: str, sender_unit: str, sender: str, text: str, due: datetime
) -> list[Send]:
    """One Send per recipient, in their language."""
    rendered: dict[str, str] = {}
    sends = []
    for person in audience.recipients:
        if person.language not in rendered:
            rendered[person.language] = announcement_html(
                translator(person.language), sender_unit, sender, text
            )
        sends.append(
            Send(
                SendKind.BROADCAST,
                person.telegram_id,
                broadcast_key(token),
                [OutMessage(rendered[person.language])],
                member_id=person.member_id,
                due_at=due,
            )
        )
    return sends


async def record_delivered(
    session: AsyncSession,
    unit: Unit,
    key: str,
    report: Report,
    at: datetime,
    *,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> None:
    """The audit event that closes an announcement's "sent": how its delivery ended."""
    await record(
        session,
        "broadcast",
        pk(unit),
        "delivered",
        None,
        {
            "key": key,
            "sent": report.sent,
            "unreachable": report.unreachable,
            "failed": report.failed,
            "skipped": report.skipped + report.in_progress,
        },
        unit_id=pk(unit),
        actor_id=actor_id,
        actor_label=actor_label,
        at=at,
    )
