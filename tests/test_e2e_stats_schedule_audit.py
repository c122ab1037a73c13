"""/thongke, /lich, /nhatky, /trogiup and the command menus per role, end to end through the
fake Bot API on SQLite and PostgreSQL.

Texts are looked up through the catalogs (VI, EN) rather than spelled out, so the tests hold
whatever the wording; the data, callback data, jobs and the database are checked directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlmodel import select

from bot.domain.access import Role
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from bot.telegram.jobs import SLOT_JOB_PREFIX, scheduler
from handlers.common import stale_text
from handlers.menu import MENU_STATE, refresh_commands, register_member_commands
from handlers.schedule_admin import parse_time
from storage import records, schedules, state, units
from storage.audit import record
from storage.models import AuditEvent, Member, pk
from tests.fakebot import FakeMessage
from tests.harness import Harness, Person

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


async def press(person: Person, message: FakeMessage, data: str) -> list[FakeMessage]:
    """Press the button with this callback data (as a tampered client could, when the
    message does not have it); returns the bot's new messages."""
    fake = person.harness.fake
    seen = len(person.user.messages(include_deleted=True))
    query_id = fake._new_query(person.user, message, data)
    fake._push_update(
        {
            "callback_query": {
                "id": query_id,
                "from": person.user.to_dict(),
                "message": message.to_dict(),
                "chat_instance": "1",
                "data": data,
            }
        }
    )
    await person.harness.settle(fake.last_update_id)
    return person.user.messages(include_deleted=True)[seen:]


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


async def test_stats_for_a_unit_and_a_period(harness: Harness) -> None:
    await add_other_commune(harness)
    coordinator = await harness.add_member(9401, "CN1")
    await harness.add_member(9402, "THOXUONG", Role.OFFICIAL)
    await log_land(harness, coordinator)
    official = harness.person(9402)

    (picker,) = await official.say("/thongke")
    assert labels(picker) == ["phường Thọ Xương", "Cung Nhượng 1", "Cung Nhượng 2"]
    assert "/thongke CN1" in picker.body
    await official.tap("Cung Nhượng 1")
    question = official.last
    assert question.message_id == picker.message_id  # the picker became the question
    assert labels(question) == [VI._(x) for x in ("This week", "Last week", "This month")] + [
        VI._("Last month"),
        VI._("This year"),
    ]
    replies = await official.tap(VI._("This week"))
    texts = [m.body for m in replies if m.kind == "text"]
    assert any("Bản tin tuần: Cung Nhượng 1" in text for text in texts)
    assert any("720 m²" in text for text in texts)
    assert [m.kind for m in replies[-2:]] == ["photo", "document"]
    # Another period from the same question.
    replies = await official.tap(VI._("This year"), question)
    year_title = VI._("📊 <b>Figures for the year: {unit}</b>", unit="Cung Nhượng 1")
    assert any(year_title in (m.html or "") for m in replies)
    assert any("01/01/2026 – 25/11/2026" in m.body for m in replies)

    # A code typed after the command, in any case; a unit elsewhere is as unknown.
    (question,) = await official.say("/thongke cn2")
    assert "Cung Nhượng 2" in question.body and len(labels(question)) == 5
    (unknown,) = await official.say("/thongke KX1")
    assert unknown.body == VI._("There is no unit with code {code}.", code="KX1")
    (unknown,) = await official.say("/thongke " + "X" * 4080)  # shown back cut short
    assert unknown.body == VI._("There is no unit with code {code}.", code="X" * 49 + "…")
    # A forged button for that unit shows nothing.
    kx1 = await unit_id(harness, "KX1")
    assert await press(official, question, f"st:p:{kx1}:tw") == []
    assert official.user.answers[-1].text == stale_text(VI)
    assert await press(official, question, f"st:u:{kx1}") == []
    assert official.user.answers[-1].text == stale_text(VI)


