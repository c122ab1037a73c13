"""/thongke, /lich, /nhatky, /trogiup and the command menus per role, end to end through the
fake Bot API on SQLite and PostgreSQL.

Texts are looked up through the catalogs (VI, EN) rather than spelled out, so the tests hold
whatever the wording; the data, callback data, jobs and the database are checked directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlmodel import select
from telegram.ext import ConversationHandler

from bot.domain.access import Role
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from bot.telegram.command_menus import register_member_commands
from bot.telegram.jobs import SLOT_JOB_PREFIX, scheduler
from handlers.common import stale_text
from handlers.menu import MENU_STATE, refresh_commands
from storage import invites, members, records, schedules, state, units
from storage.audit import record
from storage.models import AuditEvent, Member, pk
from tests.fakebot import FakeMessage
from tests.harness import Harness

VI = Translator("vi")
EN = Translator("en")

OTHER_COMMUNE = """code,name,level,parent_code,former_name
KHUCXUYEN,xã Khúc Xuyên,xã,BN,
KX1,Thôn Khúc Toại,thôn,KHUCXUYEN,
""".encode()

LAND: dict[str, Any] = {
    "donor": "Hộ ông Nguyễn Văn An",
    "area_m2": "720",
    "area_echo": "2 sào = 720 m²",
    "land_kind": "dat_o",
    "purpose": "duong",
    "stage": "cam_ket",
    "on_date": "2026-11-24",
    "assets": None,
    "value_vnd": None,
    "photos": [],
}


async def add_other_commune(harness: Harness) -> None:
    """A second commune, KHUCXUYEN > KX1, beside THOXUONG. The imports' audit events (of
    both seeds) are dated 1 November, before anything a test does on the bot's clock."""
    rows, errors = parse_unit_csv(OTHER_COMMUNE)
    assert not errors
    async with harness.db.session() as session:
        await units.apply_import(session, await units.plan_import(session, rows), actor_label="t")
        for event in (await session.exec(select(AuditEvent))).all():
            event.at = datetime(2026, 11, 1, tzinfo=UTC)


async def unit_id(harness: Harness, code: str) -> int:
    async def work(session: Any) -> int:
        unit = await units.by_code(session, code)
        assert unit is not None
        return pk(unit)

    result: int = await harness.query(work)
    return result


async def log_land(harness: Harness, member: Member) -> int:
    async with harness.db.session() as session:
        record_id = await records.save(
            session, RecordKind.LAND, member, dict(LAND), harness.clock()
        )
    harness.clock.advance(seconds=1)
    return record_id


def labels(message: FakeMessage) -> list[str]:
    return [text for row in message.buttons for text, _ in row]


def slot_jobs(harness: Harness) -> set[str]:
    assert harness.app.job_queue is not None
    return {
        job.name
        for job in harness.app.job_queue.jobs()
        if job.name and job.name.startswith(SLOT_JOB_PREFIX)
    }


# --- /trogiup and the command menus ---------------------------------------------------------


async def test_help_lists_the_commands_of_the_persons_role_in_their_language(
    harness: Harness,
) -> None:
    await harness.add_member(9101, "CN1")
    await harness.add_member(9102, "THOXUONG", Role.OFFICIAL)
    await harness.add_member(9103, "BN", Role.ADMIN, language="en")
    (coordinator,) = await harness.person(9101).say("/trogiup")
    assert "/hoatdong — Ghi hoạt động" in coordinator.body
    assert "/thongke" not in coordinator.body and "/guibaocao" not in coordinator.body
    assert VI._("<b>For officials</b>") not in (coordinator.html or "")
    (official,) = await harness.person(9102).say("/help")
    for name in ("/hoatdong", "/thongke", "/lich", "/nhatky", "/xembaocao"):
        assert name in official.body
    assert "/guibaocao" not in official.body and "/stats" not in official.body
    assert VI._("<b>For officials</b>") in (official.html or "")
    (admin,) = await harness.person(9103).say("/trogiup")
    assert f"/stats — {EN._('Figures for a unit and a period')}" in admin.body
    assert "/senddigest" in admin.body and "/activity" in admin.body
    assert "/thongke" not in admin.body


