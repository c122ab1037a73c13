"""The update queue that writes each update to the database before Telegram learns we have
it, so that an update is neither lost by a process killed mid-way nor handled twice.

PTB's poller confirms updates with its next getUpdates offset right after putting them in the
queue, and the webhook answers 200 right after; both wait for `put`, which stores the update
first. A polled batch is stored whole, in one transaction, before PTB puts its updates
(`receive_batch`, called by bot/app.py's DanvanBot.get_updates). Once handled, an update is
marked so in the transaction that writes the conversation state it left (bot/persistence.py's
FlushingApplication). The next active process handles what is left (see `replay`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from telegram import Bot, Update

from storage import runtime
from storage.engine import Database, begin_writing_first
from storage.members import MemberCache, change_generation

log = logging.getLogger(__name__)


class InboxQueue(asyncio.Queue[object]):
    def __init__(
        self, db: Database, clock: Callable[[], datetime], members: MemberCache | None = None
    ) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.members = members if members is not None else MemberCache()
        self.last_update_id: int | None = None
        self.last_update_at: datetime | None = None
        # update_id -> whether it was new, for updates `receive_batch` stored and `put` awaits.
        self._batch: dict[int, bool] = {}

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            if item.update_id not in self._batch:  # not polled: a webhook's, or replayed
                await self.receive_batch([item])
            if not self._batch.pop(item.update_id):
                log.info("Update %s was received before; not handling it again", item.update_id)
                return
        await super().put(item)

    async def receive_batch(self, updates: Sequence[Update]) -> None:
        """Store updates in one transaction, ahead of the `put` of each (a polled batch, or
        one update that `put` stores itself)."""
        if not updates:
            return
        generation = None
        try:
            async with self.db.session() as session:
                await begin_writing_first(session)  # the updates and the next poll wait
                new = await runtime.receive_many(
                    session,
                    [(update.update_id, update.to_dict()) for update in updates],
                    self.clock(),
                )
                # Members as they are now, for these updates (see MemberCache).
                generation = await change_generation(session)
        except Exception as exc:  # the database is down: handle them anyway; people hear why
            log.warning(
                "Could not store update(s) %s (%r); handling them without a copy",
                ", ".join(str(update.update_id) for update in updates),
                exc,
            )
            new = {update.update_id for update in updates}
        self.members.check(generation)
        for update in updates:
            self._batch[update.update_id] = update.update_id in new

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

    def handled_mark(self, update: object) -> runtime.HandledMark | None:
        """The mark that `update` was handled, for someone else's transaction to write (None:
        not an Update, nothing to mark)."""
        if not isinstance(update, Update):
            return None
        return runtime.HandledMark(update.update_id, self.clock())

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
