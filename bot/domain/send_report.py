"""What an admin is told after sending a digest by hand (/guibaocao): for each recipient, what
happened now, and, where nothing was sent now, what the ledger says happened before: sent (when),
missed while the bot was down (when it was due), given up, or being sent by another process.
"Already sent" is said only of what was sent."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot.domain.formatting import escape_html, format_datetime
from bot.domain.i18n import Translator
from bot.domain.outgoing import LedgerState, Send, SendOutcome

LISTED = 30  # recipients named; the rest are counted


class Delivered(enum.StrEnum):
    SENT_NOW = "sent_now"
    SENT_BEFORE = "sent_before"
    MISSED = "missed"  # skipped when it was due (the bot was down or too late)
    FAILED_BEFORE = "failed_before"  # an earlier attempt gave up
    FAILED_NOW = "failed_now"
    BLOCKED = "blocked"  # the person blocked the bot
    BEING_SENT = "being_sent"  # claimed by another process


REDO = (Delivered.MISSED, Delivered.FAILED_BEFORE)  # what "send the missed ones" sends


@dataclass(frozen=True)
class PastSend:
    """The ledger's row of one send, as it was before this attempt."""

    state: LedgerState
    done_at: datetime | None
    due_at: datetime | None

    @staticmethod
    def redoable(past: PastSend | None) -> bool:
        """Whether "send to those who have not received it" sends this one: it would be told
        as one of REDO."""
        return past is not None and _delivered(SendOutcome.SKIPPED, past) in REDO


@dataclass(frozen=True)
class RecipientLine:
    name: str
    chat_id: int
    delivered: Delivered
    at: datetime | None = None  # sent before, or given up before: when
    due_at: datetime | None = None  # missed: when it was due


def recipient_lines(
    outcomes: Iterable[tuple[Send, SendOutcome]], before: dict[int, PastSend]
) -> list[RecipientLine]:
    """Each send's line: its outcome now, explained by its row before when it was not sent."""
    lines = []
    for send, outcome in outcomes:
        past = before.get(send.chat_id)
        delivered = _delivered(outcome, past)
        at = past.done_at if past is not None else None
        due_at = (past.due_at if past is not None else None) or send.due_at
        lines.append(RecipientLine(send.recipient_name, send.chat_id, delivered, at, due_at))
    return lines


def _delivered(outcome: SendOutcome, past: PastSend | None) -> Delivered:
    if outcome is SendOutcome.SENT:
        return Delivered.SENT_NOW
    if outcome is SendOutcome.UNREACHABLE:
        return Delivered.BLOCKED
    if outcome is SendOutcome.FAILED:
        return Delivered.FAILED_NOW
    if outcome is SendOutcome.IN_PROGRESS or past is None:
        return Delivered.BEING_SENT
    return {
        LedgerState.SENT: Delivered.SENT_BEFORE,
        LedgerState.SKIPPED: Delivered.MISSED,
        LedgerState.FAILED: Delivered.FAILED_BEFORE,
        LedgerState.UNREACHABLE: Delivered.BLOCKED,
    }.get(past.state, Delivered.BEING_SENT)


def _when(moment: datetime | None, tz: tzinfo) -> str:
    return "?" if moment is None else format_datetime(moment, tz)


def _line(t: Translator, line: RecipientLine, tz: tzinfo) -> str:
    name = escape_html(line.name) or str(line.chat_id)
    texts = {
        Delivered.SENT_NOW: t._("sent now"),
        Delivered.SENT_BEFORE: t._("already sent at {when}", when=_when(line.at, tz)),
        Delivered.MISSED: t._(
            "not sent: it was due at {when}, when the bot was not running",
            when=_when(line.due_at, tz),
        ),
        Delivered.FAILED_BEFORE: t._(
            "not sent: an earlier attempt failed at {when}", when=_when(line.at, tz)
        ),
        Delivered.FAILED_NOW: t._("failed now; try again later"),
        Delivered.BLOCKED: t._("has blocked the bot"),
        Delivered.BEING_SENT: t._("being sent at this moment"),
    }
    return f"• {name}: {texts[line.delivered]}"


def redo_count(lines: Iterable[RecipientLine]) -> int:
    """How many of these "send the missed ones" would send."""
    return sum(1 for line in lines if line.delivered in REDO)


def report_text(t: Translator, unit_name: str, lines: list[RecipientLine], tz: tzinfo) -> str:
    """The answer to /guibaocao: a heading, then one line per recipient."""
    shown = [_line(t, line, tz) for line in lines[:LISTED]]
    if len(lines) > LISTED:
        shown.append(t._("… and {count} more", count=len(lines) - LISTED))
    heading = t._("Digest of {unit}:", unit=escape_html(unit_name))
    text = "\n".join([heading, *shown])
    missed = redo_count(lines)
    if missed:
        text += "\n\n" + t.ngettext(
            "{count} official has not received it. Send it to them now?",
            "{count} officials have not received it. Send it to them now?",
            missed,
        )
    return text
