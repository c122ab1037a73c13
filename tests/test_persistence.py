"""PTB persistence in the database, on SQLite and PostgreSQL, through real PTB Applications.

The Bot API is replaced by a tiny in-process `BaseRequest` (getMe and sendMessage only), so the
Application initializes and handlers reply with no network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlmodel import select
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, RequestData

from bot.telegram.inbox import InboxQueue
from bot.telegram.persistence import (
    CHAT_DATA,
    USER_DATA,
    DatabasePersistence,
    FlushingApplication,
    conversation_namespace,
    decode_conversation_key,
    encode_conversation_key,
)
from storage import runtime, state
from storage.engine import Database
from storage.models import ConversationState
from storage.state import NAMESPACE_LENGTH

BOT_USER = {"id": 123, "is_bot": True, "first_name": "Danvan", "username": "danvan_bot"}
USER_ID = 7001
ASKING = "asking"

json_native = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


class StubRequest(BaseRequest):
    """Answers getMe and sendMessage like the Bot API would; records the texts sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self._message_ids = count(1000)

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *_: Any, **__: Any
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        result: object
        if endpoint == "getMe":
            result = BOT_USER
        elif endpoint == "sendMessage":
            chat_id, text = int(str(params["chat_id"])), str(params["text"])
            self.sent.append((chat_id, text))
            result = {
                "message_id": next(self._message_ids),
                "date": 0,
                "chat": {"id": chat_id, "type": ChatType.PRIVATE},
                "from": BOT_USER,
                "text": text,
            }
        else:
            return 404, json.dumps({"ok": False, "description": f"no {endpoint}"}).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()


def message_update(
    app: Application[Any, Any, Any, Any, Any, Any], update_id: int, text: str
) -> Update:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 0,
        "chat": {"id": USER_ID, "type": ChatType.PRIVATE, "first_name": "Lan"},
        "from": {"id": USER_ID, "is_bot": False, "first_name": "Lan"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    update = Update.de_json({"update_id": update_id, "message": message}, app.bot)
    assert update is not None
    return update


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    assert update.message is not None and context.user_data is not None
    assert context.chat_data is not None
    context.user_data["asked_at"] = "2025-01-02T03:04:05+00:00"
    context.chat_data["greeted"] = True
    await update.message.reply_text("What is your name?")
    return ASKING


async def got_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and update.message.text is not None
    assert context.user_data is not None
    context.user_data["name"] = update.message.text
    await update.message.reply_text(f"Hello, {update.message.text}")
    return ConversationHandler.END


def demo_conversation() -> ConversationHandler[Any]:
    return ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={ASKING: [MessageHandler(filters.TEXT & ~filters.COMMAND, got_name)]},
        fallbacks=[],
        persistent=True,
        name="demo",
    )


