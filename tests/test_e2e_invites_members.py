"""Invites (/moi) and members (/thanhvien), end to end through the fake Bot API on SQLite and
PostgreSQL: the QR code, joining with the code, withdrawing it, and changing a member's role,
unit and active, each within what an official or an admin may do.

The seed is BN > THOXUONG > CN1, CN2; `add_commune` adds BN > DAPCAU > DC1, a second commune
that an official of THOXUONG must never reach. The people who act here use English.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import zxingcpp
from PIL import Image
from sqlmodel import col, func, select

from bot.domain.access import Role
from bot.domain.formatting import utf16_length
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from handlers.common import stale_text
from storage import members, records, units
from storage.models import Activity, AuditEvent, Invite, LandPledge, Member, Workday, pk
from tests.fakebot import FakeMessage
from tests.harness import Harness, Person

EN = Translator("en")
PERMISSION = "Sorry, you do not have permission to do that."
OUTSIDE = "Sorry, that is outside your area."
LINK = "https://t.me/danvan_test_bot?start="


# --- helpers ---------------------------------------------------------------------------------


async def import_units(harness: Harness, lines: str) -> None:
    """Units as CSV lines (code,name,level,parent_code,former_name), imported."""
    rows, errors = parse_unit_csv(f"code,name,level,parent_code,former_name\n{lines}".encode())
    assert not errors
    async with harness.db.session() as session:
        plan = await units.plan_import(session, rows)
        await units.apply_import(session, plan, actor_label="test")


async def add_commune(harness: Harness) -> None:
    await import_units(harness, "DAPCAU,phường Đáp Cầu,phường,BN,\nDC1,Khu 1,khu phố,DAPCAU,\n")


async def unit_id(harness: Harness, code: str) -> int:
    async def work(session: Any) -> int:
        unit = await units.by_code(session, code)
        assert unit is not None and unit.id is not None
        return unit.id

    result: int = await harness.query(work)
    return result


async def load(harness: Harness, model: Any, row_id: int | None) -> Any:
    async def work(session: Any) -> Any:
        return await session.get(model, row_id)

    return await harness.query(work)


async def all_invites(harness: Harness) -> list[Invite]:
    async def work(session: Any) -> list[Invite]:
        return list((await session.exec(select(Invite).order_by(col(Invite.id)))).all())

    result: list[Invite] = await harness.query(work)
    return result


async def events(harness: Harness, action: str, actor_id: int | None = None) -> list[AuditEvent]:
    async def work(session: Any) -> list[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.action == action)
        if actor_id is not None:
            query = query.where(AuditEvent.actor_id == actor_id)
        return list((await session.exec(query.order_by(col(AuditEvent.id)))).all())

    result: list[AuditEvent] = await harness.query(work)
    return result


def last_alert(person: Person) -> str | None:
    return person.user.answers[-1].text


def code_of(photo: FakeMessage) -> str:
    found = re.search(r"(?:Code|Mã mời): (\w+)", photo.body)
    assert found is not None, photo.body
    return found.group(1)


def decode_qr(photo: FakeMessage) -> str:
    assert photo.photo is not None
    png = photo.photo.content
    assert png.startswith(b"\x89PNG")
    (barcode,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    text: str = barcode.text
    return text


async def join(harness: Harness, user_id: int, code: str, name: str = "Hoa") -> None:
    person = harness.person(user_id, first_name=name)
    await person.say(f"/start {code}")
    await person.tap(name)
    await person.say("Bỏ qua")
    replies = await person.tap("✅ Lưu")
    assert "Chào mừng" in replies[-1].body, replies


async def seed_record(harness: Harness, member: Member, kind: RecordKind, on: str) -> int:
    answers: dict[str, dict[str, Any]] = {
        RecordKind.ACTIVITY: {
            "kind": "hop_dan",
            "participants": 25,
            "description": None,
            "photos": [],
        },
        RecordKind.LAND: {
            "donor": "Hộ ông An",
            "area_m2": "720",
            "land_kind": "dat_o",
            "purpose": "duong",
            "stage": "cam_ket",
            "photos": [],
        },
        RecordKind.WORKDAY: {"work": "Đổ bê tông", "people": 12, "days_each": "0.5"},
    }
    async with harness.db.session() as session:
        return await records.save(
            session, kind, member, {**answers[kind], "on_date": on}, harness.clock()
        )


async def count_records(harness: Harness, member_id: int | None) -> int:
    async def work(session: Any) -> int:
        total = 0
        for model in (Activity, LandPledge, Workday):
            query = select(func.count()).where(col(model.reporter_id) == member_id)
            total += int((await session.exec(query)).one())
        return total

    result: int = await harness.query(work)
    return result


def all_callback_data(person: Person) -> list[str]:
    return [data for m in person.user.messages(include_deleted=True) for data in m.callback_data]


def labels(message: FakeMessage) -> list[list[str]]:
    return [[text for text, _ in row] for row in message.buttons]


async def add_groups(harness: Harness, parent: str, count: int) -> list[str]:
    """`count` residential groups under `parent`: TX01 "Tổ 01"…, their codes in order."""
    codes = [f"TX{number:02d}" for number in range(1, count + 1)]
    await import_units(harness, "".join(f"{c},Tổ {c[2:]},tổ dân phố,{parent},\n" for c in codes))
    return codes


async def reply_to(person: Person, prompt: FakeMessage, text: str) -> list[FakeMessage]:
    """Type `text` marked as a reply to `prompt`; returns the bot's new messages."""
    seen = len(person.user.messages(include_deleted=True))
    await person.harness.settle(await person.user.send(text, reply_to=prompt))
    return person.user.messages(include_deleted=True)[seen:]


