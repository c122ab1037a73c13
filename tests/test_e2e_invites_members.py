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


async def add_commune(harness: Harness) -> None:
    csv = "code,name,level,parent_code,former_name\nDAPCAU,phường Đáp Cầu,phường,BN,\n"
    csv += "DC1,Khu 1,khu phố,DAPCAU,\n"
    rows, errors = parse_unit_csv(csv.encode())
    assert not errors
    async with harness.db.session() as session:
        plan = await units.plan_import(session, rows)
        await units.apply_import(session, plan, actor_label="test")


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


async def press(person: Person, message: FakeMessage, data: str) -> list[FakeMessage]:
    """Press the button with this callback_data; returns the bot's new messages."""
    seen = len(person.user.messages(include_deleted=True))
    await person.user.press(message, callback_data=data)
    await person.harness.settle(person.harness.fake.last_update_id)
    return person.user.messages(include_deleted=True)[seen:]


async def forge(person: Person, message: FakeMessage, data: str) -> str | None:
    """Send a callback query with made-up data from `message`, as a tampered (or old) client
    could; returns the text of the bot's answer to it."""
    fake = person.harness.fake
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
    answer = person.user.answers[-1]
    assert answer.query_id == query_id, "the button was not answered"
    return answer.text


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


# --- inviting --------------------------------------------------------------------------------


async def test_official_invites_a_coordinator_who_joins_with_the_qr_link(harness: Harness) -> None:
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)

    (card,) = await person.say("/moi")
    assert card.button_texts == ["➕ Invite a coordinator", "📋 Open invites"]
    assert await person.tap("➕ Invite a coordinator") == [card]  # the card becomes the picker
    assert card.button_texts == ["📍 phường Thọ Xương", "Cung Nhượng 1", "Cung Nhượng 2"]
    assert "coordinator" in card.body
    await person.tap("Cung Nhượng 1")
    assert card.button_texts == ["1 use", "5 uses", "20 uses"]
    assert "Cung Nhượng 1" in card.body and "7 days" in card.body
    (photo,) = await person.tap("5 uses")
    assert card.button_texts == []  # the card is done

    assert photo.kind == "photo"
    code = code_of(photo)
    assert decode_qr(photo) == LINK + code
    assert LINK + code in photo.body
    assert "5 uses, valid until 02/12/2026" in photo.body
    assert "coordinator" in photo.body and "Cung Nhượng 1" in photo.body

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

    await person.say("/moi")
    (listing,) = await person.tap("📋 Open invites")
    assert code in listing.body and "4 uses left" in listing.body
    assert "02/12/2026" in listing.body and "Cung Nhượng 1" in listing.body
    assert listing.button_texts == [f"🚫 {code}"]


async def test_old_invite_cards_are_stale_and_make_nothing(harness: Harness) -> None:
    await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)
    (first,) = await person.say("/moi")
    (second,) = await person.say("/moi")
    await person.tap("➕ Invite a coordinator", first)
    assert last_alert(person) == stale_text(EN)
    assert first.button_texts[0] == "➕ Invite a coordinator"  # unchanged

    await person.tap("➕ Invite a coordinator", second)
    await person.tap("Cung Nhượng 2", second)
    create = second.data_for("1 use")
    assert len(await person.tap("1 use", second)) == 1
    # The same button again, from a client that still shows it: nothing more is made.
    assert await forge(person, second, create) == stale_text(EN)
    assert len(await all_invites(harness)) == 1
    # Made-up data is stale too.
    assert await forge(person, second, "inv:n:zz:qq") == stale_text(EN)
    assert await forge(person, second, "inv:u:") == stale_text(EN)
    assert len(await all_invites(harness)) == 1


async def test_admin_invites_any_role_anywhere(harness: Harness) -> None:
    await add_commune(harness)
    await harness.add_member(8002, "BN", Role.ADMIN, language="en")
    person = harness.person(8002)

    (card,) = await person.say("/moi")
    assert card.button_texts == [
        "➕ Invite a coordinator",
        "➕ Invite an official",
        "➕ Invite an admin",
        "📋 Open invites",
    ]
    await person.tap("➕ Invite an official")
    assert card.button_texts == ["📍 Bắc Ninh", "phường Đáp Cầu", "📂", "phường Thọ Xương", "📂"]
    # 📂 opens a commune; ⬆ goes back up.
    thoxuong = await unit_id(harness, "THOXUONG")
    await press(person, card, next(d for d in card.callback_data if d.endswith(f":{thoxuong}:0")))
    assert card.button_texts == [
        "📍 phường Thọ Xương",
        "Cung Nhượng 1",
        "Cung Nhượng 2",
        "⬆ Bắc Ninh",
    ]
    await person.tap("⬆ Bắc Ninh")
    await person.tap("phường Đáp Cầu")
    (photo,) = await person.tap("1 use")
    assert "official" in photo.body and "phường Đáp Cầu" in photo.body
    assert "1 use, valid until" in photo.body
    assert decode_qr(photo) == LINK + code_of(photo)

    # /moi CODE names the unit at once: role, then uses.
    (card,) = await person.say("/moi dc1")
    assert "Khu 1" in card.body
    await person.tap("➕ Invite an admin")
    assert card.button_texts == ["1 use", "5 uses", "20 uses"]
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
    assert answer.body == "There is no unit with the code NOPE in your area."
    assert all(len(data.encode()) <= 64 for data in all_callback_data(person))


