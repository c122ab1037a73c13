"""Forms survive restarts, expire after 30 idle minutes (also across a restart), and the
command menu is registered in both languages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlmodel import select

from bot.telegram.app import CATCH_UP_JOB, SWEEP_JOB, on_startup
from handlers.conversation import expire_idle_drafts
from storage.models import ConversationState, LandPledge
from tests.harness import Harness, Person


async def land_until_stage(harness: Harness, telegram_id: int) -> Person:
    await harness.add_member(telegram_id)
    person = harness.person(telegram_id)
    await person.say("/hiendat")
    await person.say("Hộ bà Phạm Thị Mai")
    await person.say("2 sao")
    await person.tap("Đất nông nghiệp")
    await person.tap("Kênh mương")
    return person


async def stored_drafts(harness: Harness) -> list[Any]:
    async def load(session: Any) -> list[Any]:
        query = select(ConversationState).where(ConversationState.namespace == "user_data")
        return list((await session.exec(query)).all())

    result: list[Any] = await harness.query(load)
    return result


async def test_a_restart_mid_flow_resumes_at_the_same_step(harness: Harness) -> None:
    person = await land_until_stage(harness, 7201)
    assert len(await stored_drafts(harness)) == 1
    await harness.restart()
    await person.tap("Giải tỏa")  # the prompt sent before the restart
    await person.tap("Hôm nay")
    await person.tap("Bỏ qua")
    await person.tap("Bỏ qua")
    (card,) = await person.tap("Không có ảnh")
    assert "2 sào = 720 m²" in card.body and "Kênh mương" in card.body
    await person.tap("✅ Lưu")

    async def pledge(session: Any) -> LandPledge:
        return (await session.exec(select(LandPledge))).one()

    saved = await harness.query(pledge)
    assert (saved.area_m2, saved.stage, saved.purpose) == (Decimal(720), "giai_toa", "kenh_muong")
    assert await stored_drafts(harness) == []


async def test_an_idle_form_expires_after_thirty_minutes(harness: Harness) -> None:
    person = await land_until_stage(harness, 7202)
    stage_prompt = person.last
    harness.clock.advance(minutes=29)
    assert await expire_idle_drafts(harness.app, harness.clock()) == 0
    harness.clock.advance(minutes=2)
    assert await expire_idle_drafts(harness.app, harness.clock()) == 1
    assert "quá 30 phút" in person.last.body
    assert not person.user.message(stage_prompt.message_id).buttons
    assert await stored_drafts(harness) == []
    (reply,) = await person.say("/huy")
    assert "Không có gì để hủy" in reply.body


async def test_an_answer_after_the_timeout_is_not_taken_into_the_old_form(harness: Harness) -> None:
    person = await land_until_stage(harness, 7203)
    harness.clock.advance(minutes=45)
    replies = await person.say("📊 Báo cáo")
    assert "quá 30 phút" in replies[0].body
    assert "Số liệu của tổ" in replies[-1].body


async def test_the_timeout_also_works_after_a_restart(harness: Harness) -> None:
    person = await land_until_stage(harness, 7204)
    await harness.stop()
    harness.clock.advance(hours=2)
    await harness.start()
    assert await expire_idle_drafts(harness.app, harness.clock()) == 1
    assert "quá 30 phút" in person.last.body
    assert await stored_drafts(harness) == []


async def test_commands_are_registered_in_vietnamese_and_english(harness: Harness) -> None:
    vi = dict(harness.fake.commands())
    en = dict(harness.fake.commands(language_code="en"))
    assert vi["hiendat"] == "Ghi hiến đất" and vi["huy"] == "Hủy phiếu đang ghi"
    assert en["land"] == "Log a land donation" and "hiendat" not in en
    await on_startup(harness.app)
    assert harness.app.job_queue is not None
    names = {job.name for job in harness.app.job_queue.jobs()}
    assert {SWEEP_JOB, CATCH_UP_JOB, "slot:reminder:4:None:16:00:00"} <= names
