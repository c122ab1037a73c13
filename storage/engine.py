"""The async engine and sessions: SQLite (WAL) by default, PostgreSQL in production."""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

# SQLite keeps NUMERIC as REAL; areas are 2-decimal m² well inside float precision, and Python
# always sees Decimal. The warning would otherwise repeat in every log.
warnings.filterwarnings("ignore", r".*does \*not\* support Decimal objects natively", exc.SAWarning)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# An execution option: this transaction only reads, so on SQLite it begins DEFERRED and takes no
# write lock (see `begin_reading`).
READS_ONLY = "danvan_reads_only"
# With READS_ONLY: the transaction is one statement, which SQLite runs atomically without BEGIN.
ONE_STATEMENT = "danvan_one_statement"
_HOLDS_TURN = "danvan_holds_writer_turn"
# A writer that goes ahead of those waiting on SQLite: storing received updates, which every
# update of the batch (and the next poll) waits for.
WRITES_FIRST = "danvan_writes_first"


log = logging.getLogger(__name__)

# The sessions opened in this task (and in the task that started it), to check the rule that no
# network call waits while one of them holds a transaction open (`check_no_transaction`).
_OPEN_SESSIONS: ContextVar[tuple[AsyncSession, ...]] = ContextVar("danvan_sessions", default=())
# Tests make a broken rule fail loudly; in production it is logged.
STRICT_ENV = "DANVAN_STRICT_TRANSACTIONS"


class NetworkInTransaction(RuntimeError):
    """A network call was about to wait while a database transaction was open."""


def holding_transaction(also: AsyncSession | None = None) -> bool:
    """Whether a session of this task, or `also` (the update's), is inside a transaction
    right now."""
    sessions = (*_OPEN_SESSIONS.get(), *([also] if also is not None else []))
    return any(session.in_transaction() for session in sessions)


async def session_writes(session: AsyncSession) -> bool:
    """Whether the session has something to commit: rows added, changed or deleted, or a
    transaction that may have written (one not begun read-only)."""
    if session.new or session.dirty or session.deleted:
        return True
    if not session.in_transaction():
        return False
    connection = await session.connection()
    return not connection.sync_connection.get_execution_options().get(READS_ONLY, False)  # type: ignore[union-attr]


def check_no_transaction(call: str, also: AsyncSession | None = None) -> None:
    """Called before every Bot API request: a transaction held open across it would keep
    SQLite's write lock (and a PostgreSQL connection) for as long as Telegram takes. `also`:
    the session of the update being handled."""
    if not holding_transaction(also):
        return
    if os.environ.get(STRICT_ENV) == "1":
        raise NetworkInTransaction(f"{call} was called inside an open database transaction")
    log.warning("%s was called inside an open database transaction", call)


class DatabaseUrlError(ValueError):
    """DATABASE_URL is not a plain sqlite:/// or postgresql:// URL."""


def to_async_url(database_url: str) -> URL:
    """Map the URL users write to the async driver, so no one types driver names."""
    try:
        url = make_url(database_url.strip())
    except exc.ArgumentError:
        raise DatabaseUrlError(
            "must look like sqlite:///danvan.db or postgresql://user@host/db"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, ""):
            raise DatabaseUrlError("give a file, e.g. sqlite:///danvan.db")
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        if not url.host and not url.query.get("host"):
            raise DatabaseUrlError("give a host, e.g. postgresql://postgres@127.0.0.1/danvan")
        return url.set(drivername="postgresql+psycopg")
    raise DatabaseUrlError(f"unsupported database {backend!r}; use sqlite or postgresql")