UNITS_OF_THOXUONG = [
    ["📍 THOXUONG · phường Thọ Xương"],
    ["CN1 · Cung Nhượng 1"],
    ["CN2 · Cung Nhượng 2"],
]
USES = ["1 use", "5 uses", "20 uses"]
CONTROLS = ["◀ Back", "✖️ Cancel"]
CANCELLED = "Cancelled. Nothing was saved."


# --- inviting --------------------------------------------------------------------------------


async def test_official_invites_a_coordinator_who_joins_with_the_qr_link(harness: Harness) -> None:
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)

    # An official gives no role but coordinator: the chat asks for the unit first.
    (prompt,) = await person.say("/moi")
    assert "Invite as coordinator into which unit?" in prompt.body
    assert labels(prompt) == [*UNITS_OF_THOXUONG, ["📋 Open invites"], ["✖️ Cancel"]]
    assert await person.tap("CN1 · Cung Nhượng 1") == [prompt]  # the next question in place
    assert "Invite as coordinator into Cung Nhượng 1." in prompt.body
    assert "7 days" in prompt.body
    assert labels(prompt) == [USES, CONTROLS]
    (photo,) = await person.tap("5 uses")
    assert prompt.buttons == []  # the question is answered

    assert photo.kind == "photo"
    code = code_of(photo)
    assert decode_qr(photo) == LINK + code
    assert LINK + code in photo.body
    assert "5 uses, valid until 02/12/2026" in photo.body
    assert "coordinator" in photo.body and "Cung Nhượng 1" in photo.body
    assert "Scan the QR code" in photo.body

    (invite,) = await all_invites(harness)
    assert (invite.code, invite.role, invite.max_uses, invite.uses) == (code, "coordinator", 5, 0)
    assert invite.unit_id == await unit_id(harness, "CN1")
    assert invite.created_by == official.id
    assert invite.expires_at == datetime(2026, 12, 2, 5, tzinfo=UTC)
    (created,) = await events(harness, "create", official.id)
    assert (created.entity, created.entity_id) == ("invite", invite.id)

    await join(harness, 8101, code)
    joined = await harness.query(lambda s: s.exec(select(Member).where(Member.telegram_id == 8101)))
    member = joined.one()
    assert (member.role, member.unit_id) == ("coordinator", invite.unit_id)
    assert (await load(harness, Invite, invite.id)).uses == 1

    # 📋 under the QR code: the open invites.
    (listing,) = await person.tap("📋 Open invites", photo)
    assert code in listing.body and "4 uses left" in listing.body
    assert "02/12/2026" in listing.body and "Cung Nhượng 1" in listing.body
    assert listing.button_texts == [f"🚫 {code}"]


async def test_the_invite_chat_takes_typed_answers_goes_back_cancels_and_resumes(
    harness: Harness,
) -> None:
    await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)

    # A unit's code and a number typed as plain messages, not marked as replies.
    await person.say("/moi")
    (uses,) = await person.say("cn2")
    assert "Invite as coordinator into Cung Nhượng 2." in uses.body
    (again,) = await person.say("0")
    assert "⚠️" in again.body and labels(again) == [USES, CONTROLS]
    (again,) = await person.say("1000")
    assert "⚠️" in again.body and "100" in again.body
    (photo,) = await person.say("12")
    assert "12 uses" in photo.body and "Cung Nhượng 2" in photo.body
    (invite,) = await all_invites(harness)
    assert (invite.max_uses, invite.unit_id) == (12, await unit_id(harness, "CN2"))

    # A name typed in reply to an older question still answers the one asked now.
    (prompt,) = await person.say("/moi")
    (uses,) = await reply_to(person, photo, "cung nhuong 1")
    assert "Invite as coordinator into Cung Nhượng 1." in uses.body
    # ◀ Back goes to the unit again; ✖️ Cancel in the middle makes nothing.
    await person.tap("◀ Back", uses)
    assert "Invite as coordinator into which unit?" in person.last.body
    await person.tap("CN2 · Cung Nhượng 2")
    (cancelled,) = await person.tap("✖️ Cancel")
    assert cancelled.body == CANCELLED
    assert len(await all_invites(harness)) == 1
    (menu,) = await person.say("20")
    assert "did not understand" in menu.body

    # The bot restarts in the middle: the chat goes on at the same question.
    (prompt,) = await person.say("/moi")
    await person.tap("CN1 · Cung Nhượng 1")
    await harness.restart()
    (photo,) = await person.tap("1 use", prompt)
    assert "1 use, valid until" in photo.body and "Cung Nhượng 1" in photo.body
    assert len(await all_invites(harness)) == 2


