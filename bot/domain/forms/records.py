"""The coordinators' forms: an activity, a land pledge, workdays. Telegram-free.

Answers are kept JSON-native in the draft: Decimals as strings, dates as ISO strings; a
confirmed form becomes a record through bot/domain/records.py's mapping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.domain.flow import (
    SKIP,
    Accept,
    Ask,
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
from bot.domain.formatting import escape_html, format_date, format_money, format_number
from bot.domain.forms.steps import (
    MAX_NAME,
    choice_step,
    cleaned_text,
    count_step,
    date_step,
    label_of,
    line,
    optional_text_step,
    photos_step,
    text_step,
)
from bot.domain.i18n import N_, Translator
from bot.domain.parsing import (
    LandRegion,
    ParseError,
    parse_area,
    parse_days,
    parse_money,
)
from bot.domain.records import STAGE_ORDER, PledgeStage
from bot.domain.refusals import area_echo, explain

MAX_PARTICIPANTS = 100_000

MAX_DESCRIPTION = 1_000

MAX_NOTE = 1_000

MAX_PEOPLE = 10_000

MAX_DAYS_EACH = Decimal(30)

ACTIVITY_KINDS: dict[str, str] = {
    "hop_dan": N_("Residents' meeting"),
    "van_dong": N_("Door-to-door persuasion"),
    "tuyen_truyen": N_("Propaganda"),
    "ve_sinh": N_("Environmental clean-up"),
    "hoa_giai": N_("Mediation"),
    "tuan_tra": N_("Security patrol"),
    "ra_mat": N_("Model launch"),
    "khac": N_("Other"),
}
LAND_KINDS: dict[str, str] = {
    "dat_o": N_("Residential land"),
    "nong_nghiep": N_("Farmland"),
    "khac": N_("Other land"),
}
PURPOSES: dict[str, str] = {
    "duong": N_("Road widening"),
    "nha_van_hoa": N_("Community hall"),
    "truong_hoc": N_("School"),
    "kenh_muong": N_("Canal"),
    "khac": N_("Other purpose"),
}
STAGES: dict[str, str] = {
    PledgeStage.PERSUADING: N_("Persuading"),
    PledgeStage.PLEDGED: N_("Pledged"),
    PledgeStage.SIGNED: N_("Agreement signed"),
    PledgeStage.CLEARED: N_("Site cleared"),
    PledgeStage.HANDED_OVER: N_("Site handed over"),
    PledgeStage.CANCELLED: N_("Cancelled"),
}
DAYS_EACH_CHOICES = ("0.5", "1", "2")


# --- activity --------------------------------------------------------------------------------


def _activity_card(draft: Draft, env: Env) -> str:
    t, a = env.t, draft["answers"]
    lines = [
        line(t._("Kind"), label_of(t, ACTIVITY_KINDS, a.get("kind"))),
        line(t._("Date"), format_date(date.fromisoformat(a["on_date"]))),
        line(t._("Participants"), format_number(a["participants"])),
        line(t._("Description"), escape_html(a.get("description") or "—")),
        line(t._("Photos"), len(a.get("photos") or [])),
    ]
    return "\n".join(lines)


ACTIVITY = Flow(
    name="activity",
    title=lambda t: t._("📝 Activity"),
    card=_activity_card,
    steps=[
        choice_step(
            "kind", lambda t: t._("Kind"), lambda t: t._("What kind of activity?"), ACTIVITY_KINDS
        ),
        date_step("on_date", lambda t: t._("Date"), lambda t: t._("On which day was it?")),
        count_step(
            "participants",
            lambda t: t._("Participants"),
            lambda t: t._("How many people took part? (a number, e.g. 25)"),
            MAX_PARTICIPANTS,
        ),
        optional_text_step(
            "description",
            lambda t: t._("Description"),
            lambda t: t._("A short description (at most 1.000 characters), or Skip."),
            MAX_DESCRIPTION,
        ),
        photos_step(
            "photos",
            lambda t: t._("Photos"),
            lambda t: t._("Send up to 5 photos, or press No photo."),
        ),
    ],
)


# --- land pledge -----------------------------------------------------------------------------


def _area_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        return Prompt(
            env.t._("What area? For example: 150 m2, 2 sào, 1 sào 5 thước."),
            accepts=frozenset({InputKind.TEXT}),
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        region: LandRegion = env.extra.get("region", LandRegion.BAC)
        try:
            area = parse_area(given.value, region)
        except ParseError as error:
            return Reject(explain(t, error))
        understood = {"area_m2": str(area.m2), "area_echo": area_echo(t, area.echo())}
        if area.needs_confirmation:
            options = [Choice(understood["area_echo"], json.dumps(understood))]
            other = area.alternative_echo()
            if other is not None and area.alternative_m2 is not None:
                alternative = {
                    "area_m2": str(area.alternative_m2),
                    "area_echo": area_echo(t, other),
                }
                options.append(Choice(alternative["area_echo"], json.dumps(alternative)))
            return Ask(t._("Which did you mean?"), options)
        return Accept(understood, note=t._("Understood: {area}", area=understood["area_echo"]))

    return Step("area_m2", lambda t: t._("Area"), prompt, handle)


def _money_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        return Prompt(
            t._("Their value in đồng, if known (e.g. 300k, 2tr, 1,5 tỷ), or Skip."),
            [[Choice(t._("Skip"), SKIP)]],
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.CHOICE:
            return Accept({"value_vnd": None})
        try:
            value = parse_money(given.value)
        except ParseError as error:
            return Reject(explain(env.t, error))
        return Accept(
            {"value_vnd": str(value)},
            note=env.t._("Understood: {money}", money=format_money(value)),
        )

    return Step("value_vnd", lambda t: t._("Value"), prompt, handle)


def _land_card(draft: Draft, env: Env) -> str:
    t, a = env.t, draft["answers"]
    purpose = label_of(t, PURPOSES, a.get("purpose"))
    if a.get("purpose") == "khac" and a.get("purpose_note"):
        purpose = f"{purpose}: {escape_html(a['purpose_note'])}"
    value = a.get("value_vnd")
    lines = [
        line(t._("Household"), escape_html(a["donor"])),
        line(t._("Area"), escape_html(a["area_echo"])),
        line(t._("Land kind"), label_of(t, LAND_KINDS, a.get("land_kind"))),
        line(t._("Purpose"), purpose),
        line(t._("Stage"), label_of(t, STAGES, a.get("stage"))),
        line(t._("Date"), format_date(date.fromisoformat(a["on_date"]))),
        line(t._("Assets on the land"), escape_html(a.get("assets") or "—")),
        line(t._("Value"), format_money(Decimal(value)) if value else "—"),
        line(t._("Photos"), len(a.get("photos") or [])),
    ]
    return "\n".join(lines)


LAND = Flow(
    name="land",
    title=lambda t: t._("🏡 Land pledge"),
    card=_land_card,
    steps=[
        text_step(
            "donor",
            lambda t: t._("Household"),
            lambda t: t._("Which household is donating? (e.g. Hộ ông Nguyễn Văn An)"),
            MAX_NAME,
        ),
        _area_step(),
        choice_step(
            "land_kind",
            lambda t: t._("Land kind"),
            lambda t: t._("What kind of land?"),
            LAND_KINDS,
            1,
        ),
        choice_step(
            "purpose", lambda t: t._("Purpose"), lambda t: t._("What is the land for?"), PURPOSES
        ),
        text_step(
            "purpose_note",
            lambda t: t._("Purpose details"),
            lambda t: t._("Please describe the purpose."),
            MAX_NAME,
            when=lambda draft: draft["answers"].get("purpose") == "khac",
        ),
        choice_step(
            "stage",
            lambda t: t._("Stage"),
            lambda t: t._("Which stage has it reached?"),
            {key: STAGES[key] for key in STAGE_ORDER},
            1,
        ),
        date_step(
            "on_date", lambda t: t._("Date"), lambda t: t._("On which day was that stage reached?")
        ),
        optional_text_step(
            "assets",
            lambda t: t._("Assets on the land"),
            lambda t: t._("Assets on the land (trees, walls, buildings), or Skip."),
            MAX_NOTE,
        ),
        _money_step(),
        photos_step(
            "photos",
            lambda t: t._("Photos"),
            lambda t: t._("Send a photo of the signed agreement, or press No photo."),
        ),
    ],
)


# --- workdays --------------------------------------------------------------------------------


def _work_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        recent: list[str] = env.extra.get("recent_works", [])
        choices = [Choice(work, f"recent:{i}") for i, work in enumerate(recent[:6])]
        return Prompt(
            t._("Which work or project? Choose a recent one or type its name."),
            [[choice] for choice in choices],
            accepts=frozenset({InputKind.TEXT, InputKind.CHOICE}),
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.CHOICE:
            recent: list[str] = env.extra.get("recent_works", [])
            index = int(given.value.split(":", 1)[1])
            return Accept({"work": recent[index]})
        text = cleaned_text(given, MAX_NAME, env.t, multiline=False)
        return text if isinstance(text, Reject) else Accept({"work": text})

    return Step("work", lambda t: t._("Work"), prompt, handle)


def workday_total(answers: Mapping[str, Any]) -> Decimal:
    return Decimal(answers["people"]) * Decimal(answers["days_each"])


def workday_sum_text(t: Translator, answers: Mapping[str, Any]) -> str:
    return t._(
        "{people} people × {days} days = {total} workdays",
        people=format_number(answers["people"]),
        days=format_number(Decimal(answers["days_each"])),
        total=format_number(workday_total(answers)),
    )


def _hundredths(value: Decimal) -> Decimal:
    """``value`` rounded half up to 0,01, without trailing zeros (0,50 → 0,5; 2,00 → 2)."""
    rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if rounded == rounded.to_integral_value():
        return rounded.quantize(Decimal(1))
    return rounded.normalize()


def _days_each_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        choices = [Choice(format_number(Decimal(v)), v) for v in DAYS_EACH_CHOICES]
        return Prompt(t._("How many days did each person work?"), [choices])

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        if given.kind is InputKind.CHOICE:
            value = Decimal(given.value)
        else:
            try:
                number = parse_days(given.value)
            except ParseError as error:
                return Reject(explain(t, error))
            if number.ambiguous:
                return Reject(t._("Please type the number without the comma, e.g. 0,5 or 1."))
            # Stored with two decimals: 0,001 is not a workday, 0,125 is 0,13.
            value = _hundredths(number.value)
        if value <= 0 or value > MAX_DAYS_EACH:
            return Reject(t._("Days per person must be more than 0 and at most 30."))
        answers = {"days_each": str(value)}
        return Accept(answers, note=workday_sum_text(t, {**draft["answers"], **answers}))

    return Step("days_each", lambda t: t._("Days each"), prompt, handle)


def _workday_card(draft: Draft, env: Env) -> str:
    t, a = env.t, draft["answers"]
    return "\n".join(
        [
            line(t._("Work"), escape_html(a["work"])),
            line(t._("Date"), format_date(date.fromisoformat(a["on_date"]))),
            workday_sum_text(t, a),
        ]
    )


WORKDAY = Flow(
    name="workday",
    title=lambda t: t._("🛠 Workdays"),
    card=_workday_card,
    steps=[
        _work_step(),
        date_step("on_date", lambda t: t._("Date"), lambda t: t._("On which day?")),
        count_step(
            "people", lambda t: t._("People"), lambda t: t._("How many people worked?"), MAX_PEOPLE
        ),
        _days_each_step(),
    ],
)
