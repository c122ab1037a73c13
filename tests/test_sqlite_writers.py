"""SQLite has one write lock: this process's writers take turns at it in the order they came
(storage.engine.WriterTurns) instead of sleeping in SQLite's busy handler and retrying."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.util import greenlet_spawn

from storage import engine
from storage.engine import Database, begin_reading

WRITERS = 40


async def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'writers.db'}")
    async with db.session() as session:
        await session.exec(text("CREATE TABLE written (writer INTEGER NOT NULL)"))  # type: ignore[call-overload]
    return db


async def hold_the_lock(db: Database, release: asyncio.Event) -> None:
    """A writer that keeps its transaction (and SQLite's write lock) until `release`."""
    async with db.session() as session:
        await session.exec(text("INSERT INTO written VALUES (0)"))  # type: ignore[call-overload]
        await release.wait()


async def write(db: Database, writer: int, *, first: bool = False) -> None:
    async with db.session() as session:
        if first:
            await engine.begin_writing_first(session)
        await session.exec(  # type: ignore[call-overload]
            text("INSERT INTO written (writer) VALUES (:writer)"), params={"writer": writer}
        )


async def test_writers_of_one_process_never_meet_the_busy_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no busy timeout, a writer that found the lock taken would fail at once with
    "database is locked": every one of these succeeds because each waits for its turn."""
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 0)
    db = await database(tmp_path)
    try:

        async def write_slowly(writer: int) -> None:
            async with db.session() as session:
                await session.exec(  # type: ignore[call-overload]
                    text("INSERT INTO written (writer) VALUES (:writer)"), params={"writer": writer}
                )
                await asyncio.sleep(0.001)  # the transaction stays open a moment: others queue

        await asyncio.gather(*(write_slowly(n) for n in range(WRITERS)))
        async with db.session() as session:
            await begin_reading(session)
            rows = await session.exec(text("SELECT writer FROM written"))  # type: ignore[call-overload]
            written = sorted(row[0] for row in rows)
    finally:
        await db.dispose()
    assert written == list(range(WRITERS))


async def test_turns_go_in_the_order_they_were_asked_for() -> None:
    turns = engine.WriterTurns()
    order: list[int] = []

    async def writer(n: int) -> None:
        await greenlet_spawn(turns.take)  # as SQLAlchemy's begin event calls it
        order.append(n)
        await asyncio.sleep(0)
        turns.give_back()

    await greenlet_spawn(turns.take)
    tasks = [asyncio.create_task(writer(n)) for n in range(10)]
    await asyncio.sleep(0.01)
    assert order == []  # all wait for the first turn
    turns.give_back()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert order == list(range(10))


async def test_a_writer_cancelled_while_waiting_leaves_the_turns_working(tmp_path: Path) -> None:
    db = await database(tmp_path)
    release = asyncio.Event()
    try:
        holder = asyncio.create_task(hold_the_lock(db, release))
        await asyncio.sleep(0.05)
        cancelled = asyncio.create_task(write(db, 1))
        waiting = asyncio.create_task(write(db, 2))
        await asyncio.sleep(0.05)
        assert not cancelled.done() and not waiting.done()  # both wait for their turn
        cancelled.cancel()
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, waiting), timeout=10)
        await asyncio.wait_for(write(db, 3), timeout=10)  # and the turns still go round
        async with db.session() as session:
            rows = await session.exec(text("SELECT writer FROM written ORDER BY rowid"))  # type: ignore[call-overload]
            written = [row[0] for row in rows]
    finally:
        await db.dispose()
    assert cancelled.cancelled()
    assert written == [0, 2, 3]


async def test_a_one_statement_read_runs_without_begin_beside_a_writer(tmp_path: Path) -> None:
    """The lookup made on every update issues no BEGIN on SQLite (three thread round trips
    fewer), takes no write lock and reads what is committed while a writer holds the lock."""
    db = await database(tmp_path)
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    writing, release = asyncio.Event(), asyncio.Event()
    try:
        async with db.session() as session:
            await session.exec(text("INSERT INTO written VALUES (1)"))  # type: ignore[call-overload]

        async def hold() -> None:
            async with db.session() as session:
                await session.exec(text("INSERT INTO written VALUES (2)"))  # type: ignore[call-overload]
                writing.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await writing.wait()
        statements.clear()
        async with db.session() as session:
            await begin_reading(session, one_statement=True)
            rows = await session.exec(text("SELECT writer FROM written"))  # type: ignore[call-overload]
            seen = [row[0] for row in rows]
        assert seen == [1]
        assert statements == ["SELECT writer FROM written"]
        release.set()
        await holder
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)
        await db.dispose()


async def test_received_updates_are_stored_ahead_of_the_writers_waiting(tmp_path: Path) -> None:
    """begin_writing_first (the inbox's): its transaction takes the next turn at SQLite's write
    lock, before writers that asked earlier; they keep their order behind it."""
    db = await database(tmp_path)
    release = asyncio.Event()
    try:
        holder = asyncio.create_task(hold_the_lock(db, release))
        await asyncio.sleep(0.05)
        waiting = []
        for writer in (1, 2):  # one by one: opening their connections takes varying time
            waiting.append(asyncio.create_task(write(db, writer)))
            await asyncio.sleep(0.05)
        inbox = asyncio.create_task(write(db, 3, first=True))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.wait_for(asyncio.gather(holder, inbox, *waiting), timeout=10)
        async with db.session() as session:
            rows = await session.exec(text("SELECT writer FROM written ORDER BY rowid"))  # type: ignore[call-overload]
            written = [row[0] for row in rows]
    finally:
        await db.dispose()
    assert written == [0, 3, 1, 2]
