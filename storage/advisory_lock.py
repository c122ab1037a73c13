"""The active lock on PostgreSQL (see storage/active_lock.py): a session-level advisory lock on
a connection of its own, which the server releases the moment that connection ends, also when
the process is killed with `kill -9`, so a standby can take over at once."""

from __future__ import annotations

import contextlib
import logging

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3
# One lock per database and schema, so that test schemas on one server do not contend.
_LOCK_KEY = "hashtext(current_database() || '.' || current_schema() || '.danvan-active')"


class PostgresAdvisoryLock:
    def __init__(self, database_url: str) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._held = False
        self.held_elsewhere = False

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:

        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name="danvan-active-lock",
            )
        return self._connection

    async def try_acquire(self) -> bool:
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
        if not self._held or self._connection is None:
            return False
        try:
            await self._connection.execute("SELECT 1")
        except psycopg.Error:
            await self._drop()
            return False
        return True

    async def _drop(self) -> None:
        self._held = False
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
        self._connection = None

    async def release(self) -> None:
        if self._held and self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
        await self._drop()
