"""/donvi: the tree of units, unit cards, the admins' changes (add, rename, move, deactivate,
merge) and CSV imports, end to end through the fake Bot API on SQLite and PostgreSQL.

The changes are chats: each starts from a unit's card, takes plain typed answers (marked as a
reply or not), offers ◀ Back and ✖️ Cancel on every step, ends on a card with ✅ Confirm and
survives a restart of the bot. Most people here use English; the tests look at codes, callback
data and the database more than at wording.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from sqlmodel import col, select

from bot.domain.access import Role
from bot.domain.formatting import utf16_length
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind
from bot.domain.unit_csv import parse_unit_csv
from handlers.common import stale_text
from storage import invites, records, schedules, unit_admin, units
from storage.models import (
    Activity,
    AuditEvent,
    Invite,
    LandPledge,
    Member,
    NilReport,
    Schedule,
    Unit,
    Workday,
    pk,
)
from tests.fakebot import FakeMessage
from tests.harness import Harness, Person
from tests.test_e2e_review import ANSWERS
from tests.test_unit_admin import table_counts

EN = Translator("en")
ADMIN, OFFICIAL = 8101, 8102
# A second commune beside Thọ Xương, so that an official's scope has something to keep out.
SECOND_COMMUNE = """code,name,level,parent_code,former_name
TANMY,phường Tân Mỹ,phường,BN,xã Tân Mỹ
TM1,Thôn Tân Mỹ 1,thôn,TANMY,
""".encode()


async def import_units(harness: Harness, data: bytes) -> None:
    rows, errors = parse_unit_csv(data)
    assert not errors
    async with harness.db.session() as session:
        plan = await units.plan_import(session, rows)
        await units.apply_import(session, plan, actor_label="test")


async def setup(harness: Harness) -> tuple[Person, Person]:
    """The second commune, an admin of the province and an official of Thọ Xương."""
    await import_units(harness, SECOND_COMMUNE)
    await harness.add_member(ADMIN, "BN", Role.ADMIN, language="en", full_name="Admin")
    await harness.add_member(OFFICIAL, "THOXUONG", Role.OFFICIAL, language="en", full_name="Cán bộ")
    return harness.person(ADMIN), harness.person(OFFICIAL)


async def get_unit(harness: Harness, code: str) -> Unit:
    async def work(session: Any) -> Unit:
        found = await units.by_code(session, code)
        assert found is not None
        return found

    unit: Unit = await harness.query(work)
    return unit


async def ids(harness: Harness, *codes: str) -> list[int]:
    return [pk(await get_unit(harness, code)) for code in codes]


async def answer(person: Person, prompt: FakeMessage, text: str) -> list[FakeMessage]:
    """Answer the bot's question `prompt` with `text`, marked as a reply to it (as a phone
    does when the person swipes the question); a plain message works the same."""
    seen = len(person.user.messages(include_deleted=True))
    update_id = await person.user.send(text, reply_to=prompt)
    await person.harness.settle(update_id)
    return person.user.messages(include_deleted=True)[seen:]


async def send_csv(
    person: Person, content: bytes, filename: str = "units.csv", mime: str = "text/csv"
) -> list[FakeMessage]:
    seen = len(person.user.messages(include_deleted=True))
    update_id = await person.user.send_document(filename, content, mime)
    await person.harness.settle(update_id)
    return person.user.messages(include_deleted=True)[seen:]


def viewed(message: FakeMessage) -> list[int]:
    """The unit ids a message has buttons to open."""
    return [int(d.split(":")[2]) for d in message.callback_data if d.startswith("un:view:")]


def offered(message: FakeMessage) -> list[int]:
    """The unit ids a picker (a chat's question) offers as buttons."""
    values = [d.split(":", 2)[2] for d in message.callback_data if d.startswith("d:")]
    return [int(value) for value in values if value.isdigit()]


def labels(message: FakeMessage) -> list[list[str]]:
    return [[text for text, _ in row] for row in message.buttons]


def draft_button(message: FakeMessage, value: str) -> str:
    """The callback data a chat's button with this value would have on `message`."""
    draft = message.callback_data[0].split(":")[1]
    return f"d:{draft}:{value}"


async def refusals(harness: Harness, handler: str) -> list[AuditEvent]:
    async def work(session: Any) -> list[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.action == "refused")
        events = (await session.exec(query)).all()
        return [e for e in events if e.after and e.after.get("handler") == handler]

    found: list[AuditEvent] = await harness.query(work)
    return found


async def open_card(person: Person, code: str) -> FakeMessage:
    (card,) = await person.say(f"/donvi {code}")
    return card


def alert(person: Person) -> str | None:
    return person.user.answers[-1].text


# --- seeing -----------------------------------------------------------------------------------


async def test_an_official_sees_and_finds_only_their_subtree(harness: Harness) -> None:
    _, official = await setup(harness)
    ward, cn1, cn2, tanmy, tm1 = await ids(harness, "THOXUONG", "CN1", "CN2", "TANMY", "TM1")
    (tree,) = await official.say("/donvi")
    assert viewed(tree) == [ward, cn1, cn2]
    assert "Tân Mỹ" not in tree.body and "Bắc Ninh" not in tree.body
    assert "tổ dân phố" in tree.body and "phường Thọ Xương" in tree.body
    assert "📥 Import units from a CSV file" not in tree.button_texts  # an admin's business

    # A card, by tapping a code: no admin buttons for an official.
    (card,) = await official.tap("CN1")
    assert "Cung Nhượng 1" in card.body and "tổ dân phố" in card.body
    assert "phường Thọ Xương (THOXUONG)" in card.body
    assert not any(
        d.startswith(("un:rename", "un:add", "un:move", "un:merge", "un:deactivate"))
        for d in card.callback_data
    )

    # By typing, without accents; the other commune is as unknown as a made-up name.
    (card,) = await official.say("/donvi cung nhuong 2")
    assert card.body.startswith("📍 Cung Nhượng 2")
    (nothing,) = await official.say("/units tan my")
    assert nothing.body == EN._("No unit in your area matches “{text}”.", text="tan my")
    (several,) = await official.say("/donvi cung nhuong")
    assert viewed(several) == [cn1, cn2]

    # Forged buttons for units outside, or that do not decode: stale; changes: refused
    # politely, and audited.
    for data in (f"un:view:{tanmy}", f"un:view:{tm1}", "un:view:x", f"un:view:{cn1}:2"):
        await official.forge(tree, data)
        assert alert(official) == stale_text(EN)
    for data in (
        f"un:rename:{cn1}",
        f"un:merge:{cn2}",
        f"un:deactivate:{cn2}",
        f"un:add:{ward}",
        "un:import",
    ):
        before = len(official.user.messages())
        await official.forge(tree, data)
        assert official.user.messages()[before:][-1].body == EN._(
            "Sorry, you do not have permission to do that."
        )
    assert len(await refusals(harness, "on_rename")) == 1
    assert len(await refusals(harness, "on_merge")) == 1
    # A CSV file is an admin's business too.
    (refused,) = await send_csv(official, b"code,name,level,parent_code\nX1,X,thon,CN1\n")
    assert refused.body == EN._("Sorry, you do not have permission to do that.")
    assert len(await refusals(harness, "on_document")) == 1
    assert (await get_unit(harness, "CN2")).active

    # A coordinator has no /donvi at all.
    await harness.add_member(8103, "CN1", language="en")
    (no,) = await harness.person(8103).say("/donvi")
    assert no.body == EN._("Sorry, you do not have permission to do that.")


async def test_finding_a_unit_by_a_typed_code_or_name(harness: Harness) -> None:
    _, official = await setup(harness)
    ward, cn1, cn2 = await ids(harness, "THOXUONG", "CN1", "CN2")
    (tree,) = await official.say("/donvi")
    (question,) = await official.tap("🔎 Find a unit")
    assert labels(question) == [["◀ Back", "✖️ Cancel"]]
    # Typed as a plain message, not as a reply: found in the area only.
    (again,) = await official.say("tan my")
    assert "No unit in your area matches “tan my”." in again.body
    (choose,) = await official.say("cung nhuong")
    assert choose.button_texts[:2] == ["CN1 · Cung Nhượng 1", "CN2 · Cung Nhượng 2"]
    (card,) = await official.tap("CN2 · Cung Nhượng 2")
    assert card.body.startswith("📍 Cung Nhượng 2") and "Part of: phường Thọ Xương" in card.body
    # ◀ on the question goes back to the tree, in the same message.
    (question,) = await official.tap("🔎 Find a unit", tree)
    (back,) = await official.tap("◀ Back", question)
    assert back.message_id == question.message_id and viewed(back) == [ward, cn1, cn2]
    # With nothing in progress, a typed text is not taken for a unit.
    (menu,) = await official.say("CN1")
    assert menu.body == EN._("Sorry, I did not understand. Please choose from the menu below.")


async def test_an_admin_sees_everything_with_levels_former_names_and_inactive_units(
    harness: Harness,
) -> None:
    admin, _ = await setup(harness)
    all_ids = await ids(harness, "BN", "THOXUONG", "CN1", "CN2", "TANMY", "TM1")

    async def retire(session: Any) -> None:
        tm1 = await units.by_code(session, "TM1")
        assert tm1 is not None
        tm1.active = False

    await harness.query(retire)
    (tree,) = await admin.say("/units")
    assert viewed(tree) == all_ids
    lines = tree.body.split("\n")
    tanmy = next(line for line in lines if "TANMY" in line)
    assert tanmy == "    └ TANMY phường Tân Mỹ · phường (formerly xã Tân Mỹ)"
    tm1 = next(line for line in lines if "TM1" in line)
    assert tm1.startswith("        └ TM1 Thôn Tân Mỹ 1 · thôn") and tm1.endswith("[inactive]")
    assert lines[2] == "BN Bắc Ninh · tỉnh"
    (card,) = await admin.tap("TM1")
    assert "⛔ [inactive]" in card.body
    assert "un:add:" not in " ".join(card.callback_data)  # nothing is added under it
    assert f"un:rename:{all_ids[5]}" in card.callback_data
    (card,) = await admin.tap("TANMY")
    assert "Former name: xã Tân Mỹ" in card.body
    assert (
        f"un:rename:{all_ids[4]}" in card.callback_data
        and f"un:deactivate:{all_ids[4]}" in card.callback_data
    )
    # Nothing is moved or added under an inactive unit, even with a forged button.
    await admin.forge(card, f"un:move:{all_ids[5]}")
    assert alert(admin) == stale_text(EN)
    await admin.forge(card, f"un:add:{all_ids[5]}")
    assert alert(admin) == stale_text(EN)


async def test_a_big_tree_and_its_pickers_are_paged_past_60_units(harness: Harness) -> None:
    admin, _ = await setup(harness)
    lines = ["code,name,level,parent_code,former_name"]
    for i in range(90):
        lines.append(f"T{i:03d},Tổ dân phố số {i} {'rất dài ' * 20},tổ dân phố,CN1,Tổ {'cũ ' * 30}")
    await import_units(harness, "\n".join(lines).encode())
    # Depth first: CN1's 90 units come before CN2, its sibling.
    tree_order = ["BN", "THOXUONG", "CN1", *(f"T{i:03d}" for i in range(90)), "CN2", "TANMY", "TM1"]
    expected = await ids(harness, *tree_order)

    (tree,) = await admin.say("/donvi")
    seen: list[int] = []
    page = 0
    while True:
        current = admin.user.message(tree.message_id)
        assert utf16_length(current.body) <= 4096 and len(current.callback_data) <= 100
        seen += viewed(current)
        forward = f"un:tree:{page + 1}"
        if forward not in current.callback_data:
            break
        assert await admin.press_data(current, forward) == []  # the same message turns the page
        page += 1
    assert page >= 3
    assert seen == expected
    # ◀ goes back.
    last_page = viewed(current)
    assert await admin.press_data(current, f"un:tree:{page - 1}") == []
    assert viewed(admin.user.message(tree.message_id))[-1] == seen[-len(last_page) - 1]

    # Choosing where to move CN2 pages through every unit it may go under (all but itself
    # and its parent), ◀ ▶ in the same message: none is left out.
    await open_card(admin, "CN2")
    (picker,) = await admin.tap("↪️ Move")
    chosen: list[int] = []
    pages = 0
    while True:
        current = admin.user.message(picker.message_id)
        assert len(current.callback_data) <= 100 and utf16_length(current.body) <= 4096
        chosen += offered(current)
        pages += 1
        if "▶" not in current.button_texts:
            break
        assert (await admin.tap("▶", current))[0].message_id == picker.message_id
        assert f"Page {pages + 1}/" in admin.user.message(picker.message_id).body
    movable = [unit for unit in expected if unit not in await ids(harness, "CN2", "THOXUONG")]
    assert chosen == movable and len(chosen) > 60 and pages > 8
    # The last unit, from the last page.
    (card,) = await admin.tap("TM1 · Thôn Tân Mỹ 1", current)
    assert "phường Tân Mỹ" not in card.body and "Thôn Tân Mỹ 1 (TM1)" in card.body
    await admin.tap("✖️ Cancel", card)
    assert (await get_unit(harness, "CN2")).parent_id == (await ids(harness, "THOXUONG"))[0]


# --- adding -------------------------------------------------------------------------------------


async def test_adding_a_unit_with_plain_typed_answers_and_bad_input_on_the_way(
    harness: Harness,
) -> None:
    admin, official = await setup(harness)
    ward_id = (await ids(harness, "THOXUONG"))[0]
    await open_card(admin, "THOXUONG")
    (prompt,) = await admin.tap("➕ Add a unit under it")
    assert "New unit under <b>phường Thọ Xương (THOXUONG)</b>" in (prompt.html or "")
    assert labels(prompt) == [["◀ Back", "✖️ Cancel"]] and "force_reply" not in (
        prompt.reply_markup or {}
    )

    # Typed as plain messages, not as replies: each is taken by the step that asked.
    (prompt,) = await admin.say("CN 3!")
    assert "⚠️" in prompt.body and "CN 3!" in prompt.body
    (prompt,) = await admin.say("<b>x")  # refused, and shown as typed
    assert "<b>x" in prompt.body
    (prompt,) = await admin.say("cn1")
    assert "already a unit with code CN1" in prompt.body
    (prompt,) = await admin.say("CN3")
    assert prompt.body.startswith("Type the name of the new unit CN3.")
    assert labels(prompt) == [["◀ Back", "✖️ Cancel"]]
    (question,) = await admin.say("  Cung   Nhượng 3 ")
    assert "Cung Nhượng 3" in question.body
    assert question.button_texts[0] == "tổ dân phố"  # the level of the units beside it first
    (card,) = await admin.tap("tổ dân phố")
    assert card.message_id == question.message_id  # the confirmation, in the same message
    confirm = card.data_for("✅ Confirm")
    assert "Cung Nhượng 3" in card.body and "CN3" in card.body and "tổ dân phố" in card.body
    assert labels(card) == [["✅ Confirm", "✏️ Edit", "✖️ Cancel"], ["◀ Back"]]
    assert await get_unit_or_none(harness, "CN3") is None  # not before ✅
    (done,) = await admin.tap("✅ Confirm")
    assert done.body.startswith("✅") and "Cung Nhượng 3 (CN3)" in done.body

    added = await get_unit(harness, "CN3")
    ward = await get_unit(harness, "THOXUONG")
    assert (added.name, added.name_key, added.level, added.parent_id) == (
        "Cung Nhượng 3",
        "cung nhuong 3",
        "tổ dân phố",
        ward_id,
    )
    assert added.path == f"{ward.path}{added.id}/"

    async def created(session: Any) -> AuditEvent:
        query = select(AuditEvent).where(
            AuditEvent.entity_id == added.id, AuditEvent.action == "create"
        )
        event: AuditEvent = (await session.exec(query)).one()
        return event

    event = await harness.query(created)
    admin_member = await harness.query(lambda s: members_by_telegram(s, ADMIN))
    assert event.actor_id == admin_member.id and event.at == harness.clock()
    # 📍 opens the new unit's card.
    (new_card,) = await admin.tap("📍 Open the unit", done)
    assert new_card.body.startswith("📍 Cung Nhượng 3")
    # The ward's official sees it at once.
    (tree,) = await official.say("/donvi")
    assert pk(added) in viewed(tree)
    # ✅ again on the same card: stale, and nothing more is made.
    await admin.forge(card, confirm)
    assert alert(admin) == stale_text(EN)


async def test_a_typed_level_an_edit_and_a_second_add_while_one_is_open(
    harness: Harness,
) -> None:
    admin, _ = await setup(harness)
    card = await open_card(admin, "TANMY")
    await admin.tap("➕ Add a unit under it")
    # Another ➕ while the first add is open: it is shown again, with a note.
    (reminder,) = await admin.tap("➕ Add a unit under it", card)
    assert "You are in the middle of “➕ Add a unit”" in reminder.body
    await admin.say("TM1A")
    await admin.say("Nhóm tự quản 1")
    (again,) = await admin.say("x" * 51)  # a level of its own, typed
    assert "at most 50 characters" in again.body
    (confirmation,) = await admin.say("tổ tự quản")
    assert "tổ tự quản" in confirmation.body
    # ✏️ Edit the code on the card.
    await admin.tap("✏️ Edit")
    (prompt,) = await admin.tap("unit code")
    assert prompt.body.endswith("Type its code: letters A-Z, digits, '-', '_' or '.', e.g. CN3.")
    (confirmation,) = await admin.say("TM2")
    assert "code TM2" in confirmation.body and "Nhóm tự quản 1" in confirmation.body
    await admin.tap("✅ Confirm")
    added = await get_unit(harness, "TM2")
    assert (added.level, added.name) == ("tổ tự quản", "Nhóm tự quản 1")
    assert await get_unit_or_none(harness, "TM1A") is None


async def test_cancel_on_a_middle_step_and_back_from_the_first_in_vietnamese(
    harness: Harness,
) -> None:
    await setup(harness)
    await harness.add_member(8104, "BN", Role.ADMIN, language="vi", full_name="Quản trị")
    admin = harness.person(8104)
    totals = await harness.query(table_counts)
    (card,) = await admin.say("/donvi CN2")
    (prompt,) = await admin.tap("➕ Thêm đơn vị trực thuộc")
    assert labels(prompt) == [["◀ Quay lại", "✖️ Hủy"]]
    # ◀ on the first question: the card again, in the message of the question.
    (back,) = await admin.tap("◀ Quay lại", prompt)
    assert back.message_id == prompt.message_id and back.body == card.body
    assert back.callback_data == card.callback_data
    # ✖️ at the name: nothing is added.
    await admin.tap("➕ Thêm đơn vị trực thuộc", back)
    (name,) = await admin.say("CN2B")
    assert "CN2B" in name.body and labels(name) == [["◀ Quay lại", "✖️ Hủy"]]
    (cancelled,) = await admin.tap("✖️ Hủy", name)
    assert cancelled.body == "Đã hủy. Chưa lưu gì."
    assert await get_unit_or_none(harness, "CN2B") is None
    assert await harness.query(table_counts) == totals
    # The next typed text is not taken for a name any more.
    (menu,) = await admin.say("Nhóm B")
    assert menu.body == Translator("vi")._(
        "Sorry, I did not understand. Please choose from the menu below."
    )


async def test_an_add_resumes_at_the_same_step_after_a_restart(harness: Harness) -> None:
    admin, _ = await setup(harness)
    await open_card(admin, "CN1")
    await admin.tap("➕ Add a unit under it")
    (name,) = await admin.say("CN1A")
    assert name.body.startswith("Type the name of the new unit CN1A.")
    await harness.restart()
    (level,) = await admin.say("Nhóm A")  # the name, as the bot asked before the restart
    assert "What level is Nhóm A?" in level.body
    (card,) = await admin.say("nhóm")
    assert "CN1A" in card.body and "Nhóm A" in card.body
    await harness.restart()
    await admin.tap("✅ Confirm", card)
    added = await get_unit(harness, "CN1A")
    assert (added.name, added.level, added.parent_id) == (
        "Nhóm A",
        "nhóm",
        (await ids(harness, "CN1"))[0],
    )


# --- renaming -----------------------------------------------------------------------------------


async def test_renaming_with_a_plain_typed_name_keeps_the_former_name_findable(
    harness: Harness,
) -> None:
    admin, official = await setup(harness)
    await open_card(admin, "CN1")
    (prompt,) = await admin.tap("✏️ Rename")
    assert prompt.body.startswith("Type the new name of Cung Nhượng 1 (CN1).")
    (prompt,) = await admin.say("Cung Nhượng 1")
    assert "already has that name" in prompt.body
    (card,) = await admin.say("Tổ dân phố Cung Nhượng <1>")
    assert "Tổ dân phố Cung Nhượng <1>" in card.body and "&lt;1&gt;" in (card.html or "")
    assert labels(card) == [["✅ Confirm", "✖️ Cancel"], ["◀ Back"]]
    (cancelled,) = await admin.tap("✖️ Cancel", card)
    assert cancelled.body == EN._("Cancelled. Nothing was saved.")
    assert (await get_unit(harness, "CN1")).former_name is None

    await open_card(admin, "CN1")
    (prompt,) = await admin.tap("✏️ Rename")
    (card,) = await answer(admin, prompt, "Tổ dân phố Cung Nhượng <1>")  # as a reply, too
    (done,) = await admin.tap("✅ Confirm")
    assert "is now called" in done.body and "📍 Open the unit" in done.button_texts
    renamed = await get_unit(harness, "CN1")
    assert (renamed.name, renamed.former_name, renamed.name_key) == (
        "Tổ dân phố Cung Nhượng <1>",
        "Cung Nhượng 1",
        "to dan pho cung nhuong <1>",
    )
    (found,) = await official.say("/donvi cung nhuong 1")  # by the former name
    assert found.body.startswith("📍 Tổ dân phố Cung Nhượng <1>")
    assert "Former name: Cung Nhượng 1" in found.body


async def test_forged_buttons_act_on_nothing(harness: Harness) -> None:
    admin, _ = await setup(harness)
    cn1 = (await ids(harness, "CN1"))[0]
    await open_card(admin, "CN1")
    await admin.tap("✏️ Rename")
    (first,) = await admin.say("Cung Nhượng Một")
    old_confirm = first.data_for("✅ Confirm")
    await admin.tap("✖️ Cancel", first)
    # A new rename: the ✅ of the first one, or of a made-up chat, does nothing.
    card = await open_card(admin, "CN1")
    await admin.tap("✏️ Rename", card)
    (second,) = await admin.say("Cung Nhượng Hai")
    save = draft_button(second, "__save")
    for data in (old_confirm, "d:0000:__save", "d:" + "x" * 70):
        await admin.forge(second, data)
        assert alert(admin) == stale_text(EN)
    await admin.forge(second, draft_button(second, "__savex"))  # not one of its buttons
    assert "Please choose one of the buttons." in admin.last.body
    await admin.forge(first, save)  # the right draft's ✅, on an old card
    assert alert(admin) == stale_text(EN)
    assert (await get_unit(harness, "CN1")).name == "Cung Nhượng 1"
    # A button the question never offered, on the question itself: refused, asked again.
    (question,) = await admin.tap("◀ Back")
    await admin.forge(question, draft_button(question, "__save"))
    assert "Please answer with text or press a button." in admin.last.body
    assert (await get_unit(harness, "CN1")).name == "Cung Nhượng 1"
    # A card's button for a unit that does not exist: stale.
    await admin.forge(card, f"un:rename:{cn1 + 1000}")
    assert alert(admin) == stale_text(EN)
    await admin.say("/huy")
    assert (await get_unit(harness, "CN1")).name == "Cung Nhượng 1"


# --- moving -------------------------------------------------------------------------------------


async def test_moving_a_unit_with_its_subtree_and_refusing_cycles(harness: Harness) -> None:
    admin, official = await setup(harness)
    await import_units(harness, b"code,name,level,parent_code\nCN2A,Nhom A,to,CN2\n")
    ward, cn1, cn2, cn2a, tanmy = await ids(harness, "THOXUONG", "CN1", "CN2", "CN2A", "TANMY")

    await open_card(admin, "CN2")
    (picker,) = await admin.tap("↪️ Move")
    choices = offered(picker)
    assert cn2 not in choices and cn2a not in choices and ward not in choices  # itself, below, now
    assert tanmy in choices and cn1 in choices
    (card,) = await admin.tap("TANMY · phường Tân Mỹ")
    assert "phường Thọ Xương (THOXUONG)" in card.body and "phường Tân Mỹ (TANMY)" in card.body
    await admin.tap("✅ Confirm")
    moved, below = await get_unit(harness, "CN2"), await get_unit(harness, "CN2A")
    parent = await get_unit(harness, "TANMY")
    assert moved.parent_id == tanmy and moved.path == f"{parent.path}{cn2}/"
    assert below.path == f"{moved.path}{cn2a}/"
    (tree,) = await official.say("/donvi")
    assert viewed(tree) == [ward, cn1]  # out of Thọ Xương's subtree now

    # Under its own unit: not offered, refused with the reason when typed, and when forged.
    await open_card(admin, "THOXUONG")
    (picker,) = await admin.tap("↪️ Move")
    assert cn1 not in offered(picker)
    (prompt,) = await admin.say("cung nhuong 1")
    assert "CN1 is one of the units under THOXUONG" in prompt.body
    (prompt,) = await admin.say("bac ninh")
    assert "already under BN" in prompt.body
    await admin.forge(prompt, draft_button(prompt, str(cn1)))
    assert "That button belongs to an earlier question." in admin.last.body
    assert (await get_unit(harness, "THOXUONG")).parent_id == (await ids(harness, "BN"))[0]
    await admin.say("/huy")

    async def moves(session: Any) -> list[AuditEvent]:
        return list(
            (await session.exec(select(AuditEvent).where(AuditEvent.action == "move"))).all()
        )

    (event,) = await harness.query(moves)
    assert event.entity_id == cn2 and event.after == {"parent_id": tanmy, "path": moved.path}


# --- deactivating -------------------------------------------------------------------------------


async def test_deactivating_a_unit_stops_its_members_and_invites(harness: Harness) -> None:
    admin, _ = await setup(harness)
    await harness.add_member(8110, "CN2", language="en")
    code = await harness.invite("CN2")
    cn2 = (await ids(harness, "CN2"))[0]

    card = await open_card(admin, "THOXUONG")
    assert await admin.press_data(card, card.data_for("⛔ Deactivate the unit")) == []
    assert "2 active unit(s)" in (alert(admin) or "")
    card = await open_card(admin, "CN2")
    (question,) = await admin.tap("⛔ Deactivate the unit")
    assert "1 active member(s)" in question.body and "1 open invite(s)" in question.body
    assert labels(question) == [["✅ Confirm", "✖️ Cancel"], ["◀ Back"]]
    # ◀ goes back to the card; ⛔ again, and ✅.
    (back,) = await admin.tap("◀ Back", question)
    assert back.message_id == question.message_id and back.body == card.body
    (question,) = await admin.tap("⛔ Deactivate the unit", back)
    (done,) = await admin.tap("✅ Confirm", question)
    assert "1 member(s) deactivated, 1 invite(s) withdrawn" in done.body
    assert not (await get_unit(harness, "CN2")).active
    member = await harness.query(lambda s: members_by_telegram(s, 8110))
    assert not member.active

    (refused,) = await harness.person(8110).say("/hoatdong")
    assert refused.body == EN._("Your account has been deactivated. Please contact your official.")
    (joining,) = await harness.person(8111, language_code="en").say(f"/start {code}")
    assert "withdrawn" in joining.body

    async def invite_check(session: Any) -> Any:
        return await invites.check(session, code, harness.clock())

    assert (await harness.query(invite_check)).status is invites.InviteStatus.REVOKED
    (tree,) = await admin.say("/donvi")
    assert any("CN2" in line and "[inactive]" in line for line in tree.body.split("\n"))
    card = await open_card(admin, "CN2")
    assert f"un:deactivate:{cn2}" not in card.callback_data
    # An admin cannot deactivate the unit they belong to.
    province = await open_card(admin, "BN")
    await admin.press_data(province, province.data_for("⛔ Deactivate the unit"))
    assert alert(admin) == "You cannot deactivate your own unit (BN)."


# --- merging ------------------------------------------------------------------------------------


async def seed_group(harness: Harness, code: str) -> None:
    """Records of every kind (one deleted), a nil report, members, an invite, a unit below
    and a schedule in unit `code`."""
    lan = await harness.add_member(8120, code, language="en", full_name="Lan")
    await harness.add_member(8121, code, Role.OFFICIAL, language="en", full_name="Minh")
    async with harness.db.session() as session:
        for kind in RecordKind:
            await records.save(session, kind, lan, dict(ANSWERS[kind]), harness.clock())
        gone = await records.save(
            session, RecordKind.ACTIVITY, lan, dict(ANSWERS[RecordKind.ACTIVITY]), harness.clock()
        )
        row = await session.get(Activity, gone)
        assert row is not None
        row.deleted_at = harness.clock()
        await records.add_nil_report(session, lan, date(2026, 11, 16), harness.clock())
        place = await units.by_code(session, code)
        assert place is not None
        await invites.create(session, role=Role.COORDINATOR, unit=place, now=harness.clock())
        await unit_admin.add_unit(
            session, place, code=f"{code}A", name="Nhóm A", level="tổ", now=harness.clock()
        )
        await schedules.set_times(session, pk(place), {"reminder_time": time(8, 30)}, actor_id=None)


async def per_unit(harness: Harness, unit_id: int) -> dict[str, int]:
    async def work(session: Any) -> dict[str, int]:
        counts = {}
        for model in (Activity, LandPledge, Workday, NilReport, Member, Invite):
            rows = (await session.exec(select(model).where(model.unit_id == unit_id))).all()
            counts[model.__tablename__] = len(rows)
        below = await session.exec(select(Unit).where(Unit.parent_id == unit_id))
        counts["units"] = len(below.all())
        counts["schedule"] = 1 if await session.get(Schedule, unit_id) else 0
        return counts

    found: dict[str, int] = await harness.query(work)
    return found


async def test_merging_moves_every_record_and_loses_nothing(harness: Harness) -> None:
    admin, official = await setup(harness)
    await seed_group(harness, "CN2")
    await harness.add_member(8122, "CN1", language="en")
    cn1, cn2, cn2a = await ids(harness, "CN1", "CN2", "CN2A")
    totals = await harness.query(table_counts)
    source, target = await per_unit(harness, cn2), await per_unit(harness, cn1)
    assert source == {
        "activity": 2,
        "land_pledge": 1,
        "workday": 1,
        "nil_report": 1,
        "member": 2,
        "invite": 1,
        "units": 1,
        "schedule": 1,
    }

    await open_card(admin, "CN2")
    (picker,) = await admin.tap("🔀 Merge into…")
    choices = offered(picker)
    assert cn2 not in choices and cn2a not in choices and cn1 in choices
    # Into itself, or into a unit of its own: refused with the reason.
    (again,) = await admin.say("cn2")
    assert "cannot be moved under or merged into itself" in again.body
    (again,) = await admin.say("CN2A")
    assert "inside itself" in again.body
    (card,) = await admin.tap("CN1 · Cung Nhượng 1", again)
    confirm = card.data_for("✅ Confirm")
    assert "2 activities, 1 land pledges, 1 workday entries, 1 nil reports" in card.body
    assert "members: 2, invites: 1, units under it: 1" in card.body
    assert await harness.query(table_counts) == totals
    (done,) = await admin.tap("✅ Confirm", card)
    assert "5 record(s), 2 member(s), 1 invite(s) and 1 unit(s) moved" in done.body

    assert await harness.query(table_counts) == totals  # nothing lost, nothing made
    assert await per_unit(harness, cn2) == dict.fromkeys(source, 0)
    after = await per_unit(harness, cn1)
    assert after == {name: target[name] + source[name] for name in source}
    merged, below, into = (
        await get_unit(harness, "CN2"),
        await get_unit(harness, "CN2A"),
        await get_unit(harness, "CN1"),
    )
    assert not merged.active and below.parent_id == cn1 and below.path == f"{into.path}{cn2a}/"
    moved_member = await harness.query(lambda s: members_by_telegram(s, 8120))
    assert moved_member.unit_id == cn1 and moved_member.active
    # The coordinator now belongs to the unit they were merged into, with its records.
    (nil,) = await harness.person(8120).say("/khonghoatdong")
    assert nil.body == EN._("Your group already has records this week, so no nil report is needed.")

    async def events(session: Any) -> list[tuple[str, int | None]]:
        query = select(AuditEvent).where(col(AuditEvent.action).in_(["merge", "merge_from"]))
        return [(e.action, e.entity_id) for e in (await session.exec(query)).all()]

    assert sorted(await harness.query(events)) == [("merge", cn2), ("merge_from", cn1)]
    # The merged unit's card says where everything went; the official still finds it.
    (card_now,) = await official.say("/donvi cung nhuong 2")
    assert "Inactive: merged into Cung Nhượng 1 (CN1) on 25/11/2026." in card_now.body
    # ✅ once more on the old card: stale, nothing happens twice.
    await admin.forge(card, confirm)
    assert alert(admin) == stale_text(EN)
    assert await harness.query(table_counts) == totals


# --- importing a CSV file -----------------------------------------------------------------------


async def test_a_csv_file_is_previewed_then_imported_on_confirmation(harness: Harness) -> None:
    admin, _ = await setup(harness)
    content = (
        "code,name,level,parent_code,former_name\n"
        "BN,Bắc Ninh,tỉnh,,\n"
        "THOXUONG,phường Thọ Xương,phường,BN,\n"
        "CN1,Cung Nhượng 1,tổ dân phố,THOXUONG,\n"
        "CN2,Tổ dân phố Cung Nhượng 2,tổ dân phố,THOXUONG,\n"
        "CN3,Cung Nhượng 3,tổ dân phố,THOXUONG,\n"
    ).encode()
    (preview,) = await send_csv(admin, content)
    assert (
        "New units: 1" in preview.body
        and "CN3 Cung Nhượng 3 (tổ dân phố) under THOXUONG" in preview.body
    )
    assert "Changed units: 1" in preview.body and "Tổ dân phố Cung Nhượng 2" in preview.body
    assert "Unchanged units: 3" in preview.body
    assert labels(preview) == [["✅ Confirm", "✖️ Cancel"], ["◀ Back"]]
    assert await get_unit_or_none(harness, "CN3") is None
    (done,) = await admin.tap("✅ Confirm")
    assert done.body == "✅ " + EN._(
        "Imported: {created} created, {updated} updated, {unchanged} unchanged.",
        created=1,
        updated=1,
        unchanged=3,
    )
    assert (await get_unit(harness, "CN3")).parent_id == (await ids(harness, "THOXUONG"))[0]
    renamed = await get_unit(harness, "CN2")
    assert (renamed.name, renamed.former_name) == ("Tổ dân phố Cung Nhượng 2", "Cung Nhượng 2")
    # The same file again changes nothing, and says so; a .txt with the CSV type is read too.
    (again,) = await send_csv(admin, content, "donvi.txt", "text/csv")
    assert "already up to date" in again.body and "✅ Confirm" not in again.button_texts
    await admin.tap("✖️ Cancel", again)

    async def imports(session: Any) -> list[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.action == "import")
        return list((await session.exec(query)).all())

    (event,) = await harness.query(imports)
    admin_member = await harness.query(lambda s: members_by_telegram(s, ADMIN))
    assert event.actor_id == admin_member.id and event.after == {
        "file": "units.csv",
        "created": ["CN3"],
        "updated": ["CN2"],
    }


async def test_an_import_started_from_the_tree_asks_for_the_file(harness: Harness) -> None:
    admin, _ = await setup(harness)
    (tree,) = await admin.say("/donvi")
    (question,) = await admin.tap("📥 Import units from a CSV file")
    assert "CSV" in question.body and labels(question) == [["◀ Back", "✖️ Cancel"]]
    (again,) = await admin.say("CN3,Cung Nhượng 3")  # typed, not a file
    assert EN._("Please send the file as a document, or press a button.") in again.body
    # Any document is this chat's answer, whatever its type.
    content = b"code,name,level,parent_code\nCN3,Cung Nhuong 3,to,THOXUONG\n"
    (preview,) = await send_csv(admin, content, "a.dat", "application/octet-stream")
    assert "New units: 1" in preview.body
    # ◀ back to the file, ◀ again back to the tree, in the same message.
    (question,) = await admin.tap("◀ Back", preview)
    assert "CSV" in question.body
    (back,) = await admin.tap("◀ Back", question)
    assert back.message_id == question.message_id and viewed(back) == viewed(tree)
    assert await get_unit_or_none(harness, "CN3") is None


async def test_a_csv_file_with_a_bad_row_changes_nothing(harness: Harness) -> None:
    admin, _ = await setup(harness)
    totals = await harness.query(table_counts)
    content = (
        "code,name,level,parent_code\n"
        "CN3,Cung Nhượng 3,tổ dân phố,THOXUONG\n"
        "CN4,,tổ dân phố,THOXUONG\n"
        "CN5,Cung Nhượng 5,tổ dân phố,NOWHERE\n"
    ).encode()
    (report,) = await send_csv(admin, content)
    assert report.body.startswith("⚠️ " + EN._("Nothing was imported; fix these lines first:"))
    assert "line 3: column name is empty" in report.body
    assert "✅ Confirm" not in report.button_texts
    # The next file is the answer to the same question.
    (report,) = await send_csv(admin, content.replace(b"CN4,,", b"CN4,Cung Nhuong 4,"))
    assert "line 4: parent unit NOWHERE is neither in the file nor in the database" in report.body
    (report,) = await send_csv(admin, "code;name\n".encode("utf-16"))
    assert "not UTF-8" in report.body
    (big,) = await send_csv(admin, b"code,name,level,parent_code\n" + b"x" * 1_000_001)
    assert "too big" in big.body
    assert await harness.query(table_counts) == totals
    assert await get_unit_or_none(harness, "CN3") is None


async def test_an_import_that_went_bad_meanwhile_applies_nothing(harness: Harness) -> None:
    admin, _ = await setup(harness)
    content = b"code,name,level,parent_code\nTM2,Thon Tan My 2,thon,TM1\n"
    (preview,) = await send_csv(admin, content)

    async def drop_parent(session: Any) -> None:  # someone renames the parent's code meanwhile
        tm1 = await units.by_code(session, "TM1")
        assert tm1 is not None
        tm1.code = "TM-1"

    await harness.query(drop_parent)
    replies = await admin.tap("✅ Confirm")
    assert "line 2: parent unit TM1" in replies[-1].body
    assert await get_unit_or_none(harness, "TM2") is None
    # Cancel on a preview forgets it.
    (preview,) = await send_csv(admin, content.replace(b"TM1", b"TM-1"))
    confirm = preview.data_for("✅ Confirm")
    await admin.tap("✖️ Cancel")
    await admin.forge(preview, confirm)
    assert alert(admin) == stale_text(EN)
    assert await get_unit_or_none(harness, "TM2") is None


# --- helpers used above -------------------------------------------------------------------------


async def get_unit_or_none(harness: Harness, code: str) -> Unit | None:
    async def work(session: Any) -> Unit | None:
        return await units.by_code(session, code)

    found: Unit | None = await harness.query(work)
    return found


async def members_by_telegram(session: Any, telegram_id: int) -> Member:
    member = (await session.exec(select(Member).where(Member.telegram_id == telegram_id))).one()
    assert isinstance(member, Member)
    return member
