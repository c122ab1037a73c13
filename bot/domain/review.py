"""Đã ghi (the group's records), free of Telegram: the buttons' callback data and the texts
of the list, the record card and its history. What an edit changes, and where a land pledge
may move next, are the records' own rules (bot/domain/records.py)."""

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
from bot.domain.forms.records import (
    ACTIVITY,
    ACTIVITY_KINDS,
    LAND,
    LAND_KINDS,
    PURPOSES,
    STAGES,
    WORKDAY,
)
from bot.domain.forms.steps import label_of
from bot.domain.i18n import N_, Translator
from bot.domain.records import (
    STAGE_DATE_FIELDS,
    Columns,
    RecordKind,
    answers_of,
    reference,
    stages_reached,
)

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
    kind: RecordKind,
    row: Columns,
    *,
    reporter: str,
    unit: str,
    history: Sequence[HistoryEntry],
    tz: tzinfo,
) -> str:
    """A record's card: every field, who logged it where and when, and its history; the
    oldest history lines give way if the message would pass Telegram's limit."""
    flow = FLOW_OF_KIND[kind]
    head = [
        f"<b>{reference(kind, row['id'])}</b> {flow.title(t)}",
        flow.card({"answers": answers_of(kind, row)}, env),
    ]
    if kind is RecordKind.LAND:
        reached = [f"{t._(STAGES[stage])}: {format_date(on)}" for stage, on in stages_reached(row)]
        if reached:
            head.append(t._("Stages reached: {stages}", stages=" · ".join(reached)))
    head.append(
        t._(
            "Logged by {name} ({unit}) at {when}",
            name=escape_html(shorten(reporter, SHOWN_NAME)),
            unit=escape_html(unit),
            when=format_datetime(row["created_at"], tz),
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
