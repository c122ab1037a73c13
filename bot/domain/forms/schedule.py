"""/lich: when a unit's reminders and digests go out, as chats. Telegram-free; the card of a
unit's four times and saving them are handlers/schedule_admin.py's.

- SCHEDULE_UNIT: which unit's card (the member's own unit, one below it, or a code or name
  typed); it finishes by showing the card.
- SCHEDULE: one time on the card, started from its ✏️: the day (a weekday, or a day of the
  month for the monthly digest; tapped or typed), then the time (tapped, or typed "16:00",
  "7h30", "16 giờ"); saved as soon as the time is given. "↩️ Use the inherited time" on the day
  step instead clears the unit's own setting. ◀ Back on the day step goes back to the card.

Seeds of SCHEDULE: "unit", "unit_name", "setting" (a key of SETTINGS). Its loader gives
"has_own": whether the unit has its own day or time for that setting (↩️ is offered then).
The unit picker's options come under "units", as for every `unit_step`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from bot.domain.flow import (
    Accept,
    Choice,
    Draft,
    Env,
    Flow,
    Input,
    InputKind,
    Prompt,
    Reject,
    Step,
    StepResult,
    rows,
)
from bot.domain.formatting import escape_html
from bot.domain.forms.steps import MAX_CHOICE_TEXT, aliases, unit_step
from bot.domain.i18n import N_, Translator
from bot.domain.periods import WEEKDAYS, weekday_name
from bot.domain.schedule import hhmm, looks_like_time, parse_time
from bot.domain.textnorm import match_choice, match_key


@dataclass(frozen=True)
class Setting:
    """One of the card's four times: a day field and a time field of the Schedule table."""

    day_field: str
    time_field: str
    label: str
    monthly: bool = False


SETTINGS: dict[str, Setting] = {
    "r": Setting("reminder_weekday", "reminder_time", N_("Reminder to coordinators")),
    "f": Setting("followup_weekday", "followup_time", N_("Follow-up to officials")),
    "w": Setting("weekly_digest_weekday", "weekly_digest_time", N_("Weekly digest")),
    "m": Setting("monthly_digest_day", "monthly_digest_time", N_("Monthly digest"), monthly=True),
}
MONTH_DAYS = range(1, 29)  # every month has them
TIME_BUTTONS = ["07:00", "07:30", "08:00", "09:00", "11:00", "14:00", "16:00", "17:00", "19:00"]
RESET = "reset"  # the day step's ↩️
# How weekdays are often typed, beyond their names: "thứ 5", "t5", "cn".
WEEKDAY_SHORTHANDS: dict[int, list[str]] = {
    **{day: [f"thu {day + 2}", f"t{day + 2}"] for day in range(6)},
    6: ["cn", "chu nhat"],
}


def day_text(t: Translator, setting: Setting, day: int) -> str:
    if setting.monthly:
        return t._("day {day} of the month", day=day)
    return weekday_name(t, day)


def when_text(t: Translator, setting: Setting, day: int, at: time) -> str:
    return t._("{day} at {time}", day=day_text(t, setting, day), time=hhmm(at))


def setting_of(draft: Draft) -> Setting:
    return SETTINGS[draft["answers"]["setting"]]


def _what(draft: Draft, env: Env) -> dict[str, str]:
    return {
        "what": env.t._(setting_of(draft).label),
        "unit": escape_html(draft["answers"].get("unit_name", "")),
    }


def typed_day(setting: Setting, text: str) -> int | None:
    """The day typed: a number from 1 to 28 for the monthly digest ("5", "ngày 5", "mùng 5"),
    else a weekday's name in either language, with or without diacritics, or its shorthand
    ("thứ 5", "t5", "cn")."""
    if len(text) > MAX_CHOICE_TEXT:
        return None
    if setting.monthly:
        words = match_key(text).split()
        if len(words) == 2 and words[0] in ("ngay", "mung", "mong"):
            words = words[1:]
        day = int(words[0]) if len(words) == 1 and words[0].isdigit() else 0
        return day if day in MONTH_DAYS else None
    names = aliases({str(day): name for day, name in enumerate(WEEKDAYS)})
    found = match_choice(
        text, {key: [*labels, *WEEKDAY_SHORTHANDS[int(key)]] for key, labels in names.items()}
    )
    return None if found is None else int(found)


def _day_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        setting = setting_of(draft)
        if setting.monthly:
            question = t._(
                "<b>{what}</b> for {unit}: on which day of the month?", **_what(draft, env)
            )
            choices = rows([Choice(str(day), str(day)) for day in MONTH_DAYS], 7)
        else:
            question = t._("<b>{what}</b> for {unit}: on which day?", **_what(draft, env))
            days = [Choice(weekday_name(t, day), str(day)) for day in range(len(WEEKDAYS))]
            choices = rows(days, 2)
        if env.extra.get("has_own"):
            choices.append([Choice(t._("↩️ Use the inherited time"), RESET)])
        return Prompt(question, choices)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        setting = setting_of(draft)
        if given.kind is InputKind.CHOICE and given.value == RESET:
            return Accept({"reset": True, "day": None})
        if given.kind is InputKind.CHOICE:
            day = int(given.value)  # the engine takes only the buttons offered
        else:
            found = typed_day(setting, given.value)
            if found is None:
                if setting.monthly:
                    return Reject(
                        env.t._("Please choose a day from 1 to 28, which every month has.")
                    )
                return Reject(env.t._("Please choose one of the buttons."))
            day = found
        return Accept({"reset": False, "day": day})

    return Step("day", lambda t: t._("Day"), prompt, handle)


def _time_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        question = t._(
            "<b>{what}</b> for {unit}, {day}: at what time? Tap one, or type it, e.g. 16:00.",
            day=day_text(t, setting_of(draft), draft["answers"]["day"]),
            **_what(draft, env),
        )
        return Prompt(question, rows([Choice(label, label) for label in TIME_BUTTONS], 3))

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        at = parse_time(given.value)
        if at is not None:
            return Accept({"time": hhmm(at)})
        if looks_like_time(given.value):
            return Reject(env.t._("Please send a time from 00:00 to 23:59, e.g. 16:00."))
        return Reject(env.t._("Please type a time such as 16:00, 7h30 or 16 giờ, or tap one."))

    return Step(
        "time",
        lambda t: t._("Time"),
        prompt,
        handle,
        when=lambda draft: not draft["answers"].get("reset"),
    )


def chosen_time(draft: Draft) -> time:
    return time.fromisoformat(draft["answers"]["time"])


def _title(t: Translator) -> str:
    return t._("⏰ Reminder and digest times")


SCHEDULE = Flow(
    name="schedule",
    title=_title,
    steps=[_day_step(), _time_step()],
    confirm=None,
    cancel_button=True,
    back_out=True,
)

SCHEDULE_UNIT = Flow(
    name="schedule_unit",
    title=_title,
    steps=[
        unit_step(
            "unit",
            lambda t: t._("Unit"),
            lambda draft, env: env.t._("Reminder and digest times of which unit?"),
        )
    ],
    confirm=None,
    cancel_button=True,
)
