"""Delivery through the fake Bot API: every Send once, across restarts, faults and two processes
on one database, and within Telegram's rate limits. Counted by what the fake received."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select
from telegram.error import BadRequest, Forbidden
from telegram.ext import AIORateLimiter, ExtBot

from bot.domain.outgoing import (
    Attachment,
    Button,
    Drawn,
    OutMessage,
    Report,
    Send,
    SendKind,
    SendOutcome,
)
from bot.settings import Settings
from bot.telegram.app import build_application
from bot.telegram.delivery import Delivery, SendLimiter
from storage import ledger
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Member, SendLedger
from tests.fakebot import FakeBotAPI
from tests.harness import TOKEN, Harness

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PERIOD = "2026-W48"
PNG = b"\x89PNG\r\n\x1a\n fake chart"
XLSX = b"PK\x03\x04 fake workbook"
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


class Waits:
    """The injected sleep: records what Delivery would wait, and waits for nothing."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        await asyncio.sleep(0)


def note(chat_id: int, text: str = "Báo cáo tuần", **kw: Any) -> Send:
    """A Send of one text message."""
    kw.setdefault("kind", SendKind.WEEKLY_DIGEST)
    kw.setdefault("period_key", PERIOD)
    return Send(chat_id=chat_id, messages=[OutMessage(f"<b>{text}</b> {chat_id}")], **kw)


def digest(chat_id: int) -> Send:
    """A digest as the digest code makes it: text parts, a chart and a workbook."""
    return Send(
        SendKind.WEEKLY_DIGEST,
        chat_id,
        PERIOD,
        [
            OutMessage(
                "<b>Tuần 48</b>: 3 hoạt động",
                buttons=[[Button("📊 Chi tiết", "dg:more"), Button("Tắt", "dg:off")]],
            ),
            OutMessage(
                "Phần 2 &lt;tiếp&gt;",
                attachments=[
                    Attachment("tuan-48.png", PNG, as_photo=True, caption="<i>Biểu đồ</i>"),
                    Attachment("tuan-48.xlsx", XLSX),
                ],
            ),
        ],
    )


def fast_limiter() -> SendLimiter:
    """Pacing that keeps tests quick; the fake enforces no limits unless a test asks."""
    return SendLimiter(500, 50)


def delivery(harness: Harness, waits: Waits | None = None, **kw: Any) -> Delivery:
    kw.setdefault("limiter", fast_limiter())
    return Delivery(harness.app.bot, harness.db, clock=harness.clock, sleep=waits or Waits(), **kw)


def people(harness: Harness, first: int, count: int) -> list[int]:
    ids = list(range(first, first + count))
    for user_id in ids:
        harness.fake.user(user_id)
    return ids


def received(fake: FakeBotAPI, chat_id: int) -> list[str]:
    """What the person sees, oldest first."""
    return [m.body for m in fake.user(chat_id).messages()]


async def ledger_rows(db: Database) -> dict[int, SendLedger]:
    async with db.session() as session:
        found = (await session.exec(select(SendLedger))).all()
    return {row.recipient: row for row in found}


async def wait_until(predicate: Any, what: str) -> None:
    """Poll something the fake does not see (the database)."""
    for _ in range(500):
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def bot_for(fake: FakeBotAPI, **kw: Any) -> AsyncIterator[ExtBot[Any]]:
    bot: ExtBot[Any] = ExtBot(
        TOKEN, base_url=f"{fake.base_url}/bot", base_file_url=f"{fake.base_url}/file/bot", **kw
    )
    async with bot:
        yield bot


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBotAPI]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with FakeBotAPI(TOKEN) as server:
        yield server


# --- exactly once ---------------------------------------------------------------------------


async def test_a_batch_goes_out_once_and_a_rerun_sends_nothing(harness: Harness) -> None:
    ids = people(harness, 6001, 12)
    batch = [note(i) for i in ids]
    report = await delivery(harness).deliver(batch)
    assert report == Report(sent=12)
    assert len(harness.fake.calls("sendMessage")) == 12
    for i in ids:
        assert received(harness.fake, i) == [f"Báo cáo tuần {i}"]
    rows = await ledger_rows(harness.db)
    assert {(r.state, r.attempts, r.done_at) for r in rows.values()} == {
        ("sent", 1, harness.clock())
    }

    again = await delivery(harness).deliver([*batch, *batch])
    assert again == Report(skipped=24)
    assert len(harness.fake.calls("sendMessage")) == 12


