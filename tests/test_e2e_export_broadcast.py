"""/xuat and /thongbao end to end through the fake Bot API, on SQLite and PostgreSQL.

The officials here use English, so their buttons read as in the source; the coordinators keep
Vietnamese. A second commune, xã Hai, lies outside phường Thọ Xương's scope.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime

from openpyxl import load_workbook
from sqlmodel import col, select

from bot.domain.access import Role
from bot.domain.announcements import (
    MAX_LENGTH,
    AnnouncementError,
    TextProblem,
    announcement_html,
    broadcast_key,
    clean_announcement,
)
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from storage import records, units
from storage.models import AuditEvent, Member, SendLedger, pk
from tests.fakebot import FakeMessage
from tests.harness import Harness, Person

VI = Translator("vi")
EN = Translator("en")
COMMUNE_TWO = """code,name,level,parent_code,former_name
XAHAI,xã Hai,xã,BN,
HAI1,Thôn Hai Một,thôn,XAHAI,
""".encode()
STALE = "This card has expired."


async def seed(harness: Harness) -> dict[str, Person]:
    """Thọ Xương's people and records, and xã Hai's, on Wednesday 25/11/2026."""
    rows, errors = parse_unit_csv(COMMUNE_TWO)
    assert not errors
    async with harness.db.session() as session:
        plan = await units.plan_import(session, rows)
        await units.apply_import(session, plan, actor_label="test")
    cn1 = await harness.add_member(8101, "CN1", full_name="Tổ trưởng Một")
    cn2 = await harness.add_member(8102, "CN2", full_name="Tổ trưởng Hai")
    await harness.add_member(8103, "CN1", full_name="Tổ phó Một")
    await harness.add_member(8104, "CN2", full_name="Đã nghỉ", active=False)
    await harness.add_member(
        8109, "THOXUONG", Role.OFFICIAL, full_name="Cán bộ phường", language="en"
    )
    await harness.add_member(8110, "THOXUONG", Role.OFFICIAL, full_name="Phó chủ tịch phường")
    hai = await harness.add_member(8201, "HAI1", full_name="Tổ trưởng xã Hai")
    await harness.add_member(8199, "BN", Role.ADMIN, full_name="Quản trị", language="en")
    now = harness.clock()
    async with harness.db.session() as session:
        meeting = {"kind": "hop_dan", "participants": 35, "description": "Họp <b>tổ</b> & đường"}
        await records.save(
            session, RecordKind.ACTIVITY, cn1, {**meeting, "on_date": "2026-11-24"}, now
        )
        await records.save(
            session, RecordKind.ACTIVITY, hai, {**meeting, "on_date": "2026-11-24"}, now
        )
        await records.save(
            session,
            RecordKind.LAND,
            cn2,
            {
                "land_kind": "dat_o",
                "purpose": "duong",
                "on_date": "2026-11-03",
                "stage": "cam_ket",
                "donor": "Hộ ông Nguyễn Văn An",
                "area_m2": "720",
                "value_vnd": "15000000",
            },
            now,
        )
        await records.save(
            session,
            RecordKind.WORKDAY,
            cn1,
            {
                "on_date": "2026-10-20",
                "work": "Bê tông hóa đường",
                "people": 12,
                "days_each": "1.5",
            },
            now,
        )
    names = {
        "coordinator": 8101,
        "coordinator2": 8102,
        "deputy": 8103,
        "official": 8109,
        "colleague": 8110,
        "outsider": 8201,
        "admin": 8199,
    }
    return {name: harness.person(number) for name, number in names.items()}


async def answer(
    harness: Harness, person: Person, prompt: FakeMessage, text: str
) -> list[FakeMessage]:
    """Type `text` in reply to the bot's `prompt`; returns the bot's new messages."""
    seen = len(person.user.messages(include_deleted=True))
    await harness.settle(await person.user.send(text, reply_to=prompt))
    return person.user.messages(include_deleted=True)[seen:]


def labels(message: FakeMessage) -> list[list[str]]:
    return [[text for text, _ in row] for row in message.buttons]


def is_force_reply(message: FakeMessage) -> bool:
    return bool(message.reply_markup and message.reply_markup.get("force_reply"))


def document_of_any(messages: list[FakeMessage]) -> bool:
    return any(m.kind == "document" for m in messages)


def document_of(messages: list[FakeMessage]) -> FakeMessage:
    (document,) = [m for m in messages if m.kind == "document"]
    assert document.document is not None
    return document


# --- /xuat ----------------------------------------------------------------------------------------


async def test_an_official_exports_this_month_of_their_ward_as_xlsx(harness: Harness) -> None:
    people = await seed(harness)
    official = people["official"]
    (question,) = await official.say("/xuat")
    assert "Which period?" in question.body
    assert labels(question) == [
        ["This week", "Last week"],
        ["This month", "Last month"],
        ["This year"],
        ["📅 Choose dates…"],
        ["✖️ Cancel"],
    ]
    await official.tap("This month")
    units_step = official.user.message(question.message_id)
    assert "01/11/2026 – 25/11/2026" in units_step.body
    assert labels(units_step) == [
        ["THOXUONG · phường Thọ Xương"],
        ["CN1 · Cung Nhượng 1"],
        ["CN2 · Cung Nhượng 2"],
        ["◀ Back", "✖️ Cancel"],
    ]
    await official.tap("THOXUONG · phường Thọ Xương")
    formats = official.user.message(question.message_id)
    assert labels(formats) == [["📊 Excel (.xlsx)", "📄 CSV files (.zip)"], ["◀ Back", "✖️ Cancel"]]
    # Two quick taps on Excel: both reach the bot before the first is answered; one file.
    await official.user.press(formats, text="📊 Excel (.xlsx)")
    await official.user.press(formats, text="📊 Excel (.xlsx)")
    await harness.settle(harness.fake.last_update_id)
    assert official.user.answers[-1].text == STALE
    document = document_of(official.user.messages())
    assert document.document is not None
    assert document.document.filename == "danvan-THOXUONG-20261101-20261125.xlsx"
    assert "Activities: 1 · Land pledges: 1 · Workday entries: 0" in document.body
    book = load_workbook(io.BytesIO(document.document.content))
    assert book.sheetnames == ["Hoạt động", "Hiến đất", "Ngày công", "Tổng hợp"]
    activities = list(book["Hoạt động"].iter_rows(values_only=True))
    assert activities[0] == (
        "Mã",
        "Ngày",
        "Đơn vị",
        "Loại hoạt động",
        "Số người tham gia",
        "Mô tả",
        "Người báo cáo",
    )
    assert len(activities) == 2  # xã Hai's meeting is not in the ward's file
    _, day, unit, kind, participants, description, reporter = activities[1]
    assert isinstance(day, datetime) and day.date() == date(2026, 11, 24)
    assert (unit, kind, participants, reporter) == (
        "Cung Nhượng 1",
        "Họp dân",
        35,
        "Tổ trưởng Một",
    )
    assert isinstance(participants, int) and description == "Họp <b>tổ</b> & đường"
    land = list(book["Hiến đất"].iter_rows(values_only=True))
    assert land[1][3] == "Hộ ông Nguyễn Văn An"
    assert land[1][4] == 720 and isinstance(land[1][4], int | float)
    assert land[1][9] == 15_000_000
    assert list(book["Ngày công"].iter_rows(values_only=True))[1:] == []  # October's is out
    summary = {row[0]: row[1:] for row in book["Tổng hợp"].iter_rows(values_only=True) if row[0]}
    assert summary["Đơn vị"][0] == "phường Thọ Xương"
    assert summary["Từ ngày"][0] == datetime(2026, 11, 1)
    assert summary["Số hoạt động"][0] == 1 and summary["Đất cam kết hiến (m²)"][0] == 720
    audit = await harness.query(
        lambda s: s.exec(select(AuditEvent).where(AuditEvent.entity == "export"))
    )
    (event,) = audit.all()
    assert event.after == {
        "unit": "THOXUONG",
        "from": "2026-11-01",
        "to": "2026-11-25",
        "format": "xlsx",
        "records": 2,
    }


async def test_typed_dates_and_a_csv_export_of_a_group(harness: Harness) -> None:
    people = await seed(harness)
    official = people["official"]
    await official.say("/xuat")
    (question,) = official.user.messages()[-1:]
    await official.tap("📅 Choose dates…")
    prompt = official.user.message(question.message_id)
    assert prompt.body.endswith(
        "Type the first and the last day, for example: 01/11/2026 - 25/11/2026"
    )
    # Typed as a plain message: phones do not always mark an answer as a reply.
    (units_step,) = await official.say("từ 1/10/2026 đến 25/11/2026")
    assert "01/10/2026 – 25/11/2026" in units_step.body
    await official.tap("CN1 · Cung Nhượng 1")
    document = document_of(await official.tap("📄 CSV files (.zip)"))
    assert document.document is not None
    assert document.document.filename == "danvan-CN1-20261001-20261125.zip"
    archive = zipfile.ZipFile(io.BytesIO(document.document.content))
    assert archive.namelist() == ["hoat-dong.csv", "hien-dat.csv", "ngay-cong.csv", "tong-hop.csv"]

    def table(name: str) -> list[list[str]]:
        raw = archive.read(name)
        assert raw.startswith(b"\xef\xbb\xbf")
        return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))

    activities = table("hoat-dong.csv")
    assert activities[0] == [
        "Mã",
        "Ngày",
        "Đơn vị",
        "Loại hoạt động",
        "Số người tham gia",
        "Mô tả",
        "Người báo cáo",
    ]
    assert activities[1][1:] == [
        "2026-11-24",
        "Cung Nhượng 1",
        "Họp dân",
        "35",
        "Họp <b>tổ</b> & đường",
        "Tổ trưởng Một",
    ]
    assert table("hien-dat.csv")[1:] == []  # the pledge is Cung Nhượng 2's
    workdays = table("ngay-cong.csv")
    assert workdays[1][1:] == [
        "2026-10-20",
        "Cung Nhượng 1",
        "Bê tông hóa đường",
        "12",
        "1.50",
        "18.00",
        "Tổ trưởng Một",
    ]
    summary = {row[0]: row[1:] for row in table("tong-hop.csv") if row}
    assert summary["Đơn vị"] == ["Cung Nhượng 1"] and summary["Ngày công"] == ["18.00"]


async def test_bad_dates_are_asked_again(harness: Harness) -> None:
    people = await seed(harness)
    official = people["official"]
    await official.say("/xuat")
    await official.tap("📅 Choose dates…")
    (again,) = await official.say("32/11/2026 - 25/11/2026")
    assert "The first day: There is no such day in the calendar." in again.body
    assert labels(again) == [["◀ Back", "✖️ Cancel"]]
    (again,) = await official.say("25/11/2026 - 01/11/2026")
    assert "The first day (25/11/2026) is after the last day (01/11/2026)." in again.body
    (again,) = await official.say("01/12/2026 - 31/12/2026")
    assert "The date 01/12/2026 is in the future." in again.body
    (again,) = await official.say("hello")
    assert "Please type two dates" in again.body
    # Typed in reply to an older question, the dates still answer the one asked now.
    (units_step,) = await answer(harness, official, again, "01/11/2026 - 25/11/2026")
    assert labels(units_step)[0] == ["THOXUONG · phường Thọ Xương"]
    # ◀ Back goes to the dates again, ✖️ Cancel ends the export.
    await official.tap("◀ Back")
    assert official.user.messages()[-1].body.endswith("01/11/2026 - 25/11/2026")
    (cancelled,) = await official.tap("✖️ Cancel")
    assert cancelled.body == "Cancelled. Nothing was saved."
    (menu,) = await official.say("01/11/2026 - 25/11/2026")
    assert "did not understand" in menu.body


async def test_an_export_resumes_after_a_restart_at_the_step_it_was_on(harness: Harness) -> None:
    people = await seed(harness)
    official = people["official"]
    await official.say("/xuat")
    await official.tap("📅 Choose dates…")
    await harness.restart()
    # The dates typed after the restart answer the question asked before it.
    (units_step,) = await official.say("01/11/2026 - 25/11/2026")
    assert "01/11/2026 – 25/11/2026" in units_step.body
    await official.tap("CN1 · Cung Nhượng 1")
    document = document_of(await official.tap("📊 Excel (.xlsx)"))
    assert document.document is not None
    assert document.document.filename == "danvan-CN1-20261101-20261125.xlsx"


async def test_exports_stay_inside_the_official_s_area(harness: Harness) -> None:
    people = await seed(harness)
    official, admin = people["official"], people["admin"]
    (refused,) = await official.say("/xuat XAHAI")
    assert refused.body == "There is no unit with code XAHAI in your area."
    (question,) = await official.say("/xuat cn2")
    await official.tap("This month")
    formats = official.user.message(question.message_id)  # a group: no unit to choose
    assert "Export of Cung Nhượng 2, 01/11/2026 – 25/11/2026" in formats.body
    (question,) = await admin.say("/xuat XAHAI")
    await admin.tap("This month")
    assert labels(admin.user.message(question.message_id))[:2] == [
        ["XAHAI · xã Hai"],
        ["HAI1 · Thôn Hai Một"],
    ]
    await admin.tap("XAHAI · xã Hai")
    document = document_of(await admin.tap("📊 Excel (.xlsx)"))
    assert document.document is not None
    book = load_workbook(io.BytesIO(document.document.content))
    rows = list(book["Hoạt động"].iter_rows(values_only=True))
    assert [row[2] for row in rows[1:]] == ["Thôn Hai Một"]
    (refused,) = await people["coordinator"].say("/xuat")
    assert "không có quyền" in refused.body
    # The official moves to Cung Nhượng 1: the ward is no longer theirs to export, whatever
    # buttons they still have.
    await official.say("/huy")
    (question,) = await official.say("/xuat")
    await official.tap("This week")

    async def move(session):
        member = (await session.exec(select(Member).where(Member.telegram_id == 8109))).one()
        unit = await units.by_code(session, "CN1")
        assert unit is not None
        member.unit_id = pk(unit)

    await harness.query(move)
    (again,) = await official.tap("THOXUONG · phường Thọ Xương")
    assert "That button belongs to an earlier question." in again.body
    assert "No unit in your area can be chosen here." in again.body
    assert not document_of_any(official.user.messages())


# --- /thongbao ------------------------------------------------------------------------------------


def test_an_announcement_is_tidied_escaped_and_limited() -> None:
    assert clean_announcement("  Họp  tổ\r\n\n\n\nlúc 19h \u200b") == "Họp tổ\n\nlúc 19h"
    for empty in ("", "   ", "\u200b\u200d"):
        try:
            clean_announcement(empty)
        except AnnouncementError as error:
            assert error.problem is TextProblem.EMPTY
        else:
            raise AssertionError(empty)
    assert clean_announcement("a" * MAX_LENGTH) == "a" * MAX_LENGTH
    try:
        clean_announcement("😀" * (MAX_LENGTH // 2 + 1))  # two UTF-16 units each
    except AnnouncementError as error:
        assert (error.problem, error.length) == (TextProblem.TOO_LONG, MAX_LENGTH + 2)
    else:
        raise AssertionError("too long")
    html = announcement_html(VI, "phường <Thọ Xương>", "Lan & Hoa", "1 < 2 <b>")
    assert html.endswith("\n\n1 &lt; 2 &lt;b&gt;")
    assert "phường &lt;Thọ Xương&gt;" in html and "Lan &amp; Hoa" in html
    assert broadcast_key("0123456789ab") == "b-0123456789ab"


def data_of(message: FakeMessage, label: str) -> str:
    (data,) = [data for row in message.buttons for text, data in row if text == label]
    assert data is not None
    return data


WARD_UNITS = [
    ["THOXUONG · phường Thọ Xương"],
    ["CN1 · Cung Nhượng 1"],
    ["CN2 · Cung Nhượng 2"],
]
PREVIEW_BUTTONS = [["✅ Send", "✏️ Edit", "✖️ Cancel"], ["◀ Back"]]


async def test_an_announcement_reaches_the_ward_once_and_counts_the_blocked(
    harness: Harness,
) -> None:
    people = await seed(harness)
    official = people["official"]
    (prompt,) = await official.say("/thongbao")
    assert "at most 3.000 characters" in prompt.body and not is_force_reply(prompt)
    assert labels(prompt) == [["✖️ Cancel"]]
    text = "Họp tổ lúc <b>19h</b> & mang ghế\nĐông đủ nhé"
    # Typed as a plain message, not marked as a reply: it is the announcement.
    (question,) = await official.say(text)
    assert "Who should receive it?" in question.body
    assert labels(question) == [*WARD_UNITS, ["◀ Back", "✖️ Cancel"]]
    assert await official.tap("THOXUONG · phường Thọ Xương") == [question]
    preview = official.user.message(question.message_id)  # the question became the preview
    assert text in preview.body  # shown as typed, not as HTML
    assert "Recipients in phường Thọ Xương: 4 (coordinators: 3, officials: 1)." in preview.body
    assert preview.body.endswith("Send the announcement now?")
    assert labels(preview) == PREVIEW_BUTTONS
    harness.fake.block(8103)
    # Two quick taps on Send: both reach the bot before it answers the first.
    await official.user.press(preview, text="✅ Send")
    await official.user.press(preview, text="✅ Send")
    await harness.settle(harness.fake.last_update_id)
    assert official.user.answers[-1].text == STALE
    assert "(recipients: 4)" in official.user.texts[-2]
    assert official.last.body == (
        "📢 Announcement to phường Thọ Xương: 3 sent, 1 blocked the bot, 0 failed."
    )
    assert official.user.message(preview.message_id).buttons == []
    header = VI._(
        "📢 <b>Announcement from {unit}</b> ({name})", unit="phường Thọ Xương", name="Cán bộ phường"
    )
    for name in ("coordinator", "coordinator2", "colleague"):
        (received,) = [m for m in people[name].user.messages() if text in m.body]
        assert received.body == header.replace("<b>", "").replace("</b>", "") + "\n\n" + text
    for name in ("outsider", "admin", "deputy"):
        assert not any(text in m.body for m in people[name].user.messages())
    ledger = await harness.query(
        lambda s: s.exec(select(SendLedger).where(SendLedger.kind == "broadcast"))
    )
    rows = ledger.all()
    assert sorted(row.state for row in rows) == ["sent", "sent", "sent", "unreachable"]
    assert len({row.period_key for row in rows}) == 1
    audit = await harness.query(
        lambda s: s.exec(
            select(AuditEvent).where(AuditEvent.entity == "broadcast").order_by(col(AuditEvent.id))
        )
    )
    sent, delivered = audit.all()
    assert sent.action == "sent" and sent.after is not None
    assert (sent.after["text"], sent.after["recipients"], sent.after["unit"]) == (
        text,
        4,
        "THOXUONG",
    )
    assert delivered.after is not None
    assert (delivered.after["sent"], delivered.after["unreachable"]) == (3, 1)
    # The next announcement, its text after the command, starts at the unit; it leaves out
    # whoever blocked the bot, and says so.
    (question,) = await official.say("/thongbao Lần hai")
    assert labels(question)[0] == ["THOXUONG · phường Thọ Xương"]
    await official.tap("CN1 · Cung Nhượng 1")
    preview = official.user.message(question.message_id)
    assert "Recipients in Cung Nhượng 1: 1 (coordinators: 1, officials: 0)." in preview.body
    assert "Left out: 1 who blocked the bot." in preview.body


async def test_bad_announcements_are_asked_again_edited_and_cancelled(harness: Harness) -> None:
    people = await seed(harness)
    official = people["official"]
    (prompt,) = await official.say("/thongbao")
    (again,) = await official.say("\u200b")
    assert "The announcement is empty." in again.body and not is_force_reply(again)
    (again,) = await official.say("x" * (MAX_LENGTH + 1))
    assert "too long: 3.001 characters, and at most 3.000 fit." in again.body
    # Typed in reply to an older question, the text still answers the one asked now.
    (question,) = await answer(harness, official, prompt, "x" * MAX_LENGTH)
    assert labels(question)[0] == ["THOXUONG · phường Thọ Xương"]
    # A unit outside the ward is not found by its code; one inside is, typed without marks.
    (again,) = await official.say("XAHAI")
    assert "No unit in your area matches “XAHAI”." in again.body
    (preview,) = await official.say("cung nhuong 2")
    assert "Recipients in Cung Nhượng 2: 1 (coordinators: 1, officials: 0)." in preview.body
    # ✏️ Edit: the text, then the unit.
    await official.tap("✏️ Edit")
    fields = official.user.message(preview.message_id)
    assert labels(fields) == [["Text"], ["Unit"], ["◀ Back"]]
    await official.tap("Text")
    (preview,) = await official.say("Họp tổ hai lúc 19h")
    assert "Họp tổ hai lúc 19h" in preview.body and "x" * 100 not in preview.body
    assert "Recipients in Cung Nhượng 2" in preview.body
    await official.tap("✏️ Edit")
    await official.tap("Unit")
    await official.tap("CN1 · Cung Nhượng 1")
    preview = official.user.message(preview.message_id)
    assert "Họp tổ hai lúc 19h" in preview.body
    assert "Recipients in Cung Nhượng 1: 2 (coordinators: 2, officials: 0)." in preview.body
    send = data_of(preview, "✅ Send")
    # ✖️ Cancel on the way, at the unit.
    await official.tap("✏️ Edit")
    await official.tap("Unit")
    assert "Who should receive it?" in official.user.message(preview.message_id).body
    (cancelled,) = await official.tap("✖️ Cancel")
    assert cancelled.body == "Cancelled. Nothing was saved."
    assert official.user.message(preview.message_id).buttons == []
    # The ended preview's ✅, pressed anyway, sends nothing.
    assert await official.forge(preview, send) == []
    assert official.user.answers[-1].text == STALE
    for name in ("coordinator", "coordinator2", "deputy"):
        assert people[name].user.messages() == []
    (menu,) = await official.say("Mai họp")
    assert "did not understand" in menu.body


async def test_back_from_the_unit_to_the_text_and_a_restart_mid_announcement(
    harness: Harness,
) -> None:
    people = await seed(harness)
    official = people["official"]
    (question,) = await official.say("/thongbao Họp chi bộ")
    # Begun with its text, the announcement's ◀ Back still reaches the text.
    await official.tap("◀ Back")
    prompt = official.user.message(question.message_id)
    assert "at most 3.000 characters" in prompt.body
    assert labels(prompt) == [["✖️ Cancel"]]
    (question,) = await official.say("Họp chi bộ tối thứ Sáu")
    # The bot restarts: the announcement waits at the same step, its buttons still good.
    await harness.restart()
    await official.tap("CN1 · Cung Nhượng 1", question)
    preview = official.user.message(question.message_id)
    assert "Recipients in Cung Nhượng 1" in preview.body
    # ◀ Back from the preview: the unit again.
    await official.tap("◀ Back", preview)
    assert "Who should receive it?" in official.user.message(question.message_id).body
    await official.tap("CN2 · Cung Nhượng 2", question)
    assert "Họp chi bộ tối thứ Sáu" in preview.body
    await harness.restart()
    replies = await official.tap("✅ Send", preview)
    assert (
        replies[-1].body == "📢 Announcement to Cung Nhượng 2: 1 sent, 0 blocked the bot, 0 failed."
    )
    assert "Họp chi bộ tối thứ Sáu" in people["coordinator2"].last.body


async def test_announcements_stay_inside_the_sender_s_area(harness: Harness) -> None:
    people = await seed(harness)
    admin = people["admin"]
    (question,) = await admin.say("/broadcast Toàn xã Hai họp")
    # The sender's unit, the units below it, then those further below.
    assert labels(question) == [
        ["BN · Bắc Ninh"],
        ["THOXUONG · phường Thọ Xương"],
        ["XAHAI · xã Hai"],
        ["CN1 · Cung Nhượng 1"],
        ["CN2 · Cung Nhượng 2"],
        ["HAI1 · Thôn Hai Một"],
        ["◀ Back", "✖️ Cancel"],
    ]
    (preview,) = await admin.say("xa hai")
    assert "Recipients in xã Hai: 1 (coordinators: 1, officials: 0)." in preview.body
    await admin.tap("✅ Send")
    assert admin.last.body.startswith("📢 Announcement to xã Hai: 1 sent")
    assert "Toàn xã Hai họp" in people["outsider"].last.body
    for name in ("coordinator", "coordinator2", "official", "colleague"):
        assert not any("Toàn xã Hai" in m.body for m in people[name].user.messages())
    # A group's official has no unit to choose: the preview comes at once.
    await harness.add_member(8111, "CN2", Role.OFFICIAL, full_name="Cán bộ tổ", language="en")
    group_official = harness.person(8111)
    (preview,) = await group_official.say("/thongbao Họp tổ hai")
    assert "Recipients in Cung Nhượng 2: 1 (coordinators: 1, officials: 0)." in preview.body
    assert labels(preview) == PREVIEW_BUTTONS

    # The group's last coordinator leaves before ✅: nobody to send to, said on the preview.
    async def leave(session):
        member = (await session.exec(select(Member).where(Member.telegram_id == 8102))).one()
        member.active = False

    await harness.query(leave)
    (again,) = await group_official.tap("✅ Send")
    assert again.body.count("No one in Cung Nhượng 2 can receive it.") == 1
    assert labels(again) == PREVIEW_BUTTONS
    await group_official.tap("✖️ Cancel")
    assert not any("Họp tổ hai" in m.body for m in people["coordinator2"].user.messages())
    (refused,) = await people["coordinator"].say("/thongbao Xin chào")
    assert "không có quyền" in refused.body
