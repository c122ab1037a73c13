"""Only one `danvan run` process is active at a time: the holder of this lock polls or serves
the webhook and runs the scheduler; the others wait as standbys.

PostgreSQL: a session-level advisory lock on a connection of its own. The server releases it
the moment that connection ends, also when the process is killed with `kill -9`, so a standby
can take over at once. SQLite: an exclusive `flock` on a file beside the database, which the
kernel releases the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3
# One lock per database and schema, so that test schemas on one server do not contend.
_LOCK_KEY = "hashtext(current_database() || '.' || current_schema() || '.danvan-active')"


class ActiveLock(Protocol):
    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it now."""
        ...

    async def still_held(self) -> bool:
        """False when the lock was lost (PostgreSQL: its connection broke)."""
        ...

    @property
    def held_elsewhere(self) -> bool:
        """The last try found the lock taken by another process (not merely unreachable)."""
        ...

    async def release(self) -> None: ...


class PostgresAdvisoryLock:
    def __init__(self, database_url: str) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._held = False
        self.held_elsewhere = False

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        import psycopg  # not loaded by SQLite deployments

        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name="danvan-active-lock",
            )
        return self._connection

    async def try_acquire(self) -> bool:
        import psycopg

        if self._held and await self.still_held():
            return True
        try:
            connection = await self._connect()
            cursor = await connection.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY})")
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            log.warning("Cannot reach PostgreSQL for the active lock: %s", type(exc).__name__)
            await self._drop()
            self.held_elsewhere = False
            return False
        self._held = bool(row and row[0])
        self.held_elsewhere = not self._held
        return self._held

    async def still_held(self) -> bool:
        import psycopg

        if not self._held or self._connection is None:
            return False
        try:
            await self._connection.execute("SELECT 1")
        except psycopg.Error:
            await self._drop()
            return False
        return True

    async def _drop(self) -> None:
        import psycopg

        self._held = False
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
        self._connection = None

    async def release(self) -> None:
        import psycopg

        if self._held and self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
        await self._drop()


class FileLock:
    """For SQLite: a second process on the same database file waits instead of polling too."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self.held_elsewhere = False

    async def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            self.held_elsewhere = True
            return False
        self._file = handle
        self.held_elsewhere = False
        return True

    async def still_held(self) -> bool:
        return self._file is not None

    async def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def active_lock_for(database_url: str) -> ActiveLock:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or "danvan.db")
        return FileLock(database.with_name(database.name + ".lock"))
    return PostgresAdvisoryLock(database_url)
