"""The coordinators' flows end to end: happy paths, back, cancel, bad input, stale buttons,
duplicates, nil reports, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import event
from sqlmodel import col, func, select

from bot.domain.access import Role
from storage import members
from storage.models import Activity, AuditEvent, LandPledge, NilReport, Workday
from tests.harness import Harness, Person


async def coordinator(harness: Harness, telegram_id: int = 7001, **kw: Any) -> Person:
    await harness.add_member(telegram_id, **kw)
    return harness.person(telegram_id)


async def rows(harness: Harness, model: Any) -> list[Any]:
    """The live (not deleted) rows of a table, oldest first."""

    async def load(session: Any) -> list[Any]:
        query = select(model).where(col(model.deleted_at).is_(None)).order_by(col(model.id))
        return list((await session.exec(query)).all())

    result: list[Any] = await harness.query(load)
    return result


async def fill_land(person: Person, area: str = "2 sào") -> None:
    await person.say("🏡 Hiến đất")
    await person.say("Hộ ông Nguyễn Văn An")
    await person.say(area)
    await person.tap("Đất ở")
    await person.tap("Mở rộng đường")
    await person.tap("Cam kết")
    await person.tap("Hôm nay")
    await person.tap("Bỏ qua")  # assets
    await person.tap("Bỏ qua")  # value
    await person.tap("Không có ảnh")


async def test_a_tapped_answer_and_the_next_question_share_the_pressed_message(
    harness: Harness,
) -> None:
    """After a tap, the pressed question shows the answer and the next question follows in the
    same message, with its buttons; a typed answer gets a new message, and the confirmation
    card starts its message afresh."""
    person = await coordinator(harness)
    await person.say("🏡 Hiến đất")
    await person.say("Hộ ông Nguyễn Văn An")
    (prompt,) = await person.say("2 sào")
    assert await person.tap("Đất ở") == [prompt]
    assert prompt.body.endswith("Loại đất gì?\n➡️ Đất ở\n\nĐất hiến để làm gì?")
    assert "Mở rộng đường" in prompt.button_texts and "Đất ở" not in prompt.button_texts
    assert await person.tap("Mở rộng đường") == [prompt]
    assert "➡️ Đất ở" in prompt.body and "➡️ Mở rộng đường" in prompt.body
    for label in ("Cam kết", "Hôm nay", "Bỏ qua", "Bỏ qua"):
        assert await person.tap(label, prompt) == [prompt]
    assert await person.tap("Không có ảnh", prompt) == [prompt]
    assert "➡️" not in prompt.body and "Mở rộng đường" in prompt.body  # only the card
    assert prompt.button_texts == ["✅ Lưu", "✏️ Sửa", "✖️ Hủy", "◀ Quay lại"]
    assert person.user.messages()[2:] == [prompt]  # after the two typed answers' questions


async def test_a_prompt_gone_before_its_answer_is_asked_again_in_a_new_message(
    harness: Harness,
) -> None:
    person = await coordinator(harness)
    await person.say("🏡 Hiến đất")
    await person.say("Hộ ông Nguyễn Văn An")
    (prompt,) = await person.say("2 sào")
    await person.user.press(prompt, text="Đất ở")
    prompt.deleted = True  # by the person, before the bot could edit it
    await harness.settle(harness.fake.last_update_id)
    question = person.last
    assert question.message_id != prompt.message_id
    assert "Đất hiến để làm gì?" in question.body and "Mở rộng đường" in question.button_texts
    assert await person.tap("Mở rộng đường") == [question]


async def test_land_pledge_of_two_sao_by_following_the_buttons(harness: Harness) -> None:
    person = await coordinator(harness)
    (question,) = await person.say("🏡 Hiến đất")
    assert "Hộ nào hiến đất" in question.body
    await person.say("Hộ ông Nguyễn Văn An")
    (reply,) = await person.say("2 sào")
    assert "2 sào = 720 m²" in reply.body and "Loại đất" in reply.body
    await person.tap("Đất ở")
    await person.tap("Mở rộng đường")
    await person.tap("Cam kết")
    await person.tap("Hôm nay")
    await person.tap("Bỏ qua")
    await person.say("2tr")
    (card,) = await person.tap("Không có ảnh")
    for expected in (
        "Hộ ông Nguyễn Văn An",
        "2 sào = 720 m²",
        "Đất ở",
        "Mở rộng đường",
        "Cam kết",
        "25/11/2026",
        "2.000.000 đ",
    ):
        assert expected in card.body, expected
    assert card.button_texts == ["✅ Lưu", "✏️ Sửa", "✖️ Hủy", "◀ Quay lại"]
    (saved,) = await person.tap("✅ Lưu")
    (pledge,) = await rows(harness, LandPledge)
    assert f"#L-{pledge.id}" in saved.body
    assert pledge.area_m2 == Decimal("720")
    assert (pledge.stage, pledge.pledged_on, pledge.value_vnd) == (
        "cam_ket",
        date(2026, 11, 25),
        2_000_000,
    )
    assert pledge.donor == "Hộ ông Nguyễn Văn An"
    # The pressed buttons were retired: the old prompts show the answer, not the buttons.
    assert all(not m.buttons for m in person.user.messages()[:-1])


async def test_activity_with_photos_and_typed_answers_without_diacritics(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/hoatdong")
    (reply,) = await person.say("hop dan")
    assert "diễn ra ngày nào" in reply.body
    await person.say("hom qua")
    await person.say("1.000 người")
    await person.say("Họp bàn làm đường <thôn 3> & hiến đất")
    await person.photo()
    (more,) = await person.photo()
    assert "ảnh 2" in more.body
    (card,) = await person.tap("✔️ Xong")
    assert "Họp dân" in card.body and "24/11/2026" in card.body and "1.000" in card.body
    assert "&lt;thôn 3&gt; &amp; hiến đất" in (card.html or "")
    await person.tap("✅ Lưu")
    (activity,) = await rows(harness, Activity)
    assert (activity.kind, activity.participants, len(activity.photo_file_ids)) == (
        "hop_dan",
        1000,
        2,
    )
    assert activity.on_date == date(2026, 11, 24)


async def test_workdays_show_the_total_and_offer_recent_works(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/ngaycong")
    await person.say("Bê tông hóa đường thôn")
    await person.tap("Hôm nay")
    await person.say("12")
    (card,) = await person.tap("0,5")
    assert "12 người × 0,5 ngày = 6 ngày công" in card.body
    await person.tap("✅ Lưu")
    (workday,) = await rows(harness, Workday)
    assert (workday.people, workday.days_each, workday.total_days) == (
        12,
        Decimal("0.5"),
        Decimal(6),
    )
    (question,) = await person.say("/ngaycong")
    assert question.button_texts[0] == "Bê tông hóa đường thôn"
    await person.tap("Bê tông hóa đường thôn")
    await person.say("25/11")
    await person.say("3")
    (reply,) = await person.say("6 ngày công")  # the total, not each person's days
    assert "không phải tổng số ngày công" in reply.body
    assert "Mỗi người làm bao nhiêu ngày?" in reply.body  # asked again
    (reply,) = await person.say("4 tiếng")
    assert "tính bằng ngày" in reply.body
    (card,) = await person.say("1 ngay ruoi")
    assert "3 người × 1,5 ngày = 4,5 ngày công" in card.body


async def test_bad_input_at_every_land_step_is_refused_with_a_reason(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/hiendat")
    (reply,) = await person.say("x" * 300)
    assert "tối đa 200 ký tự" in reply.body
    await person.say("Hộ bà Lê Thị Hoa")
    for bad, reason in [
        ("0", "lớn hơn 0"),
        ("-5 m2", "không được âm"),
        ("2000000 m2", "Vượt quá giới hạn"),
        ("abc", "Chưa đọc được"),
        ("2 acre", "Không hiểu đơn vị"),
    ]:
        (reply,) = await person.say(bad)
        assert reason in reply.body, (bad, reply.body)
        assert "Diện tích bao nhiêu" in reply.body
    (question,) = await person.say("1.500 sao")
    assert question.button_texts[:2] == ["1.500 sào = 540.000 m²", "1,5 sào = 540 m²"]
    await person.tap("1,5 sào = 540 m²")
    (reply,) = await person.say("dat trong lua")
    assert "bấm một trong các nút" in reply.body
    await person.say("dat o")
    await person.tap("Mục đích khác")
    await person.say("Làm sân thể thao")
    await person.tap("Ký biên bản")
    (reply,) = await person.say("31/02")
    assert "Không có ngày này" in reply.body
    (reply,) = await person.say("26/11/2026")
    assert "tương lai" in reply.body
    (reply,) = await person.say("01/01/2026")
    assert "hơn 90 ngày" in reply.body
    await person.tap("Đúng, ngày 01/01/2026")
    await person.say("Hai cây nhãn, tường rào 10 m")
    (reply,) = await person.say("nhiều tiền")
    assert "Chưa đọc được" in reply.body
    await person.say("15 triệu")
    (reply,) = await person.sticker()
    assert "gửi ảnh" in reply.body
    (card,) = await person.tap("Không có ảnh")
    assert "1,5 sào = 540 m²" in card.body and "Làm sân thể thao" in card.body
    assert "01/01/2026" in card.body and "15.000.000 đ" in card.body
    await person.tap("✅ Lưu")
    (pledge,) = await rows(harness, LandPledge)
    assert (pledge.area_m2, pledge.purpose_note) == (Decimal(540), "Làm sân thể thao")
    assert pledge.signed_on == date(2026, 1, 1)


async def test_wrong_kinds_of_message_get_a_reprompt(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/hoatdong")
    for send in (person.sticker, person.voice, person.location, person.photo):
        (reply,) = await send()
        assert "bấm một trong các nút" in reply.body or "trả lời bằng chữ" in reply.body
        assert "Hoạt động thuộc loại nào" in reply.body
    (reply,) = await person.say("/ngaycong")
    assert "đang ghi dở" in reply.body and "Hoạt động thuộc loại nào" in reply.body
    (reply,) = await person.say("🏡 Hiến đất")
    assert "đang ghi dở" in reply.body
    (reply,) = await person.say("/lenhla")
    assert "Hoạt động thuộc loại nào" in reply.body
    assert await rows(harness, Activity) == []


async def test_back_returns_to_the_previous_question_keeping_answers(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/hiendat")
    await person.say("Hộ ông Trần Văn Bình")
    (reply,) = await person.say("150 m2")
    (reply,) = await person.tap("◀ Quay lại")
    assert "Diện tích bao nhiêu" in reply.body
    await person.say("1 sào 5 thước")
    await person.tap("Đất nông nghiệp")
    (reply,) = await person.tap("◀ Quay lại")
    assert "Loại đất gì" in reply.body
    await person.tap("Đất ở")
    await person.tap("Nhà văn hóa")
    await person.tap("Bàn giao mặt bằng")
    await person.tap("Hôm qua")
    await person.tap("Bỏ qua")
    await person.tap("Bỏ qua")
    (card,) = await person.tap("Không có ảnh")
    assert "1 sào 5 thước = 480 m²" in card.body and "Đất ở" in card.body
    # Edit from the card, then come back to it.
    await person.tap("✏️ Sửa")
    await person.tap("Hộ hiến đất")
    (card,) = await person.say("Hộ ông Trần Văn Bính")
    assert "Hộ ông Trần Văn Bính" in card.body and "Thông tin đã đúng chưa" in card.body
    await person.tap("✅ Lưu")
    (pledge,) = await rows(harness, LandPledge)
    assert (pledge.area_m2, pledge.handed_over_on) == (Decimal(480), date(2026, 11, 24))


async def test_cancel_saves_nothing(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/ngaycong")
    await person.say("Nạo vét kênh")
    (reply,) = await person.say("/huy")
    assert "Đã hủy" in reply.body
    await person.say("/hoatdong")
    await person.tap("Tuyên truyền")
    await person.tap("Hôm nay")
    await person.say("40")
    await person.tap("Bỏ qua")
    await person.tap("Không có ảnh")
    (reply,) = await person.tap("✖️ Hủy")
    assert "Đã hủy" in reply.body
    assert await rows(harness, Activity) == [] and await rows(harness, Workday) == []
    (reply,) = await person.say("/huy")
    assert "Không có gì để hủy" in reply.body


async def test_a_stale_button_changes_nothing(harness: Harness) -> None:
    person = await coordinator(harness)
    (first,) = await person.say("/hoatdong")
    # Tidying the old card fails (flaky network), so its buttons stay pressable.
    harness.fake.inject_error(
        "editMessageReplyMarkup", 400, "Bad Request: message to edit not found"
    )
    await person.say("/huy")
    assert first.buttons
    await person.tap("Họp dân", first)
    assert person.user.answers[-1].text == "Phiếu này đã hết hạn"
    assert person.last.body.startswith("Đã hủy")
    assert await rows(harness, Activity) == []
    # An old question of a live flow is stale too.
    await person.say("/hoatdong")
    await person.tap("Hòa giải")
    old = person.user.messages()[-2]
    assert not old.buttons  # retired when answered


async def test_duplicate_pledge_warns_before_saving(harness: Harness) -> None:
    person = await coordinator(harness)
    await fill_land(person)
    await person.tap("✅ Lưu")
    await fill_land(person, "720 m2")
    (warning,) = await person.tap("✅ Lưu")
    (first,) = await rows(harness, LandPledge)
    assert f"Có thể trùng với #L-{first.id}" in warning.body
    (saved,) = await person.tap("✅ Lưu")
    assert "Đã lưu" in saved.body
    assert len(await rows(harness, LandPledge)) == 2


async def test_nil_report_and_its_undo_and_supersession(harness: Harness) -> None:
    person = await coordinator(harness)
    (reply,) = await person.say("🈳 Tuần này không có hoạt động")
    assert "23/11/2026 – 29/11/2026" in reply.body
    (report,) = await rows(harness, NilReport)
    assert report.week_start == date(2026, 11, 23)
    await person.tap("↩️ Hoàn tác")
    assert await rows(harness, NilReport) == []
    undone = person.user.message(reply.message_id)
    assert "Đã rút lại" in undone.body and not undone.buttons
    await person.say("/khonghoatdong")
    await fill_land(person)
    await person.tap("✅ Lưu")
    assert await rows(harness, NilReport) == []

    async def superseded(session: Any) -> int:
        query = (
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "superseded")
        )
        return (await session.exec(query)).one()

    assert await harness.query(superseded) == 1
    (reply,) = await person.say("/khonghoatdong")
    assert "đã có phiếu ghi" in reply.body


async def test_a_nil_report_is_withdrawn_by_its_author_in_the_window_then_by_officials(
    harness: Harness,
) -> None:
    """Undo follows a record's rule: another coordinator of the group may not, nor the author
    after the edit window; an official of the area may."""
    author = await coordinator(harness)
    (reply,) = await author.say("/khonghoatdong")
    (report,) = await rows(harness, NilReport)
    undo = f"nil:undo:{report.id}"
    neighbour = await coordinator(harness, 7002)
    (own,) = await neighbour.say("/trogiup")
    assert await neighbour.forged_answer(own, undo) == (
        "Chỉ người ghi phiếu hoặc cán bộ mới được sửa phiếu này."
    )
    harness.clock.advance(days=8)
    assert "7 ngày" in (await author.forged_answer(reply, undo) or "")
    assert await rows(harness, NilReport) == [report]
    await harness.add_member(7009, unit_code="THOXUONG", role=Role.OFFICIAL)
    official = harness.person(7009)
    (card,) = await official.say("/trogiup")
    await official.forge(card, undo)
    assert await rows(harness, NilReport) == []
    assert "Đã rút lại" in official.user.message(card.message_id).body


async def test_two_coordinators_of_one_group_log_at_the_same_moment(harness: Harness) -> None:
    first = await coordinator(harness, 7101)
    second = await coordinator(harness, 7102)
    for person in (first, second):
        await person.say("/ngaycong")
        await person.say("Làm đường")
        await person.tap("Hôm nay")
        await person.say("5")
        await person.tap("1")
    a = await first.user.press(first.last, text="✅ Lưu")
    b = await second.user.press(second.last, text="✅ Lưu")
    assert a and b
    await harness.settle(harness.fake.last_update_id)
    assert len(await rows(harness, Workday)) == 2
    assert "Đã lưu" in first.last.body and "Đã lưu" in second.last.body


async def test_duplicate_activity_of_the_same_kind_and_day_warns(harness: Harness) -> None:
    person = await coordinator(harness)
    for _ in range(2):
        await person.say("/hoatdong")
        await person.tap("Tuần tra an ninh")
        await person.tap("Hôm nay")
        await person.say("6")
        await person.tap("Bỏ qua")
        await person.tap("Không có ảnh")
        (reply,) = await person.tap("✅ Lưu")
    (first,) = await rows(harness, Activity)
    assert f"#H-{first.id}" in reply.body and "Có thể trùng" in reply.body
    await person.tap("✖️ Hủy")
    assert len(await rows(harness, Activity)) == 1


async def test_language_switch_to_english_and_back(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/ngonngu")
    replies = await person.tap("🇬🇧 English")
    assert "How to use danvan" in replies[-1].body
    assert replies[-1].keyboard[0] == ["📝 Log activity", "🏡 Land donation"]
    (question,) = await person.say("🏡 Land donation")
    assert "Which household" in question.body
    await person.say("Household of Mr. An")
    (reply,) = await person.say("2 sao")
    assert "2 sào = 720 m²" in reply.body and "What kind of land" in reply.body
    await person.say("/cancel")
    await person.say("/language")
    replies = await person.tap("🇻🇳 Tiếng Việt")
    assert "Hướng dẫn dùng danvan" in replies[-1].body


async def test_a_deactivated_member_can_no_longer_log(harness: Harness) -> None:
    person = await coordinator(harness, active=False)
    for attempt in ("🏡 Hiến đất", "/hiendat", "hien dat"):
        (reply,) = await person.say(attempt)
        assert "đã bị khóa" in reply.body
    assert await rows(harness, LandPledge) == []


async def test_the_sender_is_remembered_until_someone_changes_the_members(
    harness: Harness,
) -> None:
    """The sender is looked up once, not on every update, until the member table changes,
    by anyone: deactivated from another connection (as the CLI does), they are refused at
    their next message."""
    person = await coordinator(harness)
    lookups: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM member" in statement and "telegram_id" in statement:
            lookups.append(statement)

    engine = harness.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        await person.say("🏡 Hiến đất")
        await person.say("Hộ ông Nguyễn Văn An")
        await person.say("2 sào")
        await person.tap("Đất ở")
        assert len(lookups) == 1
        async with harness.db.session() as session:
            member = await members.by_telegram_id(session, person.user.id)
            assert member is not None
            member.active = False
        (reply,) = await person.tap("Mở rộng đường")
        assert "đã bị khóa" in reply.body
        assert len(lookups) == 3  # ours, then the bot's again
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert await rows(harness, LandPledge) == []


async def test_bad_input_at_every_activity_step(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/hoatdong")
    (reply,) = await person.say("đi chợ")
    assert "bấm một trong các nút" in reply.body
    await person.say("ve sinh moi truong")
    (reply,) = await person.say("ngày mai")
    assert "Chưa đọc được" in reply.body
    (reply,) = await person.say("32/11")
    assert "Không có ngày này" in reply.body
    await person.say("20/11")
    for bad, reason in [
        ("0", "từ 1 trở lên"),
        ("100.001", "Vượt quá giới hạn"),
        ("2,5", "số nguyên"),
        ("mười", "Chưa đọc được"),
        ("1" * 400, "Dài quá"),
    ]:
        (reply,) = await person.say(bad)
        assert reason in reply.body, (bad, reply.body)
        assert "bao nhiêu người tham gia" in reply.body
    await person.say("100.000")
    (reply,) = await person.say("x" * 1001)
    assert "tối đa 1000 ký tự" in reply.body
    await person.say("Dọn vệ sinh kênh")
    for _ in range(4):
        await person.photo()
    (card,) = await person.photo()  # the fifth photo ends the step
    assert "Ảnh: 5" in card.body and "100.000" in card.body
    await person.tap("◀ Quay lại")
    (reply,) = await person.photo()
    assert "Tối đa 5 ảnh" in reply.body and "Ảnh: 5" in reply.body
    await person.tap("✅ Lưu")
    (activity,) = await rows(harness, Activity)
    assert (activity.kind, activity.participants, len(activity.photo_file_ids)) == (
        "ve_sinh",
        100_000,
        5,
    )


async def test_bad_input_and_back_in_the_workday_flow(harness: Harness) -> None:
    person = await coordinator(harness)
    await person.say("/ngaycong")
    (reply,) = await person.say("   ")
    assert "trống" in reply.body or "chưa hiểu" in reply.body.lower() or "Vui lòng" in reply.body
    await person.say("Đắp đường <đê>")
    await person.tap("Hôm nay")
    for bad, reason in [
        ("0", "từ 1 trở lên"),
        ("10.001", "Vượt quá giới hạn"),
        ("năm", "Chưa đọc được"),
    ]:
        (reply,) = await person.say(bad)
        assert reason in reply.body, (bad, reply.body)
    await person.say("8")
    for bad in ("0", "31", "-1", "abc"):
        (reply,) = await person.say(bad)
        assert "Mỗi người làm bao nhiêu ngày" in reply.body, (bad, reply.body)
    (reply,) = await person.tap("◀ Quay lại")
    assert "bao nhiêu người" in reply.body
    await person.say("10")
    (card,) = await person.say("2")
    assert "10 người × 2 ngày = 20 ngày công" in card.body
    assert "&lt;đê&gt;" in (card.html or "")
    await person.tap("✅ Lưu")
    (workday,) = await rows(harness, Workday)
    assert (workday.work, workday.total_days) == ("Đắp đường <đê>", Decimal(20))