async def test_old_and_forged_invite_buttons_make_nothing(harness: Harness) -> None:
    await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)
    (first,) = await person.say("/moi")
    old = first.data_for("CN1 · Cung Nhượng 1")
    # A second /moi while the first is open asks the first's question again.
    (reminder,) = await person.say("/moi")
    assert "You are in the middle of" in reminder.body
    assert first.buttons == []
    assert await person.forged_answer(first, old) == stale_text(EN)  # the question moved on

    await person.tap("CN2 · Cung Nhượng 2", reminder)
    create = reminder.data_for("1 use")
    # Two quick taps: both reach the bot before the first is answered; one invite.
    await person.user.press(reminder, text="1 use")
    await person.user.press(reminder, text="1 use")
    await harness.settle(harness.fake.last_update_id)
    assert last_alert(person) == stale_text(EN)
    assert len(await all_invites(harness)) == 1
    # The same button again, from a client that still shows it: nothing more is made.
    assert await person.forged_answer(reminder, create) == stale_text(EN)
    # Made-up data, and the buttons of the /moi of before, are stale too.
    assert await person.forged_answer(reminder, "inv:n:zz:qq") == stale_text(EN)
    assert await person.forged_answer(reminder, "inv:u:") == stale_text(EN)
    assert await person.forged_answer(reminder, "d:00000000:1") == stale_text(EN)
    assert len(await all_invites(harness)) == 1


async def test_admin_invites_any_role_anywhere(harness: Harness) -> None:
    await add_commune(harness)
    await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    person = harness.person(8002)

    (prompt,) = await person.say("/moi")
    assert labels(prompt) == [
        ["➕ Invite a coordinator"],
        ["➕ Invite an official"],
        ["➕ Invite an admin"],
        ["📋 Open invites"],
        ["✖️ Cancel"],
    ]
    await person.tap("➕ Invite an official")
    assert "Invite as official into which unit?" in prompt.body
    assert labels(prompt) == [
        ["📍 BN · Bắc Ninh"],
        ["DAPCAU · phường Đáp Cầu", "📂"],
        ["THOXUONG · phường Thọ Xương", "📂"],
        CONTROLS,
    ]
    # 📂 opens a ward in the same message; ⬆ goes back up.
    thoxuong = next(row for row in prompt.buttons if row[0][0].startswith("THOXUONG"))
    await person.user.press(prompt, callback_data=thoxuong[1][1])
    await harness.settle(harness.fake.last_update_id)
    assert labels(prompt) == [*UNITS_OF_THOXUONG, ["⬆ BN · Bắc Ninh"], CONTROLS]
    assert prompt.body.count("which unit?") == 1  # the level is shown afresh, not added
    await person.tap("⬆ BN · Bắc Ninh", prompt)
    await person.tap("DAPCAU · phường Đáp Cầu", prompt)
    (photo,) = await person.tap("1 use")
    assert "official" in photo.body and "phường Đáp Cầu" in photo.body
    assert "1 use, valid until" in photo.body
    assert decode_qr(photo) == LINK + code_of(photo)

    # /moi CODE names the unit at once: role, then uses; ◀ Back from the uses to the role.
    (prompt,) = await person.say("/moi dc1")
    assert "Unit: Khu 1" in prompt.body
    await person.tap("➕ Invite an official")
    assert labels(prompt) == [USES, CONTROLS]
    await person.tap("◀ Back", prompt)
    assert labels(prompt)[0] == ["➕ Invite a coordinator"]
    await person.tap("➕ Invite an admin")
    (photo,) = await person.tap("20 uses")
    official, admin = await all_invites(harness)
    assert (official.role, official.unit_id, official.max_uses) == (
        "official",
        await unit_id(harness, "DAPCAU"),
        1,
    )
    assert (admin.role, admin.unit_id, admin.max_uses) == (
        "admin",
        await unit_id(harness, "DC1"),
        20,
    )
    assert admin.code == code_of(photo)

    (answer,) = await person.say("/moi NOPE")
    assert answer.body == "There is no unit with code NOPE in your area."
    assert all(len(data.encode()) <= 64 for data in all_callback_data(person))


async def test_a_typed_name_is_looked_for_under_the_unit_opened_first(harness: Harness) -> None:
    await add_commune(harness)  # DAPCAU > DC1 "Khu 1"
    await import_units(harness, "TX1,Khu 1,khu phố,THOXUONG,\n")
    await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    person = harness.person(8002)

    await person.say("/moi")
    await person.tap("➕ Invite a coordinator")
    # From the province, two wards have a "Khu 1": both are offered.
    (question,) = await person.say("khu 1")
    assert "Several units match “khu 1”" in question.body
    assert labels(question)[:2] == [["DC1 · Khu 1"], ["TX1 · Khu 1"]]
    await person.tap("◀ Back", question)
    # Inside phường Thọ Xương, "khu 1" is its own.
    thoxuong = next(row for row in person.last.buttons if row[0][0].startswith("THOXUONG"))
    await person.user.press(person.last, callback_data=thoxuong[1][1])
    await harness.settle(harness.fake.last_update_id)
    (uses,) = await person.say("khu 1")
    assert "Invite as coordinator into Khu 1." in uses.body
    (photo,) = await person.tap("1 use")
    assert photo.kind == "photo"
    (invite,) = await all_invites(harness)
    assert invite.unit_id == await unit_id(harness, "TX1")
    # A code is found anywhere in the area, whatever unit is opened.
    (prompt,) = await person.say("/moi")
    await person.tap("➕ Invite a coordinator")
    thoxuong = next(row for row in prompt.buttons if row[0][0].startswith("THOXUONG"))
    await person.user.press(prompt, callback_data=thoxuong[1][1])
    await harness.settle(harness.fake.last_update_id)
    (uses,) = await person.say("dc1")
    assert "Invite as coordinator into Khu 1." in uses.body


