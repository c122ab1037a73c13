"""Đã ghi (the group's records), free of Telegram: a record as flow answers and back, what an
edit changes, where a land pledge may move next, and the texts of the list, the record card
and its history.

Column values are Python values (Decimal, date); answers and audit values are JSON-native
(Decimals as plain strings like "1080" or "1250.5", dates ISO), as everywhere in drafts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from bot.domain.flow import Env, Flow
from bot.domain.formatting import (
    MESSAGE_LIMIT,
    escape_html,
    format_area,
    format_date,
    format_datetime,
    format_money,
    format_number,
    shorten,
    visible_length,
)
from bot.domain.forms import (
    ACTIVITY,
    ACTIVITY_KINDS,
    LAND,
    LAND_KINDS,
    PURPOSES,
    STAGE_ORDER,
    STAGES,
    WORKDAY,
    label_of,
)
from bot.domain.i18n import N_, Translator
from bot.domain.textnorm import nfc
from storage.models import Activity, LandPledge, PledgeStage, Workday
from storage.records import STAGE_DATE_FIELDS, RecordKind, donor_key, reference

Record = Activity | LandPledge | Workday

PAGE_SIZE = 10
MAX_HISTORY = 15  # the latest events shown under a record
SHOWN_TEXT = 80  # how much of a long text value the history quotes
SHOWN_NAME = 60  # how much of a reporter's name the list shows
CALLBACK_PREFIX = "rv"

FLOW_OF_KIND: dict[RecordKind, Flow] = {
    RecordKind.ACTIVITY: ACTIVITY,
    RecordKind.LAND: LAND,
    RecordKind.WORKDAY: WORKDAY,
}
KIND_OF_FLOW: dict[str, RecordKind] = {flow.name: kind for kind, flow in FLOW_OF_KIND.items()}

# Columns an audit entry may name, with their label on the card (all but the last are the
# flows' own field labels).
FIELD_LABELS: dict[str, str] = {
    "kind": N_("Kind"),
    "on_date": N_("Date"),
    "participants": N_("Participants"),
    "description": N_("Description"),
    "photo_file_ids": N_("Photos"),
    "donor": N_("Household"),
    "area_m2": N_("Area"),
    "land_kind": N_("Land kind"),
    "purpose": N_("Purpose"),
    "purpose_note": N_("Purpose"),
    "stage": N_("Stage"),
    "assets": N_("Assets on the land"),
    "value_vnd": N_("Value"),
    "work": N_("Work"),
    "people": N_("People"),
    "days_each": N_("Days each"),
    "total_days": N_("Total workdays"),
}
NOT_AUDITED = frozenset({"donor_key"})  # derived for matching, never shown
_DATE_FIELDS = frozenset({"on_date", *STAGE_DATE_FIELDS.values()})
_NUMBER_FIELDS = frozenset({"participants", "people", "days_each", "total_days"})
_CHOICE_LABELS: dict[str, Mapping[str, str]] = {
    "kind": ACTIVITY_KINDS,
    "land_kind": LAND_KINDS,
    "purpose": PURPOSES,
    "stage": STAGES,
}


# --- records, answers and column values ------------------------------------------------------


def kind_of(row: Record) -> RecordKind:
    if isinstance(row, Activity):
        return RecordKind.ACTIVITY
    if isinstance(row, LandPledge):
        return RecordKind.LAND
    return RecordKind.WORKDAY


def plain(value: Decimal) -> str:
    """A Decimal as a JSON-ready string without trailing zeros: 1080, 1250.5."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def jsonable(value: Any) -> Any:
    """A column value as stored in the audit trail."""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return list(value)
    return value


