"""The running processes: the inbox of updates not yet handled, and each process's status
for `danvan health`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import dialect_insert
from storage.models import UPDATE_INBOX, RuntimeStatus, UpdateInbox

# Telegram keeps an update for 24 hours at most, so a handled one older than this cannot come
# back; dropping it keeps the table small.
KEEP_HANDLED = timedelta(hours=48)
LONG_GONE = timedelta(days=1)


async def receive_many(
    session: AsyncSession, updates: list[tuple[int, Any]], now: datetime
) -> set[int]:
    """Store (update_id, payload) pairs as received in one statement; returns the ids that
    were new. The others were received before (Telegram sent them again, or an earlier
    process stored them), so that each update is handled once."""
    if not updates:
        return set()
    statement = (
        dialect_insert(session)(UPDATE_INBOX)
        .values(
            [
                {"update_id": update_id, "payload": payload, "received_at": now}
                for update_id, payload in updates
            ]
        )
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(UPDATE_INBOX.c.update_id)
    )
    result = await session.exec(statement)
    return set(result.scalars())


class HandledMark(NamedTuple):
    """An update handled, and when."""

    update_id: int
    at: datetime


async def mark_handled(session: AsyncSession, update_id: int, now: datetime) -> None:
    await mark_handled_many(session, [update_id], now)


async def mark_handled_many(session: AsyncSession, update_ids: list[int], now: datetime) -> None:
    """Mark the updates handled, in one statement."""
    if not update_ids:
        return
    await session.exec(
        update(UPDATE_INBOX)
        .where(UPDATE_INBOX.c.update_id.in_(update_ids))
        .values(handled_at=now, payload={})  # the content is no longer needed
    )


async def unhandled(session: AsyncSession) -> list[UpdateInbox]:
    """Updates an earlier process received but did not finish, oldest first."""
    rows = await session.exec(
        select(UpdateInbox)
        .where(col(UpdateInbox.handled_at).is_(None))
        .order_by(col(UpdateInbox.update_id))
    )
    return list(rows)


async def prune_handled(session: AsyncSession, now: datetime) -> None:
    await session.exec(delete(UpdateInbox).where(col(UpdateInbox.handled_at) < now - KEEP_HANDLED))


@dataclass
class ProcessStatus:
    """What one `danvan run` process says about itself."""

    instance: str
    host: str
    pid: int
    mode: str
    active: bool
    started_at: datetime
    heartbeat_at: datetime
    last_update_id: int | None = None
    last_update_at: datetime | None = None
    scheduled_jobs: int = 0
    next_job_at: datetime | None = None


async def beat(session: AsyncSession, status: ProcessStatus) -> None:
    """Write this process's status (insert or update), and drop the rows of processes that
    stopped reporting a day ago (killed, so they never removed their own)."""
    long_gone = status.heartbeat_at - LONG_GONE
    await session.exec(delete(RuntimeStatus).where(col(RuntimeStatus.heartbeat_at) < long_gone))
    row = await session.get(RuntimeStatus, status.instance)
    if row is None:
        row = RuntimeStatus(**vars(status))
        session.add(row)
    else:
        for name, value in vars(status).items():
            setattr(row, name, value)


async def forget(session: AsyncSession, instance: str) -> None:
    """A process that stops cleanly removes its row."""
    await session.exec(delete(RuntimeStatus).where(col(RuntimeStatus.instance) == instance))


async def processes(session: AsyncSession, *, seen_since: datetime) -> list[ProcessStatus]:
    """Processes that reported since `seen_since`, the active one first."""
    rows = await session.exec(
        select(RuntimeStatus)
        .where(col(RuntimeStatus.heartbeat_at) >= seen_since)
        .order_by(col(RuntimeStatus.active).desc(), col(RuntimeStatus.heartbeat_at).desc())
    )
    return [
        ProcessStatus(**{name: getattr(row, name) for name in ProcessStatus.__dataclass_fields__})
        for row in rows
    ]