async def test_invites_are_refused_outside_the_officials_area(harness: Harness) -> None:
    await add_commune(harness)
    dapcau = await unit_id(harness, "DAPCAU")
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)

    (answer,) = await person.say("/moi DAPCAU")
    assert answer.body == "There is no unit with code DAPCAU in your area."
    (refused,) = await events(harness, "refused", official.id)
    assert (refused.entity, refused.entity_id) == ("unit", dapcau)
    assert refused.after is not None and refused.after["reason"] == "out_of_scope"

    (prompt,) = await person.say("/moi")
    (again,) = await person.say("DAPCAU")
    assert "No unit in your area matches “DAPCAU”." in again.body
    # A button made up for a unit outside the area is no answer to the question.
    draft = again.callback_data[0].split(":")[1]
    await person.forged_answer(again, f"d:{draft}:{dapcau}")
    assert "That button belongs to an earlier question." in person.last.body
    # An official gives no role but coordinator, even with a made-up button.
    await person.forged_answer(again, f"d:{draft}:official")
    assert "That button belongs to an earlier question." in person.last.body
    await person.say("/huy")
    assert await all_invites(harness) == []

    # The unit is checked again when the invite is made: the official moved to Khu 1 meanwhile.
    (prompt,) = await person.say("/moi")
    await person.tap("CN1 · Cung Nhượng 1")
    dc1 = await unit_id(harness, "DC1")

    async def move(session: Any) -> None:
        member = await session.get(Member, official.id)
        member.unit_id = dc1

    await harness.query(move)
    (answer,) = await person.tap("1 use", prompt)
    assert answer.body == OUTSIDE
    assert await all_invites(harness) == []

    # The role is checked again on every answer: no longer an official, no invite.
    (prompt,) = await person.say("/moi")

    async def demote(session: Any) -> None:
        member = await session.get(Member, official.id)
        member.role = Role.COORDINATOR

    await harness.query(demote)
    (answer,) = await person.say("cn1")
    assert answer.body == PERMISSION
    assert await all_invites(harness) == []

    # Coordinators may not invite at all.
    await harness.add_member(8003, "CN1", language="en")
    (answer,) = await harness.person(8003).say("/moi")
    assert answer.body == PERMISSION


async def test_the_invite_is_made_and_sent_as_text_when_the_qr_code_cannot_be(
    harness: Harness,
) -> None:
    await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)
    await person.say("/moi")
    await person.tap("CN1 · Cung Nhượng 1")
    harness.fake.inject_error("sendPhoto", 400, "Bad Request: IMAGE_PROCESS_FAILED")
    (answer,) = await person.tap("5 uses")
    assert answer.kind == "text"
    (invite,) = await all_invites(harness)
    assert f"Code: {invite.code}" in answer.body and LINK + invite.code in answer.body
    assert "The QR code could not be sent" in answer.body
    assert "Something went wrong" not in answer.body
    assert harness.fake.unused_faults() == []
    await join(harness, 8101, invite.code)


async def test_withdrawing_an_invite(harness: Harness) -> None:
    await add_commune(harness)
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    code = await harness.invite("CN2", uses=5)
    by_admin = await harness.invite("THOXUONG", Role.OFFICIAL)
    admin_key = await harness.invite("CN2", Role.ADMIN)
    elsewhere = await harness.invite("DC1")
    person = harness.person(8001)

    await person.say("/moi")
    (listing,) = await person.tap("📋 Open invites")
    # An official sees only the invites they could make: another role's code is a key to it.
    assert code in listing.body and elsewhere not in listing.body
    assert by_admin not in listing.body and admin_key not in listing.body
    assert "(1)" in listing.body
    # An official may withdraw coordinator invites only.
    assert listing.button_texts == [f"🚫 {code}"]
    invite_ids = {invite.code: invite.id for invite in await all_invites(harness)}
    assert await person.forged_answer(listing, f"inv:x:{invite_ids[by_admin]}:0") == PERMISSION
    assert await person.forged_answer(listing, f"inv:xok:{invite_ids[elsewhere]}:0") == OUTSIDE
    assert await person.forged_answer(listing, f"inv:x:{invite_ids[code]}") == stale_text(EN)

    # The question takes the list's place; ✖️ Cancel brings the list back.
    await person.tap(f"🚫 {code}", listing)
    assert code in listing.body and "Cung Nhượng 2" in listing.body
    assert labels(listing) == [["🚫 Withdraw", "✖️ Cancel"]]
    await person.tap("✖️ Cancel", listing)
    assert "Open invites (1)" in listing.body
    assert (await load(harness, Invite, invite_ids[code])).revoked_at is None

    await person.tap(f"🚫 {code}", listing)
    withdraw = listing.data_for("🚫 Withdraw")
    await person.tap("🚫 Withdraw", listing)
    assert listing.body.startswith(f"🚫 The invite {code} was withdrawn.")
    # The last invite gone, the list has no buttons (Telegram refuses an empty keyboard).
    assert "Open invites (0)" in listing.body and listing.reply_markup is None
    invite = await load(harness, Invite, invite_ids[code])
    assert invite.revoked_at == harness.clock()
    (event,) = await events(harness, "revoke", official.id)
    assert (event.entity, event.entity_id) == ("invite", invite.id)
    assert await person.forged_answer(listing, withdraw) == stale_text(EN)

    (answer,) = await harness.person(8102).say(f"/start {code}")
    assert "thu hồi" in answer.body  # "This invite was withdrawn."

    await person.say("/moi")
    (listing,) = await person.tap("📋 Open invites")
    assert code not in listing.body and "(0)" in listing.body
    assert listing.reply_markup is None


