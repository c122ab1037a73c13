"""Đã ghi (the group's records): list, view, correct, delete and advance a land pledge, end to
end through the fake Bot API on SQLite and PostgreSQL.

Most people here use English, and the tests look at references, numbers, callback data and
the database rather than at the wording of the review's own messages.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from bot.domain.access import Role
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from handlers.common import stale_text
from storage import records, units
from storage import review as store
from storage.models import AuditEvent, Member, Workday, pk
from tests.fakebot import FakeMessage
from tests.harness import Harness

EN = Translator("en")

ANSWERS: dict[RecordKind, dict[str, Any]] = {
    RecordKind.ACTIVITY: {
        "kind": "hop_dan",
        "on_date": "2026-11-24",
        "participants": 25,
        "description": "Họp dân <thôn 3>",
        "photos": [],
    },
    RecordKind.LAND: {
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
    },
    RecordKind.WORKDAY: {
        "work": "Bê tông hóa đường thôn",
        "on_date": "2026-11-24",
        "people": 12,
        "days_each": "0.5",
    },
}


async def seed(harness: Harness, member: Member, kind: RecordKind, **changes: Any) -> int:
    """Log a record as `member` did, created at the bot's now; returns its id."""
    async with harness.db.session() as session:
        answers = {**ANSWERS[kind], **changes}
        record_id = await records.save(session, kind, member, answers, harness.clock())
    harness.clock.advance(seconds=1)
    return record_id


async def load(harness: Harness, kind: RecordKind, record_id: int) -> Any:
    async def work(session: Any) -> Any:
        return await session.get(records.MODELS[kind], record_id)

    return await harness.query(work)


async def audit(harness: Harness, entity: str, entity_id: int) -> list[AuditEvent]:
    async def work(session: Any) -> list[AuditEvent]:
        query = (
            select(AuditEvent)
            .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
            .order_by(col(AuditEvent.id))
        )
        return list((await session.exec(query)).all())

    return await harness.query(work)


def refs(message: FakeMessage) -> list[str]:
    """The references of the records a list message shows, by their view buttons."""
    return [
        "#" + data.split(":")[2] + "-" + data.split(":")[3]
        for data in message.callback_data
        if data.startswith("rv:view:")
    ]


async def test_list_pages_newest_first_with_figures(harness: Harness) -> None:
    lan = await harness.add_member(7001, language="en", full_name="Nguyễn Thị <Lan>")
    seeded = []
    for i in range(5):
        seeded.append(f"#H-{await seed(harness, lan, RecordKind.ACTIVITY, participants=20 + i)}")
    for area in ("720", "1250.5", "150", "3600"):
        seeded.append(f"#L-{await seed(harness, lan, RecordKind.LAND, area_m2=area)}")
    for people in (12, 4, 30):
        seeded.append(f"#N-{await seed(harness, lan, RecordKind.WORKDAY, people=people)}")
    person = harness.person(7001)

    (first,) = await person.say("/daghi")
    newest = seeded[::-1]
    assert refs(first) == newest[:10]
    assert "rv:list:1" in first.callback_data and "rv:list:0" not in first.callback_data
    body = first.body
    assert "1.250,5 m²" in body and "3.600 m²" in body and "24/11/2026" in body
    assert "15" in body  # 30 people × 0,5 days
    assert "Nguyễn Thị <Lan>" in body and "&lt;Lan&gt;" in (first.html or "")
    # The author, within the window, may edit and delete every one of them.
    assert sum(d.startswith("rv:edit:") for d in first.callback_data) == 10
    assert sum(d.startswith("rv:del:") for d in first.callback_data) == 10
    assert all(len(d.encode()) <= 64 for d in first.callback_data)

    assert await person.press_data(first, "rv:list:1") == []  # the same message turns the page
    second = person.user.message(first.message_id)
    assert refs(second) == newest[10:]
    assert "rv:list:0" in second.callback_data and "rv:list:2" not in second.callback_data

    # The menu button and /mine show the same first page.
    (by_menu,) = await person.say("📋 My records")
    assert refs(by_menu) == newest[:10]
    (by_mine,) = await person.say("/mine")
    assert refs(by_mine) == newest[:10]