async def test_command_menus_per_role(harness: Harness) -> None:
    # Coordinators, and everyone by default: the coordinators' list, in vi and en.
    default_vi = [name for name, _ in harness.fake.commands()]
    assert "hoatdong" in default_vi and "thongke" not in default_vi
    assert "stats" not in [name for name, _ in harness.fake.commands(language_code="en")]

    await harness.add_member(9201, "CN1")
    await harness.add_member(9202, "THOXUONG", Role.OFFICIAL)
    await harness.add_member(9203, "BN", Role.ADMIN)
    await harness.add_member(9204, "THOXUONG", Role.OFFICIAL, active=False)
    assert await register_member_commands(harness.app.bot, harness.db) == 2

    def menu(chat: int, language: str | None = None) -> list[str]:
        return [
            name for name, _ in harness.fake.commands({"type": "chat", "chat_id": chat}, language)
        ]

    assert "thongke" in menu(9202) and "guibaocao" not in menu(9202)
    assert ("stats", EN._("Figures for a unit and a period")) in harness.fake.commands(
        {"type": "chat", "chat_id": 9202}, "en"
    )
    assert "guibaocao" in menu(9203) and "senddigest" in menu(9203, "en")
    assert menu(9201) == [] and menu(9204) == []  # the default menu applies
    # A restart with nothing changed sends nothing.
    calls = len(harness.fake.calls("setMyCommands"))
    assert await register_member_commands(harness.app.bot, harness.db) == 0
    assert len(harness.fake.calls("setMyCommands")) == calls

    # A role change: the members' admin stores it, then calls refresh_commands.
    async def change(telegram_id: int, **values: Any) -> Member:
        async with harness.db.session() as session:
            member = (
                await session.exec(select(Member).where(Member.telegram_id == telegram_id))
            ).one()
            for name, value in values.items():
                setattr(member, name, value)
        return member

    await refresh_commands(harness.app.bot, await change(9202, role=Role.COORDINATOR))
    assert menu(9202) == [] and menu(9202, "en") == []
    await refresh_commands(harness.app.bot, await change(9201, role=Role.OFFICIAL))
    assert "thongke" in menu(9201) and "stats" in menu(9201, "en")

    # Changed without a refresh (e.g. from the command line): the next start puts it right.
    await change(9203, active=False)
    assert "guibaocao" in menu(9203)
    await register_member_commands(harness.app.bot, harness.db)
    assert menu(9203) == [] and menu(9203, "en") == []
    assert "thongke" in menu(9201) and menu(9202) == []
    remembered = await harness.query(lambda s: state.load_namespace(s, MENU_STATE))
    assert set(remembered) == {"9201"}


async def test_an_official_who_joins_gets_the_officials_menu(harness: Harness) -> None:
    code = await harness.invite("THOXUONG", Role.OFFICIAL)
    person = harness.person(9301, first_name="Hà", last_name="Đỗ")
    await person.say(f"/start {code}")
    await person.tap("Hà Đỗ")
    await person.contact("0912345678")
    replies = await person.tap("✅ Lưu")
    assert "Chào mừng" in replies[-1].body
    chat = {"type": "chat", "chat_id": 9301}
    assert "thongke" in [name for name, _ in harness.fake.commands(chat)]
    assert "stats" in [name for name, _ in harness.fake.commands(chat, "en")]


# --- /thongke ---------------------------------------------------------------------------------

BACK, CANCEL = VI._("◀ Back"), VI._("✖️ Cancel")
WARD = ["THOXUONG · phường Thọ Xương", "CN1 · Cung Nhượng 1", "CN2 · Cung Nhượng 2"]
PERIOD_LABELS = [
    VI._(x) for x in ("This week", "Last week", "This month", "Last month", "This year")
]


def draft_data(message: FakeMessage, value: str) -> str:
    """The callback data of a button of the flow prompt `message` that would choose `value`
    (as a tampered client could make it)."""
    data = next(data for row in message.buttons for _, data in row if data)
    draft_id = data.split(":")[1]
    return f"d:{draft_id}:{value}"