async def test_a_province_s_hundred_communes_are_offered_sixty_at_a_time(
    harness: Harness,
) -> None:
    """Telegram refuses a message with over 100 buttons (the fake too): the pickers show the
    first sixty units, say so, and a code typed after the command reaches the others."""
    lines = ["code,name,level,parent_code"]
    lines += [f"XA{n:03d},xã {n},xã,BN" for n in range(1, 101)]
    rows, errors = parse_unit_csv("\n".join(lines).encode())
    assert not errors
    async with harness.db.session() as session:
        await units.apply_import(session, await units.plan_import(session, rows), actor_label="t")
    await harness.add_member(9411, "BN", Role.OFFICIAL)
    official = harness.person(9411)

    def left_out(count: int) -> str:
        return VI._("Only the first {shown} of {count} units have a button.", shown=60, count=count)

    (picker,) = await official.say("/thongke")
    assert len(labels(picker)) == 61 and left_out(101) in picker.body  # the province, sixty
    (question,) = await official.say("/thongke xa100")
    assert "xã 100" in question.body
    (picker,) = await official.say("/lich")
    assert len(labels(picker)) == 61 and left_out(101) in picker.body
    (question,) = await official.say("/xuat")
    await official.tap(VI._("This month"))
    units_step = official.user.message(question.message_id)
    assert len(labels(units_step)) == 60 and left_out(102) in units_step.body
    (picker,) = await official.say("/thongbao Họp toàn tỉnh lúc 8 giờ")
    assert labels(picker)[0] == "Bắc Ninh" and len(labels(picker)) == 60  # the whole province
    assert left_out(102) in picker.body
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


def test_typed_times() -> None:
    assert parse_time("16:00") == time(16, 0) and parse_time(" 7h30 ") == time(7, 30)
    assert parse_time("16 giờ") == time(16, 0) and parse_time("16 GIO 5 phút") == time(16, 5)
    assert parse_time("16h") == time(16, 0) and parse_time("0:00") == time(0, 0)
    for text in ("25:00", "7:75", "16", "0.5", "7.30", "16:00 mai", "giờ"):
        assert parse_time(text) is None, text


async def own(harness: Harness, code: str) -> dict[str, Any] | None:
    unit = await unit_id(harness, code)
    return await harness.query(lambda session: schedules.own_times(session, unit))


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
    assert labels(picker) == ["phường Thọ Xương", "Cung Nhượng 1", "Cung Nhượng 2"]
    await official.tap("Cung Nhượng 1")
    card = official.last
    assert f"{reminder}: {friday_1600} ({VI._('inherited')})" in card.body
    assert "21:00–07:00" in card.body

    await official.tap(f"✏️ {reminder}")
    assert VI._("↩️ Use the inherited time") not in labels(official.last)  # nothing own yet
    await official.tap(VI._("Thursday"))
    question = official.last
    assert "16:00" in labels(question) and question.message_id == card.message_id
    # While the time is awaited, other messages go where they always go.
    for text in ("xin chào", "0.5"):
        (other,) = await official.say(text)
        assert other.body == VI._("Sorry, I did not understand. Please choose from the menu below.")
    (again,) = await official.say("25:00")
    assert again.body == VI._("Please send a time from 00:00 to 23:59, e.g. 16:00.")
    replies = await official.say("17h30")
    thursday_1730 = VI._("{day} at {time}", day=VI._("Thursday"), time="17:30")
    saved = VI._("✅ Saved: {what}, {when}.", what=reminder, when=thursday_1730)
    card = replies[-1]
    assert saved in card.body
    assert f"{reminder}: {thursday_1730} ({VI._('own setting')})" in card.body
    assert official.user.message(question.message_id).buttons == []  # the question is done
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
    assert later.body == VI._("Sorry, I did not understand. Please choose from the menu below.")

    # Back to the inherited time.
    await official.tap(f"✏️ {reminder}")
    await official.tap(VI._("↩️ Use the inherited time"))
    card = official.user.message(card.message_id)
    assert VI._("↩️ {what}: back to the inherited time.", what=reminder) in card.body
    assert f"{reminder}: {friday_1600} ({VI._('inherited')})" in card.body
    assert (await own(harness, "CN1") or {})["reminder_time"] is None
    assert not any(name.startswith("slot:reminder:3:") for name in slot_jobs(harness))