async def test_view_shows_fields_and_history(harness: Harness) -> None:
    lan = await harness.add_member(7002, language="en", full_name="Trần Thị Lan")
    land_id = await seed(harness, lan, RecordKind.LAND, donor="Hộ bà <Hoa>", assets="Tường rào")
    person = harness.person(7002)
    await person.say("/daghi")
    (view,) = await person.tap(f"👁 #L-{land_id}")
    assert f"#L-{land_id}" in view.body
    assert "Hộ bà <Hoa>" in view.body and "&lt;Hoa&gt;" in (view.html or "")
    assert "720 m²" in view.body and "Tường rào" in view.body and "24/11/2026" in view.body
    assert "Trần Thị Lan" in view.body and "Cung Nhượng 1" in view.body
    assert "rv:edit:L:" + str(land_id) in view.callback_data
    assert f"rv:stage:L:{land_id}:ky_bien_ban" in view.callback_data
    assert f"rv:stage:L:{land_id}:huy" in view.callback_data
    assert f"rv:stage:L:{land_id}:cam_ket" not in view.callback_data
    # Its history so far: logged by Lan.
    history = view.body.split("\n")[-1]
    assert "Trần Thị Lan" in history


async def test_edit_land_area_stores_m2_and_audits(harness: Harness) -> None:
    lan = await harness.add_member(7003, language="en")
    land_id = await seed(harness, lan, RecordKind.LAND)
    person = harness.person(7003)
    await person.say("/daghi")
    replies = await person.tap(f"✏️ #L-{land_id}")
    assert f"#L-{land_id}" in replies[-1].body
    assert "Area" in replies[-1].button_texts and "Household" in replies[-1].button_texts
    await person.tap("Area")
    replies = await person.say("3 sào")
    card = replies[-1]
    assert "1.080 m²" in card.body and "Hộ ông Nguyễn Văn An" in card.body
    replies = await person.tap("✅ Save")
    assert f"#L-{land_id}" in replies[-1].body
    assert replies[-1].keyboard[0] == ["📝 Log activity", "🏡 Land donation"]

    pledge = await load(harness, RecordKind.LAND, land_id)
    assert pledge.area_m2 == Decimal("1080")
    assert pledge.donor == "Hộ ông Nguyễn Văn An" and pledge.stage == "cam_ket"
    events = [e for e in await audit(harness, "land_pledge", land_id) if e.action == "edit"]
    assert [(e.before, e.after) for e in events] == [({"area_m2": "720"}, {"area_m2": "1080"})]
    member = await harness.query(lambda s: s.get(Member, lan.id))
    assert events[0].actor_id == member.id and events[0].at == harness.clock()

    # The view's history shows the change, old → new, with who made it.
    await person.say("/daghi")
    (view,) = await person.tap(f"👁 #L-{land_id}")
    assert "720 m² → 1.080 m²" in view.body
    # No draft is left behind: a typed answer is not taken for a form.
    (answer,) = await person.say("5 sào")
    assert "1.800" not in answer.body


async def test_edit_revalidates_and_saves_nothing_on_bad_input(harness: Harness) -> None:
    lan = await harness.add_member(7004, language="en")
    activity_id = await seed(harness, lan, RecordKind.ACTIVITY)
    person = harness.person(7004)
    await person.say("/daghi")
    await person.tap(f"✏️ #H-{activity_id}")
    await person.tap("Participants")
    replies = await person.say("mười hai người và chó")
    assert replies[-1].body.startswith("⚠️")
    replies = await person.say("-5")
    assert replies[-1].body.startswith("⚠️")
    assert (await load(harness, RecordKind.ACTIVITY, activity_id)).participants == 25
    (answer,) = await person.say("/huy")
    assert answer.body == EN._("Cancelled. Nothing was saved.")
    assert (await load(harness, RecordKind.ACTIVITY, activity_id)).participants == 25
    events = await audit(harness, "activity", activity_id)
    assert [e.action for e in events] == ["create"]


