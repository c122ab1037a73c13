"""The SendLedger decides who sends: one claim wins, also under concurrency, stale claims are
taken over exactly once after the timeout, and a recorded skip blocks every later claim. On
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from storage import ledger
from storage.engine import Database
from storage.models import Member, SendLedger, Unit, pk

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
KEY = ("weekly_digest", 5_000_000_001, "2026-W48")


async def claim(db: Database, now: datetime = NOW, key: tuple[str, int, str] = KEY) -> bool:
    """One claim in a session of its own, committed, as the delivery does it."""
    async with db.session() as session:
        return await ledger.claim(session, *key, now)


async def rows(db: Database) -> list[SendLedger]:
    async with db.session() as session:
        return list((await session.exec(select(SendLedger).order_by(col(SendLedger.id)))).all())


async def test_the_first_claim_wins_and_a_second_fails(db: Database) -> None:
    due = NOW - timedelta(minutes=5)
    async with db.session() as session:
        assert await ledger.state_of(session, *KEY) is None
        assert await ledger.claim(session, *KEY, NOW, due_at=due)
    assert not await claim(db)
    assert not await claim(db, NOW + timedelta(minutes=3))
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.claimed_at, row.due_at) == ("claimed", 1, NOW, due)
    assert row.done_at is None


async def test_a_lost_claim_does_not_spoil_the_rest_of_the_transaction(db: Database) -> None:
    other = ("weekly_digest", 5_000_000_002, "2026-W48")
    async with db.session() as session:
        assert await ledger.claim(session, *KEY, NOW)
        assert not await ledger.claim(session, *KEY, NOW)  # the unique key says no
        assert await ledger.claim(session, *other, NOW)  # and the transaction goes on
    assert [(r.recipient, r.state) for r in await rows(db)] == [
        (KEY[1], "claimed"),
        (other[1], "claimed"),
    ]


async def test_each_key_part_makes_a_separate_send(db: Database) -> None:
    for key in [
        KEY,
        ("monthly_digest", KEY[1], KEY[2]),
        (KEY[0], KEY[1] + 1, KEY[2]),
        (KEY[0], KEY[1], "2026-W49"),
    ]:
        assert await claim(db, key=key)
    assert len(await rows(db)) == 4


async def test_of_twenty_concurrent_claims_exactly_one_wins(db: Database) -> None:
    results = await asyncio.gather(*(claim(db) for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]
    (row,) = await rows(db)
    assert (row.state, row.attempts) == ("claimed", 1)


async def test_a_stale_claim_is_taken_over_once_after_the_timeout(db: Database) -> None:
    assert await claim(db)
    assert not await claim(db, NOW + timedelta(minutes=9, seconds=59))
    later = NOW + timedelta(minutes=10, seconds=1)
    results = await asyncio.gather(*(claim(db, later) for _ in range(20)))
    assert sorted(results) == [False] * 19 + [True]
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.claimed_at) == ("claimed", 2, later)
    # The new claim is fresh: nobody takes it over before its own timeout.
    assert not await claim(db, later + timedelta(minutes=5))
    assert await claim(db, later + timedelta(minutes=11))


async def test_the_timeout_is_a_parameter(db: Database) -> None:
    assert await claim(db)
    async with db.session() as session:
        soon = NOW + timedelta(seconds=31)
        assert await ledger.claim(session, *KEY, soon, stale_after=timedelta(seconds=30))


async def test_finished_rows_are_never_taken_over(db: Database) -> None:
    sent, failed, unreachable = [(KEY[0], KEY[1] + n, KEY[2]) for n in range(3)]
    for key in (sent, failed, unreachable):
        assert await claim(db, key=key)
    async with db.session() as session:
        await ledger.mark_sent(session, *sent, NOW)
        await ledger.mark_failed(session, *failed, NOW, "BadRequest: nope")
        await ledger.mark_unreachable(session, *unreachable, NOW)
    for key in (sent, failed, unreachable):
        assert not await claim(db, NOW + timedelta(days=30), key=key)
    assert [(r.state, r.done_at, r.error) for r in await rows(db)] == [
        ("sent", NOW, None),
        ("failed", NOW, "BadRequest: nope"),
        ("unreachable", NOW, None),
    ]


async def test_a_recorded_skip_blocks_every_later_claim(db: Database) -> None:
    other = (KEY[0], KEY[1] + 1, KEY[2])
    async with db.session() as session:
        await ledger.record_skips(session, [KEY], "too late", NOW)
        await ledger.record_skips(session, [KEY], "again", NOW)  # kept as it was
        await ledger.record_skips(session, [other], "too late", NOW)  # transaction fine
    assert not await claim(db)
    assert not await claim(db, NOW + timedelta(days=1))
    found = await rows(db)
    assert [(r.state, r.error, r.attempts, r.done_at) for r in found] == [
        ("skipped", "too late", 0, NOW)
    ] * 2


async def test_many_skips_are_recorded_a_few_hundred_a_statement_keeping_existing_rows(
    db: Database,
) -> None:
    assert await claim(db)  # KEY is taken: its row stays claimed
    count = 2 * ledger.SKIPS_PER_STATEMENT + 1
    sends = [(KEY[0], KEY[1] + n, KEY[2]) for n in range(count)]
    async with db.session() as session:
        await ledger.record_skips(session, sends, "too late", NOW)
        await ledger.record_skips(session, sends[:3], "again", NOW)  # nothing changes
    found = await rows(db)
    assert len(found) == count
    assert found[0].state == "claimed"
    assert {(r.state, r.error, r.done_at) for r in found[1:]} == {("skipped", "too late", NOW)}
    assert not await claim(db, key=sends[-1])


async def test_a_skip_does_not_replace_a_claim(db: Database) -> None:
    assert await claim(db)
    async with db.session() as session:
        await ledger.record_skips(session, [KEY], "too late", NOW)
        assert await ledger.state_of(session, *KEY) == "claimed"


async def test_force_takes_over_whatever_the_state(db: Database) -> None:
    assert await claim(db)
    async with db.session() as session:
        await ledger.mark_failed(session, *KEY, NOW, "NetworkError")
    later = NOW + timedelta(minutes=1)
    async with db.session() as session:
        assert await ledger.claim(session, *KEY, later, force=True)
    (row,) = await rows(db)
    assert (row.state, row.attempts, row.claimed_at, row.error, row.done_at) == (
        "claimed",
        2,
        later,
        None,
        None,
    )


async def test_unreachable_flags_the_member_once(db: Database) -> None:
    async with db.session() as session:
        unit = Unit(code="G", name="Thôn", name_key="thon", level="thôn", path="/")
        session.add(unit)
        await session.flush()
        session.add(
            Member(telegram_id=KEY[1], full_name="Lan", role="coordinator", unit_id=pk(unit))
        )
        session.add(
            Member(telegram_id=KEY[1] + 1, full_name="Hoa", role="coordinator", unit_id=pk(unit))
        )
    assert await claim(db)
    async with db.session() as session:
        await ledger.mark_unreachable(session, *KEY, NOW, "Forbidden: bot was blocked by the user")
    later = NOW + timedelta(days=1)
    async with db.session() as session:
        assert await ledger.claim(session, KEY[0], KEY[1], "2026-W49", later)
        await ledger.mark_unreachable(session, KEY[0], KEY[1], "2026-W49", later)
    async with db.session() as session:
        members = (await session.exec(select(Member).order_by(col(Member.telegram_id)))).all()
    assert [(m.telegram_id, m.unreachable_at) for m in members] == [
        (KEY[1], NOW),  # since the first 403
        (KEY[1] + 1, None),
    ]


async def test_a_first_claim_can_be_given_back_but_not_a_takeover(db: Database) -> None:
    assert await claim(db)
    async with db.session() as session:
        assert not await ledger.release(session, *KEY, NOW - timedelta(seconds=1))  # not ours
        assert await ledger.release(session, *KEY, NOW)
    assert await rows(db) == []
    assert await claim(db)  # at once, no timeout to wait for
    later = NOW + timedelta(minutes=11)
    assert await claim(db, later)
    async with db.session() as session:
        assert not await ledger.release(session, *KEY, later)  # a takeover keeps its history


# --- orphaned claims ---------------------------------------------------------------------------


def dead_pid() -> int:
    """The id of a process that has just ended."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_who_counts_as_gone() -> None:
    me_bot = ledger.new_claimant(ledger.BOT)
    me_cli = ledger.new_claimant(ledger.CLI)
    _role, host, pid, _nonce = me_cli.split(":")
    other_bot = ledger.new_claimant(ledger.BOT).replace(f":{pid}:", ":1:")
    dead_cli = f"cli:{host}:{dead_pid()}:abcd1234"
    live_cli_elsewhere = "cli:ffffffff:1:abcd1234"
    assert len(me_bot) <= 60  # the claimed_by column
    # The active bot: every other bot process's claims, and dead processes' on this host.
    assert ledger.is_orphan(other_bot, me_bot, active_bot=True)
    assert ledger.is_orphan(dead_cli, me_bot, active_bot=True)
    assert not ledger.is_orphan(me_bot, me_bot, active_bot=True)
    assert not ledger.is_orphan(live_cli_elsewhere, me_bot, active_bot=True)
    assert not ledger.is_orphan(me_cli, me_bot, active_bot=True)  # this very process
    # A CLI run: only dead processes on this host.
    assert ledger.is_orphan(dead_cli, me_cli, active_bot=False)
    assert not ledger.is_orphan(other_bot.replace(":1:", f":{pid}:"), me_cli, active_bot=False)
    assert not ledger.is_orphan("no claimant shape", me_cli, active_bot=True)


