"""Small JSON documents the bot remembers between messages, by namespace and key.

Values must be JSON-native: None, bool, int, float (finite), str, lists of these and dicts
with str keys. Anything else (tuples, dates, Decimals, enums, int keys) would come back
changed or not at all, so `save` refuses it with a TypeError instead.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import LargeBinary, tuple_, type_coerce
from sqlalchemy import delete as sql_delete
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import dialect_insert
from storage.models import CONVERSATION_STATE, ConversationState, utcnow

NAMESPACE_LENGTH = 100  # the column sizes in storage.models.ConversationState
KEY_LENGTH = 200
_SCALARS = (str, int, bool)
_SHOWN = 60  # how much of an offending value a TypeError quotes


def ensure_json_native(value: Any, where: str = "value") -> None:
    """Raise TypeError, naming the path to the culprit, unless `value` is JSON-native."""
    _check(value, where, set())


def _check(value: Any, where: str, open_containers: set[int]) -> None:
    kind = type(value)
    if value is None or kind in _SCALARS:
        return
    if kind is float:
        if not math.isfinite(value):
            raise TypeError(f"{where}: {value!r} is not valid JSON; store None or a string")
        return
    if kind is not list and kind is not dict:
        shown = repr(value)
        if len(shown) > _SHOWN:
            shown = shown[:_SHOWN] + "…"
        raise TypeError(
            f"{where}: {kind.__name__} {shown} is not JSON-native; keep only None, bool, int, "
            "float, str, lists and dicts with str keys (e.g. dates as ISO strings)"
        )
    if id(value) in open_containers:
        raise TypeError(f"{where}: circular reference")
    open_containers.add(id(value))
    if kind is list:
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]", open_containers)
    else:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(
                    f"{where}: key {key!r} is {type(key).__name__}; JSON object keys must be str"
                )
            _check(item, f"{where}[{key!r}]", open_containers)
    open_containers.discard(id(value))


async def load_namespace(session: AsyncSession, namespace: str) -> dict[str, Any]:
    """Every key in the namespace with its data."""
    # Columns, not rows: the upsert bypasses the ORM, so rows in the identity map may be stale.
    query = select(ConversationState.key, ConversationState.data).where(
        ConversationState.namespace == namespace
    )
    return {key: data for key, data in (await session.exec(query)).all()}


async def load_one(session: AsyncSession, namespace: str, key: str) -> Any | None:
    """The data under the key, or None when there is no row."""
    query = select(ConversationState.data).where(
        ConversationState.namespace == namespace, ConversationState.key == key
    )
    return (await session.exec(query)).first()


async def save(session: AsyncSession, namespace: str, key: str, data: Any) -> None:
    """Insert or replace the data under the key; one atomic statement on either backend."""
    await save_many(session, [(namespace, key, data)])


async def save_many(session: AsyncSession, items: list[tuple[str, str, Any]]) -> None:
    """Insert or replace (namespace, key, data) items in one statement; each key at most
    once (the statement could not say which of two wins)."""
    if not items:
        return
    insert = dialect_insert(session)
    dialect = session.get_bind().dialect.name
    now = utcnow()
    rows = []
    for namespace, key, data in items:
        # PostgreSQL would refuse longer strings and SQLite keep them; refuse them on both.
        if len(namespace) > NAMESPACE_LENGTH or len(key) > KEY_LENGTH:
            raise ValueError(
                f"namespace {namespace[:20]!r}… or key {key[:20]!r}… too long "
                f"(at most {NAMESPACE_LENGTH} and {KEY_LENGTH} characters)"
            )
        ensure_json_native(data, f"{namespace}[{key!r}]")
        payload: Any = data
        if dialect == "sqlite" and type(data) in (int, float):
            # A column declared JSON has NUMERIC affinity in SQLite, which would store the text
            # "1.0" as the integer 1 and a big int as a float; a BLOB is kept byte for byte.
            payload = type_coerce(json.dumps(data).encode(), LargeBinary)
        rows.append({"namespace": namespace, "key": key, "data": payload, "updated_at": now})
    statement = insert(CONVERSATION_STATE).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["namespace", "key"],
        set_={"data": statement.excluded.data, "updated_at": statement.excluded.updated_at},
    )
    await session.exec(statement)


async def delete(session: AsyncSession, namespace: str, key: str) -> bool:
    """Remove the key; True when there was a row."""
    return bool(await delete_many(session, [(namespace, key)]))


async def delete_many(session: AsyncSession, keys: list[tuple[str, str]]) -> int:
    """Remove the (namespace, key) pairs in one statement; returns how many rows there were."""
    if not keys:
        return 0
    statement = sql_delete(CONVERSATION_STATE).where(
        tuple_(CONVERSATION_STATE.c.namespace, CONVERSATION_STATE.c.key).in_(keys)
    )
    result = await session.exec(statement)
    return int(result.rowcount)