def answers_of(row: Record) -> dict[str, Any]:
    """The record as its flow's answers, so the flow's steps can edit it."""
    if isinstance(row, Activity):
        return {
            "kind": row.kind,
            "on_date": row.on_date.isoformat(),
            "participants": row.participants,
            "description": row.description,
            "photos": list(row.photo_file_ids or []),
        }
    if isinstance(row, LandPledge):
        area = Decimal(row.area_m2)
        answers: dict[str, Any] = {
            "donor": row.donor,
            "area_m2": plain(area),
            "area_echo": format_area(area),
            "land_kind": row.land_kind,
            "purpose": row.purpose,
            "stage": row.stage,
            "on_date": row.on_date.isoformat(),
            "assets": row.assets,
            "value_vnd": plain(Decimal(row.value_vnd)) if row.value_vnd is not None else None,
            "photos": list(row.photo_file_ids or []),
        }
        # Absent rather than None, so choosing "other purpose" while editing asks for it.
        if row.purpose == "khac" and row.purpose_note:
            answers["purpose_note"] = row.purpose_note
        return answers
    return {
        "work": row.work,
        "on_date": row.on_date.isoformat(),
        "people": row.people,
        "days_each": plain(Decimal(row.days_each)),
    }


def values_from_answers(kind: RecordKind, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a flow's answers set (as storage.records' save functions set them)."""
    on_date = date.fromisoformat(answers["on_date"])
    if kind is RecordKind.ACTIVITY:
        return {
            "kind": answers["kind"],
            "on_date": on_date,
            "participants": int(answers["participants"]),
            "description": answers.get("description"),
            "photo_file_ids": list(answers.get("photos") or []),
        }
    if kind is RecordKind.LAND:
        value = answers.get("value_vnd")
        purpose = answers["purpose"]
        return {
            "donor": nfc(answers["donor"], multiline=False),
            "donor_key": donor_key(answers["donor"]),
            "area_m2": Decimal(answers["area_m2"]),
            "land_kind": answers["land_kind"],
            "purpose": purpose,
            "purpose_note": answers.get("purpose_note") if purpose == "khac" else None,
            "stage": answers["stage"],
            "on_date": on_date,
            "assets": answers.get("assets"),
            "value_vnd": Decimal(value) if value else None,
            "photo_file_ids": list(answers.get("photos") or []),
        }
    people, days_each = int(answers["people"]), Decimal(answers["days_each"])
    return {
        "work": nfc(answers["work"], multiline=False),
        "on_date": on_date,
        "people": people,
        "days_each": days_each,
        "total_days": people * days_each,
    }


def _land_stage_dates(row: LandPledge, new: dict[str, Any]) -> dict[str, Any]:
    """Stage dates after an edit of the stage or the date: the stage now recorded was reached
    on the record's date, and stages after it were not reached (nor was it cancelled)."""
    stage, on_date = new["stage"], new["on_date"]
    if stage == row.stage and on_date == row.on_date:
        return {}
    dates: dict[str, Any] = {}
    field = STAGE_DATE_FIELDS[PledgeStage(stage)]
    # A stage date set apart from the record's date (by advancing it later) stays, unless
    # the stage itself was corrected.
    if stage != row.stage or getattr(row, field) in (None, row.on_date):
        dates[field] = on_date
    if stage != PledgeStage.CANCELLED:
        dates[STAGE_DATE_FIELDS[PledgeStage.CANCELLED]] = None
        if stage in STAGE_ORDER:
            for later in STAGE_ORDER[STAGE_ORDER.index(PledgeStage(stage)) + 1 :]:
                dates[STAGE_DATE_FIELDS[later]] = None
    return dates