@SQLITE_ONLY
async def test_a_chart_is_drawn_when_sent_before_its_slot_is_taken(harness: Harness) -> None:
    """Charts are drawn by delivery, once for all who get the same one, and before the pacing
    slot of their message: drawn after, the message would leave later than the pacing counted
    on (429s at Telegram's real limits)."""
    events: list[str] = []

    class Recording(SendLimiter):
        async def acquire(self, chat_id: int) -> Any:
            events.append("slot")
            return await super().acquire(chat_id)

    def draw() -> bytes:
        events.append("drawn")
        return PNG

    chart = Attachment("tuan-48.png", Drawn(draw), as_photo=True)
    ids = people(harness, 6051, 2)
    batch = [Send(SendKind.WEEKLY_DIGEST, i, PERIOD, [OutMessage("", [], [chart])]) for i in ids]
    assert events == []  # nothing drawn while the batch was built
    report = await delivery(harness, limiter=Recording(500, 50)).deliver(batch)
    assert report == Report(sent=2)
    assert events[:2] == ["drawn", "slot"] and events.count("drawn") == 1
    for i in ids:
        (photo,) = harness.fake.user(i).messages()
        assert photo.photo is not None and photo.photo.content == PNG


@SQLITE_ONLY
async def test_a_file_whose_data_cannot_be_read_stops_the_batch_before_its_send(
    harness: Harness,
) -> None:
    """A digest's XLSX file reads the period's records as the first one goes out: if the
    database fails then, that send is neither claimed nor begun (its text is not sent without
    its file), and the batch stops as when a claim fails."""

    async def read() -> None:
        raise ConnectionError("database down")

    workbook = Attachment("ky.xlsx", Drawn(lambda: b"PK", prepare=read))
    (person,) = people(harness, 6071, 1)
    send = Send(
        SendKind.WEEKLY_DIGEST,
        person,
        PERIOD,
        [OutMessage("Bản tin"), OutMessage("", [], [workbook])],
    )
    with pytest.raises(ConnectionError):
        await delivery(harness).deliver([send])
    assert harness.fake.user(person).messages() == []
    assert await ledger_rows(harness.db) == {}


async def test_the_same_send_twice_in_one_batch_goes_once(harness: Harness) -> None:
    (person,) = people(harness, 6051, 1)
    report = await delivery(harness).deliver([note(person)] * 5)
    assert (report.sent, report.skipped + report.in_progress) == (1, 4)
    assert received(harness.fake, person) == [f"Báo cáo tuần {person}"]


async def test_other_kinds_and_periods_are_other_sends(harness: Harness) -> None:
    (person,) = people(harness, 6061, 1)
    batch = [
        note(person),
        note(person, kind=SendKind.REMINDER),
        note(person, period_key="2026-W49"),
    ]
    assert await delivery(harness).deliver(batch) == Report(sent=3)
    assert len(received(harness.fake, person)) == 3


@SQLITE_ONLY
async def test_a_digest_goes_in_order_rendered_and_paced_per_chat(harness: Harness) -> None:
    """With the production limits on both sides: several messages to one chat, no 429."""
    harness.fake.enforce_rate_limits(global_per_second=30, per_chat_per_second=1)
    ids = people(harness, 6101, 2)
    started = time.monotonic()
    report = await Delivery(harness.app.bot, harness.db, clock=harness.clock).deliver(
        [digest(i) for i in ids]
    )
    elapsed = time.monotonic() - started
    assert report == Report(sent=2)
    assert harness.fake.count_429 == 0
    assert 3 * 1.0 < elapsed < 10  # four messages a chat, a second apart at least
    for i in ids:
        text, more, chart, workbook = harness.fake.user(i).messages()
        assert (text.html, text.parse_mode) == ("<b>Tuần 48</b>: 3 hoạt động", "HTML")
        assert text.buttons == [[("📊 Chi tiết", "dg:more"), ("Tắt", "dg:off")]]
        assert more.text == "Phần 2 <tiếp>"
        assert chart.kind == "photo" and chart.caption == "Biểu đồ"
        assert chart.photo is not None and chart.photo.content == PNG
        assert workbook.document is not None
        assert (workbook.document.filename, workbook.document.content) == ("tuan-48.xlsx", XLSX)