async def test_stats_for_a_unit_and_a_period(harness: Harness) -> None:
    await add_other_commune(harness)
    coordinator = await harness.add_member(9401, "CN1")
    await harness.add_member(9402, "THOXUONG", Role.OFFICIAL)
    await log_land(harness, coordinator)
    official = harness.person(9402)

    (picker,) = await official.say("/thongke")
    assert VI._("Figures for which unit?") in picker.body
    assert labels(picker) == [*WARD, CANCEL]
    await official.tap("CN1 · Cung Nhượng 1")
    question = official.last
    assert question.message_id == picker.message_id  # the picker became the question
    assert labels(question) == [*PERIOD_LABELS, BACK, CANCEL]
    replies = await official.tap(VI._("This week"))
    texts = [m.body for m in replies if m.kind == "text"]
    assert any("Bản tin tuần: Cung Nhượng 1" in text for text in texts)
    assert any("720 m²" in text for text in texts)
    assert [m.kind for m in replies[-2:]] == ["photo", "document"]
    assert official.user.message(question.message_id).buttons == []  # answered

    # A code typed after the command, in any case: straight to the period, which is typed.
    (question,) = await official.say("/thongke cn2")
    assert "Cung Nhượng 2" in question.body and labels(question) == [*PERIOD_LABELS, CANCEL]
    replies = await official.say("năm nay")
    year_title = VI._("📊 <b>Figures for the year: {unit}</b>", unit="Cung Nhượng 2")
    assert any(year_title in (m.html or "") for m in replies)
    assert any("01/01/2026 – 25/11/2026" in m.body for m in replies)
    # A unit elsewhere is as unknown, after the command or at the unit step.
    (unknown,) = await official.say("/thongke KX1")
    assert unknown.body == VI._("There is no unit with code {code} in your area.", code="KX1")
    (unknown,) = await official.say("/thongke " + "X" * 4080)  # shown back cut short
    assert unknown.body == VI._(
        "There is no unit with code {code} in your area.", code="X" * 49 + "…"
    )
    (picker,) = await official.say("/thongke")
    (again,) = await official.say("KX1")
    assert VI._("No unit in your area matches “{text}”.", text="KX1") in again.body
    # A forged button for that unit shows nothing: the old kind, and the picker's own kind.
    kx1 = await unit_id(harness, "KX1")
    assert await official.forge(again, f"st:p:{kx1}:tw") == []
    assert official.user.answers[-1].text == stale_text(VI)
    (again,) = await official.forge(again, draft_data(again, str(kx1)))
    assert VI._("That button belongs to an earlier question.") in again.body
    assert not any("Khúc Toại" in m.body for m in official.user.messages())


async def test_stats_back_cancel_and_a_restart_on_the_way(harness: Harness) -> None:
    await harness.add_member(9403, "THOXUONG", Role.OFFICIAL)
    official = harness.person(9403)
    (picker,) = await official.say("/thongke")
    await official.tap("CN2 · Cung Nhượng 2")
    # ◀ Back: the units again; ✖️ Cancel at the period ends it.
    await official.tap(BACK)
    assert labels(official.user.message(picker.message_id)) == [*WARD, CANCEL]
    await official.tap("CN2 · Cung Nhượng 2")
    (cancelled,) = await official.tap(CANCEL)
    assert cancelled.body == VI._("Cancelled. Nothing was saved.")
    assert official.user.message(picker.message_id).buttons == []
    # Begun before a restart, finished after it.
    (picker,) = await official.say("/thongke")
    await harness.restart()
    (question,) = await official.say("cung nhuong 1")  # typed, not tapped
    assert VI._("Figures for <b>{unit}</b>: which period?", unit="Cung Nhượng 1") in (
        question.html or ""
    )
    await harness.restart()
    replies = await official.tap(VI._("Last month"), question)
    assert any("Bản tin tháng: Cung Nhượng 1" in m.body for m in replies)


