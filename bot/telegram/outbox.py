"""What an update owes a person goes out after its transaction commits, from the outbox table
(storage/outbox.py), so that no handler waits on Telegram while holding the database, and a
crash never leaves a record saved without its "handled" mark (nor the reverse).

Two halves:

- `owe` (called by `DanvanBot._do_post` while an update is handled) notes a call instead of
  making it, and gives the handler what Telegram would answer: for a new message, a Message with
  a placeholder id (negative); for an edit, the same with a fresh placeholder, since the sender
  may have to show an edited prompt in a new message when the old one is gone.
- `OutboxSender` makes the noted calls once they are committed: in order within a chat, many
  chats at once, each chat's trouble kept to that chat. Telegram's rules: a 429 waits
  `retry_after`; a 5xx, a timeout or no connection is tried again with a doubling backoff, up to
  `OUTAGE_BUDGET`; 403 (the person blocked the bot) marks the member unreachable and drops the
  rest of the chat's calls; another 400 is given up and logged ("message is not modified" is
  success). A file given up on is told of once, in the person's language.

The one edge: a call Telegram accepted just before the process died, before "sent" was
recorded, is made again by the next process (the person may see a message twice). Records are
never doubled: they commit with the update's handled mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request._requestparameter import RequestParameter  # how PTB serialises
from telegram.warnings import PTBDeprecationWarning

from bot.domain.formatting import escape_html
from bot.domain.i18n import translator
from storage import ledger, outbox
from storage.engine import Database, begin_reading
from storage.models import OutboxMessage, pk
from storage.outbox import IF_FAILED, IF_GONE, OwedCall, UpdateWork, new_placeholder

log = logging.getLogger(__name__)

# The calls an update owes; any other (getFile, getMe) is made at once.
SENDS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption"})
OWED = (
    SENDS
    | EDITS
    | frozenset({"answerCallbackQuery", "deleteMessage", "setMyCommands", "deleteMyCommands"})
)
FILE_FIELDS = ("photo", "document")

BACKOFF = 1.0  # seconds before the second try; doubled before each further one
MAX_BACKOFF = 30.0
OUTAGE_BUDGET = 15 * 60.0  # seconds of retrying a 5xx or a timeout before giving up
BATCH = 200  # pending calls read at once
CHATS_AT_ONCE = 32
# `drained` holds while no chat is being sent to and no retry is due sooner than this.
IDLE_HORIZON = 1.0
GONE = ("message to edit not found", "message can't be edited", "message to delete not found")


def owe(work: UpdateWork, endpoint: str, data: dict[str, Any]) -> Any:
    """Note the call for after the commit; what Telegram would have answered."""
    params: dict[str, Any] = {}
    call = OwedCall(chat_id=0, method=endpoint, params=params)
    for key, value in data.items():
        if isinstance(value, InputFile):
            call.file_field, call.file_name = key, value.filename
            content = value.input_file_content
            call.file_content = content if isinstance(content, bytes) else content.read()
            continue
        params[key] = RequestParameter.from_input(key, value).value
    scope = params.get("scope")
    chat_id = params.get("chat_id", scope.get("chat_id") if isinstance(scope, dict) else None)
    call.chat_id = int(chat_id) if isinstance(chat_id, int | str) else (work.chat_id or 0)
    if endpoint not in SENDS | EDITS:
        work.owed.append(call)
        return True
    if "inline_message_id" in params:
        work.owed.append(call)
        return True
    call.placeholder = new_placeholder()
    work.owed.append(call)
    message: dict[str, Any] = {
        "message_id": call.placeholder,
        "date": int(time.time()),
        "chat": {"id": call.chat_id, "type": "private"},
    }
    for key in ("text", "caption"):
        if key in params:
            message[key] = params[key]
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and "inline_keyboard" in markup:  # as Telegram echoes it
        message["reply_markup"] = markup
    return message


def _instead(row: OutboxMessage) -> dict[str, Any] | None:
    """What to send when the call is given up: the text it names, or for a file a note."""
    params: dict[str, Any] = row.params
    text = params.get(IF_FAILED)
    if text is None and row.file_name:
        text = translator(row.language)._(
            "⚠️ The file {file} could not be sent. Please ask for it again.",
            file=escape_html(row.file_name),
        )
    if text is None:
        return None
    instead: dict[str, Any] = {"chat_id": row.chat_id, "text": text, "parse_mode": "HTML"}
    if "reply_markup" in params:
        instead["reply_markup"] = params["reply_markup"]
    return instead


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # an int is deprecated; a timedelta with PTB_TIMEDELTA=true
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class _Retry(Exception):
    def __init__(self, delay: float, error: str, *, attempt: bool = True) -> None:
        super().__init__(error)
        self.delay, self.error, self.attempt = delay, error, attempt


class _GiveUp(Exception):
    """The call will not be made; `chat`: nor any other pending call of the chat (403)."""

    def __init__(self, error: str, *, chat: bool = False) -> None:
        super().__init__(error)
        self.error, self.chat = error, chat


class OutboxSender:
    """Makes the committed calls of the outbox. `wake` after each commit that owed something;
    `stop` cancels what is in flight at once (it stays pending for the next process)."""

    def __init__(
        self,
        bot: Bot,
        db: Database,
        *,
        clock: Callable[[], datetime],
        backoff: float = BACKOFF,
        outage_budget: float = OUTAGE_BUDGET,
    ) -> None:
        self.bot = bot
        self.db = db
        self._clock = clock
        self._backoff = backoff
        self._outage_budget = outage_budget
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._chats: dict[int, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._retry_at: dict[int, float] = {}  # chat -> monotonic time of its next try
        self._marks: list[tuple[int, int | None, datetime]] = []  # sent, to record as sent
        self._unmarked: set[int] = set()  # their ids, not to be sent again meanwhile
        self._marked: set[int] = set()  # of those, the ones whose "sent" is committed
        self._marker: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            # A context of its own: started from within an update, it would owe its own calls.
            self._task = asyncio.create_task(self._run(), context=contextvars.Context())
        self.wake()

    def wake(self) -> None:
        if self._task is None:
            return  # stopped (or not started): the next process sends it
        self._idle.clear()
        self._wake.set()

    async def stop(self) -> None:
        tasks = [*self._chats.values(), *([self._task] if self._task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._marker is not None:  # what was sent is recorded before we go
            with contextlib.suppress(Exception):
                await self._marker
        self._task = None
        self._chats.clear()
        self._idle.set()

    async def drained(self) -> None:
        """Until no chat is being sent to and no retry is due within IDLE_HORIZON (tests wait
        for this)."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                waiting = await self._dispatch()
            except Exception:
                log.exception("The outbox could not be read; trying again shortly")
                waiting = 1.0
            # Not idle if woken meanwhile: a commit after our read owes something new.
            quiet = not self._chats and not self._marks and not self._wake.is_set()
            if quiet and (waiting is None or waiting > IDLE_HORIZON):
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=waiting)

    async def _dispatch(self) -> float | None:
        """Start a worker for each chat with calls due and none running; seconds until the next
        retry is due (None: nothing waits but what runs)."""
        # Sent calls whose "sent" was committed before this read began are no longer pending in
        # what it reads; those committed meanwhile may still look pending, and stay skipped.
        self._unmarked -= self._marked
        self._marked = set()
        async with self.db.session() as session:
            await begin_reading(session)  # takes no write lock (SQLite)
            rows = await outbox.pending(session, BATCH + len(self._unmarked))
        by_chat: dict[int, list[OutboxMessage]] = {}
        for row in rows:
            if pk(row) not in self._unmarked:  # sent; its "sent" is being written
                by_chat.setdefault(row.chat_id, []).append(row)
        now = time.monotonic()
        soonest: float | None = None
        for chat_id, calls in by_chat.items():
            if chat_id in self._chats:
                continue
            due = self._retry_at.get(chat_id, 0.0)
            if due > now:
                soonest = due - now if soonest is None else min(soonest, due - now)
                continue
            if len(self._chats) >= CHATS_AT_ONCE:
                soonest = 0.05 if soonest is None else min(soonest, 0.05)
                continue
            self._chats[chat_id] = asyncio.create_task(self._chat(chat_id, calls))
        if self._chats and soonest is None and len(rows) >= BATCH:
            soonest = 0.05
        return soonest

    async def _chat(self, chat_id: int, calls: list[OutboxMessage]) -> None:
        try:
            for row in calls:
                if not await self._one(row):
                    break  # a retry waits; the chat's later calls wait behind it
        except Exception:
            log.exception("Sending to %s failed", chat_id)
            self._retry_at[chat_id] = time.monotonic() + self._backoff
        finally:
            self._chats.pop(chat_id, None)
            self.wake()

    async def _one(self, row: OutboxMessage) -> bool:
        """Make one call and record how it went; False when it waits for a retry."""
        now = self._clock()
        try:
            message_id = await self._call(row)
        except _Retry as retry:
            async with self.db.session() as session:
                await outbox.retry_at(
                    session,
                    pk(row),
                    now + timedelta(seconds=retry.delay),
                    retry.error,
                    attempt=retry.attempt,
                )
            self._retry_at[row.chat_id] = time.monotonic() + retry.delay
            return False
        except _GiveUp as gave_up:
            await self._give_up(row, gave_up, now)
            return True
        self._retry_at.pop(row.chat_id, None)
        if row.placeholder is not None and message_id is not None:
            outbox.remember_sent(row.placeholder, message_id)
        # Recorded with the other chats' in one transaction (group commit): one write per
        # call would queue every chat behind SQLite's one writer.
        self._unmarked.add(pk(row))
        self._marks.append((pk(row), message_id, now))
        if self._marker is None or self._marker.done():
            self._marker = asyncio.create_task(self._write_marks())
        return True

    async def _write_marks(self) -> None:
        while self._marks:
            marks, self._marks = self._marks, []
            try:
                async with self.db.session() as session:
                    await outbox.mark_sent_many(session, marks)
            except Exception:
                log.exception("Could not record %d sent message(s); trying again", len(marks))
                self._marks = marks + self._marks
                await asyncio.sleep(self._backoff)
                continue
            self._marked.update(row_id for row_id, _, _ in marks)
            self.wake()  # what waited behind them may go now

    async def _give_up(self, row: OutboxMessage, gave_up: _GiveUp, now: datetime) -> None:
        log.warning("Gave up %s to %s: %s", row.method, row.chat_id, gave_up.error)
        async with self.db.session() as session:
            ids = [pk(row)]
            if gave_up.chat:
                ids = await outbox.pending_of_chat(session, row.chat_id)
                await ledger.mark_member_unreachable(session, row.chat_id, now)
            await outbox.give_up(session, ids, gave_up.error, now)
            if gave_up.chat:
                return
            instead = _instead(row)
            if instead is not None:
                work = UpdateWork(row.chat_id, row.update_id, row.language)
                work.owed.append(OwedCall(row.chat_id, "sendMessage", instead))
                await outbox.add(session, work, now)

    async def _call(self, row: OutboxMessage) -> int | None:
        """The call; the id of the message that shows it, for sends and edits."""
        params = dict(row.params)
        if_gone = params.pop(IF_GONE, None)
        params.pop(IF_FAILED, None)
        target = params.get("message_id")
        if isinstance(target, int) and target < 0:
            async with self.db.session() as session:
                sent = await outbox.sent_message_id(session, target)  # a read only
            if sent is None:
                if if_gone is not None:
                    return await self._send_instead(row, params, if_gone)
                raise _GiveUp(f"the message it changes was not sent ({target})")
            params["message_id"] = sent
        if row.file_field is not None and row.file_content is not None:
            params[row.file_field] = InputFile(row.file_content, filename=row.file_name)
        try:
            result = await self.bot._post(row.method, params)
        except RetryAfter as flood:
            raise _Retry(_seconds(flood), str(flood), attempt=False) from flood
        except Forbidden as blocked:
            raise _GiveUp(blocked.message, chat=True) from blocked
        except BadRequest as refused:
            text = refused.message.lower()
            if "not modified" in text:
                return (
                    params.get("message_id") if isinstance(params.get("message_id"), int) else None
                )
            if if_gone is not None and any(gone in text for gone in GONE):
                return await self._send_instead(row, params, if_gone)
            raise _GiveUp(refused.message) from refused
        except NetworkError as trouble:  # 5xx, a timeout, no connection
            delay = min(self._backoff * 2**row.attempts, MAX_BACKOFF)
            waited = sum(min(self._backoff * 2**n, MAX_BACKOFF) for n in range(row.attempts))
            if waited + delay > self._outage_budget:
                raise _GiveUp(f"{type(trouble).__name__}: {trouble.message}") from trouble
            raise _Retry(delay, f"{type(trouble).__name__}: {trouble.message}") from trouble
        except TelegramError as other:
            raise _GiveUp(f"{type(other).__name__}: {other.message}") from other
        if isinstance(result, dict) and isinstance(result.get("message_id"), int):
            return int(result["message_id"])
        target = params.get("message_id")
        return target if isinstance(target, int) else None

    async def _send_instead(self, row: OutboxMessage, params: dict[str, Any], text: str) -> int:
        """The prompt to edit is gone (deleted by the person): ask in a new message."""
        new = {"chat_id": row.chat_id, "text": text}
        for key in ("parse_mode", "reply_markup"):
            if key in params:
                new[key] = params[key]
        retry = OutboxMessage(**{**row.model_dump(), "method": "sendMessage", "params": new})
        message_id = await self._call(retry)
        assert message_id is not None
        return message_id
