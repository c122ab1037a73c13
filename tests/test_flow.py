"""The flow engine (bot/domain/flow.py) as the admin chats use it, without Telegram: a card
with its own words or none at all, ✖️ Cancel and ◀ Back on every step, leaving a chat back to
where it started, pages of choices, documents; and the one unit picker (forms/steps.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.domain import flow as engine
from bot.domain.flow import (
    BACK,
    CANCEL,
    CONFIRM_STEP,
    PAGE,
    SAVE,
    Accept,
    Choice,
    Confirm,
    Draft,
    Env,
    Flow,
    Input,
    InputKind,
    Outcome,
    Prompt,
    Reject,
    Step,
    StepResult,
    paged,
)
from bot.domain.forms.steps import text_step, unit_step
from bot.domain.i18n import Translator
from bot.domain.units import UnitOption

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
EN = Translator("en")
UNITS = [UnitOption(i, f"CN{i}", f"Cung Nhượng {i}") for i in range(1, 21)]


def env(**extra: object) -> Env:
    return Env(t=EN, today=NOW.date(), now=NOW, extra=dict(extra))


def text(value: str) -> Input:
    return Input(InputKind.TEXT, value)


def tap(value: str) -> Input:
    return Input(InputKind.CHOICE, value)


def labels(prompt: Prompt | None) -> list[list[str]]:
    assert prompt is not None
    return [[choice.label for choice in row] for row in prompt.choices]


def name_step(name: str) -> Step:
    return text_step(name, lambda t: name, lambda t: f"{name}?", 50)


RENAME = Flow(
    name="rename",
    title=lambda t: "Rename",
    card=lambda draft, e: f"New name: {draft['answers']['name']}",
    steps=[name_step("name")],
    confirm=Confirm(save=lambda t: t._("✅ Confirm"), editable=False),
    cancel_button=True,
    back_out=True,
)
TWO_STEPS = Flow(
    name="two",
    title=lambda t: "Two",
    steps=[name_step("first"), name_step("second")],
    confirm=None,
    cancel_button=True,
)


def test_a_card_with_its_own_words_and_no_edit() -> None:
    draft = engine.new_draft(RENAME, NOW)
    reply = engine.feed(RENAME, draft, text("Cung Nhượng 3"), env())
    assert draft["step"] == CONFIRM_STEP
    assert labels(reply.prompt) == [["✅ Confirm", "✖️ Cancel"], ["◀ Back"]]
    assert "New name: Cung Nhượng 3" in (reply.prompt.text if reply.prompt else "")
    # ✏️ Edit is not offered, so a forged one is refused with the card shown again.
    again = engine.feed(RENAME, draft, tap(engine.EDIT), env())
    assert draft["step"] == CONFIRM_STEP and again.notes
    assert engine.feed(RENAME, draft, tap(SAVE), env()).outcome is Outcome.SAVE


def test_every_step_offers_back_and_cancel_and_back_on_the_first_leaves() -> None:
    draft = engine.new_draft(RENAME, NOW)
    first = engine.prompt_for(RENAME, draft, env())
    assert labels(first) == [["◀ Back", "✖️ Cancel"]]
    assert engine.feed(RENAME, draft, tap(BACK), env()).outcome is Outcome.LEFT
    assert engine.feed(RENAME, draft, tap(CANCEL), env()).outcome is Outcome.CANCELLED


def test_a_flow_without_a_card_finishes_on_its_last_answer() -> None:
    draft = engine.new_draft(TWO_STEPS, NOW)
    assert labels(engine.prompt_for(TWO_STEPS, draft, env())) == [["✖️ Cancel"]]
    second = engine.feed(TWO_STEPS, draft, text("one"), env())
    assert labels(second.prompt) == [["◀ Back", "✖️ Cancel"]]
    done = engine.feed(TWO_STEPS, draft, text("two"), env())
    assert done.outcome is Outcome.SAVE and done.prompt is None
    assert draft["answers"] == {"first": "one", "second": "two"}


def test_back_from_the_second_step_returns_to_the_first() -> None:
    draft = engine.new_draft(TWO_STEPS, NOW)
    engine.feed(TWO_STEPS, draft, text("one"), env())
    reply = engine.feed(TWO_STEPS, draft, tap(BACK), env())
    assert draft["step"] == "first" and reply.outcome is Outcome.PROMPT


def picker_flow() -> Flow:
    step = unit_step("unit", lambda t: "Unit", lambda draft, e: "Which unit?", per_page=8)
    return Flow(name="pick", title=lambda t: "Pick", steps=[step], confirm=None)


def test_a_picker_pages_through_every_unit() -> None:
    flow, e = picker_flow(), env(units=UNITS)
    draft = engine.new_draft(flow, NOW)
    first = engine.prompt_for(flow, draft, e)
    assert labels(first)[:8] == [[f"CN{i} · Cung Nhượng {i}"] for i in range(1, 9)]
    assert labels(first)[8] == ["▶"] and "Page 1/3" in first.text
    second = engine.feed(flow, draft, tap(f"{PAGE}1"), e)
    assert labels(second.prompt)[0] == ["CN9 · Cung Nhượng 9"]
    assert labels(second.prompt)[8] == ["◀", "▶"]
    last = engine.feed(flow, draft, tap(f"{PAGE}2"), e)
    assert last.prompt is not None
    assert labels(last.prompt)[-1] == ["◀"] and "Page 3/3" in last.prompt.text
    # A page that was never offered is a button of an earlier question.
    assert engine.feed(flow, draft, tap(f"{PAGE}9"), e).notes
    done = engine.feed(flow, draft, tap("20"), e)
    assert done.outcome is Outcome.SAVE
    assert draft["answers"]["unit"] == 20 and draft["answers"]["unit_name"] == "Cung Nhượng 20"
    assert "page" not in draft


def test_a_unit_is_found_by_its_code_or_its_name_typed_without_diacritics() -> None:
    flow, e = picker_flow(), env(units=UNITS)
    draft = engine.new_draft(flow, NOW)
    assert engine.feed(flow, draft, text("cn7"), e).outcome is Outcome.SAVE
    assert draft["answers"]["unit"] == 7
    draft = engine.new_draft(flow, NOW)
    several = engine.feed(flow, draft, text("cung nhuong"), e)
    assert several.outcome is Outcome.PROMPT and several.prompt is not None
    assert "Several units match" in several.prompt.text
    options = [row[0] for row in several.prompt.choices[:-1]]
    found = [json.loads(engine_answers(draft, option.value))["unit"] for option in options]
    assert found == list(range(1, 11))  # the first ten, as buttons
    nothing = engine.feed(flow, engine.new_draft(flow, NOW), text("<b>xã Ba"), e)
    assert "No unit in your area matches “&lt;b&gt;xã Ba”." in nothing.notes[0]


def engine_answers(draft: Draft, value: str) -> str:
    """The answers a pending option would accept."""
    index = int(value.removeprefix("pending:"))
    answers: str = draft["pending"]["options"][index]["answers"]
    return answers


def document_flow() -> Flow:
    def prompt(draft: Draft, e: Env) -> Prompt:
        return Prompt("Send the file", accepts=frozenset({InputKind.DOCUMENT}), document_limit=10)

    def handle(given: Input, draft: Draft, e: Env) -> StepResult:
        if given.content is None:
            return Reject("too big")
        return Accept({"text": given.content.decode()})

    step = Step("file", lambda t: "File", prompt, handle)
    return Flow(name="file", title=lambda t: "File", steps=[step], confirm=None)


def test_a_document_step_takes_a_document_and_refuses_other_answers() -> None:
    flow = document_flow()
    draft = engine.new_draft(flow, NOW)
    refused = engine.feed(flow, draft, text("hello"), env())
    assert "Please send the file as a document" in refused.notes[0]
    big = Input(InputKind.DOCUMENT, "file-id", name="a.csv", size=99)
    assert engine.feed(flow, draft, big, env()).notes == ["⚠️ too big"]
    small = Input(InputKind.DOCUMENT, "file-id", name="a.csv", size=5, content=b"a,b")
    assert engine.feed(flow, draft, small, env()).outcome is Outcome.SAVE
    assert draft["answers"]["text"] == "a,b"


def test_paged_keeps_a_page_in_range() -> None:
    choices = [Choice(str(i), str(i)) for i in range(5)]
    rows, page, pages = paged(choices, {"page": 7}, 2)
    assert (page, pages) == (2, 3) and rows == [[choices[4]], [Choice("◀", f"{PAGE}1")]]
    assert paged([], {}, 2) == ([], 0, 1)