def build(
    db: Database,
    request: StubRequest,
    *,
    flushing: bool = True,
    update_queue: InboxQueue | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    builder = (
        ApplicationBuilder()
        .token("123:ABC")
        .persistence(DatabasePersistence(db))
        .updater(None)
        .request(request)
        .get_updates_request(StubRequest())
    )
    if update_queue is not None:
        builder = builder.update_queue(update_queue)
    if flushing:
        builder = builder.application_class(FlushingApplication)
    app = builder.build()
    app.add_handler(demo_conversation())
    return app


async def rows(db: Database) -> dict[tuple[str, str], Any]:
    async with db.session() as session:
        found = (await session.exec(select(ConversationState))).all()
    return {(row.namespace, row.key): row.data for row in found}


# --- storage.state -------------------------------------------------------------------------


async def test_save_load_delete(db: Database) -> None:
    async with db.session() as session:
        await state.save(session, "ns", "a", {"x": [1, 2.5, "ba", None, True]})
        await state.save(session, "ns", "b", "plain string")
        await state.save(session, "other", "a", 1)
    async with db.session() as session:
        assert await state.load_namespace(session, "ns") == {
            "a": {"x": [1, 2.5, "ba", None, True]},
            "b": "plain string",
        }
        assert await state.load_one(session, "other", "a") == 1
        assert await state.load_one(session, "other", "missing") is None
        assert await state.delete(session, "ns", "a") is True
        assert await state.delete(session, "ns", "a") is False
        await state.save(session, "ns", "b", "changed in the same session")
        assert await state.load_one(session, "ns", "b") == "changed in the same session"
        await state.save(session, "ns", "b", "plain string")
    async with db.session() as session:
        assert await state.load_namespace(session, "ns") == {"b": "plain string"}


async def test_save_replaces_and_moves_updated_at(db: Database) -> None:
    async with db.session() as session:
        await state.save(session, "ns", "k", {"v": 1})
    async with db.session() as session:
        first = await session.get(ConversationState, ("ns", "k"))
        assert first is not None
        first_at = first.updated_at
    async with db.session() as session:
        await state.save(session, "ns", "k", {"v": 2})
    async with db.session() as session:
        row = await session.get(ConversationState, ("ns", "k"))
        assert row is not None
        await session.refresh(row)
        assert row.data == {"v": 2}
        assert row.updated_at >= first_at
        assert row.updated_at.tzinfo is not None


async def test_concurrent_saves(db: Database) -> None:
    async def put(key: str, value: int) -> None:
        async with db.session() as session:
            await state.save(session, "ns", key, {"value": value})

    await asyncio.gather(*(put(f"k{i}", i) for i in range(20)))
    await asyncio.gather(*(put("same", i) for i in range(10)))
    async with db.session() as session:
        loaded = await state.load_namespace(session, "ns")
    assert {k: v for k, v in loaded.items() if k != "same"} == {
        f"k{i}": {"value": i} for i in range(20)
    }
    assert loaded["same"]["value"] in range(10)


@pytest.mark.parametrize(
    ("value", "culprit"),
    [
        ({"when": datetime(2025, 1, 1, tzinfo=UTC)}, "datetime"),
        ({"area": Decimal("1.5")}, "Decimal"),
        ({"pair": (1, 2)}, "tuple"),
        ({"tags": {"a"}}, "set"),
        ({1: "int key"}, "key 1"),
        ({"x": float("nan")}, "nan"),
        ({"deep": [{"deeper": object()}]}, "['deep'][0]['deeper']"),
    ],
)
def test_non_json_values_are_refused(value: Any, culprit: str) -> None:
    with pytest.raises(TypeError, match="JSON") as caught:
        state.ensure_json_native(value)
    assert culprit in str(caught.value)


def test_circular_data_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="circular"):
        state.ensure_json_native({"loop": loop})
    shared = [1]
    state.ensure_json_native({"a": shared, "b": shared})  # shared but not circular is fine


@given(json_native)
def test_json_native_values_pass(value: Any) -> None:
    state.ensure_json_native(value)
    assert json.loads(json.dumps(value)) == value


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=json_native)
async def test_json_native_values_round_trip(db: Database, value: Any) -> None:
    async with db.session() as session:
        await state.save(session, "prop", "k", value)
    async with db.session() as session:
        loaded = await state.load_one(session, "prop", "k")
    # Compared as JSON text, so 1 and 1.0 (equal in Python) still count as different.
    assert json.dumps(loaded, sort_keys=True) == json.dumps(value, sort_keys=True)


# --- DatabasePersistence -------------------------------------------------------------------


async def test_user_and_chat_data_round_trip(db: Database) -> None:
    persistence = DatabasePersistence(db)
    draft: dict[str, Any] = {
        "flow": "land",
        "answers": {"area_m2": "120.50"},
        "history": [],
        "pending": None,
    }
    await persistence.update_user_data(USER_ID, {"draft": draft})
    await persistence.update_user_data(2**40, {"n": 1})
    await persistence.update_chat_data(-1001234567890, {"greeted": True})

    fresh = DatabasePersistence(db)
    assert await fresh.get_user_data() == {USER_ID: {"draft": draft}, 2**40: {"n": 1}}
    assert await fresh.get_chat_data() == {-1001234567890: {"greeted": True}}
    assert await fresh.get_bot_data() == {}


async def test_empty_data_leaves_no_row(db: Database) -> None:
    persistence = DatabasePersistence(db)
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_user_data(1, {})
    await persistence.update_chat_data(2, {})
    assert await rows(db) == {}


async def test_drop_data(db: Database) -> None:
    persistence = DatabasePersistence(db)
    await persistence.update_user_data(1, {"a": 1})
    await persistence.update_user_data(2, {"b": 2})
    await persistence.update_chat_data(1, {"c": 3})
    await persistence.drop_user_data(1)
    await persistence.drop_chat_data(1)
    await persistence.drop_chat_data(999)  # nothing there: no error
    assert await rows(db) == {(USER_DATA, "2"): {"b": 2}}


