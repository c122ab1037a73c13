"""The SendLedger: each reminder or digest to one recipient for one period is claimed here
before it is sent, so that it goes out once, across restarts and across processes.

The unique constraint (kind, recipient, period_key) is the arbiter: a claim is an INSERT that
does nothing when the key is taken, so a lost claim does not spoil the rest of the caller's
transaction. Commit the claim before sending (one short session per claim); an uncommitted
claim protects nothing.

A claim whose send never completed (a process killed mid-batch) stays "claimed"; after
`stale_after` another process may take it over, by a conditional UPDATE that only one wins.
The trade-off: a process that died after Telegram accepted a message but before recording
"sent" causes one duplicate. That is the at-least-once edge; the sender keeps the window small
by recording "sent" right after each send.

Orphaned claims need not wait for `stale_after`. Every claim names its claimant in `claimed_by`
(`new_claimant`: "bot" or "cli", a hash of the host name, the process id and a random nonce).
`recover_orphans` marks as orphaned, so that the next claim takes it over at once, a claim whose
claimant is known to be gone:
- any other "bot" claimant, when the caller is the active bot at start-up: only one `danvan run`
  is active at a time, so a claim of another bot process is an earlier one's, which died;
- a claimant on this host whose process no longer exists (a `danvan broadcast` killed mid-way).
Anything else (a CLI run on another host, a claim of an older version without a claimant) is
left to go stale; a claim of a live process is never taken.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, update
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.outgoing import LedgerState
from storage.engine import dialect_insert
from storage.models import Member, SendLedger

STALE_AFTER = timedelta(minutes=10)
BOT = "bot"  # claimants: the bot (`danvan run`) ...
CLI = "cli"  # ... or a CLI command (`danvan broadcast`)
ORPHANED = "orphan:"  # prefixed to `claimed_by` by recover_orphans


def _key(kind: str, recipient: int, period_key: str) -> ColumnElement[bool]:
    return and_(
        col(SendLedger.kind) == kind,
        col(SendLedger.recipient) == recipient,
        col(SendLedger.period_key) == period_key,
    )


_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def new_claimant(role: str) -> str:
    """A name for the claims of one sender, "role:host:pid:nonce" (host: a hash of the host
    name; at most 33 characters). Make one per process (the bot: per Application), and pass it
    to every `claim`."""
    return f"{role}:{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: someone else's live process
        return False
    return False


def is_orphan(claimant: str, me: str, *, active_bot: bool) -> bool:
    """Whether a claim by `claimant` is certainly abandoned, as seen by `me` (see the module
    docstring). Unknown shapes are not."""
    parts, mine = claimant.split(":"), me.split(":")
    if claimant == me or len(parts) != 4 or len(mine) != 4:
        return False
    role, host, pid, _nonce = parts
    if role not in (BOT, CLI) or not pid.isdigit():
        return False
    if active_bot and role == BOT:
        return True
    return host == mine[1] and _process_gone(int(pid))


async def recover_orphans(session: AsyncSession, me: str, *, active_bot: bool) -> int:
    """Mark the claims whose claimant is gone (`is_orphan`) as orphaned, so that the next
    `claim` takes them over without waiting for `stale_after`; returns how many."""
    query = select(SendLedger.id, SendLedger.claimed_by).where(
        col(SendLedger.state) == LedgerState.CLAIMED, col(SendLedger.claimed_by).is_not(None)
    )
    recovered = 0
    for row_id, claimant in (await session.exec(query)).all():
        if claimant is None or claimant.startswith(ORPHANED):
            continue
        if not is_orphan(claimant, me, active_bot=active_bot):
            continue
        statement = (
            update(SendLedger)
            .where(
                col(SendLedger.id) == row_id,
                col(SendLedger.state) == LedgerState.CLAIMED,
                col(SendLedger.claimed_by) == claimant,
            )
            .values(claimed_by=ORPHANED + claimant)
        )
        recovered += await _changed_one(session, statement)
    return recovered


async def _insert(session: AsyncSession, **values: object) -> bool:
    """Insert one row unless the key is taken; False then, and the transaction goes on.

    INSERT ... ON CONFLICT DO NOTHING: the unique key decides, as a plain INSERT's
    IntegrityError would, but nothing fails (no SAVEPOINT needed, nothing in the server's
    error log), and it costs half as much. Of concurrent inserts of one key on PostgreSQL,
    the later ones wait for the first to commit, then insert nothing.
    """
    statement = _insert_new(session, values).returning(
        col(SendLedger.id)  # psycopg reports no rowcount for this INSERT
    )
    result = await session.exec(statement)
    return result.first() is not None


async def _changed_one(session: AsyncSession, statement: UpdateBase) -> bool:
    result = await session.exec(statement)
    return result.rowcount == 1


async def claim(
    session: AsyncSession,
    kind: str,
    recipient: int,
    period_key: str,
    now: datetime,
    *,
    due_at: datetime | None = None,
    stale_after: timedelta = STALE_AFTER,
    force: bool = False,
    claimant: str | None = None,
) -> bool:
    """Take the send (kind, recipient, period_key) for this caller; False when it is already
    taken: sent, failed, skipped, unreachable, or claimed less than `stale_after` ago and not
    orphaned (`recover_orphans`).

    `force` takes it whatever its state (an admin's re-send). A takeover, stale, orphaned or
    forced, counts one more attempt and clears the previous outcome. `claimant` (see
    `new_claimant`) is kept with the claim so that it can be recovered when its process dies.
    """
    if await _insert(
        session,
        kind=kind,
        recipient=recipient,
        period_key=period_key,
        state=LedgerState.CLAIMED,
        attempts=1,
        claimed_by=claimant,
        due_at=due_at,
        claimed_at=now,
    ):
        return True
    takeover = (
        update(SendLedger)
        .where(_key(kind, recipient, period_key))
        .values(
            state=LedgerState.CLAIMED,
            attempts=col(SendLedger.attempts) + 1,
            claimed_at=now,
            claimed_by=claimant,
            error=None,
            done_at=None,
        )
    )
    if not force:
        # Re-checked under the row lock (PostgreSQL) or the write lock (SQLite): of several
        # processes taking over the same stale or orphaned claim, only the first still matches.
        takeover = takeover.where(
            col(SendLedger.state) == LedgerState.CLAIMED,
            or_(
                col(SendLedger.claimed_at) < now - stale_after,
                col(SendLedger.claimed_by).startswith(ORPHANED, autoescape=True),
            ),
        )
    return await _changed_one(session, takeover)


async def release(
    session: AsyncSession, kind: str, recipient: int, period_key: str, claimed_at: datetime
) -> bool:
    """Give back a first claim made at `claimed_at` that never reached Telegram, so the next
    delivery sends it at once instead of after the stale timeout. A taken-over claim (more
    than one attempt) keeps its history and is left to go stale."""
    statement = delete(SendLedger).where(
        _key(kind, recipient, period_key),
        col(SendLedger.state) == LedgerState.CLAIMED,
        col(SendLedger.claimed_at) == claimed_at,
        col(SendLedger.attempts) == 1,
    )
    return await _changed_one(session, statement)


async def _finish(
    session: AsyncSession,
    kind: str,
    recipient: int,
    period_key: str,
    state: LedgerState,
    now: datetime,
    error: str | None,
) -> None:
    await session.exec(
        update(SendLedger)
        .where(_key(kind, recipient, period_key))
        .values(state=state, done_at=now, error=error)
    )


async def mark_sent(
    session: AsyncSession, kind: str, recipient: int, period_key: str, now: datetime
) -> None:
    await _finish(session, kind, recipient, period_key, LedgerState.SENT, now, None)


async def mark_failed(
    session: AsyncSession, kind: str, recipient: int, period_key: str, now: datetime, error: str
) -> None:
    await _finish(session, kind, recipient, period_key, LedgerState.FAILED, now, error)


async def mark_unreachable(
    session: AsyncSession,
    kind: str,
    recipient: int,
    period_key: str,
    now: datetime,
    error: str | None = None,
) -> None:
    """The recipient blocked the bot: the row is done, and the member with this Telegram id is
    unreachable from now on (until they write again), which keeps them out of later sends."""
    await _finish(session, kind, recipient, period_key, LedgerState.UNREACHABLE, now, error)
    await mark_member_unreachable(session, recipient, now)


async def mark_member_unreachable(session: AsyncSession, telegram_id: int, now: datetime) -> None:
    """The person blocked the bot: left out of later sends until they write again."""
    await session.exec(
        update(Member)
        .where(col(Member.telegram_id) == telegram_id, col(Member.unreachable_at).is_(None))
        .values(unreachable_at=now)
    )


def _insert_new(session: AsyncSession, values: dict[str, object] | list[dict[str, object]]) -> Any:
    """INSERT of the row(s) whose keys are not taken yet (see `_insert`)."""
    return (
        dialect_insert(session)(SendLedger)
        .values(values)
        .on_conflict_do_nothing(
            index_elements=[
                col(SendLedger.kind),
                col(SendLedger.recipient),
                col(SendLedger.period_key),
            ]
        )
    )


SKIPS_PER_STATEMENT = 500


async def record_skips(
    session: AsyncSession,
    sends: Sequence[tuple[str, int, str]],
    reason: str,
    now: datetime,
    *,
    due_at: datetime | None = None,
) -> None:
    """Record that these sends (kind, recipient, period key) are deliberately not made (e.g.
    more than six hours late), which blocks any later claim of them. A send the ledger already
    has keeps its row. A few hundred rows a statement: a start-up after downtime skips
    thousands."""
    rows: list[dict[str, object]] = [
        {
            "kind": kind,
            "recipient": recipient,
            "period_key": period_key,
            "state": LedgerState.SKIPPED,
            "attempts": 0,
            "error": reason,
            "due_at": due_at,
            "claimed_at": now,
            "done_at": now,
        }
        for kind, recipient, period_key in sends
    ]
    for start in range(0, len(rows), SKIPS_PER_STATEMENT):
        await session.exec(_insert_new(session, rows[start : start + SKIPS_PER_STATEMENT]))


async def get(
    session: AsyncSession, kind: str, recipient: int, period_key: str
) -> SendLedger | None:
    query = select(SendLedger).where(_key(kind, recipient, period_key))
    return (await session.exec(query)).first()


async def rows_for(
    session: AsyncSession, kind: str, recipients: Sequence[int], period_key: str
) -> dict[int, SendLedger]:
    """The ledger's rows of one kind and period for these recipients, by recipient."""
    if not recipients:
        return {}
    query = select(SendLedger).where(
        col(SendLedger.kind) == kind,
        col(SendLedger.period_key) == period_key,
        col(SendLedger.recipient).in_(list(recipients)),
    )
    return {row.recipient: row for row in (await session.exec(query)).all()}


async def state_of(session: AsyncSession, kind: str, recipient: int, period_key: str) -> str | None:
    """The row's state ("claimed", "sent", ...), or None when the send was never claimed."""
    query = select(SendLedger.state).where(_key(kind, recipient, period_key))
    return (await session.exec(query)).first()
