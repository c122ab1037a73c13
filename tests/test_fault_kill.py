"""kill -9 of real bot and CLI processes mid-flow and mid-batch, then a restart: the form
resumes at its step and is saved once, and every message of a batch (reminders, an announcement
from the CLI or from the chat) is sent exactly once.

Deterministic kill points: a step is "fully handled" when the fake has the bot's reply, the bot
confirmed the update (getUpdates offset) and the database holds the form at the new prompt.
A batch is cut with FakeBotAPI.hold: the first k-1 sendMessage calls go through, every later one
is held unanswered and never takes effect (a request lost on its way to Telegram); the process
is killed once the ledger has the k-1 recorded as sent.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.domain.access import Role
from bot.domain.outgoing import SendKind
from storage import state, units
from storage.migrate import upgrade
from storage.models import AuditEvent, LandPledge, Schedule, SendLedger, pk
from tests.bot_process import bot_env, poll
from tests.fakebot import FakeBotAPI, FakeMessage, FakeUser
from tests.harness import TOKEN, Clock, Harness, local_noon

T = TypeVar("T")
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
BATCH = 40
HELD_FROM = 13  # the k-th sendMessage of the batch is the first one held


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        yield server


@pytest.fixture
async def seeded(fake: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Harness]:
    """A migrated SQLite database with the test units; the Harness only seeds and queries."""
    url = f"sqlite:///{tmp_path / 'danvan.db'}"
    await upgrade(url)
    harness = Harness(fake, url, Clock(local_noon("2026-11-25")))
    await harness.seed_units()
    try:
        yield harness
    finally:
        await harness.db.dispose()


_spawned: list[asyncio.subprocess.Process] = []


@pytest.fixture(autouse=True)
async def reap() -> AsyncIterator[None]:
    """Kill what a failed test left running, so that it does not answer the next test's fake."""
    yield
    while _spawned:
        process = _spawned.pop()
        if process.returncode is None:
            process.kill()
            await process.wait()


def environment(tmp_path: Path, api_url: str, **extra: str) -> dict[str, str]:
    return bot_env(api_url, f"sqlite:///{tmp_path / 'danvan.db'}", **extra)


async def spawn(tmp_path: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """`python -m bot.cli ARGS`, its log in a file (a full pipe would block it)."""
    log = (tmp_path / "process.log").open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            *args,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
    finally:
        log.close()
    _spawned.append(process)
    return process


async def kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(process.wait(), timeout=10)
    assert process.returncode == -signal.SIGKILL


async def terminate(process: asyncio.subprocess.Process, tmp_path: Path) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.communicate(), timeout=30)
    log = (tmp_path / "process.log").read_text()
    assert process.returncode == 0, log
    assert "Traceback" not in log, log


# --- mid-flow ---------------------------------------------------------------------------------


class Step:
    """One answer of the person, waited for until the bot has fully handled it."""

    def __init__(self, harness: Harness, user: FakeUser, process: asyncio.subprocess.Process):
        self.harness = harness
        self.fake = harness.fake
        self.user = user
        self.process = process

    async def stored(self) -> Any:
        """The person's stored user_data (the form in progress)."""

        async def load(session: Any) -> Any:
            return await state.load_one(session, "user_data", str(self.user.id))

        return await self.harness.query(load)

    async def __call__(
        self,
        act: Callable[[], Awaitable[object]],
        expect: str,
        pressed: FakeMessage | None = None,
    ) -> FakeMessage:
        """`pressed`: the message whose button `act` presses, which the bot may edit into its
        answer instead of sending a new message."""
        seen = len(self.user.messages())
        edits = len(pressed.edits) if pressed is not None else 0
        before = await self.stored()
        await act()
        update_id = self.fake.last_update_id

        def answered() -> FakeMessage | None:
            replies = self.user.messages()[seen:]
            if pressed is not None and len(pressed.edits) > edits:
                replies.append(pressed)
            return next((m for m in replies if expect in m.body), None)

        reply = await self.fake.wait_for(answered, timeout=20, what=f"a reply with {expect!r}")
        await self.fake.wait_acked(update_id, timeout=20)

        async def stored() -> bool:
            return await self.stored() != before

        await poll(stored, what="the form stored at its new step", process=self.process)
        return reply

    async def say(self, text: str, expect: str) -> FakeMessage:
        return await self(lambda: self.user.send(text), expect)

    async def tap(self, label: str, expect: str) -> FakeMessage:
        message = next(m for m in reversed(self.user.messages()) if m.buttons)
        return await self(lambda: self.user.press(message, text=label), expect, message)


