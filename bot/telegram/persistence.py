"""PTB persistence kept in the `conversation_state` table, so drafts survive restarts.

What is stored, each as one row (namespace, key):

* `user_data` and `chat_data`: namespace "user_data" / "chat_data", key the id as a string.
  An empty dict deletes the row instead, so people who never keep anything leave no rows.
* persistent ConversationHandler states: namespace "conversation:<name>", key the JSON of the
  key tuple, e.g. "[123,456]" for (chat id, user id); ending a conversation deletes the row.

Everything stored must be JSON-native (None, bool, int, float, str, lists, dicts with str
keys): keep dates as ISO strings and Decimals as strings. Anything else raises TypeError,
which the Application hands to the error handlers, rather than coming back altered.

`bot_data` is not stored: the application keeps the Database, the Settings and a clock there,
and PTB deep-copies the whole of `bot_data` on every persistence run if it is stored at all.
Callback data (arbitrary_callback_data) is not stored either.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application, BasePersistence, ConversationHandler, PersistenceInput

from bot.telegram.inbox import InboxQueue
from storage import outbox, runtime, state
from storage.engine import Database, begin_reading, session_writes
from storage.models import utcnow
from storage.outbox import UpdateWork

OUTBOX_SENDER = "outbox_sender"  # bot_data key of the OutboxSender (bot/telegram/outbox.py)
USER_DATA = "user_data"
CHAT_DATA = "chat_data"
CONVERSATION_PREFIX = "conversation:"

ConversationKey = tuple[int | str, ...]
Data = dict[Any, Any]


def conversation_namespace(name: str) -> str:
    return CONVERSATION_PREFIX + name


def encode_conversation_key(key: ConversationKey) -> str:
    """The key tuple as compact JSON, e.g. (123, 456) -> "[123,456]"."""
    if not all(type(part) in (int, str) for part in key):
        raise TypeError(f"conversation key {key!r} must hold only int and str")
    return json.dumps(list(key), separators=(",", ":"), ensure_ascii=False)


def decode_conversation_key(text: str) -> ConversationKey:
    return tuple(json.loads(text))


@dataclass(frozen=True)
class _Write:
    namespace: str
    key: str
    data: Any  # None: delete the row
    canonical: str | None


@dataclass
class _Commit:
    """One update's writes, waiting for the transaction that takes them."""

    writes: list[_Write]
    handled: runtime.HandledMark | None
    done: asyncio.Future[None]
    work: UpdateWork | None = None  # what the update owes, stored with it

    def fail(self, exc: BaseException) -> None:
        if self.done.done():
            return
        if isinstance(exc, Exception):
            self.done.set_exception(exc)
        else:  # the committer was cancelled or stopped: so is this write
            self.done.cancel()


# At most this many updates' writes in one transaction (SQLite allows 32.766 bound values).
MAX_GROUP = 200

# While set (see `collecting`), the update_* methods add their writes here instead of writing.
_collected: ContextVar[list[_Write] | None] = ContextVar("danvan_persistence", default=None)


@contextmanager
def collecting(writes: list[_Write]) -> Iterator[None]:
    """Let the update_* methods called in here (and in tasks started here) only note what
    they would write, for `DatabasePersistence.write` to write in one transaction."""
    token = _collected.set(writes)
    try:
        yield
    finally:
        _collected.reset(token)


