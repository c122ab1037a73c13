"""The Bot API fails for a stretch (500s, a call hanging past PTB's 5 s read timeout): the bot
does not crash, loses no record, the person is told what was kept (never "try again" for a
saved record), a due digest batch reaches everyone exactly once, and polling goes on
afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

import pytest
from sqlmodel import col, select

from bot.domain.access import Role
from bot.domain.outgoing import SendKind
from bot.domain.schedule import Slot
from bot.telegram.jobs import scheduler
from storage.models import LandPledge, SendLedger
from tests.fakebot import FakeBotAPI, FakeMessage
from tests.harness import Harness, Person

MONDAY_0730 = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
WEEKLY = Slot(SendKind.WEEKLY_DIGEST, time(7, 30), weekday=0)
SAVED = "Đã lưu"
TRY_AGAIN = "Có lỗi xảy ra. Vui lòng thử lại"
PTB_READ_TIMEOUT = 5.0  # PTB's default; the bot sets none of its own

FAULTS: dict[str, Callable[[FakeBotAPI], None]] = {
    "answer-500": lambda fake: fake.inject_error("answerCallbackQuery", 500),
    "tidy-500": lambda fake: fake.inject_error("editMessageText", 500),
    "reply-500": lambda fake: fake.inject_error("sendMessage", 500),
    "reply-500-twice": lambda fake: fake.inject_error("sendMessage", 500, times=2),
    "reply-hangs": lambda fake: fake.inject_delay("sendMessage", PTB_READ_TIMEOUT + 0.5),
}


async def land_card(harness: Harness, telegram_id: int) -> tuple[Person, FakeMessage]:
    """A coordinator at the confirmation card of a land pledge."""
    await harness.add_member(telegram_id)
    person = harness.person(telegram_id)
    await person.say("/hiendat")
    await person.say("Hộ ông Nguyễn Văn An")
    await person.say("2 sào")
    await person.tap("Đất ở")
    await person.tap("Mở rộng đường")
    await person.tap("Cam kết")
    await person.tap("Hôm nay")
    await person.tap("Bỏ qua")
    await person.tap("Bỏ qua")
    (card,) = await person.tap("Không có ảnh")
    return person, card


async def pledges(harness: Harness) -> list[LandPledge]:
    async def load(session: Any) -> list[LandPledge]:
        return list((await session.exec(select(LandPledge))).all())

    result: list[LandPledge] = await harness.query(load)
    return result


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_saving_while_the_api_fails_keeps_the_record_once(
    harness: Harness, fault: str
) -> None:
    person, card = await land_card(harness, 8301)
    fake = harness.fake
    FAULTS[fault](fake)
    seen = len(person.user.messages(include_deleted=True))
    await person.user.press(card, text="✅ Lưu")
    await harness.settle(fake.last_update_id)
    assert fake.unused_faults() == []
    told = " ".join(m.body for m in person.user.messages(include_deleted=True)[seen:])
    (pledge,) = await pledges(harness)
    # Saved on the first press whatever failed: a tap that could not be answered is no reason
    # to stop, and a confirmation that failed after the record was kept is sent again, never
    # replaced by a "try again" (a timed-out one may have arrived as well: then it shows twice).
    assert SAVED in told and f"#L-{pledge.id}" in told, told
    assert TRY_AGAIN not in told, told
    # Normal service: the next message is answered.
    (menu,) = await person.say("/trogiup")
    assert menu.body


async def test_a_digest_batch_due_in_a_stretch_of_500s_reaches_everyone_once(
    harness: Harness,
) -> None:
    fake = harness.fake
    coordinator, _ = await land_card(harness, 8401)
    await coordinator.tap("✅ Lưu")
    officials = [8410 + n for n in range(6)]
    for n, telegram_id in enumerate(officials):
        await harness.add_member(telegram_id, "THOXUONG", Role.OFFICIAL, full_name=f"Cán bộ {n}")
    await harness.add_member(8499, "BN", Role.ADMIN, full_name="Quản trị")
    recipients = [*officials, 8499]
    people = [harness.person(i) for i in recipients]

    # The stretch: polling fails twice, and a handful of every kind of send.
    fake.inject_error("getUpdates", 500, times=2)
    for method in ("sendMessage", "sendPhoto", "sendDocument"):
        fake.inject_error(method, 500, "Internal Server Error", times=3)
    harness.clock.now = MONDAY_0730
    await scheduler(harness.app).run(WEEKLY, MONDAY_0730, MONDAY_0730)

    # The poll in flight when the stretch began ends by its timeout; the next two then fail.
    await fake.wait_for(lambda: not fake.unused_faults(), timeout=30, what="both failed getUpdates")
    assert sum(e.error_code == 500 for e in fake.errors) == 11

    async def states(session: Any) -> list[str]:
        query = select(SendLedger.state).where(col(SendLedger.kind) == SendKind.WEEKLY_DIGEST.value)
        return list((await session.exec(query)).all())

    assert await harness.query(states) == ["sent"] * len(recipients)
    for person in people:
        kinds = [m.kind for m in person.user.messages()]
        headers = [m for m in person.user.messages() if "Bản tin tuần" in m.body]
        assert len(headers) == 1 and kinds.count("photo") == 1 and kinds.count("document") == 1
    # Polling went on: a new message is answered.
    (menu,) = await people[0].say("/trogiup")
    assert menu.body
    # Run again (a restart's catch-up): nothing twice.
    count = len(fake.bot_messages())
    await scheduler(harness.app).run(WEEKLY, MONDAY_0730, MONDAY_0730)
    assert len(fake.bot_messages()) == count