async def test_attachments_alone_carry_the_buttons(harness: Harness) -> None:
    (person,) = people(harness, 6111, 1)
    only_files = OutMessage(
        "", [[Button("OK", "ok")]], [Attachment("a.csv", b"a,b"), Attachment("b.csv", b"c,d")]
    )
    send = Send(SendKind.BROADCAST, person, "b-1", [only_files])
    assert await delivery(harness).deliver([send]) == Report(sent=1)
    first, second = harness.fake.user(person).messages()
    assert (first.kind, first.buttons, second.buttons) == ("document", [[("OK", "ok")]], [])


async def test_force_sends_again_and_counts_the_attempt(harness: Harness) -> None:
    (person,) = people(harness, 6121, 1)
    assert await delivery(harness).deliver([note(person)]) == Report(sent=1)
    assert await delivery(harness).deliver([note(person)]) == Report(skipped=1)
    assert await delivery(harness).deliver([note(person)], force=True) == Report(sent=1)
    assert len(received(harness.fake, person)) == 2
    assert (await ledger_rows(harness.db))[person].attempts == 2


async def test_a_recorded_skip_is_not_sent(harness: Harness) -> None:
    ids = people(harness, 6131, 2)
    async with harness.db.session() as session:
        await ledger.record_skips(
            session, [(SendKind.WEEKLY_DIGEST, ids[0], PERIOD)], "too late", harness.clock()
        )
    assert await delivery(harness).deliver([note(i) for i in ids]) == Report(sent=1, skipped=1)
    assert received(harness.fake, ids[0]) == []
    assert (await ledger_rows(harness.db))[ids[0]].state == "skipped"


async def test_send_messages_sends_now_outside_the_ledger(harness: Harness) -> None:
    """What a person asks for (a digest preview) is not a claimable send."""
    (person,) = people(harness, 6141, 1)
    messages = digest(person).messages
    await delivery(harness).send_messages(person, messages)
    await delivery(harness).send_messages(person, messages)
    assert [m.kind for m in harness.fake.user(person).messages()] == [
        "text",
        "text",
        "photo",
        "document",
    ] * 2
    assert await ledger_rows(harness.db) == {}


@SQLITE_ONLY
async def test_send_messages_raises_what_it_gave_up_on(harness: Harness) -> None:
    (person,) = people(harness, 6151, 1)
    harness.fake.inject_error("sendMessage", 400, chat_id=person, times=3)
    waits = Waits()
    with pytest.raises(BadRequest, match="Injected error"):
        await delivery(harness, waits).send_messages(person, [OutMessage("Xem trước")])
    assert waits.seconds == [1.0, 2.0]
    harness.fake.block(person)
    with pytest.raises(Forbidden):
        await delivery(harness, waits).send_messages(person, [OutMessage("Xem trước")])
    assert waits.seconds == [1.0, 2.0]


# --- restarts ---------------------------------------------------------------------------------