class DatabasePersistence(BasePersistence[Data, Data, Data]):
    """User data, chat data and conversation states in the database; each `update_*` writes
    at once in its own short transaction (or, while `collecting`, is written with the others
    by `write`), so `flush` has nothing left to do.

    PTB hands over the user and chat data of every update, changed or not (a private chat's
    chat_data is always empty). What is already stored, as loaded or last written by this
    process, is not written again: the only writer is this process (see `refresh_user_data`).

    Writes are committed in groups: those handed to `write` while a transaction is being
    written go together in the next one (see `write`)."""

    __slots__ = ("_committer", "_pending", "_stored", "clock", "db")

    def __init__(
        self,
        db: Database,
        update_interval: float = 60,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=True, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self.db = db
        self.clock = clock
        # namespace -> key -> the stored data as canonical JSON, for the namespaces loaded.
        self._stored: dict[str, dict[str, str]] = {}
        self._pending: list[_Commit] = []
        self._committer: asyncio.Task[None] | None = None

    async def _load(self, namespace: str) -> dict[str, Any]:
        async with self.db.session() as session:
            await begin_reading(session)
            rows = await state.load_namespace(session, namespace)
        self._stored[namespace] = {key: _canonical(data) for key, data in rows.items()}
        return rows

    async def _load_by_id(self, namespace: str) -> dict[int, Data]:
        return {int(key): data for key, data in (await self._load(namespace)).items()}

    async def _save_or_delete(self, namespace: str, key: str, data: Any) -> None:
        gone = data is None or data == {}
        if not gone:
            state.ensure_json_native(data, f"{namespace}[{key!r}]")
        wanted = None if gone else _canonical(data)
        stored = self._stored.get(namespace)
        if stored is not None and stored.get(key) == wanted:
            return  # already so in the database
        write = _Write(namespace, key, None if gone else data, wanted)
        collected = _collected.get()
        if collected is not None:
            collected.append(write)
        else:
            await self.write([write])

    async def write(
        self,
        writes: list[_Write],
        *,
        handled: runtime.HandledMark | None = None,
        work: UpdateWork | None = None,
    ) -> None:
        """Write `writes` in order and mark the update `handled`, in one transaction, and
        return once it is committed.

        Group commit: what other updates hand over while a transaction is being written goes
        together into the next one. Each transaction costs the same few round trips to the
        database whatever it holds, and SQLite takes one writer at a time, so under load one
        transaction per update would queue them all behind each other. An update's own writes
        are never split across transactions. If a group fails, each of its parts is tried
        alone, so that one update's bad write does not fail the others."""
        owes = work is not None and bool(work.owed)
        if not writes and handled is None and not owes:
            return
        self._forget(writes)
        commit = _Commit(writes, handled, asyncio.get_running_loop().create_future(), work)
        self._pending.append(commit)
        if self._committer is None:
            self._committer = asyncio.ensure_future(self._commit_pending())
        await commit.done

    async def _commit_pending(self) -> None:
        group: list[_Commit] = []
        try:
            while self._pending:
                group = self._pending[:MAX_GROUP]
                del self._pending[:MAX_GROUP]
                try:
                    await self._commit(group)
                except Exception as exc:
                    if len(group) == 1:
                        group[0].fail(exc)
                        continue
                    for commit in group:
                        try:
                            await self._commit([commit])
                        except Exception as alone:
                            commit.fail(alone)
        except BaseException as exc:  # cancelled, say at shutdown: no one waits for ever
            for commit in [*group, *self._pending]:
                commit.fail(exc)
            self._pending.clear()
            raise
        finally:
            self._committer = None

    def _forget(self, writes: list[_Write]) -> None:
        for write in writes:
            stored = self._stored.get(write.namespace)
            if stored is not None:
                stored.pop(write.key, None)  # unknown until this commits

    def _remember(self, writes: list[_Write]) -> None:
        for write in writes:
            stored = self._stored.get(write.namespace)
            if stored is None:
                continue
            if write.canonical is None:
                stored.pop(write.key, None)
            else:
                stored[write.key] = write.canonical

    async def _commit(self, group: list[_Commit]) -> None:
        async with self.db.session() as session:
            await self._statements(session, group)
        for commit in group:
            self._remember(commit.writes)
            if not commit.done.done():  # its update may have been cancelled meanwhile
                commit.done.set_result(None)

    async def _statements(self, session: AsyncSession, group: list[_Commit]) -> None:
        """The group's state, handled marks and owed calls, in the session's transaction."""
        latest: dict[tuple[str, str], _Write] = {}  # a key written twice: its last write wins
        for commit in group:
            for write in commit.writes:
                latest[(write.namespace, write.key)] = write
        marks = [commit.handled for commit in group if commit.handled is not None]
        await state.delete_many(
            session, [key for key, write in latest.items() if write.data is None]
        )
        await state.save_many(
            session,
            [(*key, write.data) for key, write in latest.items() if write.data is not None],
        )
        if marks:
            await runtime.mark_handled_many(
                session, [mark.update_id for mark in marks], max(mark.at for mark in marks)
            )
        for commit in group:
            if commit.work is not None and commit.work.owed:
                await outbox.add(session, commit.work, self.clock())

    async def write_with_work(
        self,
        session: AsyncSession,
        writes: list[_Write],
        *,
        handled: runtime.HandledMark | None,
        work: UpdateWork,
    ) -> None:
        """Write `writes`, the handled mark and what the update owes in the transaction its
        handler left open in `session` (its records), and commit them all at once."""
        self._forget(writes)
        commit = _Commit(writes, handled, asyncio.get_running_loop().create_future(), work)
        await self._statements(session, [commit])
        await session.commit()
        self._remember(writes)

    async def get_user_data(self) -> dict[int, Data]:
        return await self._load_by_id(USER_DATA)

    async def get_chat_data(self) -> dict[int, Data]:
        return await self._load_by_id(CHAT_DATA)

    async def get_bot_data(self) -> Data:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def get_conversations(self, name: str) -> dict[ConversationKey, object]:
        rows = await self._load(conversation_namespace(name))
        return {decode_conversation_key(key): value for key, value in rows.items()}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        # PTB passes None when a conversation ends; END itself only arrives if set by hand.
        ended = new_state is None or new_state == ConversationHandler.END
        await self._save_or_delete(
            conversation_namespace(name),
            encode_conversation_key(key),
            None if ended else new_state,
        )

    async def update_user_data(self, user_id: int, data: Data) -> None:
        await self._save_or_delete(USER_DATA, str(user_id), data)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        await self._save_or_delete(CHAT_DATA, str(chat_id), data)

    async def update_bot_data(self, data: Data) -> None:
        """Not stored (see the module docstring)."""

    async def update_callback_data(self, data: object) -> None:
        """Not stored."""

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._save_or_delete(CHAT_DATA, str(chat_id), None)

    async def drop_user_data(self, user_id: int) -> None:
        await self._save_or_delete(USER_DATA, str(user_id), None)

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Only this process writes the rows, so memory is always current."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """Only this process writes the rows, so memory is always current."""

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """Not stored."""

    async def flush(self) -> None:
        """Every update_* has already committed, or is being committed: wait for it."""
        while self._committer is not None:
            await asyncio.shield(self._committer)


def _canonical(data: Any) -> str:
    """JSON that tells apart what the database would (1 and 1.0, True and 1, key order aside)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class FlushingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """Writes persistence after every update instead of every `update_interval` seconds, so a
    crash or restart loses no answer already acknowledged to the user; with an InboxQueue as
    the update queue, in the same transaction that marks the update handled, so that an update
    whose new state was written is never handled again, and one whose state was not is.

    Select it with `ApplicationBuilder().application_class(FlushingApplication)`. Handlers
    running with block=False finish after this write; their changes go out with the next
    update or the periodic run.
    """

    async def process_update(self, update: object) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        work = UpdateWork(
            chat.id if chat is not None else None,
            update.update_id if isinstance(update, Update) else None,
        )
        token = outbox.begin_work(work)
        try:
            await super().process_update(update)
        finally:
            outbox.end_work(token)
        try:
            await self._commit_update(update, work)
        finally:
            if work.session is not None:
                await work.session.close()
        if work.owed:
            sender = self.bot_data.get(OUTBOX_SENDER)
            if sender is not None:
                sender.wake()
        for follow_up in work.after_commit:
            await follow_up()

    async def _commit_update(self, update: object, work: UpdateWork) -> None:
        """The update's records (in the session its handler left open), its new conversation
        state, its handled mark and what it owes the person, in one transaction."""
        inbox = self.update_queue if isinstance(self.update_queue, InboxQueue) else None
        persistence = self.persistence
        session = work.session
        if not isinstance(persistence, DatabasePersistence):
            if session is not None:
                await session.commit()
            if persistence is not None:
                await self.update_persistence()
            if inbox is not None:
                await inbox.handled(update)
            return
        writes: list[_Write] = []
        with collecting(writes):
            await self.update_persistence()
        handled = None
        if inbox is not None:
            inbox.note_handled(update)
            handled = inbox.handled_mark(update)
        if session is not None and await session_writes(session):
            await persistence.write_with_work(session, writes, handled=handled, work=work)
            return
        if session is not None:
            await session.commit()  # it only read: end that, and go with the group
        try:
            await persistence.write(writes, handled=handled, work=work)
        except Exception as exc:
            if inbox is not None and not writes and not work.owed:
                inbox.mark_failed(update, exc)  # only the mark failed: logged, not raised
                return
            raise
