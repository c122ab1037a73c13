"""Choosing a unit of a whole area, a commune's thirty units or a province's thousands: the unit
picker of steps.py (`unit_step`: a page of buttons at a time, or a code or a name typed) shown
one level of the tree at a time. Telegram-free.

The buttons are the unit being looked at (📍, to choose it) and the units right under it, eight
to a page with ◀ ▶; 📂 beside a unit with units under it opens it, ⬆ goes back up. A typed code
is found anywhere in the area; a typed name (with or without diacritics) under the unit looked
at first, however deep, and else anywhere (several matches are offered as buttons). So a
commune official taps their village at once, and a province's admin types the village's code,
or opens the commune and types its name.

Opening a unit is, to the engine, turning a page of the step (`flow.PAGE`): which unit is
looked at and which page of its units is shown make one page number, LEVEL × unit id + page.
So the engine checks that the button was offered, keeps the place in the draft and forgets it
when the step is left, and the chat shows the new level in place of the old one, as it does a
new page.

The flow's loader gives, under "units", every unit of the area that may be chosen (UnitOption
with `parent_id` and `has_children`: storage/scope.py's `area_units`), and under "home" the id
of the unit to look at first.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from bot.domain.flow import (
    PAGE,
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
)
from bot.domain.forms.steps import unit_step
from bot.domain.i18n import Translator
from bot.domain.units import UnitOption, button_label

LEVEL = 100_000  # page numbers of one unit's level: more than its units could fill

# Why a unit may not be chosen here (e.g. the member is already in it), or None.
Refuse = Callable[[int, Draft, Env], str | None]


def tree_unit_step(
    name: str,
    label: Callable[[Translator], str],
    question: Callable[[Draft, Env], str],
    *,
    when: Callable[[Draft], bool] = lambda draft: True,
    refuse: Refuse | None = None,
) -> Step:
    """A unit of `env.extra["units"]`, browsed from `env.extra["home"]`; the answers are those
    of `unit_step` (`name`, `name` + "_name", `name` + "_label")."""
    level_key = f"{name}_level"
    inner = unit_step(name, label, question, options=level_key, when=when)

    def area(env: Env) -> list[UnitOption]:
        found: list[UnitOption] = env.extra.get("units") or []
        return found

    def place(draft: Draft, env: Env) -> tuple[UnitOption | None, int, dict[int, UnitOption]]:
        """The unit looked at, the page of its level, and the area's units by id."""
        by_id = {unit.id: unit for unit in area(env)}
        looked_at, page = divmod(int(draft.get("page") or 0), LEVEL)
        for wanted in (looked_at, env.extra.get("home")):
            if wanted in by_id:
                return by_id[wanted], page if wanted == looked_at else 0, by_id
        tops = [unit for unit in by_id.values() if unit.parent_id not in by_id]
        return (tops[0] if tops else None), 0, by_id

    def with_options(env: Env, options: list[UnitOption]) -> Env:
        return dataclasses.replace(env, extra={**env.extra, level_key: options})

    def level(draft: Draft, env: Env) -> tuple[Draft, Env]:
        """The draft and env `unit_step` sees: the page of the level, and the level's units."""
        here, page, _ = place(draft, env)
        if here is None:
            return {**draft, "page": 0}, with_options(env, [])
        under = [unit for unit in area(env) if unit.parent_id == here.id]
        return {**draft, "page": page}, with_options(env, [here, *under])

    def turn(unit: UnitOption, page: int = 0) -> str:
        return f"{PAGE}{unit.id * LEVEL + page}"

    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        here, _, by_id = place(draft, env)
        shown = inner.prompt(*level(draft, env))
        rows: list[list[Choice]] = []
        opens = False
        for row in shown.choices:
            unit = by_id.get(int(row[0].value)) if row[0].value.isdigit() else None
            if here is not None and unit is None:  # ◀ ▶ over the level's units
                pages = [int(choice.value.removeprefix(PAGE)) for choice in row]
                rows.append(
                    [Choice(c.label, turn(here, page)) for c, page in zip(row, pages, strict=True)]
                )
            elif unit is here:
                rows.append([Choice(f"📍 {row[0].label}", row[0].value)])
            elif unit is not None and unit.has_children:
                rows.append([row[0], Choice("📂", turn(unit))])
                opens = True
            else:
                rows.append(row)
        parent = by_id.get(here.parent_id) if here is not None and here.parent_id else None
        if parent is not None:
            rows.append([Choice(f"⬆ {button_label(parent)}", turn(parent))])
        text = shown.text
        if opens:
            text += "\n" + t._("📂 shows the units under one.")
        return Prompt(text, rows)

    def refused(result: StepResult, draft: Draft, env: Env) -> StepResult:
        """The result, less any unit `refuse` says may not be chosen."""
        if refuse is None or isinstance(result, Reject):
            return result
        if isinstance(result, Accept):
            reason = refuse(result.answers[name], draft, env)
            return Reject(reason) if reason else result
        options = [o for o in result.options if not refuse(json.loads(o.value)[name], draft, env)]
        if not options:
            first = json.loads(result.options[0].value)[name]
            return Reject(refuse(first, draft, env) or "")
        if len(options) == 1:
            return Accept(json.loads(options[0].value))
        return Ask(result.question, options)

    def below(draft: Draft, env: Env) -> list[UnitOption]:
        """The unit looked at and every unit under it, however deep, in the area's order."""
        here, _, _ = place(draft, env)
        if here is None:
            return []
        children: dict[int | None, list[int]] = {}
        for unit in area(env):
            children.setdefault(unit.parent_id, []).append(unit.id)
        inside, waiting = set(), [here.id]
        while waiting:
            unit_id = waiting.pop()
            inside.add(unit_id)
            waiting.extend(children.get(unit_id, []))
        return [unit for unit in area(env) if unit.id in inside]

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.CHOICE:
            return refused(inner.handle(given, *level(draft, env)), draft, env)
        # Typed: a unit's code anywhere in the area; else a name under the unit looked at (a
        # province's hundred "Thôn 1"s are one in the commune opened); else anywhere.
        typed = given.value.strip().casefold()
        by_code = [unit for unit in area(env) if unit.code.casefold() == typed]
        for candidates in (by_code, below(draft, env)):
            if candidates:
                result = inner.handle(given, draft, with_options(env, candidates))
                if not isinstance(result, Reject):
                    return refused(result, draft, env)
        return refused(inner.handle(given, draft, with_options(env, area(env))), draft, env)

    return Step(name, label, prompt, handle, when)