async def test_open_invites_page_and_leave_out_the_spent_ones(harness: Harness) -> None:
    await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    codes = [await harness.invite("CN1") for _ in range(12)]
    expired = await harness.invite("CN2", days=1)
    used = await harness.invite("CN2")
    await join(harness, 8103, used)
    harness.clock.advance(days=1, seconds=1)
    person = harness.person(8002)
    await person.say("/moi")
    (listing,) = await person.tap("📋 Open invites")
    assert "(12)" in listing.body and "Page 1 of 2" in listing.body
    assert expired not in listing.body and used not in listing.body
    shown = [code for code in codes if code in listing.body]
    assert len(shown) == 10
    await person.tap("▶", listing)
    assert "Page 2 of 2" in listing.body
    assert sorted(shown + [code for code in codes if code in listing.body]) == sorted(codes)
    # Withdrawing on page 2 shows page 2 again.
    last = next(code for code in codes if code in listing.body)
    await person.tap(f"🚫 {last}", listing)
    await person.tap("🚫 Withdraw", listing)
    assert "Open invites (11)" in listing.body and "Page 2 of 2" in listing.body


async def test_unit_pickers_page_through_more_than_sixty_units(harness: Harness) -> None:
    groups = await add_groups(harness, "THOXUONG", 70)
    await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    await harness.add_member(8201, "TX70", full_name="Trần Văn Bình")
    person = harness.person(8001)

    (prompt,) = await person.say("/moi")
    assert "Page 1/10" in prompt.body  # the ward, its 2 groups and 70 more: 73, 8 a page
    for page in range(2, 11):
        await person.tap("▶", prompt)
        assert f"Page {page}/10" in prompt.body
    assert labels(prompt)[-4:] == [["TX70 · Tổ 70"], ["◀"], ["📋 Open invites"], ["✖️ Cancel"]]
    await person.tap("TX70 · Tổ 70", prompt)
    (photo,) = await person.tap("1 use")
    assert photo.kind == "photo"
    (invite,) = await all_invites(harness)
    assert invite.unit_id == await unit_id(harness, groups[-1])

    (prompt,) = await person.say("/thanhvien")
    assert "Page 1/10" in prompt.body
    for _ in range(9):
        await person.tap("▶", prompt)
    (listing,) = await person.tap("TX70 · Tổ 70", prompt)
    assert "Tổ 70: 1 member" in listing.body and "Trần Văn Bình" in listing.body


# --- members ---------------------------------------------------------------------------------


async def test_members_of_a_unit_with_role_phone_and_last_report(harness: Harness) -> None:
    official = await harness.add_member(
        8001, "THOXUONG", Role.OFFICIAL, language="en", full_name="Lê Văn Cán"
    )
    other = await harness.add_member(8004, "THOXUONG", Role.OFFICIAL, full_name="Đỗ Thị Quan")
    binh = await harness.add_member(8201, "CN1", full_name="Trần <Văn> Bình", phone="0912345678")
    await harness.add_member(8202, "CN2", full_name="Phạm Thị Cúc")
    await seed_record(harness, binh, RecordKind.ACTIVITY, "2026-11-20")
    await seed_record(harness, binh, RecordKind.LAND, "2026-11-24")
    await seed_record(harness, binh, RecordKind.WORKDAY, "2026-11-22")
    deleted = await seed_record(harness, binh, RecordKind.ACTIVITY, "2026-11-25")

    async def delete(session: Any) -> None:
        row = await session.get(Activity, deleted)
        row.deleted_at = harness.clock()

    await harness.query(delete)
    person = harness.person(8001)

    (picker,) = await person.say("/thanhvien")
    assert "Members — of which unit?" in picker.body
    assert labels(picker) == [*UNITS_OF_THOXUONG, ["✖️ Cancel"]]
    (listing,) = await person.tap("📍 THOXUONG · phường Thọ Xương")
    assert picker.buttons == []
    assert "phường Thọ Xương: 4 members" in listing.body
    assert "Trần <Văn> Bình" in listing.body and "&lt;Văn&gt;" in (listing.html or "")
    line = next(x for x in listing.body.splitlines() if "0912345678" in x)
    assert "last report: 24/11/2026" in line  # the deleted record of 25/11 does not count
    assert "Phạm Thị Cúc" in listing.body and "none yet" in listing.body
    assert "Đỗ Thị Quan" in listing.body and "official" in listing.body
    # Buttons for the coordinators only: not for oneself nor for another official.
    names = [text for text in listing.button_texts if text[0].isdigit()]
    assert len(names) == 2 and all("Bình" in n or "Cúc" in n for n in names)
    assert f"mb:m:{other.id}" not in listing.callback_data
    assert f"mb:m:{official.id}" not in listing.callback_data
    # ◀ Back: choose another unit, from the one listed.
    (picker,) = await person.tap("◀ Back", listing)
    assert labels(picker)[0] == ["📍 THOXUONG · phường Thọ Xương"]
    # A unit's name typed as a plain message, without diacritics; several match: buttons.
    (question,) = await person.say("cung nhuong")
    assert "Several units match" in question.body
    assert labels(question)[:2] == [["CN1 · Cung Nhượng 1"], ["CN2 · Cung Nhượng 2"]]
    (only_cn2,) = await person.say("cung nhuong 2")
    assert "Cung Nhượng 2: 1 member" in only_cn2.body and "Bình" not in only_cn2.body

    (only_cn2,) = await person.say("/thanhvien cn2")
    assert "Cung Nhượng 2: 1 member" in only_cn2.body and "Bình" not in only_cn2.body

    # The picker after a restart: the same question, answered.
    (picker,) = await person.say("/thanhvien")
    await harness.restart()
    (listing,) = await person.tap("CN1 · Cung Nhượng 1", picker)
    assert "Cung Nhượng 1: 1 member" in listing.body
    # ✖️ Cancel ends it.
    await person.say("/thanhvien")
    (cancelled,) = await person.tap("✖️ Cancel")
    assert cancelled.body == CANCELLED