def edit_changes(row: Record, answers: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Column → (old, new) for every column an edit's answers change, derived columns
    (total workdays, stage dates, the donor's matching key) included."""
    kind = kind_of(row)
    new = values_from_answers(kind, answers)
    if isinstance(row, LandPledge):
        new.update(_land_stage_dates(row, new))
    changed: dict[str, tuple[Any, Any]] = {}
    for name, value in new.items():
        old = getattr(row, name)
        if isinstance(old, list | tuple):
            old = list(old)
        if old != value:
            changed[name] = (old, value)
    return changed


def next_stages(stage: str) -> list[str]:
    """Where a land pledge at `stage` may move: any later stage, or cancelled."""
    if stage == PledgeStage.CANCELLED:
        return []
    later = STAGE_ORDER[STAGE_ORDER.index(PledgeStage(stage)) + 1 :] if stage in STAGE_ORDER else []
    return [str(s) for s in [*later, PledgeStage.CANCELLED]]


def stage_changes(row: LandPledge, stage: str, on: date) -> dict[str, tuple[Any, Any]]:
    """Column → (old, new) for moving the pledge to `stage`, reached `on`."""
    if stage not in next_stages(row.stage):
        raise ValueError(f"a pledge at {row.stage!r} cannot move to {stage!r}")
    field = STAGE_DATE_FIELDS[PledgeStage(stage)]
    return {"stage": (row.stage, stage), field: (getattr(row, field), on)}


# --- callback data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Callback:
    """What a review button asks: rv:<action>:<kind>:<id>[:<extra>], or rv:list:<page>."""

    action: str
    kind: RecordKind | None = None
    record_id: int | None = None
    extra: str | None = None

    def data(self) -> str:
        parts = [CALLBACK_PREFIX, self.action]
        if self.kind is not None and self.record_id is not None:
            parts += [self.kind.value, str(self.record_id)]
        if self.extra is not None:
            parts.append(self.extra)
        text = ":".join(parts)
        if len(text.encode()) > 64:
            raise ValueError(f"callback data too long: {text!r}")
        return text


def list_callback(page: int) -> str:
    return Callback("list", extra=str(page)).data()


def record_callback(action: str, kind: RecordKind, record_id: int, extra: str | None = None) -> str:
    return Callback(action, kind, record_id, extra).data()


_CALLBACK = re.compile(
    r"^rv:(?P<action>[a-z]+):(?P<kind>[A-Z]):(?P<id>\d{1,18})(?::(?P<extra>\w+))?$"
)
_LIST = re.compile(r"^rv:list:(?P<page>\d{1,6})$")


def parse_callback(data: str | None) -> Callback | None:
    """The button's request, or None for anything malformed."""
    if data is None:
        return None
    listing = _LIST.match(data)
    if listing:
        return Callback("list", extra=listing["page"])
    match = _CALLBACK.match(data)
    if match is None:
        return None
    try:
        kind = RecordKind(match["kind"])
    except ValueError:
        return None
    return Callback(match["action"], kind, int(match["id"]), match["extra"])


# --- texts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordLine:
    """One record in the list."""

    kind: RecordKind
    id: int
    on_date: date
    figure: Decimal  # participants, m², or total workdays
    reporter_id: int
    reporter_name: str
    created_at: datetime
    unit_path: str

    @property
    def reference(self) -> str:
        return reference(self.kind, self.id)


@dataclass(frozen=True)
class Page:
    lines: list[RecordLine]
    total: int
    page: int  # from 0
    pages: int  # at least 1


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str | None  # a member's name or a label like "cli"; None when unknown
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def figure_text(t: Translator, kind: RecordKind, figure: Decimal) -> str:
    if kind is RecordKind.ACTIVITY:
        return t._("{count} participants", count=format_number(figure))
    if kind is RecordKind.LAND:
        return format_area(figure)
    return t._("{count} workdays", count=format_number(figure))


def list_line(t: Translator, line: RecordLine) -> str:
    title = FLOW_OF_KIND[line.kind].title(t)
    return " · ".join(
        [
            f"<b>{line.reference}</b> {title}",
            format_date(line.on_date),
            figure_text(t, line.kind, line.figure),
            escape_html(shorten(line.reporter_name, SHOWN_NAME)),
        ]
    )


def list_text(t: Translator, page: Page) -> str:
    if page.total == 0:
        return t._("Your group has no records yet.")
    head = t._(
        "<b>Your group's records</b>, newest first (page {page} of {pages}):",
        page=page.page + 1,
        pages=page.pages,
    )
    first = page.page * PAGE_SIZE
    lines = [f"{first + i + 1}. {list_line(t, line)}" for i, line in enumerate(page.lines)]
    return "\n".join([head, *lines])


def value_text(t: Translator, name: str, value: Any) -> str:
    """An audit value as the history shows it."""
    if value is None or value == "":
        return "—"
    if name in _DATE_FIELDS:
        return format_date(date.fromisoformat(str(value)))
    if name == "area_m2":
        return format_area(Decimal(str(value)))
    if name == "value_vnd":
        return format_money(Decimal(str(value)))
    if name in _NUMBER_FIELDS:
        return format_number(Decimal(str(value)))
    if name == "photo_file_ids":
        return str(len(value)) if isinstance(value, list) else "—"
    if name in _CHOICE_LABELS:
        return escape_html(label_of(t, _CHOICE_LABELS[name], str(value)))
    return escape_html(shorten(str(value), SHOWN_TEXT))


def field_label(t: Translator, name: str) -> str:
    for stage, field in STAGE_DATE_FIELDS.items():
        if name == field:
            date_label, stage_label = t._("Date"), t._(STAGES[stage])
            return f"{date_label} ({stage_label})"
    return t._(FIELD_LABELS[name]) if name in FIELD_LABELS else escape_html(name)


def describe(t: Translator, entry: HistoryEntry) -> str:
    """What an audit event did, e.g. "Area: 720 m² → 1.080 m²"."""
    if entry.action == "create":
        return t._("logged the record")
    if entry.action == "delete":
        return t._("deleted the record")
    before, after = entry.before or {}, entry.after or {}
    names = [name for name in after if name not in NOT_AUDITED]
    names += [name for name in before if name not in after and name not in NOT_AUDITED]
    if not names:
        return escape_html(entry.action)
    return "; ".join(
        f"{field_label(t, name)}: {value_text(t, name, before.get(name))} → "
        f"{value_text(t, name, after.get(name))}"
        for name in names
    )


def history_line(t: Translator, entry: HistoryEntry, tz: tzinfo) -> str:
    who = escape_html(shorten(entry.actor, SHOWN_NAME)) if entry.actor else "—"
    return f"• {format_datetime(entry.at, tz)} · {who}: {describe(t, entry)}"


def record_text(
    t: Translator,
    env: Env,
    row: Record,
    *,
    reporter: str,
    unit: str,
    history: Sequence[HistoryEntry],
    tz: tzinfo,
) -> str:
    """A record's card: every field, who logged it where and when, and its history; the
    oldest history lines give way if the message would pass Telegram's limit."""
    kind = kind_of(row)
    flow = FLOW_OF_KIND[kind]
    assert row.id is not None
    head = [
        f"<b>{reference(kind, row.id)}</b> {flow.title(t)}",
        flow.card({"answers": answers_of(row)}, env),
    ]
    if isinstance(row, LandPledge):
        reached = [
            f"{t._(STAGES[stage])}: {format_date(getattr(row, field))}"
            for stage, field in STAGE_DATE_FIELDS.items()
            if getattr(row, field) is not None
        ]
        if reached:
            head.append(t._("Stages reached: {stages}", stages=" · ".join(reached)))
    head.append(
        t._(
            "Logged by {name} ({unit}) at {when}",
            name=escape_html(shorten(reporter, SHOWN_NAME)),
            unit=escape_html(unit),
            when=format_datetime(row.created_at, tz),
        )
    )
    lines = [history_line(t, entry, tz) for entry in history]
    title = "\n" + t._("<b>History</b>")
    skipped = "…"
    while True:
        parts = [*head, title, *([skipped] if len(lines) < len(history) else []), *lines]
        text = "\n".join(parts) if lines else "\n".join(head)
        if visible_length(text) <= MESSAGE_LIMIT or not lines:
            return text
        lines.pop(0)
