"""Guided conversations as data, free of Telegram.

A flow is a list of steps. Each step prompts (text plus choice buttons), takes one input (a
typed text, a pressed choice, a photo, a shared contact, or something else), and either
accepts it, rejects it with a reason, or asks a yes/no style question first (for ambiguous
input). After the last step the flow shows a confirmation card: save, edit a field, cancel.

The draft, everything a flow remembers, is a JSON-native dict, so it can be persisted between
messages and across restarts. A channel adapter (handlers/ for Telegram) renders `Reply`s and
turns messages into `Input`s.
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
CONFIRM_STEP = "__confirm"
EDIT_PICK_STEP = "__edit_pick"


class InputKind(enum.StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    PHOTO = "photo"
    CONTACT = "contact"
    OTHER = "other"  # sticker, voice, location, document, ...


@dataclass(frozen=True)
class Input:
    kind: InputKind
    value: str = ""  # the text, the choice value, the photo file id or the phone number
    own_contact: bool = True  # for CONTACT: whether it is the sender's own number


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


@dataclass
class Flow:
    name: str
    steps: list[Step]
    title: Callable[[Translator], str]
    card: Callable[[Draft, Env], str]  # the confirmation card's body (HTML)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


class Outcome(enum.StrEnum):
    PROMPT = "prompt"  # show `reply`, the flow goes on
    SAVE = "save"  # the person confirmed: store the draft's answers
    CANCELLED = "cancelled"


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
        return Prompt(pending["question"], [[o] for o in options] + [[_back(t)]])
    if name == CONFIRM_STEP:
        text = f"<b>{flow.title(t)}</b>\n{flow.card(draft, env)}\n\n" + t._("Is everything right?")
        return Prompt(
            text,
            [
                [
                    Choice(t._("✅ Save"), SAVE),
                    Choice(t._("✏️ Edit"), EDIT),
                    Choice(t._("✖️ Cancel"), CANCEL),
                ],
                *([[_back(t)]] if draft["history"] else []),
            ],
        )
    if name == EDIT_PICK_STEP:
        choices = [
            [Choice(step.label(t), step.name)]
            for step in flow.steps
            if step.editable and step.when(draft)
        ]
        return Prompt(t._("Which field do you want to change?"), [*choices, [_back(t)]])
    prompt = flow.step(name).prompt(draft, env)
    if draft["history"] or draft.get("editing"):
        prompt.choices = [*prompt.choices, [_back(t)]]
    return prompt


def _back(t: Translator) -> Choice:
    return Choice(t._("◀ Back"), BACK)


def feed(flow: Flow, draft: Draft, given: Input, env: Env) -> Reply:
    """Apply one input to the draft (in place) and say what to show next."""
    t = env.t
    draft["touched"] = env.now.isoformat()
    name = draft["step"]
    if given.kind is InputKind.CHOICE and given.value == BACK:
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
    return Reply(Outcome.PROMPT, prompt_for(flow, draft, env), notes)


def _advance(flow: Flow, draft: Draft, current: str) -> None:
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
    if given.kind is InputKind.CHOICE and given.value == SAVE:
        return Reply(Outcome.SAVE)
    if given.kind is InputKind.CHOICE and given.value == EDIT:
        draft["history"].append(CONFIRM_STEP)
        draft["step"] = EDIT_PICK_STEP
        return Reply(Outcome.PROMPT, prompt_for(flow, draft, env))
    return _reprompt(flow, draft, env, t._("Please press ✅ Save, ✏️ Edit or ✖️ Cancel."))


def _reprompt(flow: Flow, draft: Draft, env: Env, reason: str) -> Reply:
    return Reply(Outcome.PROMPT, prompt_for(flow, draft, env), [f"⚠️ {reason}"])


def wrong_kind_reason(t: Translator, accepts: frozenset[InputKind]) -> str:
    if accepts == {InputKind.CHOICE}:
        return t._("Please choose one of the buttons.")
    if InputKind.PHOTO in accepts:
        return t._("Please send a photo, or press a button.")
    if InputKind.CONTACT in accepts:
        return t._("Please share your phone number with the button, type it, or skip.")
    return t._("Please answer with text or press a button.")


def rows(choices: Sequence[Choice], per_row: int = 2) -> list[list[Choice]]:
    return [list(choices[i : i + per_row]) for i in range(0, len(choices), per_row)]