async def test_members_list_pages_stay_under_the_message_limit(harness: Harness) -> None:
    await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    for i in range(25):
        await harness.add_member(
            8300 + i, "CN2", full_name=f"{i:02d} " + "Nguyễn Thị Hồng Nhung " * 9, phone="0" * 30
        )
    person = harness.person(8002)
    (listing,) = await person.say("/thanhvien CN2")
    assert "25 members" in listing.body and "Page 1 of 3" in listing.body
    assert utf16_length(listing.body) < 4096
    assert "1. " in listing.body and "11. " not in listing.body
    await person.tap("▶", listing)
    assert "Page 2 of 3" in listing.body and "11. " in listing.body
    assert utf16_length(listing.body) < 4096
    await person.tap("▶", listing)
    assert "Page 3 of 3" in listing.body and "25. " in listing.body
    assert all(len(data.encode()) <= 64 for data in all_callback_data(person))


async def test_official_moves_and_deactivates_a_coordinator(harness: Harness) -> None:
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    binh = await harness.add_member(8201, "CN1", full_name="Trần Văn Bình")
    await seed_record(harness, binh, RecordKind.ACTIVITY, "2026-11-24")
    cn1, cn2 = await unit_id(harness, "CN1"), await unit_id(harness, "CN2")
    person = harness.person(8001)

    (listing,) = await person.say("/thanhvien CN1")
    await person.tap("1. Trần Văn Bình", listing)
    card = listing
    assert "Trần Văn Bình" in card.body and "Cung Nhượng 1 (CN1)" in card.body
    # Officials give no role but coordinator, so they are offered no role change.
    assert card.button_texts == ["🏠 Move to another unit", "⛔ Deactivate", "◀ Back"]

    (picker,) = await person.tap("🏠 Move to another unit", card)
    assert "Move Trần Văn Bình (now in Cung Nhượng 1) to which unit?" in picker.body
    assert labels(picker) == [*UNITS_OF_THOXUONG, CONTROLS]
    await person.tap("CN1 · Cung Nhượng 1", picker)
    assert "⚠️ Trần Văn Bình is already in Cung Nhượng 1." in picker.body
    await person.tap("CN2 · Cung Nhượng 2", picker)
    assert "Trần Văn Bình: Cung Nhượng 1 → Cung Nhượng 2" in picker.body
    assert labels(picker) == [["✅ Confirm", "✖️ Cancel"], ["◀ Back"]]
    confirm = picker.data_for("✅ Confirm")
    (moved_card,) = await person.tap("✅ Confirm", picker)
    assert moved_card.body.startswith("✅ Trần Văn Bình now belongs to Cung Nhượng 2.")
    assert "Cung Nhượng 2 (CN2)" in moved_card.body
    assert moved_card.button_texts == ["🏠 Move to another unit", "⛔ Deactivate", "◀ Back"]
    assert (await load(harness, Member, binh.id)).unit_id == cn2
    (moved,) = await events(harness, "update", official.id)
    assert (moved.entity, moved.entity_id) == ("member", binh.id)
    assert (moved.before, moved.after) == ({"unit_id": cn1}, {"unit_id": cn2})
    assert await person.forged_answer(picker, confirm) == stale_text(EN)
    # The card the move began from is checked again when pressed: it moves nobody twice.
    (again,) = await person.tap("🏠 Move to another unit", card)
    assert "(now in Cung Nhượng 2)" in again.body
    await person.say("/huy")

    (question,) = await person.tap("⛔ Deactivate", moved_card)
    assert "records stay" in question.body
    assert labels(question) == [["⛔ Deactivate", "✖️ Cancel"], ["◀ Back"]]
    (deactivated_card,) = await person.tap("⛔ Deactivate", question)
    assert deactivated_card.body.startswith("⛔ Trần Văn Bình was deactivated. Their records stay.")
    assert "✅ Reactivate" in deactivated_card.button_texts
    assert (await load(harness, Member, binh.id)).active is False
    (deactivated,) = await events(harness, "deactivate", official.id)
    assert deactivated.entity_id == binh.id

    (refused,) = await harness.person(8201).say("/hiendat")
    assert "đã bị khóa" in refused.body  # "Your account has been deactivated."
    assert await count_records(harness, binh.id) == 1

    (listing,) = await person.say("/thanhvien CN2")
    assert "⛔" in listing.body and "deactivated" in listing.body
    await person.tap("1. Trần Văn Bình", listing)
    (question,) = await person.tap("✅ Reactivate", listing)
    (card,) = await person.tap("✅ Reactivate", question)
    assert card.body.startswith("✅ Trần Văn Bình can use danvan again.")
    assert (await load(harness, Member, binh.id)).active is True
    (answer,) = await harness.person(8201).say("/daghi")
    assert "khóa" not in answer.body


