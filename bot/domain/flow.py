"""Guided conversations as data, free of Telegram: the one way danvan holds a multi-step chat,
a coordinator's form or an admin's change alike.

A flow is a list of steps. Each step prompts (text plus choice buttons), takes one input (a
typed text, a pressed choice, a photo, a document, a shared contact, or something else), and
either accepts it, rejects it with a reason, or asks a yes/no style question first (for
ambiguous input). After the last step the flow shows a confirmation card (`Confirm`: save, edit
a field, cancel), or, for a flow without one, finishes at once (`Outcome.SAVE`).

Every prompt after the first offers ◀ Back; a flow with `cancel_button` offers ✖️ Cancel on
every step too, and one with `back_out` offers ◀ Back on its first step as well, which leaves the
flow (`Outcome.LEFT`, e.g. back to the card it was started from). A step with many choices shows
them a page at a time (`paged`); the ◀ ▶ buttons are handled here, the page kept in the draft.

The draft, everything a flow remembers, is a JSON-native dict, so it can be persisted between
messages and across restarts. A channel adapter (handlers/conversation.py for Telegram) renders
`Reply`s, turns messages into `Input`s, and gives the steps what they need from the database
in `Env.extra`.
"""

from __future__ import annotations

import enum
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.domain.i18n import Translator

Draft = dict[str, Any]

BACK = "__back"
SAVE = "__save"
EDIT = "__edit"
CANCEL = "__cancel"
DONE = "__done"
SKIP = "__skip"
PAGE = "__page:"  # a choice value: show page N of the step's choices
CONFIRM_STEP = "__confirm"
EDIT_PICK_STEP = "__edit_pick"