async def test_a_province_s_hundred_communes_are_offered_a_page_at_a_time(
    harness: Harness,
) -> None:
    """Telegram refuses a message with over 100 buttons (the fake too): the pickers show the
    units a page at a time, and any can be typed."""
    lines = ["code,name,level,parent_code"]
    lines += [f"XA{n:03d},xã {n},xã,BN" for n in range(1, 101)]
    rows, errors = parse_unit_csv("\n".join(lines).encode())
    assert not errors
    async with harness.db.session() as session:
        await units.apply_import(session, await units.plan_import(session, rows), actor_label="t")
    await harness.add_member(9411, "BN", Role.OFFICIAL)
    official = harness.person(9411)

    def page(number: int, pages: int = 13) -> str:
        return VI._("Page {page}/{pages}", page=number, pages=pages)

    (picker,) = await official.say("/thongke")  # the province, its 101 units, and 2 groups
    assert labels(picker)[:2] == ["BN · Bắc Ninh", "THOXUONG · phường Thọ Xương"]
    assert labels(picker)[8:] == ["▶", CANCEL] and page(1) in picker.body
    await official.tap("▶")
    assert page(2) in picker.body and labels(picker)[8:] == ["◀", "▶", CANCEL]
    (question,) = await official.say("xa100")
    assert "xã 100" in question.body
    await official.say("/huy")
    (picker,) = await official.say("/lich")
    assert len(labels(picker)) == 10 and page(1) in picker.body
    (card,) = await official.say("XA077")
    assert "xã 77" in card.body
    (question,) = await official.say("/xuat")
    await official.tap(VI._("This month"))
    units_step = official.user.message(question.message_id)
    assert len(labels(units_step)) == 11 and page(1) in units_step.body
    await official.say("/huy")
    (picker,) = await official.say("/thongbao Họp toàn tỉnh lúc 8 giờ")
    assert labels(picker)[0] == "BN · Bắc Ninh" and len(labels(picker)) == 11
    assert page(1) in picker.body
    assert not [e for e in harness.fake.errors if e.method != "getUpdates"]


async def test_stats_of_an_official_of_a_group_go_straight_to_the_period(
    harness: Harness,
) -> None:
    await harness.add_member(9411, "CN2", Role.OFFICIAL, language="en")
    (question,) = await harness.person(9411).say("/stats")
    assert "Cung Nhượng 2" in question.body
    assert labels(question)[:2] == [EN._("This week"), EN._("Last week")]
    replies = await harness.person(9411).tap(EN._("Last month"))
    assert any("Monthly digest: Cung Nhượng 2" in m.body for m in replies)
    assert any("01/10/2026 – 31/10/2026" in m.body for m in replies)


# --- /lich ------------------------------------------------------------------------------------


async def own(harness: Harness, code: str) -> dict[str, Any] | None:
    unit = await unit_id(harness, code)
    return await harness.query(lambda session: schedules.own_times(session, unit))


NOT_UNDERSTOOD = VI._("Sorry, I did not understand. Please choose from the menu below.")
NOT_A_TIME = VI._("Please type a time such as 16:00, 7h30 or 16 giờ, or tap one.")


async def test_set_a_reminder_time_by_buttons_and_typing_then_reset_it(
    harness: Harness,
) -> None:
    await add_other_commune(harness)
    official_member = await harness.add_member(9501, "THOXUONG", Role.OFFICIAL)
    official = harness.person(9501)
    reminder = VI._("Reminder to coordinators")
    friday_1600 = VI._("{day} at {time}", day=VI._("Friday"), time="16:00")
    await scheduler(harness.app).rebuild()  # as at start
    assert "slot:reminder:4:None:16:00:00" in slot_jobs(harness)

    (picker,) = await official.say("/lich")
    assert labels(picker) == [*WARD, CANCEL]
    (card,) = await official.tap("CN1 · Cung Nhượng 1")
    assert f"{reminder}: {friday_1600} ({VI._('inherited')})" in card.body
    assert "21:00–07:00" in card.body

    await official.tap(f"✏️ {reminder}")
    day = official.user.message(card.message_id)  # the card became the question
    assert VI._("↩️ Use the inherited time") not in labels(day)  # nothing own yet
    assert labels(day)[-2:] == [BACK, CANCEL]
    await official.tap(VI._("Thursday"))
    question = official.user.message(card.message_id)
    assert "16:00" in labels(question)
    # Whatever is typed now answers the question, marked as a reply or not.
    for text in ("xin chào", "0.5"):
        (again,) = await official.say(text)
        assert NOT_A_TIME in again.body
    (again,) = await official.say("25:00")
    assert VI._("Please send a time from 00:00 to 23:59, e.g. 16:00.") in again.body
    replies = await official.say("17h30")
    thursday_1730 = VI._("{day} at {time}", day=VI._("Thursday"), time="17:30")
    saved = VI._("✅ Saved: {what}, {when}.", what=reminder, when=thursday_1730)
    card = replies[-1]
    assert saved in card.body
    assert f"{reminder}: {thursday_1730} ({VI._('own setting')})" in card.body
    for asked in (question, again):  # the questions are done
        assert official.user.message(asked.message_id).buttons == []
    assert (await own(harness, "CN1") or {})["reminder_time"] == time(17, 30)
    assert (await own(harness, "CN1") or {})["reminder_weekday"] == 3
    # The jobs follow at once, without a restart; CN2 keeps the inherited Friday.
    assert {"slot:reminder:3:None:17:30:00", "slot:reminder:4:None:16:00:00"} <= slot_jobs(harness)
    (event,) = await harness.query(
        lambda s: s.exec(select(AuditEvent).where(AuditEvent.entity == "schedule"))
    )
    assert (event.actor_id, event.entity_id, event.action) == (
        official_member.id,
        await unit_id(harness, "CN1"),
        "update",
    )
    assert event.after["reminder_time"] == "17:30:00"
    # The time is not awaited any more.
    (later,) = await official.say("18:00")
    assert later.body == NOT_UNDERSTOOD

    # Back to the inherited time.
    await official.tap(f"✏️ {reminder}")
    (card,) = await official.tap(VI._("↩️ Use the inherited time"))
    assert VI._("↩️ {what}: back to the inherited time.", what=reminder) in card.body
    assert f"{reminder}: {friday_1600} ({VI._('inherited')})" in card.body
    assert (await own(harness, "CN1") or {})["reminder_time"] is None
    assert not any(name.startswith("slot:reminder:3:") for name in slot_jobs(harness))