async def test_a_restart_mid_batch_sends_the_rest_and_none_twice(harness: Harness) -> None:
    """Stopped while sends wait for their turn: those claims are given back, and the next
    process sends them at once."""
    ids = people(harness, 6201, 8)
    batch = [note(i) for i in ids]
    slow = Delivery(
        harness.app.bot,
        harness.db,
        clock=harness.clock,
        limiter=SendLimiter(1, 1),  # one a 1.1 s: the others wait, claimed
        concurrency=4,
    )
    task = asyncio.create_task(slow.deliver(batch))

    async def one_sent_three_waiting() -> bool:
        states = [r.state for r in (await ledger_rows(harness.db)).values()]
        return states.count("sent") == 1 and states.count("claimed") >= 3

    # The first went; the other workers have claimed theirs and wait for the next slot.
    await wait_until(one_sent_three_waiting, "one send recorded and three claimed")
    task.cancel()  # the job is cancelled at shutdown
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.state for r in (await ledger_rows(harness.db)).values()] == ["sent"]
    sent_first = [i for i in ids if received(harness.fake, i)]
    assert len(sent_first) == 1

    await harness.restart()
    database = Database(harness.settings.database_url)  # the new process's own
    try:
        fresh = Delivery(harness.app.bot, database, clock=harness.clock, limiter=fast_limiter())
        assert await fresh.deliver(batch) == Report(sent=7, skipped=1)
    finally:
        await database.dispose()
    for i in ids:
        assert received(harness.fake, i) == [f"Báo cáo tuần {i}"]
    assert len(harness.fake.calls("sendMessage")) == 8


async def test_a_process_killed_during_a_send_retries_it_after_the_timeout(
    harness: Harness,
) -> None:
    """The at-least-once edge: killed after Telegram took the message but before it was
    recorded, the send is claimed until the timeout, then sent again (one duplicate)."""
    ids = people(harness, 6301, 6)
    batch = [note(i) for i in ids]
    stuck = ids[3]
    harness.fake.inject_delay("sendMessage", 0.3, chat_id=stuck)
    task = asyncio.create_task(delivery(harness, concurrency=1).deliver(batch))
    await harness.fake.wait_for(
        lambda: any(c["chat_id"] == stuck for c in harness.fake.calls("sendMessage"))
    )
    task.cancel()  # killed with the request on its way
    with pytest.raises(asyncio.CancelledError):
        await task
    await harness.fake.wait_for(lambda: received(harness.fake, stuck))  # Telegram took it
    states = {i: r.state for i, r in (await ledger_rows(harness.db)).items()}
    assert states == {ids[0]: "sent", ids[1]: "sent", ids[2]: "sent", stuck: "claimed"}

    await harness.restart()
    assert await delivery(harness).deliver(batch) == Report(sent=2, skipped=3, in_progress=1)
    harness.clock.advance(minutes=9)
    assert await delivery(harness).deliver(batch) == Report(skipped=5, in_progress=1)
    harness.clock.advance(minutes=2)
    assert await delivery(harness).deliver(batch) == Report(sent=1, skipped=5)
    for i in ids:
        assert len(received(harness.fake, i)) == (2 if i == stuck else 1)
    assert (await ledger_rows(harness.db))[stuck].attempts == 2


# --- faults -------------------------------------------------------------------------------------


@SQLITE_ONLY
async def test_a_429_is_waited_out_by_ptb_then_by_delivery(harness: Harness) -> None:
    """The Application's AIORateLimiter retries a 429 three times itself (really waiting
    1.1 s each); the fourth reaches Delivery, which waits retry_after and sends it once."""
    ids = people(harness, 6401, 2)
    harness.fake.inject_error("sendMessage", 429, retry_after=1, chat_id=ids[0], times=4)
    waits = Waits()
    report = await delivery(harness, waits).deliver([note(i) for i in ids])
    assert report == Report(sent=2)
    assert waits.seconds == [1.0]
    calls = [c for c in harness.fake.calls("sendMessage") if c["chat_id"] == ids[0]]
    assert len(calls) == 5
    assert received(harness.fake, ids[0]) == [f"Báo cáo tuần {ids[0]}"]
    assert {r.attempts for r in (await ledger_rows(harness.db)).values()} == {1}


async def test_a_429_without_ptb_rate_limiter_is_waited_out_once(
    fake: FakeBotAPI, db: Database
) -> None:
    fake.user(6411)
    fake.inject_error("sendMessage", 429, retry_after=3, times=2)
    waits = Waits()
    async with bot_for(fake) as bot:
        delivery = Delivery(bot, db, clock=lambda: NOW, sleep=waits, limiter=fast_limiter())
        assert await delivery.deliver([note(6411)]) == Report(sent=1)
    assert waits.seconds == [3.0, 3.0]  # not counted as failures, no backoff
    assert len(received(fake, 6411)) == 1