async def test_a_bot_killed_mid_flow_resumes_the_form_and_saves_it_once(
    fake: FakeBotAPI, seeded: Harness, tmp_path: Path
) -> None:
    await seeded.add_member(7301)
    user = fake.user(7301, first_name="Lan")
    env = environment(tmp_path, fake.base_url)
    bot = await spawn(tmp_path, env, "run")
    try:
        step = Step(seeded, user, bot)
        await step.say("/hiendat", "Hộ nào hiến đất")
        await step.say("Hộ bà Phạm Thị Mai", "")
        await step.say("2 sao", "Loại đất")
        await step.tap("Đất nông nghiệp", "")
        stage_prompt = await step.tap("Kênh mương", "")
        await kill(bot)

        bot = await spawn(tmp_path, env, "run")
        step = Step(seeded, user, bot)
        await step(lambda: user.press(stage_prompt, text="Giải tỏa"), "", stage_prompt)
        await step.tap("Hôm nay", "")
        await step.tap("Bỏ qua", "")
        await step.tap("Bỏ qua", "")
        card = await step.tap("Không có ảnh", "2 sào = 720 m²")
        assert "Kênh mương" in card.body
        saved = await step.tap("✅ Lưu", "Đã lưu")
    finally:
        await terminate(bot, tmp_path)

    async def pledges(session: Any) -> list[LandPledge]:
        return list((await session.exec(select(LandPledge))).all())

    (pledge,) = await seeded.query(pledges)
    assert pledge.stage == "giai_toa" and pledge.purpose == "kenh_muong"
    assert f"#L-{pledge.id}" in saved.body


# --- mid-batch --------------------------------------------------------------------------------


async def add_coordinators(harness: Harness, count: int) -> list[FakeUser]:
    people = []
    for n in range(count):
        telegram_id = 8_000 + n
        await harness.add_member(telegram_id, ("CN1", "CN2")[n % 2], full_name=f"Tổ viên {n}")
        people.append(harness.fake.user(telegram_id, first_name=f"P{n}"))
    return people


def ledger_counts(harness: Harness, kind: SendKind) -> Callable[[], Awaitable[dict[str, int]]]:
    async def counts() -> dict[str, int]:
        async def load(session: Any) -> dict[str, int]:
            query = (
                select(SendLedger.state, func.count())
                .where(col(SendLedger.kind) == kind.value)
                .group_by(col(SendLedger.state))
            )
            return {row_state: n for row_state, n in (await session.exec(query)).all()}

        result: dict[str, int] = await harness.query(load)
        return result

    return counts


async def cut_after(
    fake: FakeBotAPI,
    harness: Harness,
    kind: SendKind,
    process: asyncio.subprocess.Process,
) -> None:
    """Wait until the first HELD_FROM - 1 sends are recorded as sent and the next is held,
    then kill -9 the process and end the hold."""
    counts = ledger_counts(harness, kind)

    async def cut() -> bool:
        return bool(fake.held) and (await counts()).get("sent") == HELD_FROM - 1

    await poll(cut, what=f"{HELD_FROM - 1} sends recorded and the next held", process=process)
    await kill(process)
    left = await counts()
    assert left.get("sent") == HELD_FROM - 1 and left.get("claimed"), left
    fake.release_held()


async def all_sent(harness: Harness, kind: SendKind, process: asyncio.subprocess.Process) -> None:
    """Wait until the ledger has every send of the batch as sent."""
    counts = ledger_counts(harness, kind)

    async def done() -> bool:
        return await counts() == {"sent": BATCH}

    await poll(done, what=f"every {kind.value} sent", process=process)


def assert_each_once(people: list[FakeUser], needle: str) -> None:
    got = {person.id: sum(needle in m.body for m in person.messages()) for person in people}
    assert got == {person.id: 1 for person in people}


async def test_a_cli_broadcast_killed_mid_batch_is_finished_by_running_it_again(
    fake: FakeBotAPI, seeded: Harness, tmp_path: Path
) -> None:
    people = await add_coordinators(seeded, BATCH)
    fake.hold("sendMessage", after=HELD_FROM - 1, times=10 * BATCH)
    env = environment(tmp_path, fake.base_url)
    command = ("broadcast", "THOXUONG", "--text", "Họp tổ lúc 19h thứ Sáu", "--json")
    first = await spawn(tmp_path, env, *command)
    await cut_after(fake, seeded, SendKind.BROADCAST, first)

    again = await spawn(tmp_path, env, *command)
    out, _ = await asyncio.wait_for(again.communicate(), timeout=30)
    assert again.returncode == 0, (tmp_path / "process.log").read_text()
    report = json.loads(out)
    assert report["resumed"] is True
    assert report["sent"] == BATCH - (HELD_FROM - 1)
    assert report["already"] == HELD_FROM - 1
    assert_each_once(people, "Họp tổ lúc 19h thứ Sáu")
    assert await ledger_counts(seeded, SendKind.BROADCAST)() == {"sent": BATCH}


