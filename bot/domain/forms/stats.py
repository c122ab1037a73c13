"""/thongke: the digest's figures for a unit and a period, as a chat: the unit (the member's
own, one below it, or a code or name typed; skipped when a code came with the command or the
member's unit has none below it), then the period; the figures follow at once. Telegram-free;
the figures are bot/services/digests.py's.

Seeds: "choose_unit" and, when there is nothing to choose, the unit ("unit", "unit_name").
The loader gives the unit step its options under "units".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from bot.domain.flow import (
    Accept,
    Choice,
    Draft,
    Env,
    Flow,
    Input,
    Prompt,
    Reject,
    Step,
    StepResult,
)
from bot.domain.formatting import escape_html
from bot.domain.forms.steps import picked, unit_step
from bot.domain.i18n import N_
from bot.domain.periods import Period, PeriodChoice

PERIODS: dict[str, str] = {
    PeriodChoice.THIS_WEEK: N_("This week"),
    PeriodChoice.LAST_WEEK: N_("Last week"),
    PeriodChoice.THIS_MONTH: N_("This month"),
    PeriodChoice.LAST_MONTH: N_("Last month"),
    PeriodChoice.THIS_YEAR: N_("This year"),
}
PERIOD_LAYOUT: list[list[str]] = [
    [PeriodChoice.THIS_WEEK, PeriodChoice.LAST_WEEK],
    [PeriodChoice.THIS_MONTH, PeriodChoice.LAST_MONTH],
    [PeriodChoice.THIS_YEAR],
]
PERIOD_OF: dict[str, Callable[[date], Period]] = {
    PeriodChoice.THIS_WEEK: Period.this_week_so_far,
    PeriodChoice.LAST_WEEK: Period.last_week,
    PeriodChoice.THIS_MONTH: Period.this_month_so_far,
    PeriodChoice.LAST_MONTH: Period.last_month,
    PeriodChoice.THIS_YEAR: Period.this_year_so_far,
}


def chosen_period(draft: Draft, today: date) -> Period:
    return PERIOD_OF[draft["answers"]["period"]](today)


def _period_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        choices = [[Choice(t._(PERIODS[key]), key) for key in row] for row in PERIOD_LAYOUT]
        unit = escape_html(draft["answers"].get("unit_name", ""))
        return Prompt(t._("Figures for <b>{unit}</b>: which period?", unit=unit), choices)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        key = picked(PERIODS, given)
        if key is None:
            return Reject(env.t._("Please choose one of the buttons."))
        return Accept({"period": key})

    return Step("period", lambda t: t._("Period"), prompt, handle)


STATS = Flow(
    name="stats",
    title=lambda t: t._("📊 Figures for a unit and a period"),
    steps=[
        unit_step(
            "unit",
            lambda t: t._("Unit"),
            lambda draft, env: env.t._("Figures for which unit?"),
            when=lambda draft: bool(draft["answers"].get("choose_unit")),
        ),
        _period_step(),
    ],
    confirm=None,
    cancel_button=True,
)