async def test_back_to_the_card_and_cancel_on_the_way(harness: Harness) -> None:
    await harness.add_member(9505, "CN2", Role.OFFICIAL)
    official = harness.person(9505)
    (card,) = await official.say("/lich")  # a group: its card at once
    followup = VI._("Follow-up to officials")
    await official.tap(f"✏️ {followup}")
    # ◀ Back on the day: the card again, in the same message.
    assert await official.tap(BACK) == [card]
    assert VI._("⏰ <b>Reminder and digest times: {unit}</b>", unit="Cung Nhượng 2") in (
        card.html or ""
    )
    assert labels(card)[0] == f"✏️ {VI._('Reminder to coordinators')}"
    # ✖️ Cancel at the time: nothing changes.
    await official.tap(f"✏️ {followup}")
    await official.tap(VI._("Saturday"))
    (cancelled,) = await official.tap(CANCEL)
    assert cancelled.body == VI._("Cancelled. Nothing was saved.")
    assert await own(harness, "CN2") is None
    (menu,) = await official.say("8:00")
    assert menu.body == NOT_UNDERSTOOD


async def test_a_digest_time_by_button_in_the_quiet_hours_and_a_monthly_day(
    harness: Harness,
) -> None:
    await harness.add_member(9511, "THOXUONG", Role.OFFICIAL, language="en")
    official = harness.person(9511)
    (card,) = await official.say("/schedule THOXUONG")
    weekly = EN._("Weekly digest")
    await official.tap(f"✏️ {weekly}")
    await official.tap(EN._("Sunday"))
    (card,) = await official.tap("19:00")
    assert f"{weekly}: Sunday at 19:00 (own setting)" in card.body
    assert "quiet hours (" not in card.body
    assert "slot:weekly_digest:6:None:19:00:00" in slot_jobs(harness)
    # Typed into the quiet hours: said so, and the job waits for their end. The day is typed
    # too, without diacritics.
    await official.tap(f"✏️ {weekly}")
    await official.say("chu nhat")
    replies = await official.say("22 giờ")
    assert "22:00 is in the quiet hours (21:00–07:00), so it will go out at 07:00" in (
        replies[-1].body
    )
    assert harness.app.job_queue is not None
    (job,) = harness.app.job_queue.get_jobs_by_name("slot:weekly_digest:6:None:22:00:00")
    assert str(job.job.trigger) == "cron[day_of_week='mon', hour='7', minute='0', second='0']"
    # The monthly digest: a day of the month, tapped or typed.
    monthly = EN._("Monthly digest")
    await official.tap(f"✏️ {monthly}")
    assert labels(official.last)[:3] == ["1", "2", "3"] and "28" in labels(official.last)
    (again,) = await official.say("30")
    assert EN._("Please choose a day from 1 to 28, which every month has.") in again.body
    await official.say("ngày 5")
    await official.tap("08:00")
    assert (await own(harness, "THOXUONG") or {})["monthly_digest_day"] == 5
    assert "slot:monthly_digest:None:5:08:00:00" in slot_jobs(harness)
    # Children inherit it.
    cn2 = await unit_id(harness, "CN2")
    effective = await harness.query(schedules.effective_times)
    assert effective[cn2]["monthly_digest_day"] == 5