async def due_reminder_now(harness: Harness) -> dict[str, str]:
    """Make the root unit's weekly reminder fall due a minute ago (real time, in Hà Nội), and
    quiet hours far from now; returns the settings for the bot process."""
    moment = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(HANOI)
    async with harness.db.session() as session:
        root = await units.by_code(session, "BN")
        assert root is not None
        session.add(
            Schedule(
                unit_id=pk(root),
                reminder_weekday=moment.weekday(),
                reminder_time=moment.time().replace(second=0, microsecond=0),
            )
        )
    quiet_start = moment + timedelta(hours=8)
    quiet_end = moment + timedelta(hours=9)
    return {"QUIET_HOURS": f"{quiet_start:%H:%M}-{quiet_end:%H:%M}", "TIMEZONE": "Asia/Ho_Chi_Minh"}


async def test_a_bot_killed_mid_batch_finishes_it_at_once_after_a_restart(
    fake: FakeBotAPI, seeded: Harness, tmp_path: Path
) -> None:
    people = await add_coordinators(seeded, BATCH)
    env = environment(tmp_path, fake.base_url, **await due_reminder_now(seeded))
    fake.hold("sendMessage", after=HELD_FROM - 1, times=10 * BATCH)
    bot = await spawn(tmp_path, env, "run")
    await cut_after(fake, seeded, SendKind.REMINDER, bot)

    # The new process takes over the dead one's claims at start-up (not 10 minutes later), and
    # its catch-up sends the rest of the batch.
    bot = await spawn(tmp_path, env, "run")
    try:
        await all_sent(seeded, SendKind.REMINDER, bot)
        assert_each_once(people, "Tổ của bạn chưa báo cáo")
        # Polling goes on.
        answer = await people[0].ask("/trogiup", timeout=20)
        assert answer.body
    finally:
        await terminate(bot, tmp_path)

    async def attempts(session: Any) -> list[int]:
        query = select(SendLedger.attempts).where(SendLedger.kind == SendKind.REMINDER.value)
        return list((await session.exec(query)).all())

    tries = await seeded.query(attempts)
    assert sorted(set(tries)) == [1, 2]  # the orphaned claims were taken over once


async def test_an_announcement_from_the_chat_killed_mid_batch_is_finished_after_a_restart(
    fake: FakeBotAPI, seeded: Harness, tmp_path: Path
) -> None:
    people = await add_coordinators(seeded, BATCH)
    await seeded.add_member(7401, "THOXUONG", Role.OFFICIAL, full_name="Cán bộ phường")
    official = fake.user(7401, first_name="Hà")
    env = environment(tmp_path, fake.base_url)
    bot = await spawn(tmp_path, env, "run")
    text = "Họp tổ lúc 19h thứ Sáu"
    step = Step(seeded, official, bot)
    await step.say(f"/thongbao {text}", "Gửi cho ai")
    await official.press(official.messages()[-1], text="THOXUONG · phường Thọ Xương")
    preview = await fake.wait_for(
        lambda: next((m for m in official.messages() if text in m.body and m.buttons), None),
        timeout=20,
        what="the preview",
    )
    # "⏳ Đang gửi…" to the official, then HELD_FROM - 1 announcements go out.
    fake.hold("sendMessage", after=HELD_FROM, times=10 * BATCH)
    await official.press(preview, text="✅ Gửi")
    await cut_after(fake, seeded, SendKind.BROADCAST, bot)

    # The new process handles the unfinished confirm again; Telegram no longer takes the tap's
    # answer, and the delivery goes on from where it stopped.
    bot = await spawn(tmp_path, env, "run")
    try:
        await all_sent(seeded, SendKind.BROADCAST, bot)
        told = await fake.wait_for(
            lambda: next((m for m in official.messages() if "khởi động lại" in m.body), None),
            timeout=20,
            what="the official told how the announcement ended",
        )
    finally:
        await terminate(bot, tmp_path)
    assert_each_once(people, text)
    assert f"{BATCH - (HELD_FROM - 1)} đã gửi" in told.body
    assert f"Đã nhận từ trước: {HELD_FROM - 1}." in told.body
    assert sum("⏳" in m.body for m in official.messages()) == 1

    async def events(session: Any) -> list[str]:
        query = select(AuditEvent.action).where(AuditEvent.entity == "broadcast")
        return list((await session.exec(query.order_by(col(AuditEvent.id)))).all())

    assert await seeded.query(events) == ["sent", "delivered"]