async def test_edit_workday_recomputes_the_total(harness: Harness) -> None:
    lan = await harness.add_member(7005, language="en")
    workday_id = await seed(harness, lan, RecordKind.WORKDAY)
    person = harness.person(7005)
    await person.say("/daghi")
    await person.tap(f"✏️ #N-{workday_id}")
    await person.tap("People")
    replies = await person.say("20")
    assert "10 workdays" in replies[-1].body
    await person.tap("✅ Save")
    workday = await load(harness, RecordKind.WORKDAY, workday_id)
    assert (workday.people, workday.total_days) == (20, Decimal("10"))
    changes = [(e.before, e.after) for e in await audit(harness, "workday", workday_id)][1:]
    assert changes == [
        ({"people": 12}, {"people": 20}),
        ({"total_days": "6"}, {"total_days": "10"}),
    ]


async def test_saving_an_unchanged_card_changes_nothing(harness: Harness) -> None:
    lan = await harness.add_member(7006, language="en")
    activity_id = await seed(harness, lan, RecordKind.ACTIVITY)
    person = harness.person(7006)
    await person.say("/daghi")
    await person.tap(f"✏️ #H-{activity_id}")
    await person.tap("◀ Back")  # from "which field?" back to the card
    replies = await person.tap("✅ Save")
    assert f"#H-{activity_id}" in replies[-1].body
    assert [e.action for e in await audit(harness, "activity", activity_id)] == ["create"]


async def test_delete_asks_then_soft_deletes_and_old_buttons_expire(harness: Harness) -> None:
    lan = await harness.add_member(7007, language="en")
    keep_id = await seed(harness, lan, RecordKind.ACTIVITY)
    land_id = await seed(harness, lan, RecordKind.LAND)
    person = harness.person(7007)
    (listing,) = await person.say("/daghi")
    (question,) = await person.tap(f"🗑 #L-{land_id}")
    assert f"#L-{land_id}" in question.body
    assert question.callback_data == [f"rv:delok:L:{land_id}", f"rv:keep:L:{land_id}"]
    assert (await load(harness, RecordKind.LAND, land_id)).deleted_at is None

    # "Cancel" keeps it.
    await person.press_data(question, f"rv:keep:L:{land_id}")
    assert (await load(harness, RecordKind.LAND, land_id)).deleted_at is None
    assert person.user.message(question.message_id).callback_data == []

    (question,) = await person.press_data(listing, f"rv:del:L:{land_id}")
    await person.press_data(question, f"rv:delok:L:{land_id}")
    pledge = await load(harness, RecordKind.LAND, land_id)
    assert pledge.deleted_at == harness.clock()
    events = await audit(harness, "land_pledge", land_id)
    assert [e.action for e in events] == ["create", "delete"]
    assert person.user.message(question.message_id).callback_data == []

    (again,) = await person.say("/daghi")
    assert refs(again) == [f"#H-{keep_id}"]

    # The old list's buttons for it now only say the card has expired, and change nothing.
    for data in (f"rv:view:L:{land_id}", f"rv:edit:L:{land_id}", f"rv:del:L:{land_id}"):
        assert await person.press_data(listing, data) == []
        answer = person.user.answers[-1]
        assert (answer.data, answer.text, answer.show_alert) == (data, stale_text(EN), True)
    assert [e.action for e in await audit(harness, "land_pledge", land_id)] == [
        "create",
        "delete",
    ]
    assert "draft" not in harness.app.user_data.get(7007, {})


