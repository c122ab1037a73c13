"""What an update owes a person is committed with it and sent afterwards, from the outbox: a
chat whose sends keep failing never holds up the others, and what a committed update owes is
sent by the next process when this one stopped first."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.domain.access import Role
from bot.telegram.app import outbox_sender
from storage import outbox
from storage.models import LandPledge, OutboxMessage, Workday
from tests.harness import Harness, Person


async def coordinator(harness: Harness, telegram_id: int) -> Person:
    await harness.add_member(telegram_id)
    return harness.person(telegram_id)


NAMES = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "Hà",
    "Hải",
    "Hùng",
    "Lan",
    "Long",
    "Mai",
    "Minh",
    "Nam",
    "Nga",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thu",
    "Tú",
    "Vy",
]


async def pledge(person: Person, donor: str) -> str:
    await person.say("🏡 Hiến đất")
    await person.say(donor)
    await person.say("2 sào")
    for label in ("Đất ở", "Mở rộng đường", "Cam kết", "Hôm nay", "Bỏ qua", "Bỏ qua"):
        await person.tap(label)
    await person.tap("Không có ảnh")
    (saved,) = await person.tap("✅ Lưu")
    return saved.body


async def table(harness: Harness, model: Any) -> list[Any]:
    async def load(session: Any) -> list[Any]:
        return list((await session.exec(select(model).order_by(col(model.id)))).all())

    rows: list[Any] = await harness.query(load)
    return rows


async def test_a_chat_whose_uploads_keep_failing_holds_up_no_one_else(harness: Harness) -> None:
    await harness.add_member(7900, "THOXUONG", Role.OFFICIAL)
    official = harness.person(7900)
    harness.fake.inject_error("sendPhoto", 500, "Internal Server Error", chat_id=7900, times=10**6)
    await official.say("/xembaocao")
    (digest, *_) = await official.tap("Tuần này (đến hôm nay)")
    assert "Bản tin tuần" in digest.body  # the text went; its chart is being retried
    people = [await coordinator(harness, 7001 + n) for n in range(20)]
    for person, name in zip(people, NAMES, strict=True):
        assert "Đã lưu" in await pledge(person, f"Hộ ông Nguyễn Văn {name}")
    assert len(await table(harness, LandPledge)) == 20
    stuck, *behind = [
        row
        for row in await table(harness, OutboxMessage)
        if row.state == outbox.PENDING and row.chat_id == 7900
    ]
    assert stuck.method == "sendPhoto" and stuck.attempts >= 1
    assert [row.method for row in behind] == ["sendDocument"]  # the XLSX waits its turn
    assert not [m for m in official.user.messages() if m.kind == "photo"]
    # Everyone else's replies went out meanwhile: nothing of theirs waits.
    others = [row for row in await table(harness, OutboxMessage) if row.chat_id != 7900]
    assert others and all(row.state == outbox.SENT for row in others)


async def test_what_a_committed_update_owes_is_sent_by_the_next_process(
    harness: Harness,
) -> None:
    """The process stops sending (as if killed) right after the ✅ Lưu commits: the workday is
    saved once, the update is not handled again, and the next process sends the "Đã lưu"."""
    person = await coordinator(harness, 7001)
    await person.say("/ngaycong")
    await person.say("Làm đường")
    await person.tap("Hôm nay")
    await person.say("5")
    await person.tap("1")
    card = person.last
    await outbox_sender(harness.app).stop()
    await person.user.press(card, text="✅ Lưu")
    await harness.fake.wait_acked(harness.fake.last_update_id)
    await harness.app.update_queue.join()
    assert len(await table(harness, Workday)) == 1
    assert "Đã lưu" not in person.last.body
    pending = [row for row in await table(harness, OutboxMessage) if row.state == "pending"]
    assert any("Đã lưu" in row.params.get("text", "") for row in pending)
    await harness.restart()
    await harness.sent()
    assert "Đã lưu" in person.last.body
    assert sum("Đã lưu" in m.body for m in person.user.messages()) == 1
    assert len(await table(harness, Workday)) == 1