@SQLITE_ONLY
async def test_endless_429s_give_up_in_the_end(fake: FakeBotAPI, db: Database) -> None:
    fake.user(6421)
    fake.inject_error("sendMessage", 429, retry_after=2, times=4)
    waits = Waits()
    async with bot_for(fake) as bot:
        delivery = Delivery(
            bot, db, clock=lambda: NOW, sleep=waits, limiter=fast_limiter(), max_flood_waits=3
        )
        assert await delivery.deliver([note(6421)]) == Report(failed=1)
    assert waits.seconds == [2.0, 2.0, 2.0]
    row = (await ledger_rows(db))[6421]
    assert row.state == "failed" and row.error is not None and "RetryAfter" in row.error


async def test_a_403_marks_the_member_unreachable_without_retrying(harness: Harness) -> None:
    await harness.add_member(6501)
    await harness.add_member(6502, full_name="Trần Văn Hòa")
    people(harness, 6501, 2)
    harness.fake.block(6501)
    waits = Waits()
    report = await delivery(harness, waits).deliver([note(6501), note(6502)])
    assert report == Report(sent=1, unreachable=1)
    assert waits.seconds == []
    assert len([c for c in harness.fake.calls("sendMessage") if c["chat_id"] == 6501]) == 1
    row = (await ledger_rows(harness.db))[6501]
    assert (row.state, row.done_at) == ("unreachable", harness.clock())
    assert row.error == "Forbidden: bot was blocked by the user"

    async def members(session: Any) -> dict[int, Any]:
        found = (await session.exec(select(Member))).all()
        return {m.telegram_id: m.unreachable_at for m in found}

    assert await harness.query(members) == {6501: harness.clock(), 6502: None}
    # The next week's send is not retried into the block either: one call, one row.
    later = note(6501, period_key="2026-W49")
    assert await delivery(harness, waits).deliver([later]) == Report(unreachable=1)


async def test_a_403_midway_through_a_digest_stops_it(harness: Harness) -> None:
    (person,) = people(harness, 6511, 1)
    harness.fake.inject_error("sendPhoto", 403, chat_id=person)
    assert await delivery(harness).deliver([digest(person)]) == Report(unreachable=1)
    assert len(received(harness.fake, person)) == 2  # the texts, then the block
    row = (await ledger_rows(harness.db))[person]
    assert row.error is not None and row.error.endswith("after 2 of 4 messages")


@SQLITE_ONLY
async def test_a_400_is_retried_with_backoff_then_failed(harness: Harness) -> None:
    ids = people(harness, 6601, 2)
    harness.fake.inject_error("sendMessage", 400, chat_id=ids[0], times=3)
    waits = Waits()
    report = await delivery(harness, waits).deliver([note(i) for i in ids])
    assert report == Report(sent=1, failed=1)
    assert waits.seconds == [1.0, 2.0]
    assert len([c for c in harness.fake.calls("sendMessage") if c["chat_id"] == ids[0]]) == 3
    assert received(harness.fake, ids[0]) == []
    row = (await ledger_rows(harness.db))[ids[0]]
    assert (row.state, row.error) == ("failed", "BadRequest: Injected error (3 tries)")
    # Failed is final for this period: a rerun does not try again.
    assert await delivery(harness, waits).deliver([note(ids[0])]) == Report(skipped=1)


@SQLITE_ONLY
async def test_a_passing_server_error_is_retried_and_sent_once(harness: Harness) -> None:
    ids = people(harness, 6611, 1)
    harness.fake.inject_error("sendDocument", 500, chat_id=ids[0], times=2)
    waits = Waits()
    assert await delivery(harness, waits, backoff=0.5).deliver([digest(ids[0])]) == Report(sent=1)
    assert waits.seconds == [0.5, 1.0]
    assert [m.kind for m in harness.fake.user(ids[0]).messages()] == [
        "text",
        "text",
        "photo",
        "document",  # the earlier parts were not sent again
    ]