class InputKind(enum.StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    PHOTO = "photo"
    CONTACT = "contact"
    DOCUMENT = "document"
    OTHER = "other"  # sticker, voice, location, ...


@dataclass(frozen=True)
class Input:
    kind: InputKind
    value: str = ""  # the text, the choice value, the file id or the phone number
    own_contact: bool = True  # for CONTACT: whether it is the sender's own number
    name: str = ""  # for DOCUMENT: the file's name
    size: int | None = None  # for DOCUMENT: its size, as the channel reports it
    content: bytes | None = None  # for DOCUMENT: its bytes, if within the prompt's limit


@dataclass(frozen=True)
class Choice:
    label: str
    value: str


@dataclass
class Env:
    """What steps need to know about the world, passed in so tests control it."""

    t: Translator
    today: date
    now: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prompt:
    text: str  # HTML; any user text in it is already escaped
    choices: list[list[Choice]] = field(default_factory=list)
    accepts: frozenset[InputKind] = frozenset({InputKind.TEXT, InputKind.CHOICE})
    ask_contact: str | None = None  # label of a share-my-phone button, if the step wants one
    document_limit: int = 0  # bytes of a document the channel fetches for the step


@dataclass
class Accept:
    answers: dict[str, Any]
    stay: bool = False  # e.g. one more photo: record it, prompt the same step again
    note: str | None = None  # said before the next prompt


@dataclass
class Reject:
    reason: str


@dataclass
class Ask:
    """A question before accepting, e.g. "did you mean 1,5 sào or 1.500 sào?"."""

    question: str
    options: list[Choice]  # value of each option: a JSON string of the answers to accept


StepResult = Accept | Reject | Ask


@dataclass
class Step:
    name: str
    label: Callable[[Translator], str]  # the field's name on the confirmation card
    prompt: Callable[[Draft, Env], Prompt]
    handle: Callable[[Input, Draft, Env], StepResult]
    when: Callable[[Draft], bool] = lambda draft: True
    editable: bool = True


def _form_question(t: Translator) -> str:
    return t._("Is everything right?")


def _form_save(t: Translator) -> str:
    return t._("✅ Save")


@dataclass(frozen=True)
class Confirm:
    """The confirmation card after the last step: its question, the label of its ✅ button,
    and whether ✏️ Edit is offered."""

    question: Callable[[Translator], str] = _form_question
    save: Callable[[Translator], str] = _form_save
    editable: bool = True


FORM_CONFIRM = Confirm()


def _no_card(draft: Draft, env: Env) -> str:
    return ""


@dataclass
class Flow:
    name: str
    steps: list[Step]
    title: Callable[[Translator], str]
    card: Callable[[Draft, Env], str] = _no_card  # the confirmation card's body (HTML)
    confirm: Confirm | None = FORM_CONFIRM  # None: finish right after the last step
    cancel_button: bool = False  # ✖️ Cancel on every step
    back_out: bool = False  # ◀ Back on the first step too: it leaves the flow

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


class Outcome(enum.StrEnum):
    PROMPT = "prompt"  # show `reply`, the flow goes on
    SAVE = "save"  # the person confirmed (or answered the last step of a flow without a card)
    CANCELLED = "cancelled"
    LEFT = "left"  # ◀ Back on the first step of a `back_out` flow


@dataclass
class Reply:
    outcome: Outcome
    prompt: Prompt | None = None
    notes: list[str] = field(default_factory=list)  # said before the prompt


def new_draft(flow: Flow, now: datetime, **seed: Any) -> Draft:
    draft: Draft = {
        "flow": flow.name,
        "id": secrets.token_hex(4),
        "step": None,
        "answers": dict(seed),
        "history": [],
        "pending": None,
        "editing": False,
        "touched": now.isoformat(),
    }
    draft["step"] = _next_step(flow, draft, None)
    return draft


def _next_step(flow: Flow, draft: Draft, after: str | None) -> str:
    names = [step.name for step in flow.steps]
    start = 0 if after is None else names.index(after) + 1
    for step in flow.steps[start:]:
        if step.when(draft):
            return step.name
    return CONFIRM_STEP


def prompt_for(flow: Flow, draft: Draft, env: Env) -> Prompt:
    t = env.t
    name = draft["step"]
    if draft.get("pending"):
        pending = draft["pending"]
        options = [Choice(o["label"], f"pending:{i}") for i, o in enumerate(pending["options"])]
        return Prompt(pending["question"], [[o] for o in options] + [_controls(flow, t, True)])
    if name == CONFIRM_STEP:
        confirm = flow.confirm or FORM_CONFIRM
        text = f"<b>{flow.title(t)}</b>\n{flow.card(draft, env)}\n\n" + confirm.question(t)
        buttons = [Choice(confirm.save(t), SAVE)]
        if confirm.editable:
            buttons.append(Choice(t._("✏️ Edit"), EDIT))
        buttons.append(Choice(t._("✖️ Cancel"), CANCEL))
        back = draft["history"] or flow.back_out
        return Prompt(text, [buttons, *([[_back(t)]] if back else [])])
    if name == EDIT_PICK_STEP:
        choices = [
            [Choice(step.label(t), step.name)]
            for step in flow.steps
            if step.editable and step.when(draft)
        ]
        return Prompt(t._("Which field do you want to change?"), [*choices, [_back(t)]])
    prompt = flow.step(name).prompt(draft, env)
    back = bool(draft["history"] or draft.get("editing") or flow.back_out)
    controls = _controls(flow, t, back)
    if controls:
        prompt.choices = [*prompt.choices, controls]
    return prompt


def _controls(flow: Flow, t: Translator, back: bool) -> list[Choice]:
    """The row under a step's own choices: ◀ Back, and ✖️ Cancel where the flow offers it."""
    row = [_back(t)] if back else []
    if flow.cancel_button:
        row.append(Choice(t._("✖️ Cancel"), CANCEL))
    return row


def _back(t: Translator) -> Choice:
    return Choice(t._("◀ Back"), BACK)


def paged(
    choices: Sequence[Choice], draft: Draft, per_page: int, *, per_row: int = 1
) -> tuple[list[list[Choice]], int, int]:
    """The page of `choices` the draft is on, `per_row` to a row, with a ◀ ▶ row when there
    are several pages: (rows, page, pages), the page counting from 0. The engine turns the
    pages; a step shows "page 2/5" in its text if it likes."""
    pages = max(1, -(-len(choices) // per_page))
    page = min(max(int(draft.get("page") or 0), 0), pages - 1)
    shown = list(choices[page * per_page : (page + 1) * per_page])
    result = rows(shown, per_row)
    turns = []
    if page > 0:
        turns.append(Choice("◀", f"{PAGE}{page - 1}"))
    if page < pages - 1:
        turns.append(Choice("▶", f"{PAGE}{page + 1}"))
    if turns:
        result.append(turns)
    return result, page, pages


def feed(flow: Flow, draft: Draft, given: Input, env: Env) -> Reply:
    """Apply one input to the draft (in place) and say what to show next."""
    t = env.t
    draft["touched"] = env.now.isoformat()
    name = draft["step"]
    if given.kind is InputKind.CHOICE and given.value == BACK:
        if flow.back_out and not (draft["history"] or draft.get("editing") or draft.get("pending")):
            return Reply(Outcome.LEFT)
        _go_back(flow, draft)
        return Reply(Outcome.PROMPT, prompt_for(flow, draft, env))
    if given.kind is InputKind.CHOICE and given.value == CANCEL:
        return Reply(Outcome.CANCELLED)

    if draft.get("pending"):
        return _resolve_pending(flow, draft, given, env)
    if name == CONFIRM_STEP:
        return _on_confirm(flow, draft, given, env)
    if name == EDIT_PICK_STEP:
        names = {step.name: step for step in flow.steps if step.editable and step.when(draft)}
        if given.kind is InputKind.CHOICE and given.value in names:
            draft["history"].append(EDIT_PICK_STEP)
            draft["step"], draft["editing"] = given.value, True
            return Reply(Outcome.PROMPT, prompt_for(flow, draft, env))
        return _reprompt(flow, draft, env, t._("Please choose one of the buttons."))

    step = flow.step(name)
    prompt = step.prompt(draft, env)
    if given.kind not in prompt.accepts:
        return _reprompt(flow, draft, env, wrong_kind_reason(t, prompt.accepts))
    if given.kind is InputKind.CHOICE and not _offered(prompt, given.value):
        return _reprompt(flow, draft, env, t._("That button belongs to an earlier question."))
    if given.kind is InputKind.CHOICE and given.value.startswith(PAGE):
        draft["page"] = int(given.value.removeprefix(PAGE))
        return Reply(Outcome.PROMPT, prompt_for(flow, draft, env))
    result = step.handle(given, draft, env)
    return _apply(flow, draft, step, result, env, given)


def _offered(prompt: Prompt, value: str) -> bool:
    return any(choice.value == value for row in prompt.choices for choice in row)


def _apply(
    flow: Flow, draft: Draft, step: Step, result: StepResult, env: Env, given: Input
) -> Reply:
    if isinstance(result, Reject):
        return _reprompt(flow, draft, env, result.reason)
    if isinstance(result, Ask):
        draft["pending"] = {
            "question": result.question,
            "options": [{"label": o.label, "answers": o.value} for o in result.options],
        }
        return Reply(Outcome.PROMPT, prompt_for(flow, draft, env))
    draft["answers"].update(result.answers)
    notes = [result.note] if result.note else []
    if result.stay:
        return Reply(Outcome.PROMPT, prompt_for(flow, draft, env), notes)
    _advance(flow, draft, step.name)
    if draft["step"] == CONFIRM_STEP and flow.confirm is None:
        return Reply(Outcome.SAVE, notes=notes)
    return Reply(Outcome.PROMPT, prompt_for(flow, draft, env), notes)


def _advance(flow: Flow, draft: Draft, current: str) -> None:
    draft.pop("page", None)
    if draft.get("editing"):
        # Later steps may depend on the edited answer (e.g. "khác" needs its note).
        following = _next_step(flow, draft, current)
        if following != CONFIRM_STEP and following not in draft["answers"]:
            draft["history"].append(current)
            draft["step"] = following
            return
        draft["editing"] = False
        draft["history"] = [h for h in draft["history"] if h != EDIT_PICK_STEP]
        draft["step"] = CONFIRM_STEP
        return
    draft["history"].append(current)
    draft["step"] = _next_step(flow, draft, current)


def _go_back(flow: Flow, draft: Draft) -> None:
    draft.pop("page", None)
    if draft.get("pending"):
        draft["pending"] = None
        return
    if draft["history"]:
        draft["step"] = draft["history"].pop()
        if draft["step"] == EDIT_PICK_STEP or draft["step"] == CONFIRM_STEP:
            draft["editing"] = False
    elif draft.get("editing"):
        draft["editing"] = False
        draft["step"] = CONFIRM_STEP


def _resolve_pending(flow: Flow, draft: Draft, given: Input, env: Env) -> Reply:
    pending = draft["pending"]
    if given.kind is InputKind.CHOICE and given.value.startswith("pending:"):
        offered = {f"pending:{i}": option for i, option in enumerate(pending["options"])}
        option = offered.get(given.value)
        if option is not None:
            draft["pending"] = None
            step = flow.step(draft["step"])
            return _apply(flow, draft, step, Accept(json.loads(option["answers"])), env, given)
    # Anything else: treat it as a fresh answer to the step itself.
    draft["pending"] = None
    return feed(flow, draft, given, env)


def _on_confirm(flow: Flow, draft: Draft, given: Input, env: Env) -> Reply:
    t = env.t
    confirm = flow.confirm or FORM_CONFIRM
    if given.kind is InputKind.CHOICE and given.value == SAVE:
        return Reply(Outcome.SAVE)
    if given.kind is InputKind.CHOICE and given.value == EDIT and confirm.editable:
        draft["history"].append(CONFIRM_STEP)
        draft["step"] = EDIT_PICK_STEP
        return Reply(Outcome.PROMPT, prompt_for(flow, draft, env))
    if confirm == FORM_CONFIRM:
        return _reprompt(flow, draft, env, t._("Please press ✅ Save, ✏️ Edit or ✖️ Cancel."))
    return _reprompt(flow, draft, env, t._("Please choose one of the buttons."))


def _reprompt(flow: Flow, draft: Draft, env: Env, reason: str) -> Reply:
    return Reply(Outcome.PROMPT, prompt_for(flow, draft, env), [f"⚠️ {reason}"])


def wrong_kind_reason(t: Translator, accepts: frozenset[InputKind]) -> str:
    if accepts == {InputKind.CHOICE}:
        return t._("Please choose one of the buttons.")
    if InputKind.PHOTO in accepts:
        return t._("Please send a photo, or press a button.")
    if InputKind.DOCUMENT in accepts:
        return t._("Please send the file as a document, or press a button.")
    if InputKind.CONTACT in accepts:
        return t._("Please share your phone number with the button, type it, or skip.")
    return t._("Please answer with text or press a button.")


def rows(choices: Sequence[Choice], per_row: int = 2) -> list[list[Choice]]:
    return [list(choices[i : i + per_row]) for i in range(0, len(choices), per_row)]