async def test_conversations_round_trip_and_end(db: Database) -> None:
    persistence = DatabasePersistence(db)
    await persistence.update_conversation("demo", (1, 2), "asking")
    await persistence.update_conversation("demo", (3, 4), 5)
    await persistence.update_conversation("demo", (1, 2, "inline-id"), "other")
    await persistence.update_conversation("other", (1, 2), 1)
    assert await DatabasePersistence(db).get_conversations("demo") == {
        (1, 2): "asking",
        (3, 4): 5,
        (1, 2, "inline-id"): "other",
    }
    assert (conversation_namespace("demo"), "[1,2]") in await rows(db)

    await persistence.update_conversation("demo", (1, 2), None)
    await persistence.update_conversation("demo", (3, 4), ConversationHandler.END)
    assert await persistence.get_conversations("demo") == {(1, 2, "inline-id"): "other"}
    assert await persistence.get_conversations("other") == {(1, 2): 1}
    assert await persistence.get_conversations("never") == {}


def test_conversation_keys() -> None:
    assert encode_conversation_key((-100123, 45)) == "[-100123,45]"
    assert decode_conversation_key("[-100123,45]") == (-100123, 45)
    assert decode_conversation_key(encode_conversation_key((1, "Lân"))) == (1, "Lân")
    with pytest.raises(TypeError):
        encode_conversation_key((1.5,))  # type: ignore[arg-type]


async def test_non_json_data_raises_and_keeps_the_old_row(db: Database) -> None:
    persistence = DatabasePersistence(db)
    await persistence.update_user_data(1, {"ok": 1})
    with pytest.raises(TypeError, match=r"user_data\['1'\]\['when'\]: datetime"):
        await persistence.update_user_data(1, {"when": datetime.now(UTC)})
    with pytest.raises(TypeError, match="JSON"):
        await persistence.update_chat_data(1, {"area": Decimal(1)})
    with pytest.raises(TypeError, match="JSON"):
        await persistence.update_conversation("demo", (1, 1), object())
    assert await rows(db) == {(USER_DATA, "1"): {"ok": 1}}


# --- real PTB Applications -----------------------------------------------------------------


async def test_conversation_survives_a_restart(db: Database) -> None:
    request = StubRequest()
    first = build(db, request)
    await first.initialize()
    await first.process_update(message_update(first, 1, "/start"))
    assert request.sent == [(USER_ID, "What is your name?")]
    # Written right after the update, not at the next interval, and before any shutdown.
    assert await rows(db) == {
        (conversation_namespace("demo"), f"[{USER_ID},{USER_ID}]"): ASKING,
        (USER_DATA, str(USER_ID)): {"asked_at": "2025-01-02T03:04:05+00:00"},
        (CHAT_DATA, str(USER_ID)): {"greeted": True},
    }
    # A crash: the first Application is never shut down.

    second = build(db, request)
    await second.initialize()
    assert second.user_data[USER_ID] == {"asked_at": "2025-01-02T03:04:05+00:00"}
    await second.process_update(message_update(second, 2, "Lan"))
    assert request.sent[-1] == (USER_ID, "Hello, Lan")
    assert await rows(db) == {
        (USER_DATA, str(USER_ID)): {"asked_at": "2025-01-02T03:04:05+00:00", "name": "Lan"},
        (CHAT_DATA, str(USER_ID)): {"greeted": True},
    }
    await second.shutdown()

    third = build(db, request)
    await third.initialize()
    await third.process_update(message_update(third, 3, "Lan again"))
    assert request.sent[-1] == (USER_ID, "Hello, Lan"), "the ended conversation must stay ended"
    await third.shutdown()