async def test_invites_are_refused_outside_the_officials_area(harness: Harness) -> None:
    await add_commune(harness)
    dapcau = await unit_id(harness, "DAPCAU")
    official = await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    person = harness.person(8001)

    (answer,) = await person.say("/moi DAPCAU")
    assert answer.body == "There is no unit with the code DAPCAU in your area."
    (refused,) = await events(harness, "refused", official.id)
    assert (refused.entity, refused.entity_id) == ("unit", dapcau)
    assert refused.after is not None and refused.after["reason"] == "out_of_scope"

    (card,) = await person.say("/moi")
    nonce = card.callback_data[0].split(":")[2]
    assert await forge(person, card, f"inv:u:{nonce}:coordinator:{dapcau}") == OUTSIDE
    assert await forge(person, card, f"inv:b:{nonce}:coordinator:{dapcau}:0") == OUTSIDE
    assert await forge(person, card, f"inv:n:{nonce}:coordinator:{dapcau}:1") == OUTSIDE
    # An official gives no role but coordinator, even with a made-up button.
    assert await forge(person, card, f"inv:r:{nonce}:official:0") == PERMISSION
    cn1 = await unit_id(harness, "CN1")
    assert await forge(person, card, f"inv:n:{nonce}:admin:{cn1}:1") == PERMISSION
    assert await all_invites(harness) == []
    reasons = [(e.after or {}).get("reason") for e in await events(harness, "refused", official.id)]
    assert reasons == ["out_of_scope"] * 4 + ["role"] * 2

    # Coordinators may not invite at all.
    await harness.add_member(8003, "CN1", language="en")
    (answer,) = await harness.person(8003).say("/moi")
    assert answer.body == PERMISSION


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
    assert await forge(person, listing, f"inv:x:{invite_ids[by_admin]}") == PERMISSION
    assert await forge(person, listing, f"inv:xok:{invite_ids[elsewhere]}") == OUTSIDE

    (question,) = await person.tap(f"🚫 {code}")
    assert code in question.body and "Cung Nhượng 2" in question.body
    await person.tap("✖️ Cancel", question)
    assert question.body == "Cancelled; nothing was changed."
    assert (await load(harness, Invite, invite_ids[code])).revoked_at is None

    (question,) = await person.tap(f"🚫 {code}")
    withdraw = question.data_for("🚫 Withdraw")
    await person.tap("🚫 Withdraw", question)
    assert question.body == f"🚫 The invite {code} was withdrawn."
    invite = await load(harness, Invite, invite_ids[code])
    assert invite.revoked_at == harness.clock()
    (event,) = await events(harness, "revoke", official.id)
    assert (event.entity, event.entity_id) == ("invite", invite.id)
    assert await forge(person, question, withdraw) == stale_text(EN)

    (answer,) = await harness.person(8102).say(f"/start {code}")
    assert "thu hồi" in answer.body  # "This invite was withdrawn."

    await person.say("/moi")
    (listing,) = await person.tap("📋 Open invites")
    assert code not in listing.body and "(0)" in listing.body


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
    assert picker.button_texts == ["📍 phường Thọ Xương", "Cung Nhượng 1", "Cung Nhượng 2"]
    await person.tap("📍 phường Thọ Xương")
    listing = picker
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
    await person.tap("◀ Back", listing)
    assert listing.button_texts[0] == "📍 phường Thọ Xương"

    (only_cn2,) = await person.say("/thanhvien cn2")
    assert "Cung Nhượng 2: 1 member" in only_cn2.body and "Bình" not in only_cn2.body


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

    await person.tap("🏠 Move to another unit", card)
    assert card.button_texts == [
        "📍 phường Thọ Xương",
        "Cung Nhượng 1",
        "Cung Nhượng 2",
        "◀ Back",
    ]
    await person.tap("Cung Nhượng 1", card)
    assert last_alert(person) == "Trần Văn Bình is already in Cung Nhượng 1."
    await person.tap("Cung Nhượng 2", card)
    assert "Cung Nhượng 1" in card.body and "Cung Nhượng 2" in card.body
    confirm = card.data_for("✅ Confirm")
    await person.tap("✅ Confirm", card)
    assert card.body == "✅ Trần Văn Bình now belongs to Cung Nhượng 2."
    assert (await load(harness, Member, binh.id)).unit_id == cn2
    (moved,) = await events(harness, "update", official.id)
    assert (moved.entity, moved.entity_id) == ("member", binh.id)
    assert (moved.before, moved.after) == ({"unit_id": cn1}, {"unit_id": cn2})
    assert await forge(person, card, confirm) == stale_text(EN)

    await person.tap("◀ Back", card)
    assert "Cung Nhượng 2 (CN2)" in card.body
    await person.tap("⛔ Deactivate", card)
    assert "records stay" in card.body
    await person.tap("⛔ Deactivate", card)
    assert card.body == "⛔ Trần Văn Bình was deactivated. Their records stay."
    assert (await load(harness, Member, binh.id)).active is False
    (deactivated,) = await events(harness, "deactivate", official.id)
    assert deactivated.entity_id == binh.id

    (refused,) = await harness.person(8201).say("/hiendat")
    assert "đã bị khóa" in refused.body  # "Your account has been deactivated."
    assert await count_records(harness, binh.id) == 1

    (listing,) = await person.say("/thanhvien CN2")
    assert "⛔" in listing.body and "deactivated" in listing.body
    await person.tap("1. Trần Văn Bình", listing)
    await person.tap("✅ Reactivate", listing)
    await person.tap("✅ Reactivate", listing)
    assert (await load(harness, Member, binh.id)).active is True
    (answer,) = await harness.person(8201).say("/daghi")
    assert "khóa" not in answer.body


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
    assert answer.body == "There is no unit with the code DAPCAU in your area."
    (listing,) = await person.say("/thanhvien CN1")
    assert await forge(person, listing, f"mb:l:{dapcau}:0") == OUTSIDE
    assert await forge(person, listing, f"mb:b:{dapcau}:0") == OUTSIDE
    assert await forge(person, listing, f"mb:m:{far.id}") == OUTSIDE
    assert await forge(person, listing, f"mb:dok:{far.id}") == OUTSIDE
    assert await forge(person, listing, f"mb:mok:{binh.id}:{cn1}:{dc1}") == OUTSIDE
    assert await forge(person, listing, f"mb:mv:{binh.id}:{dapcau}:0") == OUTSIDE
    assert await forge(person, listing, f"mb:ra:{binh.id}:coordinator:official") == PERMISSION
    assert await forge(person, listing, f"mb:rok:{binh.id}:coordinator:admin") == PERMISSION
    assert await forge(person, listing, f"mb:d:{other.id}") == PERMISSION
    assert await forge(person, listing, f"mb:dok:{official.id}") == (
        "You cannot change your own account here. Please ask an admin."
    )
    assert await forge(person, listing, "mb:l:x:0") == stale_text(EN)
    assert await forge(person, listing, "mb:m:99999") == stale_text(EN)

    reasons = [(e.after or {}).get("reason") for e in await events(harness, "refused", official.id)]
    assert reasons == ["out_of_scope"] * 7 + ["role"] * 3 + ["self"]
    after = {m.id: await load(harness, Member, m.id) for m in (binh, far, other, official)}
    assert after[binh.id].unit_id == cn1 and after[binh.id].role == "coordinator"
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
    await person.tap("👤 Change role", listing)
    assert listing.button_texts == ["official", "admin", "◀ Back"]
    await person.tap("official", listing)
    assert listing.body == "Give Trần Văn Bình the role official?"
    confirm = listing.data_for("✅ Confirm")
    await person.tap("✅ Confirm", listing)
    assert listing.body == "✅ Trần Văn Bình now has the role official."
    assert (await load(harness, Member, binh.id)).role == "official"
    (changed,) = await events(harness, "update", admin.id)
    assert (changed.before, changed.after) == ({"role": "coordinator"}, {"role": "official"})
    assert await forge(person, listing, confirm) == stale_text(EN)

    (card,) = await harness.person(8201).say("/moi")
    assert card.button_texts == ["➕ Invite a coordinator", "📋 Open invites"]
    # An admin cannot change their own account (so the last admin cannot lock everyone out).
    assert await forge(person, listing, f"mb:ra:{admin.id}:admin:coordinator") == (
        "You cannot change your own account here. Please ask an admin."
    )
    assert (await load(harness, Member, admin.id)).role == "admin"


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


async def test_an_alert_about_a_long_name_stays_within_telegram_s_limit(harness: Harness) -> None:
    await harness.add_member(8001, "THOXUONG", Role.OFFICIAL, language="en")
    await harness.add_member(8201, "CN1", full_name="Trần Văn " + "Bình" * 40)
    person = harness.person(8001)
    (listing,) = await person.say("/thanhvien CN1")
    await person.tap(listing.button_texts[0], listing)
    await person.tap("🏠 Move to another unit", listing)
    await person.tap("Cung Nhượng 1", listing)
    alert = last_alert(person)
    assert (
        alert is not None
        and alert.startswith("Trần Văn Bình")
        and alert.endswith("… is already in Cung Nhượng 1.")
    )
    assert len(alert) <= 200