async def test_schedule_scope_stale_buttons_and_a_restart_while_typing(
    harness: Harness,
) -> None:
    await add_other_commune(harness)
    await harness.add_member(9521, "THOXUONG", Role.OFFICIAL)
    official = harness.person(9521)
    (unknown,) = await official.say("/lich KX1")
    assert unknown.body == VI._("There is no unit with code {code} in your area.", code="KX1")
    (card,) = await official.say("/lich CN2")
    kx1, cn2 = await unit_id(harness, "KX1"), await unit_id(harness, "CN2")
    forged = [
        f"sc:e:{kx1}:r",  # a unit of another commune
        f"sc:e:{cn2}:z",  # no such setting
        f"sc:e:{cn2}",
        "sc:e:x:r",
        f"sc:c:{kx1}",  # buttons of the chat before it was a flow
        f"sc:d:{kx1}:r:1",
        f"sc:t:{cn2}:r:1:0800",
    ]
    for data in forged:
        assert await official.forge(card, data) == []
        assert official.user.answers[-1].text == stale_text(VI)
    assert await own(harness, "KX1") is None and await own(harness, "CN2") is None

    # The awaited time survives a restart.
    await official.tap(f"✏️ {VI._('Follow-up to officials')}")
    await official.tap(VI._("Monday"))
    await harness.restart()
    await official.say("8:15")
    assert (await own(harness, "CN2") or {})["followup_time"] == time(8, 15)
    # Too long after the question, a typed time is not taken.
    await official.tap(f"✏️ {VI._('Follow-up to officials')}")
    await official.tap(VI._("Tuesday"))
    harness.clock.advance(hours=1)
    closed, menu = await official.say("9:00")
    assert closed.body == VI._(
        "The form was closed after {minutes} minutes without an answer; nothing was saved.",
        minutes=harness.settings.conversation_timeout_minutes,
    )
    assert menu.body == NOT_UNDERSTOOD
    assert (await own(harness, "CN2") or {})["followup_weekday"] == 0
    # A coordinator cannot press an official's buttons.
    await harness.add_member(9522, "CN2")
    coordinator = harness.person(9522)
    (mine,) = await coordinator.say("/trogiup")
    (refused,) = await coordinator.forge(mine, f"sc:e:{cn2}:r")
    assert refused.body == VI._("Sorry, you do not have permission to do that.")


async def test_no_chat_is_held_by_a_conversation_handler(harness: Harness) -> None:
    """Every multi-step chat is a flow (handlers/conversation.py): /lich's typed time was the
    last one kept in a PTB ConversationHandler."""
    registered = [handler for group in harness.app.handlers.values() for handler in group]
    assert not [h for h in registered if isinstance(h, ConversationHandler)]


# --- /nhatky ------------------------------------------------------------------------------------


