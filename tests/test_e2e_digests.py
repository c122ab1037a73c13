"""Digests through the scheduler and the commands, end to end through the fake Bot API."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time

from openpyxl import load_workbook

from bot.domain.access import Role
from bot.domain.outgoing import SendKind
from bot.domain.schedule import Slot
from bot.telegram.jobs import scheduler
from tests.harness import Harness, Person

MONDAY_0730 = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
WEEKLY = Slot(SendKind.WEEKLY_DIGEST, time(7, 30), weekday=0)


async def seed(harness: Harness) -> dict[str, Person]:
    harness.clock.now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    await harness.add_member(8101, "CN1", full_name="Tổ trưởng Một")
    await harness.add_member(8109, "THOXUONG", Role.OFFICIAL, full_name="Cán bộ phường")
    await harness.add_member(8199, "BN", Role.ADMIN, full_name="Quản trị")
    people = {
        name: harness.person(i)
        for name, i in (("coordinator", 8101), ("official", 8109), ("admin", 8199))
    }
    person = people["coordinator"]
    await person.say("/hiendat")
    await person.say("Hộ ông Nguyễn Văn An")
    await person.say("2 sào")
    await person.tap("Đất ở")
    await person.tap("Mở rộng đường")
    await person.tap("Cam kết")
    await person.tap("Hôm nay")
    await person.tap("Bỏ qua")
    await person.tap("Bỏ qua")
    await person.tap("Không có ảnh")
    await person.tap("✅ Lưu")
    return people


async def test_the_weekly_digest_goes_to_officials_once_with_chart_and_xlsx(
    harness: Harness,
) -> None:
    people = await seed(harness)
    harness.clock.now = MONDAY_0730
    await scheduler(harness.app).run(WEEKLY, MONDAY_0730, MONDAY_0730)
    official = people["official"].user
    texts = [m.body for m in official.messages() if m.kind == "text"]
    assert any("Bản tin tuần: phường Thọ Xương" in text for text in texts)
    assert any("720 m²" in text and "Hộ ông N.V.A." in text for text in texts)
    (photo,) = [m for m in official.messages() if m.kind == "photo"]
    assert photo.photo is not None and photo.photo.content.startswith(b"\x89PNG")
    (document,) = [m for m in official.messages() if m.kind == "document"]
    assert document.document is not None
    assert (document.document.filename or "").endswith(".xlsx")
    workbook = load_workbook(io.BytesIO(document.document.content))
    assert "Hiến đất" in workbook.sheetnames
    admin = people["admin"].user
    assert any("Bản tin tuần: Bắc Ninh" in m.body for m in admin.messages())
    count = len(harness.fake.bot_messages())
    await scheduler(harness.app).run(WEEKLY, MONDAY_0730, MONDAY_0730)
    assert len(harness.fake.bot_messages()) == count
    assert "Bản tin" not in people["coordinator"].last.body


async def test_an_official_previews_their_digest(harness: Harness) -> None:
    people = await seed(harness)
    official = people["official"]
    (question,) = await official.say("/xembaocao")
    assert "bản tin tuần nào" in question.body
    replies = await official.tap("Tuần này (đến hôm nay)")
    assert any("Bản tin tuần: phường Thọ Xương" in m.body for m in replies)
    assert any("720 m²" in m.body for m in replies)
    # The question stays: last week's, from the same buttons (nothing was logged then).
    replies = await official.tap("Tuần trước", question)
    assert any("16/11/2026 – 22/11/2026" in m.body for m in replies)
    assert not any("720 m²" in m.body for m in replies)
    # Buttons that do not decode show nothing.
    for data in ("dg:pv:next", "dg:preview:this", "dg:pv", "dg:pv:this:1"):
        assert await official.forge(question, data) == []
        assert official.user.answers[-1].text == "Phiếu này đã hết hạn"
    (refused,) = await people["coordinator"].say("/xembaocao")
    assert "không có quyền" in refused.body


async def test_an_admin_sends_a_digest_now_once_unless_forced(harness: Harness) -> None:
    people = await seed(harness)
    admin = people["admin"]
    harness.clock.now = MONDAY_0730
    replies = await admin.say("/guibaocao THOXUONG")
    assert replies[-1].body == "Bản tin của phường Thọ Xương:\n• Cán bộ phường: đã gửi"
    harness.clock.advance(minutes=5)
    replies = await admin.say("/guibaocao THOXUONG")
    assert replies[-1].body.endswith("• Cán bộ phường: đã gửi trước đó lúc 07:30 30/11/2026")
    assert not replies[-1].buttons
    replies = await admin.say("/guibaocao THOXUONG --force")
    assert replies[-1].body.endswith("• Cán bộ phường: đã gửi")
    (unknown,) = await admin.say("/guibaocao NOWHERE")
    assert "NOWHERE" in unknown.body
    (refused,) = await people["official"].say("/guibaocao")
    assert "không có quyền" in refused.body


async def test_a_digest_missed_while_the_bot_was_down_is_not_called_sent(
    harness: Harness,
) -> None:
    """Monday's digest was skipped (the bot came back too late): /guibaocao says so, with its
    due time, and offers to send it; the button sends it to those who missed it."""
    people = await seed(harness)
    admin, official = people["admin"], people["official"]
    late = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 09:00, more than a day late
    harness.clock.now = late
    await scheduler(harness.app).run(WEEKLY, MONDAY_0730, late)
    assert not any("Bản tin tuần" in m.body for m in official.user.messages())
    (answer,) = await admin.say("/guibaocao THOXUONG")
    assert answer.body == (
        "Bản tin của phường Thọ Xương:\n"
        "• Cán bộ phường: chưa gửi: đến hạn lúc 07:30 30/11/2026, khi bot không hoạt động\n\n"
        "1 cán bộ chưa nhận được. Gửi cho họ ngay?"
    )
    data = answer.data_for("📤 Gửi cho người chưa nhận")
    replies = await admin.tap("📤 Gửi cho người chưa nhận", answer)
    assert replies[-1].body.endswith("• Cán bộ phường: đã gửi")
    assert not admin.user.message(answer.message_id).buttons
    assert any("Bản tin tuần: phường Thọ Xương" in m.body for m in official.user.messages())
    # Pressed again (a lagging phone): nobody is left, and nothing goes out twice.
    count = len(official.user.messages())
    replies = await admin.forge(answer, data)
    assert replies[-1].body == "Tất cả đã nhận được bản tin."
    assert len(official.user.messages()) == count
    # A forged unit outside every scope, or bad data, is only stale.
    assert await admin.forged_answer(answer, "dg:ms:999999") == "Phiếu này đã hết hạn"
    assert await admin.forged_answer(answer, "dg:ms:x") == "Phiếu này đã hết hạn"
