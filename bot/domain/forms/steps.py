"""The steps every form is made of (a choice, a date, a count, a text, photos) and the small
helpers of their cards. Telegram-free."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta

from bot.domain.flow import (
    DONE,
    SKIP,
    Accept,
    Ask,
    Choice,
    Draft,
    Env,
    Input,
    InputKind,
    Prompt,
    Reject,
    Step,
    StepResult,
    paged,
    rows,
)
from bot.domain.formatting import SHOWN_CODE, escape_html, format_date, shorten
from bot.domain.i18n import LANGUAGES, Translator
from bot.domain.parsing import (
    ParseError,
    parse_date,
    parse_int,
)
from bot.domain.refusals import explain
from bot.domain.textnorm import match_choice, nfc, visible
from bot.domain.units import UnitOption, button_label, find_units

MAX_NAME = 200
MAX_PHOTOS = 5
MAX_CHOICE_TEXT = 100


def line(label: str, value: object) -> str:
    """One "Label: value" row of a confirmation card."""
    return f"{label}: {value}"


def label_of(t: Translator, labels: Mapping[str, str], key: str | None) -> str:
    if key is None:
        return ""
    return t._(labels[key]) if key in labels else key


def aliases(labels: Mapping[str, str]) -> dict[str, list[str]]:
    """Every label in both languages, so "hop dan" and "meeting" both find họp dân."""
    translators = [Translator(language) for language in LANGUAGES]
    return {key: [t._(label) for t in translators] for key, label in labels.items()}


def picked(labels: Mapping[str, str], given: Input) -> str | None:
    if given.kind is InputKind.CHOICE:
        return given.value if given.value in labels else None
    if len(given.value) > MAX_CHOICE_TEXT:  # no label is that long; spare folding it all
        return None
    return match_choice(given.value, aliases(labels))


def cleaned_text(
    given: Input, limit: int, t: Translator, *, multiline: bool = True
) -> str | Reject:
    """Typed free text, cleaned for storage (names and titles on one line)."""
    text = nfc(given.value, multiline=multiline)
    if not visible(text):
        return Reject(t._("The answer is empty."))
    if len(text) > limit:
        return Reject(t._("That is too long: at most {limit} characters.", limit=limit))
    return text


# --- step builders ---------------------------------------------------------------------------


def choice_step(
    name: str,
    label: Callable[[Translator], str],
    question: Callable[[Translator], str],
    labels: Mapping[str, str],
    per_row: int = 2,
    when: Callable[[Draft], bool] = lambda draft: True,
) -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        choices = [Choice(t._(text), key) for key, text in labels.items()]
        return Prompt(question(t), rows(choices, per_row))

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        key = picked(labels, given)
        if key is None:
            return Reject(env.t._("Please choose one of the buttons."))
        return Accept({name: key})

    return Step(name, label, prompt, handle, when)


def date_step(
    name: str, label: Callable[[Translator], str], question: Callable[[Translator], str]
) -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        return Prompt(
            question(t)
            + "\n"
            + t._("Type it as dd/mm, e.g. {example}.", example=format_date(env.today)[:5]),
            [[Choice(t._("Today"), "today"), Choice(t._("Yesterday"), "yesterday")]],
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        if given.kind is InputKind.CHOICE:
            days = 0 if given.value == "today" else 1
            return Accept({name: (env.today - timedelta(days=days)).isoformat()})
        try:
            parsed = parse_date(given.value, env.today)
        except ParseError as error:
            return Reject(explain(t, error))
        if parsed.needs_confirmation:
            shown = format_date(parsed.value)
            return Ask(
                t._("{date} is more than 90 days ago. Is that right?", date=shown),
                [
                    Choice(
                        t._("Yes, {date}", date=shown), json.dumps({name: parsed.value.isoformat()})
                    )
                ],
            )
        return Accept({name: parsed.value.isoformat()})

    return Step(name, label, prompt, handle)


def count_step(
    name: str,
    label: Callable[[Translator], str],
    question: Callable[[Translator], str],
    maximum: int,
) -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        return Prompt(question(env.t))

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        try:
            return Accept({name: parse_int(given.value, 1, maximum)})
        except ParseError as error:
            return Reject(explain(env.t, error))

    return Step(name, label, prompt, handle)


def optional_text_step(
    name: str,
    label: Callable[[Translator], str],
    question: Callable[[Translator], str],
    limit: int,
    when: Callable[[Draft], bool] = lambda draft: True,
) -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        return Prompt(question(t), [[Choice(t._("Skip"), SKIP)]])

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.CHOICE:
            return Accept({name: None})
        text = cleaned_text(given, limit, env.t)
        return text if isinstance(text, Reject) else Accept({name: text})

    return Step(name, label, prompt, handle, when)


def text_step(
    name: str,
    label: Callable[[Translator], str],
    question: Callable[[Translator], str],
    limit: int,
    when: Callable[[Draft], bool] = lambda draft: True,
) -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        return Prompt(question(env.t), accepts=frozenset({InputKind.TEXT}))

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        text = cleaned_text(given, limit, env.t, multiline=False)
        return text if isinstance(text, Reject) else Accept({name: text})

    return Step(name, label, prompt, handle, when)


def photos_step(
    name: str, label: Callable[[Translator], str], question: Callable[[Translator], str]
) -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        photos = draft["answers"].get(name) or []
        if photos:
            text = t._(
                "Photo {count} of at most {limit} received. Send another, or press Done.",
                count=len(photos),
                limit=MAX_PHOTOS,
            )
            button = Choice(t._("✔️ Done"), DONE)
        else:
            text, button = question(t), Choice(t._("No photo"), DONE)
        return Prompt(
            text,
            [[button]],
            accepts=frozenset({InputKind.PHOTO, InputKind.CHOICE}),
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        photos = list(draft["answers"].get(name) or [])
        if given.kind is InputKind.CHOICE:
            return Accept({name: photos})
        if len(photos) >= MAX_PHOTOS:
            note = env.t._("At most {limit} photos; that one was not added.", limit=MAX_PHOTOS)
            return Accept({name: photos}, note=note)
        photos.append(given.value)
        if len(photos) >= MAX_PHOTOS:
            return Accept({name: photos})
        return Accept({name: photos}, stay=True)

    return Step(name, label, prompt, handle)


UNITS_PER_PAGE = 8
UNITS_FOUND = 10  # units offered as buttons when a typed name matches several


def unit_step(
    name: str,
    label: Callable[[Translator], str],
    question: Callable[[Draft, Env], str],
    *,
    options: str = "units",
    when: Callable[[Draft], bool] = lambda draft: True,
    per_page: int = UNITS_PER_PAGE,
) -> Step:
    """Choose a unit: the units in `env.extra[options]` (a list of UnitOption, given by the
    flow's loader, already in the person's area), a page at a time with ◀ ▶, or typed as a
    code or a name (with or without diacritics; several matches are offered as buttons). The
    answer is the unit's id under `name`, its name under `name` + "_name" and its button's
    "CODE · name" under `name` + "_label"."""

    def offered(env: Env) -> list[UnitOption]:
        found: list[UnitOption] = env.extra.get(options) or []
        return found

    def accept(unit: UnitOption) -> Accept:
        return Accept(
            {name: unit.id, f"{name}_name": unit.name, f"{name}_label": button_label(unit)}
        )

    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        units = offered(env)
        choices = [Choice(button_label(unit), str(unit.id)) for unit in units]
        buttons, page, pages = paged(choices, draft, per_page)
        lines = [question(draft, env)]
        if pages > 1:
            lines.append(t._("Page {page}/{pages}", page=page + 1, pages=pages))
        if not units:
            lines.append(t._("No unit in your area can be chosen here."))
        else:
            lines.append(t._("Tap one, or type its code or name."))
        return Prompt("\n".join(lines), buttons)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        units = offered(env)
        if given.kind is InputKind.CHOICE:
            chosen = [unit for unit in units if str(unit.id) == given.value]
            return accept(chosen[0]) if chosen else Reject(t._("Please choose one of the buttons."))
        if len(given.value) > MAX_CHOICE_TEXT:
            return Reject(t._("No unit in your area matches that."))
        found = find_units(given.value, units)
        if len(found) == 1:
            return accept(found[0])
        shown = escape_html(shorten(nfc(given.value, multiline=False), SHOWN_CODE))
        if not found:
            return Reject(t._("No unit in your area matches “{text}”.", text=shown))
        return Ask(
            t._("Several units match “{text}”; choose one:", text=shown),
            [
                Choice(button_label(unit), json.dumps(accept(unit).answers))
                for unit in found[:UNITS_FOUND]
            ],
        )

    return Step(name, label, prompt, handle, when)
