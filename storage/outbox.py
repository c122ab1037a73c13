"""The outbox: the Bot API calls an update owes a person, stored in the update's own
transaction with its records, its conversation state and its handled mark, and made after that
commits (bot/telegram/outbox.py sends them, in order per chat).

While an update is handled (`UpdateWork`, set by the application around each update), the bot
does not call Telegram for what it owes: it notes the call here (`UpdateWork.owe`) and hands
the handler what Telegram would have answered, with a placeholder id (negative) for a message
not sent yet. A later edit of that message names the placeholder; the sender maps it to the id
Telegram gave once the message is out.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import begin_reading
from storage.models import OUTBOX, OutboxMessage

# An edit of a prompt names, under this key, the text to send in a new message instead if the
# prompt is gone (handlers/conversation.py); the sender takes it out before calling Telegram.
IF_GONE = "danvan_if_gone"
# A call that finally fails may name, under this key, the text to send instead (a QR code's
# invite, as text); a file without one is told of in a short note.
IF_FAILED = "danvan_if_failed"
PENDING = "pending"
SENT = "sent"
FAILED = "failed"
KEEP_DONE = timedelta(days=2)  # sent or given-up rows are kept this long (placeholders, health)


@dataclass
class OwedCall:
    """One Bot API call noted for after the commit."""

    chat_id: int
    method: str
    params: dict[str, Any]  # JSON-native
    file_field: str | None = None
    file_name: str | None = None
    file_content: bytes | None = None
    placeholder: int | None = None


def new_placeholder() -> int:
    """A message id for a message not sent yet: negative, so it is never one of Telegram's."""
    return -1 - secrets.randbelow(2**52)


@dataclass
class UpdateWork:
    """What one update does: the session its handler works in (committed, with what the update
    owes and its handled mark, by the application once the handler returns) and the calls it
    owes."""

    chat_id: int | None
    update_id: int | None = None
    language: str = "vi"
    session: AsyncSession | None = None
    owed: list[OwedCall] = field(default_factory=list)
    # Run once the update has committed (e.g. remake the reminder jobs from what it changed).
    after_commit: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    direct: int = 0  # while above 0 (`sending_directly`), calls go out at once

    def discard(self) -> None:
        """The handler failed: it owes nothing of what it noted, nor what was to follow."""
        self.owed.clear()
        self.after_commit.clear()

    @property
    def capturing(self) -> bool:
        return self.direct == 0

    @contextmanager
    def sending_directly(self) -> Iterator[None]:
        """For a delivery with a ledger of its own (digests, announcements), which records each
        send as made only once Telegram took it: its calls are made at once, not owed."""
        self.direct += 1
        try:
            yield
        finally:
            self.direct -= 1


_work: ContextVar[UpdateWork | None] = ContextVar("danvan_update_work", default=None)


def current_work() -> UpdateWork | None:
    return _work.get()


def begin_work(work: UpdateWork | None) -> Any:
    """Make `work` the current update's (None: no update, calls go out at once); returns the
    token for `end_work`."""
    return _work.set(work)


def end_work(token: Any) -> None:
    _work.reset(token)


def rows(calls: Iterable[OwedCall], work: UpdateWork, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "chat_id": call.chat_id,
            "update_id": work.update_id,
            "method": call.method,
            "params": call.params,
            "file_field": call.file_field,
            "file_name": call.file_name,
            "file_content": call.file_content,
            "placeholder": call.placeholder,
            "message_id": None,
            "language": work.language,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "error": None,
            "created_at": now,
            "done_at": None,
        }
        for call in calls
    ]


async def add(session: AsyncSession, work: UpdateWork, now: datetime) -> int:
    """Store what `work` owes, in the session's transaction; how many calls."""
    values = rows(work.owed, work, now)
    if values:
        await session.exec(insert(OUTBOX), params=values)
    return len(values)


