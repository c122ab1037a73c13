"""An announcement (/thongbao, `danvan broadcast`): its text checked and tidied, what its
recipients read, and what its sender is told afterwards."""

from __future__ import annotations

import enum

from bot.domain.formatting import escape_html, format_number, utf16_length
from bot.domain.i18n import N_, Translator
from bot.domain.outgoing import Report
from bot.domain.textnorm import nfc

MAX_LENGTH = 3000
PROMPT = N_(
    "Type the announcement, at most {limit} characters. Next you choose who receives it, and "
    "see it before it goes out."
)


class TextProblem(enum.StrEnum):
    EMPTY = "empty"
    TOO_LONG = "too_long"


class AnnouncementError(ValueError):
    def __init__(self, problem: TextProblem, length: int = 0) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.length = length


def clean_announcement(text: str) -> str:
    """The text as it will be sent, or AnnouncementError."""
    cleaned = nfc(text)
    if not cleaned.replace("\u200c", "").replace("\u200d", "").strip():  # nfc keeps ZWNJ, ZWJ
        raise AnnouncementError(TextProblem.EMPTY)
    length = utf16_length(cleaned)
    if length > MAX_LENGTH:
        raise AnnouncementError(TextProblem.TOO_LONG, length)
    return cleaned


def describe_problem(t: Translator, error: AnnouncementError) -> str:
    if error.problem is TextProblem.TOO_LONG:
        return t._(
            "The announcement is too long: {length} characters, and at most {limit} fit.",
            length=format_number(error.length),
            limit=format_number(MAX_LENGTH),
        )
    return t._("The announcement is empty.")


def prompt_text(t: Translator) -> str:
    """The question of the announcement's text step (plain text: escape it for HTML)."""
    return t._(PROMPT, limit=format_number(MAX_LENGTH))


def announcement_html(t: Translator, sender_unit: str, sender: str, text: str) -> str:
    """What a recipient reads: a header naming the sender, then the text, escaped."""
    header = t._(
        "📢 <b>Announcement from {unit}</b> ({name})",
        unit=escape_html(sender_unit),
        name=escape_html(sender),
    )
    return f"{header}\n\n{escape_html(text)}"


def broadcast_key(token: str) -> str:
    """The ledger's period_key of every Send of one announcement."""
    return f"b-{token}"


def outcome_text(t: Translator, unit_name: str, report: Report, known_unreachable: int) -> str:
    """What the sender is told once the announcement went out (HTML)."""
    lines = [
        t._(
            "📢 Announcement to {unit}: {sent} sent, {blocked} blocked the bot, {failed} failed.",
            unit=escape_html(unit_name),
            sent=format_number(report.sent),
            blocked=format_number(report.unreachable + known_unreachable),
            failed=format_number(report.failed),
        )
    ]
    if report.skipped + report.in_progress:
        lines.append(
            t._(
                "Already received before: {count}.",
                count=format_number(report.skipped + report.in_progress),
            )
        )
    return "\n".join(lines)
