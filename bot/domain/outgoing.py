"""What the bot sends on its own (reminders, digests, broadcasts), as plain data.

Built by Telegram-free code (schedules, digests); delivered by bot/delivery.py, which claims
each send in the SendLedger first so that nothing goes out twice.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


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


class Drawn:
    """A file made the first time it is needed, then kept: a digest's chart is drawn when
    its digest goes out, while the batch waits on Telegram's pace anyway, not while every
    digest of the batch is being built (see bot/charts.py). Recipients of one unit share it.

    `prepare`, when given, reads what `make` needs (from the database, say) and must be
    awaited first (Attachment.prepare): `make` runs in a worker thread."""

    def __init__(
        self, make: Callable[[], bytes], prepare: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        self._make = make
        self.prepare = prepare
        self._lock = threading.Lock()  # delivery draws in worker threads
        self._content: bytes | None = None

    def __call__(self) -> bytes:
        with self._lock:
            if self._content is None:
                self._content = self._make()
            return self._content


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes | Drawn
    as_photo: bool = False  # a PNG chart shows inline; other files go as documents
    caption: str | None = None

    async def prepare(self) -> None:
        """Read what drawing the file needs; before `data`."""
        if isinstance(self.content, Drawn) and self.content.prepare is not None:
            await self.content.prepare()

    def data(self) -> bytes:
        """The file's bytes; a Drawn one is drawn here (slow: call it off the event loop)."""
        return self.content if isinstance(self.content, bytes) else self.content()


class Shared(Generic[T]):
    """Something read once, when first asked for, by whoever asks first; the others await
    the same read. A failed read is tried again by the next one to ask."""

    def __init__(self, load: Callable[[], Awaitable[T]]) -> None:
        self._load = load
        self._lock = asyncio.Lock()
        self._loaded = False
        self._value: T | None = None

    async def load(self) -> T:
        async with self._lock:
            if not self._loaded:
                self._value = await self._load()
                self._loaded = True
        return self.value

    @property
    def value(self) -> T:
        """What was loaded (after `load`)."""
        if not self._loaded:
            raise RuntimeError("not loaded yet: await load() first")
        return self._value  # type: ignore[return-value]


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
    recipient_name: str = ""  # for telling an admin who got what


class LedgerState(enum.StrEnum):
    """Where one claimable send stands in the ledger (storage/ledger.py)."""

    CLAIMED = "claimed"  # being sent, or the sender died; may be taken over when stale
    SENT = "sent"
    FAILED = "failed"  # gave up after retries; `error` says why
    SKIPPED = "skipped"  # deliberately not sent (e.g. too late to catch up); `error` says why
    UNREACHABLE = "unreachable"  # the person blocked the bot (403)


class SendOutcome(enum.StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # the ledger already had it: sent, skipped, failed or unreachable
    IN_PROGRESS = "in_progress"  # claimed elsewhere less than stale_after ago (or a dead claim)
    UNREACHABLE = "unreachable"
    FAILED = "failed"


@dataclass
class Report:
    """How many Sends of a batch ended how."""

    sent: int = 0
    skipped: int = 0
    in_progress: int = 0
    unreachable: int = 0
    failed: int = 0
    # Each Send with its outcome, for telling who got what; not part of the counts compared.
    outcomes: list[tuple[Send, SendOutcome]] = field(
        default_factory=list, compare=False, repr=False
    )

    def add(self, outcome: SendOutcome, send: Send | None = None) -> None:
        name = outcome.value
        setattr(self, name, getattr(self, name) + 1)
        if send is not None:
            self.outcomes.append((send, outcome))

    @property
    def total(self) -> int:
        return self.sent + self.skipped + self.in_progress + self.unreachable + self.failed

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, skipped {self.skipped}, in progress {self.in_progress}, "
            f"unreachable {self.unreachable}, failed {self.failed}"
        )