async def test_the_author_window_closes_but_the_commune_official_can_edit(
    harness: Harness,
) -> None:
    lan = await harness.add_member(7008, language="en")
    activity_id = await seed(harness, lan, RecordKind.ACTIVITY)
    author = harness.person(7008)
    (early,) = await author.say("/daghi")
    assert f"rv:edit:H:{activity_id}" in early.callback_data

    harness.clock.advance(days=8)
    (late,) = await author.say("/daghi")
    assert refs(late) == [f"#H-{activity_id}"]
    assert late.callback_data == [f"rv:view:H:{activity_id}"]  # no edit, no delete
    # The buttons from a week ago are checked again when pressed.
    for data in (f"rv:edit:H:{activity_id}", f"rv:del:H:{activity_id}"):
        assert await author.press_data(early, data) == []
        answer = author.user.answers[-1]
        assert answer.show_alert and answer.text and answer.text != stale_text(EN)
    (view,) = await author.press_data(early, f"rv:view:H:{activity_id}")
    assert not any(d.startswith(("rv:edit", "rv:del")) for d in view.callback_data)
    assert (await load(harness, RecordKind.ACTIVITY, activity_id)).deleted_at is None

    await harness.add_member(7009, unit_code="THOXUONG", role=Role.OFFICIAL, language="en")
    official = harness.person(7009)
    (listing,) = await official.say("/daghi")
    assert f"rv:edit:H:{activity_id}" in listing.callback_data
    await official.tap(f"✏️ #H-{activity_id}")
    await official.tap("Participants")
    await official.say("30")
    replies = await official.tap("✅ Save")
    assert f"#H-{activity_id}" in replies[-1].body
    assert (await load(harness, RecordKind.ACTIVITY, activity_id)).participants == 30
    (event,) = [e for e in await audit(harness, "activity", activity_id) if e.action == "edit"]
    assert (event.before, event.after) == ({"participants": 25}, {"participants": 30})
    assert event.actor_id != lan.id


async def test_an_edit_confirmed_after_the_window_closed_is_refused(harness: Harness) -> None:
    lan = await harness.add_member(7010, language="en")
    activity_id = await seed(harness, lan, RecordKind.ACTIVITY)
    person = harness.person(7010)
    harness.clock.advance(days=7, hours=-1)
    await person.say("/daghi")
    await person.tap(f"✏️ #H-{activity_id}")
    await person.tap("Participants")
    await person.say("40")
    harness.clock.advance(hours=2)  # the window closes while the card is open
    await person.tap("✅ Save")
    assert (await load(harness, RecordKind.ACTIVITY, activity_id)).participants == 25
    assert [e.action for e in await audit(harness, "activity", activity_id)] == ["create"]


async def test_another_group_cannot_see_or_act(harness: Harness) -> None:
    lan = await harness.add_member(7011, language="en")
    land_id = await seed(harness, lan, RecordKind.LAND)
    neighbour = await harness.add_member(7012, unit_code="CN2", language="en")
    other = harness.person(7012)
    own_id = await seed(harness, neighbour, RecordKind.ACTIVITY)
    (listing,) = await other.say("/daghi")
    assert refs(listing) == [f"#H-{own_id}"]

    # Forged buttons for the other group's pledge are answered as stale; nothing changes.
    for data in (
        f"rv:view:L:{land_id}",
        f"rv:edit:L:{land_id}",
        f"rv:del:L:{land_id}",
        f"rv:delok:L:{land_id}",
        f"rv:stage:L:{land_id}:ban_giao",
    ):
        before = len(other.user.messages())
        await other.forge(listing, data)
        assert len(other.user.messages()) == before
        answer = other.user.answers[-1]
        assert (answer.data, answer.text) == (data, stale_text(EN))
    pledge = await load(harness, RecordKind.LAND, land_id)
    assert (pledge.deleted_at, pledge.stage, pledge.handed_over_on) == (None, "cam_ket", None)
    assert [e.action for e in await audit(harness, "land_pledge", land_id)] == ["create"]

    async def scoped(session: Any) -> tuple[Any, Any, int]:
        cn2 = await units.by_code(session, "CN2")
        ward = await units.by_code(session, "THOXUONG")
        assert cn2 is not None and ward is not None
        page = await store.records_page(session, cn2, 0)
        return (
            await store.find_record(session, RecordKind.LAND, land_id, cn2),
            await store.find_record(session, RecordKind.LAND, land_id, ward),
            page.total,
        )

    hidden, seen_by_ward, total = await harness.query(scoped)
    assert hidden is None and seen_by_ward is not None and total == 1


