"""What /guibaocao tells an admin per recipient (bot/domain/send_report.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.domain.i18n import translator
from bot.domain.outgoing import LedgerState, Send, SendKind, SendOutcome
from bot.domain.send_report import (
    LISTED,
    Delivered,
    PastSend,
    recipient_lines,
    redo_count,
    report_text,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DUE = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
DONE = datetime(2026, 11, 30, 0, 31, tzinfo=UTC)


def send(chat_id: int, name: str = "") -> Send:
    return Send(SendKind.WEEKLY_DIGEST, chat_id, "2026-W48", [], due_at=DUE, recipient_name=name)


def test_each_outcome_is_told_by_what_the_ledger_had_before() -> None:
    before = {
        2: PastSend(LedgerState.SENT, DONE, DUE),
        3: PastSend(LedgerState.SKIPPED, DONE, DUE),
        4: PastSend(LedgerState.FAILED, DONE, DUE),
        5: PastSend(LedgerState.UNREACHABLE, DONE, DUE),
        6: PastSend(LedgerState.CLAIMED, None, DUE),
    }
    outcomes = [
        (send(1), SendOutcome.SENT),
        *((send(chat), SendOutcome.SKIPPED) for chat in (2, 3, 4, 5)),
        (send(6), SendOutcome.IN_PROGRESS),
        (send(7), SendOutcome.FAILED),
        (send(8), SendOutcome.UNREACHABLE),
    ]
    lines = recipient_lines(outcomes, before)
    assert [line.delivered for line in lines] == [
        Delivered.SENT_NOW,
        Delivered.SENT_BEFORE,
        Delivered.MISSED,
        Delivered.FAILED_BEFORE,
        Delivered.BLOCKED,
        Delivered.BEING_SENT,
        Delivered.FAILED_NOW,
        Delivered.BLOCKED,
    ]
    assert redo_count(lines) == 2
    assert PastSend.redoable(before[3]) and PastSend.redoable(before[4])
    assert not any(PastSend.redoable(before.get(chat)) for chat in (1, 2, 5, 6))


def test_the_text_names_each_recipient_with_local_times_and_escapes_names() -> None:
    before = {
        1: PastSend(LedgerState.SENT, DONE, DUE),
        2: PastSend(LedgerState.SKIPPED, DONE, DUE),
    }
    outcomes = [(send(1, "A <b>"), SendOutcome.SKIPPED), (send(2, "B"), SendOutcome.SKIPPED)]
    text = report_text(translator("en"), "X & Y", recipient_lines(outcomes, before), TZ)
    assert text == (
        "Digest of X &amp; Y:\n"
        "• A &lt;b&gt;: already sent at 07:31 30/11/2026\n"
        "• B: not sent: it was due at 07:30 30/11/2026, when the bot was not running\n\n"
        "1 official has not received it. Send it to them now?"
    )


def test_a_long_list_is_cut_and_counted() -> None:
    outcomes = [(send(chat, f"P{chat}"), SendOutcome.SENT) for chat in range(LISTED + 5)]
    text = report_text(translator("vi"), "U", recipient_lines(outcomes, {}), TZ)
    assert text.count("\n• ") == LISTED
    assert text.endswith(f"• P{LISTED - 1}: đã gửi\n… và 5 nữa")
