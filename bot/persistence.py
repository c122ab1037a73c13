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

import json
from typing import Any

from telegram.ext import Application, BasePersistence, ConversationHandler, PersistenceInput

from storage import state
from storage.engine import Database, begin_reading

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


class DatabasePersistence(BasePersistence[Data, Data, Data]):
    """User data, chat data and conversation states in the database; each `update_*` writes
    at once in its own short transaction, so `flush` has nothing left to do.

    PTB hands over the user and chat data of every update, changed or not (a private chat's
    chat_data is always empty). What is already stored, as loaded or last written by this
    process, is not written again: the only writer is this process (see `refresh_user_data`)."""

    __slots__ = ("_stored", "db")

    def __init__(self, db: Database, update_interval: float = 60) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=True, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self.db = db
        # namespace -> key -> the stored data as canonical JSON, for the namespaces loaded.
        self._stored: dict[str, dict[str, str]] = {}

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
        if stored is not None:
            stored.pop(key, None)  # unknown until this write commits
        async with self.db.session() as session:
            if gone:
                await state.delete(session, namespace, key)
            else:
                await state.save(session, namespace, key, data)
        if stored is not None:
            if wanted is None:
                stored.pop(key, None)
            else:
                stored[key] = wanted

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
        """Every update_* has already committed."""


def _canonical(data: Any) -> str:
    """JSON that tells apart what the database would (1 and 1.0, True and 1, key order aside)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class FlushingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """Writes persistence after every update instead of every `update_interval` seconds, so a
    crash or restart loses no answer already acknowledged to the user.

    Select it with `ApplicationBuilder().application_class(FlushingApplication)`. Handlers
    running with block=False finish after this write; their changes go out with the next
    update or the periodic run.
    """

    async def process_update(self, update: object) -> None:
        await super().process_update(update)
        if self.persistence is not None:
            await self.update_persistence()