async def test_member_chats_go_back_to_the_card_cancel_take_typed_answers_and_resume(
    harness: Harness,
) -> None:
    await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    binh = await harness.add_member(8201, "CN1", full_name="Trần Văn Bình")
    person = harness.person(8002)
    (card,) = await person.say("/thanhvien CN1")
    await person.tap("1. Trần Văn Bình", card)
    shown = card.body

    # ◀ Back on the first question of each change: the member's card again, in its place.
    for button in ("👤 Change role", "🏠 Move to another unit", "⛔ Deactivate"):
        (question,) = await person.tap(button, card)
        assert await person.tap("◀ Back", question) == [question]
        assert question.body == shown and "👤 Change role" in question.button_texts
        card = question

    # ✖️ Cancel in the middle: the role chosen, the card to confirm.
    (question,) = await person.tap("👤 Change role", card)
    assert labels(question) == [["official"], ["admin"], CONTROLS]
    await person.tap("official", question)
    assert "Trần Văn Bình: coordinator → official" in question.body
    (cancelled,) = await person.tap("✖️ Cancel", question)
    assert cancelled.body == CANCELLED
    assert (await load(harness, Member, binh.id)).role == "coordinator"

    # A unit typed as a plain message; ◀ Back from the card to confirm asks again.
    (question,) = await person.tap("🏠 Move to another unit", card)
    (confirm,) = await person.say("cn2")
    assert "Trần Văn Bình: Cung Nhượng 1 → Cung Nhượng 2" in confirm.body
    await person.tap("◀ Back", confirm)
    assert "to which unit?" in confirm.body
    # The bot restarts in the middle: the same question, answered.
    await harness.restart()
    (confirm,) = await reply_to(person, question, "cung nhuong 2")
    await harness.restart()
    (moved,) = await person.tap("✅ Confirm", confirm)
    assert moved.body.startswith("✅ Trần Văn Bình now belongs to Cung Nhượng 2.")
    assert (await load(harness, Member, binh.id)).unit_id == await unit_id(harness, "CN2")
    # A name typed that no unit has is asked again.
    await person.tap("🏠 Move to another unit", moved)
    (again,) = await person.say("Nowhere")
    assert "No unit in your area matches “Nowhere”." in again.body
    (cancelled,) = await person.say("/huy")
    assert cancelled.body == CANCELLED


async def test_officials_manage_only_the_coordinators_of_their_area(harness: Harness) -> None:
    await add_commune(harness)
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    other = await harness.add_member(8004, "THOXUONG", Role.OFFICIAL)
    binh = await harness.add_member(8201, "CN1")
    far = await harness.add_member(8205, "DC1")
    cn1, dc1 = await unit_id(harness, "CN1"), await unit_id(harness, "DC1")
    dapcau = await unit_id(harness, "DAPCAU")
    person = harness.person(8001)

    (answer,) = await person.say("/thanhvien DAPCAU")
    assert answer.body == "There is no unit with code DAPCAU in your area."
    (listing,) = await person.say("/thanhvien CN1")
    assert await person.forged_answer(listing, f"mb:l:{dapcau}:0") == OUTSIDE
    assert await person.forged_answer(listing, f"mb:b:{dapcau}") == OUTSIDE
    assert await person.forged_answer(listing, f"mb:m:{far.id}") == OUTSIDE
    assert await person.forged_answer(listing, f"mb:d:{far.id}") == OUTSIDE
    assert await person.forged_answer(listing, f"mb:mv:{far.id}") == OUTSIDE
    assert await person.forged_answer(listing, f"mb:r:{binh.id}") == PERMISSION
    assert await person.forged_answer(listing, f"mb:d:{other.id}") == PERMISSION
    assert await person.forged_answer(listing, f"mb:d:{official.id}") == (
        "You cannot change your own account here. Please ask an admin."
    )
    # Buttons of before, and made-up ones, are stale.
    assert await person.forged_answer(listing, f"mb:dok:{far.id}") == stale_text(EN)
    assert await person.forged_answer(listing, f"mb:mok:{binh.id}:{cn1}:{dc1}") == stale_text(EN)
    assert await person.forged_answer(listing, "mb:l:x:0") == stale_text(EN)
    assert await person.forged_answer(listing, "mb:m:99999") == stale_text(EN)
    assert await person.forged_answer(listing, "mb:zz:1") == stale_text(EN)

    # Moving: a unit of another commune is not in the picker, nor found when typed.
    await person.tap(listing.button_texts[0], listing)
    (picker,) = await person.tap("🏠 Move to another unit", listing)
    assert all("DC1" not in text for text in picker.button_texts)
    (again,) = await person.say("DC1")
    assert "No unit in your area matches “DC1”." in again.body
    # Checked again when confirmed: meanwhile an admin moved the coordinator out of the area.
    await person.tap("CN2 · Cung Nhượng 2")

    async def move_away(session: Any) -> None:
        member = await session.get(Member, binh.id)
        member.unit_id = dc1

    await harness.query(move_away)
    (answer,) = await person.tap("✅ Confirm")
    assert answer.body == OUTSIDE

    reasons = [(e.after or {}).get("reason") for e in await events(harness, "refused", official.id)]
    assert reasons == ["out_of_scope"] * 6 + ["role"] * 2 + ["self"] + ["out_of_scope"]
    after = {m.id: await load(harness, Member, m.id) for m in (binh, far, other, official)}
    assert after[binh.id].unit_id == dc1 and after[binh.id].role == "coordinator"
    assert all(member.active for member in after.values())
    assert after[far.id].unit_id == dc1