async def test_a_digest_time_by_button_in_the_quiet_hours_and_a_monthly_day(
    harness: Harness,
) -> None:
    await harness.add_member(9511, "THOXUONG", Role.OFFICIAL, language="en")
    official = harness.person(9511)
    (card,) = await official.say("/schedule THOXUONG")
    weekly = EN._("Weekly digest")
    await official.tap(f"✏️ {weekly}")
    await official.tap(EN._("Sunday"))
    card = official.user.message(card.message_id)
    assert await official.tap("19:00") == [card]  # the question became the card again
    assert f"{weekly}: Sunday at 19:00 (own setting)" in card.body
    assert "quiet hours (" not in card.body
    assert "slot:weekly_digest:6:None:19:00:00" in slot_jobs(harness)
    # Typed into the quiet hours: said so, and the job waits for their end.
    await official.tap(f"✏️ {weekly}")
    await official.tap(EN._("Sunday"))
    replies = await official.say("22 giờ")
    assert "22:00 is in the quiet hours (21:00–07:00), so it will go out at 07:00" in (
        replies[-1].body
    )
    assert harness.app.job_queue is not None
    (job,) = harness.app.job_queue.get_jobs_by_name("slot:weekly_digest:6:None:22:00:00")
    assert str(job.job.trigger) == "cron[day_of_week='mon', hour='7', minute='0', second='0']"
    # The monthly digest: a day of the month.
    monthly = EN._("Monthly digest")
    await official.tap(f"✏️ {monthly}")
    assert labels(official.last)[:3] == ["1", "2", "3"] and "28" in labels(official.last)
    await official.tap("5")
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
    assert unknown.body == VI._("There is no unit with code {code}.", code="KX1")
    (card,) = await official.say("/lich CN2")
    kx1 = await unit_id(harness, "KX1")
    for data in (f"sc:c:{kx1}", f"sc:e:{kx1}:r", f"sc:d:{kx1}:r:1", f"sc:t:{kx1}:r:1:0800"):
        assert await press(official, card, data) == []
        assert official.user.answers[-1].text == stale_text(VI)
    cn2 = await unit_id(harness, "CN2")
    for data in (f"sc:d:{cn2}:r:9", f"sc:t:{cn2}:r:1:2561", f"sc:e:{cn2}:z"):
        await press(official, card, data)
        assert official.user.answers[-1].text == stale_text(VI)
    assert await own(harness, "KX1") is None and await own(harness, "CN2") is None

    # The awaited time survives a restart.
    await official.tap(f"✏️ {VI._('Follow-up to officials')}")
    await official.tap(VI._("Monday"))
    await harness.restart()
    await official.say("8:15")
    assert (await own(harness, "CN2") or {})["followup_time"] == time(8, 15)
    # Too long after the question, a typed time is stale.
    await official.tap(f"✏️ {VI._('Follow-up to officials')}")
    await official.tap(VI._("Tuesday"))
    harness.clock.advance(hours=1)
    (late,) = await official.say("9:00")
    assert late.body == stale_text(VI)
    assert (await own(harness, "CN2") or {})["followup_weekday"] == 0
    # A coordinator cannot press an official's buttons.
    await harness.add_member(9522, "CN2")
    coordinator = harness.person(9522)
    (mine,) = await coordinator.say("/trogiup")
    await press(coordinator, mine, f"sc:t:{cn2}:r:1:0800")
    assert (await own(harness, "CN2") or {})["reminder_time"] is None


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
    assert (
        lines[1] == f"1. 25/11/2026 12:00 · Lan <b>Tổ 1</b> · created · land donation #L-{land_id}"
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
                session, "workday", number, "create", None, actor_id=lan.id, at=harness.clock()
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
    await press(official, page2, "au:p:99")  # past the end: the last page
    last = official.user.message(log.message_id)
    assert "(page 3 of 3)" in last.body and labels(last) == ["◀"]
    assert last.body.splitlines()[-1].endswith("unit THOXUONG")  # the oldest


async def test_the_audit_log_of_a_quiet_area(harness: Harness) -> None:
    await add_other_commune(harness)
    await harness.add_member(9611, "KX1", Role.OFFICIAL, language="en")
    async with harness.db.session() as session:  # forget the imports: nothing happened here
        for event in (await session.exec(select(AuditEvent))).all():
            await session.delete(event)
    (log,) = await harness.person(9611).say("/audit")
    assert log.body == EN._("No changes have been recorded in your area yet.")
    assert log.buttons == []
