"""What the bot sends on its own (reminders, digests, broadcasts), as plain data.

Built by Telegram-free code (schedules, digests); delivered by bot/delivery.py, which claims
each send in the SendLedger first so that nothing goes out twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class SendKind(enum.StrEnum):
    REMINDER = "reminder"
    REMINDER_SNOOZE = "reminder_snooze"
    FOLLOWUP = "followup"  # silent groups, to officials
    STALE_PLEDGES = "stale_pledges"  # monthly nudge to update a pledge's stage
    WEEKLY_DIGEST = "weekly_digest"
    MONTHLY_DIGEST = "monthly_digest"
    BROADCAST = "broadcast"

    @property
    def is_digest(self) -> bool:
        return self in (SendKind.WEEKLY_DIGEST, SendKind.MONTHLY_DIGEST)


@dataclass(frozen=True)
class Button:
    """An inline button; `data` is its callback data (at most 64 bytes)."""

    label: str
    data: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    as_photo: bool = False  # a PNG chart shows inline; other files go as documents
    caption: str | None = None


@dataclass(frozen=True)
class OutMessage:
    text: str  # HTML, user text escaped, at most 4096 characters
    buttons: list[list[Button]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True)
class Send:
    """One claimable delivery: everything for one recipient, one kind, one period."""

    kind: SendKind
    chat_id: int  # the recipient's Telegram id (private chat)
    period_key: str  # e.g. "2026-W48", "2026-11", "2026-W48+snooze"
    messages: list[OutMessage]
    member_id: int | None = None
    due_at: datetime | None = None
