"""The update queue that writes each update to the database before Telegram learns we have
it, so that an update is neither lost by a process killed mid-way nor handled twice.

PTB's poller confirms updates with its next getUpdates offset right after putting them in the
queue, and the webhook answers 200 right after; both wait for `put`, which stores the update
first. Once handled, it is marked so in the transaction that writes the conversation state it
left (bot/persistence.py's FlushingApplication). The next active process handles what is left
(see `replay`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot, Update

from storage import runtime
from storage.engine import Database

log = logging.getLogger(__name__)


class InboxQueue(asyncio.Queue[object]):
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.last_update_id: int | None = None
        self.last_update_at: datetime | None = None

    async def put(self, item: object) -> None:
        if isinstance(item, Update) and not await self._receive(item):
            log.info("Update %s was received before; not handling it again", item.update_id)
            return
        await super().put(item)

    async def _receive(self, update: Update) -> bool:
        try:
            async with self.db.session() as session:
                return await runtime.receive(
                    session, update.update_id, update.to_dict(), self.clock()
                )
        except Exception as exc:  # the database is down: handle it anyway; the person hears why
            log.warning(
                "Could not store update %s (%r); handling it without a copy", update.update_id, exc
            )
            return True

    async def handled(self, update: object) -> None:
        """Mark `update` handled once every handler is done with it (in a transaction of its
        own; bot/persistence.py's FlushingApplication marks it with the state it wrote)."""
        if not isinstance(update, Update):
            return
        self.note_handled(update)
        try:
            async with self.db.session() as session:
                await runtime.mark_handled(session, update.update_id, self.clock())
        except Exception as exc:
            self.mark_failed(update, exc)

    def note_handled(self, update: object) -> None:
        """Remember the last update handled, for `danvan health`."""
        if isinstance(update, Update):
            self.last_update_id, self.last_update_at = update.update_id, self.clock()

    def marking(self, update: object) -> Callable[[AsyncSession], Awaitable[None]] | None:
        """What marks `update` handled inside someone else's transaction (None: not an
        Update, nothing to mark)."""
        if not isinstance(update, Update):
            return None
        update_id = update.update_id

        async def mark(session: AsyncSession) -> None:
            await runtime.mark_handled(session, update_id, self.clock())

        return mark

    def mark_failed(self, update: object, exc: Exception) -> None:
        """It may be handled again after a restart; the log says why."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.warning("Could not mark update %s as handled: %r", update_id, exc)

    async def replay(self, bot: Bot) -> int:
        """Queue the updates an earlier process stored but did not finish; returns how many."""
        async with self.db.session() as session:
            rows = await runtime.unhandled(session)
        for row in rows:
            update = Update.de_json(row.payload, bot)
            if update is not None:
                self.put_nowait(update)
        if rows:
            log.info("Handling %d update(s) left unfinished by an earlier process", len(rows))
        return len(rows)

    async def prune(self) -> None:
        async with self.db.session() as session:
            await runtime.prune_handled(session, self.clock())