async def test_admin_changes_a_role_which_takes_effect(harness: Harness) -> None:
    admin = await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    binh = await harness.add_member(8201, "THOXUONG", full_name="Trần Văn Bình", language="en")
    person = harness.person(8002)

    (before,) = await harness.person(8201).say("/moi")
    assert before.body == PERMISSION

    (listing,) = await person.say("/thanhvien THOXUONG")
    await person.tap("1. Trần Văn Bình", listing)
    assert listing.button_texts[0] == "👤 Change role"
    (question,) = await person.tap("👤 Change role", listing)
    assert "New role for Trần Văn Bình (now coordinator):" in question.body
    # A role typed, in either language, is taken too.
    (confirm,) = await person.say("cán bộ")
    assert "Trần Văn Bình: coordinator → official" in confirm.body
    assert "Change the role?" in confirm.body
    data = confirm.data_for("✅ Confirm")
    (card,) = await person.tap("✅ Confirm", confirm)
    assert card.body.startswith("✅ Trần Văn Bình now has the role official.")
    assert "Role: official" in card.body
    assert (await load(harness, Member, binh.id)).role == "official"
    (changed,) = await events(harness, "update", admin.id)
    assert (changed.before, changed.after) == ({"role": "coordinator"}, {"role": "official"})
    assert await person.forged_answer(confirm, data) == stale_text(EN)

    (prompt,) = await harness.person(8201).say("/moi")
    assert "Invite as coordinator into which unit?" in prompt.body
    # An admin cannot change their own account (so the last admin cannot lock everyone out).
    assert await person.forged_answer(listing, f"mb:r:{admin.id}") == (
        "You cannot change your own account here. Please ask an admin."
    )
    assert (await load(harness, Member, admin.id)).role == "admin"

    # A role changed by someone else meanwhile makes the question stale.
    (question,) = await person.tap("👤 Change role", card)
    await person.tap("admin", question)

    async def demote(session: Any) -> None:
        member = await session.get(Member, binh.id)
        member.role = Role.COORDINATOR

    await harness.query(demote)
    (answer,) = await person.tap("✅ Confirm", question)
    assert answer.body == stale_text(EN)
    assert (await load(harness, Member, binh.id)).role == "coordinator"


async def test_invites_do_not_outlive_their_maker_s_right_to_make_them(harness: Harness) -> None:
    admin = await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL)
    other_admin = await harness.add_member(8003, "BN", Role.ADMIN)
    by_official = await harness.invite("CN1", created_by=official.id, uses=5)
    admin_key = await harness.invite("CN1", Role.ADMIN, created_by=other_admin.id)
    admin_coordinator = await harness.invite("CN2", created_by=other_admin.id)
    now = harness.clock()

    async def change(work: Any) -> None:
        async with harness.db.session() as session:
            actor = await session.get(Member, admin.id)
            assert (await work(session, actor)).ok

    # An admin made an official: their admin invite goes, their coordinator invite stays.
    await change(
        lambda s, a: members.change_role(
            s, a, pk(other_admin), expected="admin", role="official", now=now
        )
    )
    # A deactivated official's invites go.
    await change(lambda s, a: members.set_active(s, a, pk(official), active=False, now=now))

    for number, code in enumerate((by_official, admin_key), start=8301):
        (answer,) = await harness.person(number).say(f"/start {code}")
        assert "thu hồi" in answer.body, code  # "This invite was withdrawn."
    assert (await load_invite(harness, admin_coordinator)).revoked_at is None
    revoked = [e for e in await events(harness, "revoke", admin.id) if e.entity == "invite"]
    assert len(revoked) == 2


async def load_invite(harness: Harness, code: str) -> Invite:
    async with harness.db.session() as session:
        found = (await session.exec(select(Invite).where(Invite.code == code))).one()
        return found


async def test_a_long_name_is_shortened_in_the_move_s_refusal(harness: Harness) -> None:
    await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    await harness.add_member(8201, "CN1", full_name="Trần Văn " + "Bình" * 40)
    person = harness.person(8001)
    (listing,) = await person.say("/thanhvien CN1")
    await person.tap(listing.button_texts[0], listing)
    (picker,) = await person.tap("🏠 Move to another unit", listing)
    await person.tap("CN1 · Cung Nhượng 1", picker)
    (note,) = [line for line in picker.body.splitlines() if line.startswith("⚠️")]
    assert note.startswith("⚠️ Trần Văn Bình") and note.endswith("… is already in Cung Nhượng 1.")
    assert len(note) <= 200