async def test_advancing_a_pledge_records_the_date_and_audit(harness: Harness) -> None:
    lan = await harness.add_member(7013, language="en")
    land_id = await seed(harness, lan, RecordKind.LAND)
    person = harness.person(7013)
    await person.say("/daghi")
    (view,) = await person.tap(f"👁 #L-{land_id}")
    harness.clock.advance(days=2)
    replies = await person.press_data(view, f"rv:stage:L:{land_id}:ky_bien_ban")
    assert f"#L-{land_id}" in replies[-1].body and "27/11/2026" in replies[-1].body

    pledge = await load(harness, RecordKind.LAND, land_id)
    assert (pledge.stage, pledge.signed_on) == ("ky_bien_ban", date(2026, 11, 27))
    assert pledge.pledged_on == date(2026, 11, 24) and pledge.on_date == date(2026, 11, 24)
    event = (await audit(harness, "land_pledge", land_id))[-1]
    assert event.action == "stage"
    assert (event.before, event.after) == (
        {"stage": "cam_ket", "signed_on": None},
        {"stage": "ky_bien_ban", "signed_on": "2026-11-27"},
    )
    # The view was refreshed: the stage reached is no longer offered, later ones are.
    refreshed = person.user.message(view.message_id)
    assert f"rv:stage:L:{land_id}:ky_bien_ban" not in refreshed.callback_data
    assert f"rv:stage:L:{land_id}:giai_toa" in refreshed.callback_data
    assert "Agreement signed" in refreshed.body

    # Cancelling from a fresh view records its date too.
    (view,) = await person.say("/daghi")
    (view,) = await person.tap(f"👁 #L-{land_id}")
    await person.press_data(view, f"rv:stage:L:{land_id}:huy")
    pledge = await load(harness, RecordKind.LAND, land_id)
    assert (pledge.stage, pledge.cancelled_on) == ("huy", date(2026, 11, 27))
    refreshed = person.user.message(view.message_id)
    assert not any(d.startswith("rv:stage:") for d in refreshed.callback_data)


async def test_vietnamese_person_edits_with_the_vietnamese_flow(harness: Harness) -> None:
    lan = await harness.add_member(7014)
    land_id = await seed(harness, lan, RecordKind.LAND)
    person = harness.person(7014)
    (listing,) = await person.say("/daghi")
    assert "720 m²" in listing.body
    await person.tap(f"✏️ #L-{land_id}")
    await person.tap("Diện tích")
    replies = await person.say("3 sao")
    assert "1.080 m²" in replies[-1].body
    await person.tap("✅ Lưu")
    assert (await load(harness, RecordKind.LAND, land_id)).area_m2 == Decimal("1080")


async def test_list_is_empty_for_a_new_group(harness: Harness) -> None:
    await harness.add_member(7015, language="en")
    (answer,) = await harness.person(7015).say("/daghi")
    assert answer.callback_data == []
    assert "#" not in answer.body


async def test_an_edit_that_moves_a_record_into_a_week_replaces_its_nil_report(
    harness: Harness,
) -> None:
    lan = await harness.add_member(7021, language="en")
    record_id = await seed(harness, lan, RecordKind.WORKDAY)  # 24/11
    async with harness.db.session() as session:
        report = await records.add_nil_report(session, lan, date(2026, 11, 16), harness.clock())
        row = await session.get(Workday, record_id)
        assert row is not None
        changed = {**ANSWERS[RecordKind.WORKDAY], "on_date": "2026-11-18"}
        assert await store.apply_edit(session, row, changed, lan, harness.clock()) == ["on_date"]
    async with harness.db.session() as session:
        assert await records.current_nil_report(session, lan.unit_id, date(2026, 11, 16)) is None
    assert [event.action for event in await audit(harness, "nil_report", pk(report))] == [
        "create",
        "superseded",
    ]