# --- two processes, one database -----------------------------------------------------------------


async def test_two_processes_on_one_database_send_each_message_once(
    database_url: str, fake: FakeBotAPI
) -> None:
    """Two Applications (own engines, own bots and limiters) deliver the same batch at once."""
    await upgrade(database_url)
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=fake.base_url,
        database_url=database_url,
        _env_file=None,
    )
    ids = list(range(6701, 6741))
    for i in ids:
        fake.user(i)
    batch = [note(i) for i in ids]
    # Sends that take a moment, as Telegram's do. With instant ones, on SQLite, one process
    # could claim the whole batch while the other still polls for the write lock (busy timeout).
    fake.inject_delay("sendMessage", 0.2, times=len(ids))
    databases = [Database(database_url), Database(database_url)]
    applications = [build_application(settings, db, clock=lambda: NOW) for db in databases]
    try:
        for application in applications:
            await application.initialize()
        deliveries = [
            Delivery(a.bot, db, clock=lambda: NOW, limiter=fast_limiter())
            for a, db in zip(applications, databases, strict=True)
        ]
        first, second = await asyncio.gather(
            deliveries[0].deliver(batch), deliveries[1].deliver(list(reversed(batch)))
        )
    finally:
        for application in applications:
            await application.shutdown()
        for db in databases:
            await db.dispose()
    assert first.sent and second.sent  # both took part, and lost claims to each other
    assert first.sent + second.sent == 40
    assert first.total == second.total == 40
    assert first.failed == second.failed == 0
    assert len(fake.calls("sendMessage")) == 40
    for i in ids:
        assert received(fake, i) == [f"Báo cáo tuần {i}"]


# --- limits ---------------------------------------------------------------------------------


async def test_a_thousand_recipients_without_a_single_429(db: Database, fake: FakeBotAPI) -> None:
    """Scaled tenfold (300/s overall, 10/s a chat, on both sides) to take seconds, not
    minutes; every tenth recipient gets a three-part digest."""
    fake.enforce_rate_limits(global_per_second=300, per_chat_per_second=10)
    ids = list(range(7_000_000, 7_001_000))
    batch = []
    for n, i in enumerate(ids):
        fake.user(i)
        if n % 10:
            batch.append(note(i))
        else:
            message = OutMessage("<b>Tháng 11</b>", attachments=[Attachment("c.png", PNG, True)])
            batch.append(Send(SendKind.MONTHLY_DIGEST, i, "2026-11", [message, OutMessage("2")]))
    messages = 900 + 100 * 3
    # The Application's AIORateLimiter (30/s overall), scaled tenfold like the rest.
    limiter = AIORateLimiter(overall_max_rate=300, max_retries=3)
    async with bot_for(fake, rate_limiter=limiter) as bot:
        delivery = Delivery(bot, db, clock=lambda: NOW, limiter=SendLimiter(300, 10))
        started = time.monotonic()
        report = await delivery.deliver(batch)
        elapsed = time.monotonic() - started
    assert report == Report(sent=1000)
    assert fake.count_429 == 0
    assert len(fake.requests) == messages + 1  # and getMe
    assert all(len(fake.user(i).messages()) == (3 if n % 10 == 0 else 1) for n, i in enumerate(ids))
    # At least 3 × 1.1 s by the pacing; in practice the CPU of the fake, PTB and the two
    # transactions per Send in one process bound it (about 7-9 s here).
    assert 3.3 <= elapsed < 60


async def deliver_to_distinct_chats(
    fake: FakeBotAPI, db: Database, limiter: SendLimiter, sleep: Any
) -> tuple[Report, float]:
    """120 one-message Sends, with no PTB rate limiter beneath: only `limiter` paces."""
    ids = list(range(7_100_000, 7_100_120))
    for i in ids:
        fake.user(i)
    async with bot_for(fake) as bot:
        delivery = Delivery(bot, db, clock=lambda: NOW, sleep=sleep, limiter=limiter)
        started = time.monotonic()
        report = await delivery.deliver([note(i) for i in ids])
        elapsed = time.monotonic() - started
    for i in ids:
        assert received(fake, i) == [f"Báo cáo tuần {i}"]
    return report, elapsed