async def test_an_update_is_marked_handled_with_the_state_it_left(db: Database) -> None:
    """With the inbox as the update queue, the state an update left and the mark that it was
    handled are one transaction: if the state cannot be written, the update is not marked,
    and the next process handles it again (rather than resuming from a state never saved)."""
    queue = InboxQueue(db, lambda: datetime(2025, 1, 2, tzinfo=UTC))
    app = build(db, StubRequest(), update_queue=queue)

    async def too_long(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
        assert context.user_data is not None
        context.user_data["name"] = "Lan"
        return ASKING

    app.add_handler(  # a state its name is too long to store under
        ConversationHandler(
            entry_points=[CommandHandler("long", too_long)],
            states={ASKING: []},
            fallbacks=[],
            persistent=True,
            name="x" * (NAMESPACE_LENGTH + 1),
        ),
        group=1,
    )
    await app.initialize()
    for update_id, text in ((1, "/start"), (2, "/long")):
        await queue.put(message_update(app, update_id, text))
        update = queue.get_nowait()
        if update_id == 1:
            await app.process_update(update)
        else:
            with pytest.raises(ValueError, match="too long"):
                await app.process_update(update)
    await app.shutdown()
    async with db.session() as session:
        left = [row.update_id for row in await runtime.unhandled(session)]
    assert left == [2]
    assert (await rows(db))[(USER_DATA, str(USER_ID))] == {
        "asked_at": "2025-01-02T03:04:05+00:00"  # no "name": written with update 2, undone
    }


@contextmanager
def counting_commits(db: Database) -> Iterator[list[None]]:
    """The transactions committed while inside, one element each."""
    commits: list[None] = []

    def count(_connection: Any) -> None:
        commits.append(None)

    event.listen(db.engine.sync_engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(db.engine.sync_engine, "commit", count)


async def test_writes_handed_over_together_are_committed_together(db: Database) -> None:
    """Group commit: the state of updates that finish at about the same time goes into one
    transaction, and each write returns only once it is committed."""
    persistence = DatabasePersistence(db)
    with counting_commits(db) as commits:
        await asyncio.gather(
            *(persistence.update_user_data(user, {"step": user}) for user in range(1, 31)),
            persistence.update_chat_data(99, {"greeted": True}),
        )
    assert len(commits) == 1
    stored = await rows(db)
    assert {key: data for (namespace, key), data in stored.items() if namespace == USER_DATA} == {
        str(user): {"step": user} for user in range(1, 31)
    }
    assert stored[(CHAT_DATA, "99")] == {"greeted": True}
    with counting_commits(db) as commits:  # a write and a delete of other keys, together
        await asyncio.gather(
            persistence.update_user_data(1, {}), persistence.update_user_data(2, {"step": 0})
        )
    assert len(commits) == 1
    stored = await rows(db)
    assert (USER_DATA, "1") not in stored and stored[(USER_DATA, "2")] == {"step": 0}


async def test_a_bad_write_fails_alone_in_its_group(db: Database) -> None:
    """One update's write the database refuses fails that update only: the others in its
    group are written."""
    persistence = DatabasePersistence(db)
    outcomes = await asyncio.gather(
        persistence.update_user_data(1, {"name": "Lan"}),
        persistence.update_conversation("x" * (NAMESPACE_LENGTH + 1), (1, 1), "asking"),
        persistence.update_user_data(2, {"name": "Huệ"}),
        return_exceptions=True,
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError) and "too long" in str(outcomes[1])
    stored = await rows(db)
    assert stored[(USER_DATA, "1")] == {"name": "Lan"}
    assert stored[(USER_DATA, "2")] == {"name": "Huệ"}
    assert not any(namespace.startswith("conversation:") for namespace, _ in stored)


async def test_updates_handled_together_are_marked_with_their_states(db: Database) -> None:
    """Several chats' updates handled at once: each one's state and handled mark are written,
    in fewer transactions than updates."""
    queue = InboxQueue(db, lambda: datetime(2025, 1, 2, tzinfo=UTC))
    app = build(db, StubRequest(), update_queue=queue)
    await app.initialize()
    updates = []
    for chat in range(5):
        update = message_update(app, 100 + chat, "/start")
        assert update.message is not None
        payload = update.to_dict()
        payload["message"]["chat"]["id"] = payload["message"]["from"]["id"] = USER_ID + chat
        moved = Update.de_json(payload, app.bot)
        assert moved is not None
        await queue.put(moved)
        updates.append(queue.get_nowait())
    with counting_commits(db) as commits:
        await asyncio.gather(*(app.process_update(update) for update in updates))
    await app.shutdown()
    assert 1 <= len(commits) < len(updates)
    async with db.session() as session:
        assert await runtime.unhandled(session) == []
    stored = await rows(db)
    for chat in range(5):
        key = str(USER_ID + chat)
        assert stored[(USER_DATA, key)] == {"asked_at": "2025-01-02T03:04:05+00:00"}
        assert stored[(conversation_namespace("demo"), f"[{key},{key}]")] == ASKING


async def test_a_polled_batch_is_stored_at_once_and_repeats_are_not_handled(
    db: Database,
) -> None:
    """The poller's batch goes into the inbox in one transaction before its updates are
    queued; an update received before (Telegram sending it again) is not queued again."""
    queue = InboxQueue(db, lambda: datetime(2025, 1, 2, tzinfo=UTC))
    app = build(db, StubRequest(), update_queue=queue)
    await app.initialize()
    await queue.put(message_update(app, 1, "/start"))
    assert queue.get_nowait().update_id == 1  # type: ignore[attr-defined]
    batch = [message_update(app, update_id, "/start") for update_id in (1, 2, 3)]
    with counting_commits(db) as commits:
        await queue.receive_batch(batch)
        for update in batch:
            await queue.put(update)
    assert len(commits) == 1
    queued = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [update.update_id for update in queued] == [2, 3]  # type: ignore[attr-defined]
    async with db.session() as session:
        assert [row.update_id for row in await runtime.unhandled(session)] == [1, 2, 3]
    await app.shutdown()


async def test_plain_application_writes_only_at_the_interval(db: Database) -> None:
    """Why FlushingApplication exists: without it nothing is written until the periodic run."""
    app = build(db, StubRequest(), flushing=False)
    await app.initialize()
    await app.process_update(message_update(app, 1, "/start"))
    assert await rows(db) == {}
    await app.update_persistence()
    assert (conversation_namespace("demo"), f"[{USER_ID},{USER_ID}]") in await rows(db)
    await app.shutdown()


async def test_non_json_user_data_reaches_the_error_handler(db: Database) -> None:
    app = build(db, StubRequest())
    errors: list[object] = []

    async def remember(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    async def bad(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.user_data is not None
        context.user_data["when"] = datetime.now(UTC)

    app.add_handler(CommandHandler("bad", bad), group=1)
    app.add_error_handler(remember)
    await app.initialize()
    await app.process_update(message_update(app, 1, "/bad"))
    assert len(errors) == 1 and isinstance(errors[0], TypeError)
    assert "datetime" in str(errors[0])
    await app.shutdown()


@pytest.mark.parametrize(
    "value",
    [
        "nul \x00 byte",
        "Đường làng 🌾",
        "1.0",
        2**70,
        -(2**70),
        2**63 - 1,
        1.0,
        1e308,
        5e-324,
        -0.0,
        True,
        None,
        [],
        {},
        {"": None, "f": 1.0},
    ],
)
async def test_awkward_values_round_trip(db: Database, value: Any) -> None:
    async with db.session() as session:
        await state.save(session, "edge", "k", value)
    async with db.session() as session:
        loaded = await state.load_one(session, "edge", "k")
    assert json.dumps(loaded) == json.dumps(value)


async def test_values_of_every_kind_saved_together_round_trip(db: Database) -> None:
    """One statement for several keys (group commit) keeps each value as one alone would."""
    values: list[Any] = [1, 2**70, 1.0, -0.0, True, None, "1.0", {"f": 1.0}, [1, "a"], {}]
    async with db.session() as session:
        await state.save_many(session, [("mix", str(n), value) for n, value in enumerate(values)])
    async with db.session() as session:
        loaded = await state.load_namespace(session, "mix")
    assert [json.dumps(loaded[str(n)]) for n in range(len(values))] == [
        json.dumps(value) for value in values
    ]
    async with db.session() as session:
        assert await state.delete_many(session, [("mix", "0"), ("mix", "1"), ("mix", "x")]) == 2
        assert sorted(await state.load_namespace(session, "mix")) == [
            str(n) for n in range(2, len(values))
        ]


async def test_overlong_names_are_refused_on_every_backend(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(ValueError, match="too long"):
            await state.save(session, "n" * (state.NAMESPACE_LENGTH + 1), "k", 1)
        with pytest.raises(ValueError, match="too long"):
            await state.save(session, "n", "k" * (state.KEY_LENGTH + 1), 1)
        await state.save(session, "n" * state.NAMESPACE_LENGTH, "k" * state.KEY_LENGTH, 1)