async def test_the_audit_log_shows_the_area_ten_to_a_page(harness: Harness) -> None:
    await add_other_commune(harness)
    lan = await harness.add_member(9601, "CN1", full_name="Lan <b>Tổ 1</b>")
    far = await harness.add_member(9602, "KX1", full_name="Người xã khác")
    await harness.add_member(9603, "THOXUONG", Role.OFFICIAL, language="en")
    await harness.add_member(9604, "BN", Role.ADMIN, language="en")
    harness.clock.now = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 12:00 in Hà Nội
    land_id = await log_land(harness, lan)
    await log_land(harness, far)
    official = harness.person(9603)

    (log,) = await official.say("/audit")
    lines = log.body.splitlines()
    assert lines[1] == (
        f"1. 25/11/2026 12:00 · Lan <b>Tổ 1</b> · created · land donation #L-{land_id} (CN1)"
    )
    assert "Lan &lt;b&gt;Tổ 1&lt;/b&gt;" in (log.html or "")
    assert "Người xã khác" not in log.body
    # Events about the area's units count too, whoever made them; the other commune's do not.
    assert "imported (new) · unit CN1" in log.body and "unit THOXUONG" in log.body
    assert "KHUCXUYEN" not in log.body and "unit BN" not in log.body
    assert log.buttons == []
    # The admin sees everything.
    (everything,) = await harness.person(9604).say("/audit")
    for seen in ("Người xã khác", "Lan <b>Tổ 1</b>", "unit KX1", "unit BN", "unit KHUCXUYEN"):
        assert seen in everything.body

    # A coordinator's refusal is in the log of their area.
    (refused,) = await harness.person(9601).say("/nhatky")
    assert refused.body == VI._("Sorry, you do not have permission to do that.")
    # 25 events more: three pages.
    async with harness.db.session() as session:
        for number in range(25):
            harness.clock.advance(seconds=1)
            await record(
                session,
                "workday",
                number,
                "create",
                None,
                unit_id=lan.unit_id,
                actor_id=lan.id,
                at=harness.clock(),
            )
    # 30 events in all: the 3 imports, the record, the refusal, and these 25.
    (log,) = await official.say("/nhatky")
    assert "(page 1 of 3)" in log.body
    assert "Lan <b>Tổ 1</b> · was refused · command" in log.body
    assert len(log.body.splitlines()) == 11 and labels(log) == ["▶"]
    await official.tap("▶")
    page2 = official.user.message(log.message_id)
    assert "(page 2 of 3)" in page2.body and page2.body.splitlines()[1].startswith("11. ")
    assert labels(page2) == ["◀", "▶"]
    await official.forge(page2, "au:p:99")  # past the end: the last page
    last = official.user.message(log.message_id)
    assert "(page 3 of 3)" in last.body and labels(last) == ["◀"]
    assert last.body.splitlines()[-1].endswith("unit THOXUONG")  # the oldest
    # Buttons that do not decode change nothing.
    for data in ("au:p:-1", "au:p:x", "au:q:1", "au:p:1:2", "au:p:" + "9" * 40):
        assert await official.forge(last, data) == []
        assert official.user.answers[-1].text == stale_text(EN)
    assert "(page 3 of 3)" in official.user.message(log.message_id).body


async def test_the_audit_log_follows_the_unit_an_event_concerns(harness: Harness) -> None:
    """Not where its actor is: a member who moves in from another commune leaves their earlier
    events there, and an admin of elsewhere acting on the area is seen by its officials."""
    await add_other_commune(harness)
    far = await harness.add_member(9701, "KX1", full_name="Người xã khác")
    await harness.add_member(9703, "THOXUONG", Role.OFFICIAL, language="en")
    admin = await harness.add_member(9704, "KX1", Role.ADMIN, full_name="Quản trị", language="en")
    harness.clock.now = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    before_move = await log_land(harness, far)
    cn1, kx1 = await unit_id(harness, "CN1"), await unit_id(harness, "KX1")

    async def admin_acts(session: Any) -> tuple[Member, int]:
        moment = harness.clock()
        moved = await members.change_unit(
            session, admin, pk(far), expected_unit_id=kx1, unit_id=cn1, now=moment
        )
        made = await invites.create_by(
            session, admin, role=Role.COORDINATOR, unit_id=cn1, uses=1, now=moment
        )
        await record(  # a unit file import concerns no one unit: admins only
            session, "unit", None, "import", None, unit_id=None, actor_id=admin.id, at=moment
        )
        assert moved.ok and moved.member is not None and made.invite is not None
        return moved.member, pk(made.invite)

    harness.clock.advance(seconds=1)
    moved, invite_id = await harness.query(admin_acts)
    harness.clock.advance(seconds=1)
    after_move = await log_land(harness, moved)

    (log,) = await harness.person(9703).say("/audit")
    body = log.body
    assert f"#L-{after_move} (CN1)" in body
    assert f"Quản trị · changed · member #{pk(far)} (CN1)" in body
    assert f"Quản trị · created · invite #{invite_id} (CN1)" in body
    assert f"#L-{before_move}" not in body and "KX1" not in body
    assert "· imported · unit" not in body
    # The admin sees it all, the earlier record still in the other commune.
    (everything,) = await harness.person(9704).say("/audit")
    assert f"Người xã khác · created · land donation #L-{before_move} (KX1)" in everything.body
    assert "Quản trị · imported · unit" in everything.body


async def test_the_audit_log_of_a_quiet_area(harness: Harness) -> None:
    await add_other_commune(harness)
    await harness.add_member(9611, "KX1", Role.OFFICIAL, language="en")
    async with harness.db.session() as session:  # forget the imports: nothing happened here
        for event in (await session.exec(select(AuditEvent))).all():
            await session.delete(event)
    (log,) = await harness.person(9611).say("/audit")
    assert log.body == EN._("No changes have been recorded in your area yet.")
    assert log.buttons == []
