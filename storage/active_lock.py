"""Only one `danvan run` process is active at a time: the holder of this lock polls or serves
the webhook and runs the scheduler; the others wait as standbys.

PostgreSQL: a session-level advisory lock on a connection of its own. The server releases it
the moment that connection ends, also when the process is killed with `kill -9`, so a standby
can take over at once. SQLite: an exclusive `flock` on a file beside the database, which the
kernel releases the same way.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


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
    # SQLite deployments never load psycopg.
    from storage.advisory_lock import PostgresAdvisoryLock  # noqa: PLC0415

    return PostgresAdvisoryLock(database_url)