async def pending(session: AsyncSession, limit: int) -> list[OutboxMessage]:
    """The oldest pending calls, in order (whether due yet or not: a chat's order matters)."""
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.state) == PENDING)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def resolve(session: AsyncSession, placeholder: int) -> tuple[str, int | None] | None:
    """The state of the call that was given `placeholder`, and the id of the message it made."""
    query = select(OutboxMessage.state, OutboxMessage.message_id).where(
        col(OutboxMessage.placeholder) == placeholder
    )
    row = (await session.exec(query)).first()
    return None if row is None else (row[0], row[1])


# Placeholders recently sent by this process and the ids Telegram gave them, so that the next
# tap on a prompt need not read the outbox to recognise it.
_RECENT: dict[int, int] = {}
RECENT_LIMIT = 10_000


def remember_sent(placeholder: int, message_id: int) -> None:
    if len(_RECENT) >= RECENT_LIMIT:
        _RECENT.clear()
    _RECENT[placeholder] = message_id


async def sent_message_id(session: AsyncSession, message_id: int | None) -> int | None:
    """Telegram's id for a message id a handler was given: itself, or for a placeholder the id
    of the message sent for it (None while it is not sent)."""
    if message_id is None or message_id > 0:
        return message_id
    if message_id in _RECENT:
        return _RECENT[message_id]
    if not session.in_transaction():
        await begin_reading(session, one_statement=True)
        found = await resolve(session, message_id)
        await session.commit()
    else:
        found = await resolve(session, message_id)
    return found[1] if found is not None and found[0] == SENT else None


async def mark_sent_many(
    session: AsyncSession, marks: Sequence[tuple[int, int | None, datetime]]
) -> None:
    """Several calls made: (row id, the message id Telegram gave, when), in one statement."""
    if not marks:
        return
    statement = (
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("row_id"))
        .values(
            state=SENT,
            message_id=bindparam("sent_id"),
            done_at=bindparam("sent_at"),
            file_content=None,
        )
    )
    params = [{"row_id": i, "sent_id": m, "sent_at": at} for i, m, at in marks]
    await session.exec(statement, params=params)


async def retry_at(
    session: AsyncSession, row_id: int, when: datetime, error: str, *, attempt: bool = True
) -> None:
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id)
        .values(
            next_attempt_at=when,
            error=error,
            attempts=col(OutboxMessage.attempts) + (1 if attempt else 0),
        )
    )


async def give_up(session: AsyncSession, row_ids: Sequence[int], error: str, now: datetime) -> None:
    if not row_ids:
        return
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(list(row_ids)))
        .values(state=FAILED, error=error, done_at=now, file_content=None)
    )


async def pending_of_chat(session: AsyncSession, chat_id: int) -> list[int]:
    query = select(OutboxMessage.id).where(
        col(OutboxMessage.chat_id) == chat_id, col(OutboxMessage.state) == PENDING
    )
    return [row_id for row_id in (await session.exec(query)).all() if row_id is not None]


@dataclass(frozen=True)
class OutboxHealth:
    waiting: int
    oldest_at: datetime | None  # when the oldest waiting call was owed
    gave_up: int  # in the last KEEP_DONE


async def health(session: AsyncSession) -> OutboxHealth:
    waiting = select(func.count(), func.min(OutboxMessage.created_at)).where(
        col(OutboxMessage.state) == PENDING
    )
    count, oldest = (await session.exec(waiting)).one()
    failed = select(func.count()).where(col(OutboxMessage.state) == FAILED)
    gave_up = (await session.exec(failed)).one()
    return OutboxHealth(int(count), oldest, int(gave_up))


async def prune(session: AsyncSession, now: datetime) -> None:
    """Forget calls done long ago."""
    await session.exec(
        delete(OutboxMessage).where(
            col(OutboxMessage.state) != PENDING,
            col(OutboxMessage.done_at) < now - KEEP_DONE,
        )
    )
