"""Starting and joining, end to end through the fake Bot API on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Member
from tests.harness import Harness


async def test_start_from_a_stranger_explains_how_to_join(harness: Harness) -> None:
    stranger = harness.person(5001)
    (answer,) = await stranger.say("/start")
    assert "xin cán bộ xã, phường đường link mời" in answer.body
    (answer,) = await stranger.say("hien dat 2 sao")
    assert "link mời" in answer.body
    (answer,) = await stranger.say("/hiendat")
    assert "link mời" in answer.body


async def test_start_from_a_member_shows_unit_and_menu(harness: Harness) -> None:
    await harness.add_member(5002, full_name="Trần <Văn> Bình")
    person = harness.person(5002)
    (answer,) = await person.say("/start")
    assert "Trần <Văn> Bình" in answer.body and "Cung Nhượng 1" in answer.body
    assert "&lt;Văn&gt;" in (answer.html or "")
    assert answer.keyboard[0] == ["📝 Ghi hoạt động", "🏡 Hiến đất"]


async def test_join_with_an_invite(harness: Harness) -> None:
    code = await harness.invite()
    person = harness.person(5003, first_name="Hoa", last_name="Lê")
    (question,) = await person.say(f"/start {code}")
    assert "họ và tên" in question.body.lower()
    assert question.button_texts == ["Hoa Lê"]
    await person.tap("Hoa Lê")
    phone_prompt = person.last
    assert phone_prompt.keyboard_buttons[0][0].request_contact
    replies = await person.contact("0912345678")
    card = replies[-1]
    assert "0912345678" in card.body and "Cung Nhượng 1" in card.body
    replies = await person.tap("✅ Lưu")
    assert "Chào mừng" in replies[-1].body
    assert replies[-1].keyboard[0] == ["📝 Ghi hoạt động", "🏡 Hiến đất"]

    async def load(session):
        return (await session.exec(select(Member).where(Member.telegram_id == 5003))).one()

    member = await harness.query(load)
    assert (member.full_name, member.phone, member.role) == ("Hoa Lê", "0912345678", "coordinator")
    # Coming back does not register twice.
    (again,) = await person.say(f"/start {code}")
    assert "Cung Nhượng 1" in again.body


async def test_bad_invite_codes_say_why(harness: Harness) -> None:
    person = harness.person(5004)
    (answer,) = await person.say("/start NOPE1234")
    assert "không tồn tại" in answer.body
    used = await harness.invite(uses=1)
    first = harness.person(5005)
    await first.say(f"/start {used}")
    await first.tap("Lan")
    await first.tap("Bỏ qua") if False else await first.say("Bỏ qua")
    await first.tap("✅ Lưu")
    (answer,) = await person.say(f"/start {used}")
    assert "đã được dùng" in answer.body
    expired = await harness.invite(days=1)
    harness.clock.advance(days=2)
    (answer,) = await person.say(f"/start {expired}")
    assert "hết hạn" in answer.body
