"""The update queue that writes each update to the database before Telegram learns we have
it, so that an update is neither lost by a process killed mid-way nor handled twice.

PTB's poller confirms updates with its next getUpdates offset right after putting them in the
queue, and the webhook answers 200 right after; both wait for `put`, which stores the update
first. The update processor marks it handled when done. The next active process handles what
is left (see `replay`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

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
        """Called by the update processor once every handler is done with `update`."""
        if not isinstance(update, Update):
            return
        self.last_update_id, self.last_update_at = update.update_id, self.clock()
        try:
            async with self.db.session() as session:
                await runtime.mark_handled(session, update.update_id, self.clock())
        except Exception as exc:  # it may be handled again after a restart; the log says why
            log.warning("Could not mark update %s as handled: %r", update.update_id, exc)

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