class WriterTurns:
    """Turns at SQLite's one write lock for this process's transactions, first come first
    served. Without them, writers that find the lock taken sleep in SQLite's busy handler
    (1, 2, 5, 10 … 100 ms) and retry, so under load most of the time goes to sleeping; with
    them a writer waits in the event loop and starts the moment the previous one commits.
    Other processes (the CLI) still meet the busy timeout."""

    def __init__(self) -> None:
        self._taken = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take(self, *, first: bool = False) -> None:
        """Take the turn, or wait for it at the end of the line (at its head when `first`);
        from synchronous code run by SQLAlchemy's async layer (greenlet)."""
        if not self._taken and not self._waiting:
            self._taken = True
            return
        await_only(self._wait(first))

    async def _wait(self, first: bool) -> None:
        turn = asyncio.get_running_loop().create_future()
        if first:
            self._waiting.appendleft(turn)
        else:
            self._waiting.append(turn)
        try:
            await turn  # give_back hands the turn over by setting the result
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give_back()  # handed over just as we were cancelled: pass it on
            else:
                self._waiting.remove(turn)
            raise

    def give_back(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # still taken: now theirs
                return
        self._taken = False


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    sync_engine = engine.sync_engine
    turns = WriterTurns()

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (below); the driver's implicit BEGIN is DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that later writes fails at once with "database is locked"
        # when another writer got in first; IMMEDIATE takes the lock up front and waits. Only a
        # transaction declared read-only begins DEFERRED: in WAL mode it never waits for, nor
        # holds up, a writer.
        options = connection.get_execution_options()
        if options.get(READS_ONLY):
            if not options.get(ONE_STATEMENT):  # each BEGIN costs three thread round trips
                connection.exec_driver_sql("BEGIN DEFERRED")
            return
        if not connection.info.get(_HOLDS_TURN):
            turns.take(first=bool(options.get(WRITES_FIRST)))
            connection.info[_HOLDS_TURN] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _give_back(connection.info)
            raise

    def _give_back(info: dict[Any, Any]) -> None:
        if info.pop(_HOLDS_TURN, False):
            turns.give_back()

    # A session gives its connection back to the pool once COMMIT or ROLLBACK is done: only
    # then may the next writer's BEGIN reach SQLite.
    event.listen(sync_engine.pool, "checkin", lambda _dbapi, record: _give_back(record.info))
    event.listen(
        sync_engine.pool, "invalidate", lambda _dbapi, record, _exc: _give_back(record.info)
    )


def create_engine(database_url: str, *, foreign_keys: bool = True) -> AsyncEngine:
    """An async engine for the URL; `foreign_keys=False` is for SQLite migrations only, since
    batch mode rebuilds tables and SQLite cannot switch the check inside a transaction."""
    url = to_async_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, pool_size=5, max_overflow=20, pool_timeout=60)
        _configure_sqlite(engine, foreign_keys=foreign_keys)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def dialect_insert(session: AsyncSession) -> Any:
    """The backend's INSERT construct, which has ON CONFLICT (upserts and insert-if-new)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"no INSERT ... ON CONFLICT for {dialect}")  # the engine makes no other


async def begin_reading(session: AsyncSession, *, one_statement: bool = False) -> None:
    """Begin the session's next transaction as one that only reads: on SQLite it then takes no
    write lock, so it neither waits for other writers nor makes them wait (PostgreSQL never
    locks for reads anyway). Call it before the session's first statement and end the
    transaction (commit) before writing anything: on SQLite a write in it fails at once with
    "database is locked" whenever another connection wrote since it began.

    `one_statement`: the transaction is a single SELECT, which SQLite then runs without BEGIN
    (on its own it is atomic anyway), for the lookups made on every update. Never write in
    it: on SQLite the write would be committed at once."""
    if session.in_transaction():
        raise RuntimeError("begin_reading() must come before the transaction's first statement")
    options = {READS_ONLY: True, ONE_STATEMENT: one_statement}
    await session.connection(execution_options=options)


async def begin_writing_first(session: AsyncSession) -> None:
    """Begin the session's next transaction ahead of the writers waiting for SQLite's write
    lock (PostgreSQL: an ordinary transaction). For short writes that many wait on."""
    if session.in_transaction():
        raise RuntimeError("begin_writing_first() must come before the first statement")
    await session.connection(execution_options={WRITES_FIRST: True})


class Database:
    """The engine and its session factory, shared by the bot, the CLI and the tests."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = create_engine(database_url)
        self._sessions = session_factory(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on error."""
        async with self._sessions() as session:
            token = _OPEN_SESSIONS.set((*_OPEN_SESSIONS.get(), session))
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            finally:
                _OPEN_SESSIONS.reset(token)

    def open_session(self) -> AsyncSession:
        """A session whose end is the caller's: the update's, which the application commits
        with the update's state and handled mark (bot/telegram/persistence.py)."""
        return self._sessions()

    async def dispose(self) -> None:
        await self.engine.dispose()
