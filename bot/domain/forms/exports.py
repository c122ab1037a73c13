"""/xuat: the export of a unit's records, as a chat: the period (a button, or two typed dates),
the unit (the one the export started from, or one below it), the format; the file follows at
once. Telegram-free; the file itself is bot/services/exports.py's.

Seeds: "choose_unit" (whether the unit the export starts from has units below it to choose
from) and, when it has none, that unit as the answer ("unit", "unit_name"). The loader gives
the unit step its options under "units": the starting unit and the active units below it.
"""

from __future__ import annotations

from datetime import date

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
)
from bot.domain.formatting import escape_html, format_date
from bot.domain.forms.steps import MAX_CHOICE_TEXT, picked, unit_step
from bot.domain.i18n import N_
from bot.domain.periods import (
    PeriodChoice,
    RangeError,
    describe_range_error,
    parse_range,
    period_range,
)

CUSTOM = "cu"  # the period "choose dates"
FORMATS: dict[str, str] = {
    "xlsx": N_("📊 Excel (.xlsx)"),
    "csv": N_("📄 CSV files (.zip)"),
}
PERIODS: dict[str, str] = {
    PeriodChoice.THIS_WEEK: N_("This week"),
    PeriodChoice.LAST_WEEK: N_("Last week"),
    PeriodChoice.THIS_MONTH: N_("This month"),
    PeriodChoice.LAST_MONTH: N_("Last month"),
    PeriodChoice.THIS_YEAR: N_("This year"),
    CUSTOM: N_("📅 Choose dates…"),
}
PERIOD_LAYOUT: list[list[str]] = [
    [PeriodChoice.THIS_WEEK, PeriodChoice.LAST_WEEK],
    [PeriodChoice.THIS_MONTH, PeriodChoice.LAST_MONTH],
    [PeriodChoice.THIS_YEAR],
    [CUSTOM],
]
DATES_PROMPT = N_("Type the first and the last day, for example: 01/11/2026 - 25/11/2026")


def span(draft: Draft) -> tuple[date, date]:
    answers = draft["answers"]
    return date.fromisoformat(answers["start"]), date.fromisoformat(answers["end"])


def _period_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        choices = [[Choice(t._(PERIODS[key]), key) for key in row] for row in PERIOD_LAYOUT]
        return Prompt(t._("📤 <b>Export records to Excel or CSV</b>\nWhich period?"), choices)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        key = picked(PERIODS, given)
        if key is None:
            return Reject(env.t._("Please choose one of the buttons."))
        if key == CUSTOM:
            return Accept({"period": key})
        start, end = period_range(PeriodChoice(key), env.today)
        return Accept({"period": key, "start": start.isoformat(), "end": end.isoformat()})

    return Step("period", lambda t: t._("Period"), prompt, handle)


def _dates_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        return Prompt(escape_html(env.t._(DATES_PROMPT)), accepts=frozenset({InputKind.TEXT}))

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        try:
            start, end = parse_range(given.value, env.today)
        except RangeError as error:
            return Reject(escape_html(describe_range_error(env.t, error)))
        return Accept({"start": start.isoformat(), "end": end.isoformat()})

    return Step(
        "dates",
        lambda t: t._("Dates"),
        prompt,
        handle,
        when=lambda draft: draft["answers"].get("period") == CUSTOM,
    )


def _unit_question(draft: Draft, env: Env) -> str:
    start, end = span(draft)
    return env.t._(
        "📤 Export {start} – {end}: which unit?", start=format_date(start), end=format_date(end)
    )


def _format_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        start, end = span(draft)
        text = t._(
            "📤 Export of <b>{unit}</b>, {start} – {end}: which format?",
            unit=escape_html(draft["answers"].get("unit_name", "")),
            start=format_date(start),
            end=format_date(end),
        )
        return Prompt(text, [[Choice(t._(label), key) for key, label in FORMATS.items()]])

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.TEXT and len(given.value) > MAX_CHOICE_TEXT:
            return Reject(env.t._("Please choose one of the buttons."))
        key = picked(FORMATS, given)
        if key is None:
            return Reject(env.t._("Please choose one of the buttons."))
        return Accept({"format": key})

    return Step("format", lambda t: t._("Format"), prompt, handle)


EXPORT = Flow(
    name="export",
    title=lambda t: t._("📤 Export records to Excel or CSV"),
    steps=[
        _period_step(),
        _dates_step(),
        unit_step(
            "unit",
            lambda t: t._("Unit"),
            _unit_question,
            when=lambda draft: bool(draft["answers"].get("choose_unit")),
        ),
        _format_step(),
    ],
    confirm=None,
    cancel_button=True,
)