@SQLITE_ONLY
async def test_the_overall_limit_holds_where_it_binds(db: Database, fake: FakeBotAPI) -> None:
    fake.enforce_rate_limits(global_per_second=40, per_chat_per_second=1)
    report, elapsed = await deliver_to_distinct_chats(fake, db, SendLimiter(40, 1), Waits())
    assert report == Report(sent=120)
    assert fake.count_429 == 0
    assert 2.2 <= elapsed < 10  # 40 at once, 40 after 1.1 s, 40 after 2.2 s


@SQLITE_ONLY
async def test_unpaced_the_fake_answers_429_and_each_still_goes_once(
    db: Database, fake: FakeBotAPI
) -> None:
    """The control: the fake's limits do bite, and Delivery waits the 429s out for real."""
    fake.enforce_rate_limits(global_per_second=40, per_chat_per_second=1)
    unpaced = SendLimiter(10_000, 10_000)
    report, _ = await deliver_to_distinct_chats(fake, db, unpaced, asyncio.sleep)
    assert report == Report(sent=120)
    assert fake.count_429 > 0


class VirtualTime:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def assert_within(stamps: list[tuple[float, int]], window: float, overall: int, per_chat: int):
    for start, _ in stamps:
        inside = [chat for at, chat in stamps if start <= at < start + window]
        assert len(inside) <= overall
        assert max(inside.count(c) for c in set(inside)) <= per_chat


async def test_the_limiter_paces_overall_and_per_chat() -> None:
    time_ = VirtualTime()
    limiter = SendLimiter(3, 1, period=1.0, margin=0.1, clock=time_, sleep=time_.sleep)
    stamps = []
    for chat in [1, 2, 3, 4, 1, 1, 5]:
        await limiter.acquire(chat)
        stamps.append((round(time_.now - 100, 6), chat))
    assert stamps == [(0, 1), (0, 2), (0, 3), (1.1, 4), (1.1, 1), (2.2, 1), (2.2, 5)]


def earliest(
    before: list[tuple[float, int]], chat: int, after: float, overall: int, per_chat: int
) -> float:
    """The first moment from `after` on when one more send to `chat` fits (window 1.1 s)."""
    for moment in sorted({after, *(at + 1.1 for at, _ in before if at + 1.1 > after)}):
        inside = [c for at, c in before if at > moment - 1.1 + 1e-9]
        if len(inside) < overall and inside.count(chat) < per_chat:
            return moment
    raise AssertionError("unreachable: the window always empties")


@settings(max_examples=60, deadline=None)
@given(
    chats=st.lists(st.integers(1, 6), min_size=1, max_size=60),
    overall=st.integers(1, 8),
    per_chat=st.integers(1, 3),
)
def test_the_limiter_keeps_both_limits_and_waits_no_longer(
    chats: list[int], overall: int, per_chat: int
) -> None:
    async def run() -> list[tuple[float, int]]:
        time_ = VirtualTime()
        limiter = SendLimiter(overall, per_chat, clock=time_, sleep=time_.sleep)
        stamps: list[tuple[float, int]] = []
        for chat in chats:
            await limiter.acquire(chat)
            stamps.append((time_.now, chat))
        return stamps

    stamps = asyncio.run(run())
    assert_within(stamps, 1.1 - 1e-6, overall, per_chat)
    for n, (at, chat) in enumerate(stamps):
        after = stamps[n - 1][0] if n else 100.0
        assert at == pytest.approx(earliest(stamps[:n], chat, after, overall, per_chat), abs=1e-6)


async def test_outcomes_add_up_in_the_report() -> None:
    report = Report()
    for outcome in [
        SendOutcome.SENT,
        SendOutcome.SENT,
        SendOutcome.FAILED,
        SendOutcome.UNREACHABLE,
    ]:
        report.add(outcome)
    assert (report.total, str(report)) == (
        4,
        "sent 2, skipped 0, in progress 0, unreachable 1, failed 1",
    )