async def test_an_orphaned_claim_is_taken_over_at_once_and_only_once(db: Database) -> None:
    earlier = ledger.new_claimant(ledger.BOT)
    me = ledger.new_claimant(ledger.BOT)
    live = "cli:ffffffff:1:abcd1234"  # another host: cannot be told dead
    other = (KEY[0], KEY[1] + 1, KEY[2])
    async with db.session() as session:
        assert await ledger.claim(session, *KEY, NOW, claimant=earlier)
        assert await ledger.claim(session, *other, NOW, claimant=live)
    soon = NOW + timedelta(seconds=5)
    async with db.session() as session:
        assert not await ledger.claim(session, *KEY, soon, claimant=me)
        assert await ledger.recover_orphans(session, me, active_bot=True) == 1
        assert await ledger.recover_orphans(session, me, active_bot=True) == 0
    results = await asyncio.gather(
        *(_claim_as(db, KEY, soon, ledger.new_claimant(ledger.BOT)) for _ in range(10))
    )
    assert sorted(results) == [False] * 9 + [True]
    async with db.session() as session:
        assert not await ledger.claim(session, *other, soon, claimant=me)
    first, second = await rows(db)
    assert (first.state, first.attempts, first.claimed_at) == ("claimed", 2, soon)
    assert first.claimed_by is not None and first.claimed_by.startswith("bot:")
    assert (second.attempts, second.claimed_by) == (1, live)


async def _claim_as(db: Database, key: tuple[str, int, str], now: datetime, who: str) -> bool:
    async with db.session() as session:
        return await ledger.claim(session, *key, now, claimant=who)
