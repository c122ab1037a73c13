"""What a record is: its kinds and references, a land pledge's stages, and the one mapping
between a form's answers and a record's columns, used when a record is saved and when it is
corrected.

Column values are Python values (Decimal, date); answers and audit values are JSON-native
(Decimals as plain strings like "1080" or "1250.5", dates ISO), as everywhere in drafts. A
record's columns are passed as a mapping (a row's `model_dump()`), so nothing here knows the
tables.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.domain.formatting import format_area
from bot.domain.textnorm import fold, nfc

Columns = Mapping[str, Any]


class RecordKind(enum.StrEnum):
    """Each kind's letter makes the short reference people quote: #H-12, #L-123, #N-45."""

    ACTIVITY = "H"
    LAND = "L"
    WORKDAY = "N"


# The audit trail's name of each kind (and its table's).
ENTITY: dict[RecordKind, str] = {
    RecordKind.ACTIVITY: "activity",
    RecordKind.LAND: "land_pledge",
    RecordKind.WORKDAY: "workday",
}


class PledgeStage(enum.StrEnum):
    """A land pledge's progress, in order; CANCELLED can follow any stage."""

    PERSUADING = "van_dong"
    PLEDGED = "cam_ket"
    SIGNED = "ky_bien_ban"
    CLEARED = "giai_toa"
    HANDED_OVER = "ban_giao"
    CANCELLED = "huy"


STAGE_ORDER = [
    PledgeStage.PERSUADING,
    PledgeStage.PLEDGED,
    PledgeStage.SIGNED,
    PledgeStage.CLEARED,
    PledgeStage.HANDED_OVER,
]
# The column that keeps the date each stage was reached.
STAGE_DATE_FIELDS: dict[PledgeStage, str] = {
    PledgeStage.PERSUADING: "persuading_on",
    PledgeStage.PLEDGED: "pledged_on",
    PledgeStage.SIGNED: "signed_on",
    PledgeStage.CLEARED: "cleared_on",
    PledgeStage.HANDED_OVER: "handed_over_on",
    PledgeStage.CANCELLED: "cancelled_on",
}
DONOR_KEY_LENGTH = 200  # the column's size


def reference(kind: RecordKind, record_id: int) -> str:
    return f"#{kind.value}-{record_id}"


def donor_key(donor: str) -> str:
    """The donor's matching key, cut to its column: folding can lengthen a name ("ß" → "ss",
    "ﷺ" → eighteen letters), and PostgreSQL refuses a value longer than the column."""
    return fold(donor)[:DONOR_KEY_LENGTH].rstrip()


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


def columns_from_answers(kind: RecordKind, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a form's answers set, derived ones (the donor's matching key, the total
    of workdays) included. Stage dates are not among them: see `new_record_columns` and
    `edit_changes`."""
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


def new_record_columns(kind: RecordKind, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of a record logged with these answers: a land pledge reached the stage it
    is logged at on the record's date."""
    columns = columns_from_answers(kind, answers)
    if kind is RecordKind.LAND:
        columns[STAGE_DATE_FIELDS[PledgeStage(columns["stage"])]] = columns["on_date"]
    return columns


def answers_of(kind: RecordKind, row: Columns) -> dict[str, Any]:
    """The record as its form's answers, so the form's steps can edit it."""
    if kind is RecordKind.ACTIVITY:
        return {
            "kind": row["kind"],
            "on_date": row["on_date"].isoformat(),
            "participants": row["participants"],
            "description": row["description"],
            "photos": list(row["photo_file_ids"] or []),
        }
    if kind is RecordKind.LAND:
        area = Decimal(row["area_m2"])
        answers: dict[str, Any] = {
            "donor": row["donor"],
            "area_m2": plain(area),
            "area_echo": format_area(area),
            "land_kind": row["land_kind"],
            "purpose": row["purpose"],
            "stage": row["stage"],
            "on_date": row["on_date"].isoformat(),
            "assets": row["assets"],
            "value_vnd": plain(Decimal(row["value_vnd"])) if row["value_vnd"] is not None else None,
            "photos": list(row["photo_file_ids"] or []),
        }
        # Absent rather than None, so choosing "other purpose" while editing asks for it.
        if row["purpose"] == "khac" and row["purpose_note"]:
            answers["purpose_note"] = row["purpose_note"]
        return answers
    return {
        "work": row["work"],
        "on_date": row["on_date"].isoformat(),
        "people": row["people"],
        "days_each": plain(Decimal(row["days_each"])),
    }


def _land_stage_dates(row: Columns, new: dict[str, Any]) -> dict[str, Any]:
    """Stage dates after an edit of the stage or the date: the stage now recorded was reached
    on the record's date, and stages after it were not reached (nor was it cancelled)."""
    stage, on_date = new["stage"], new["on_date"]
    if stage == row["stage"] and on_date == row["on_date"]:
        return {}
    dates: dict[str, Any] = {}
    field = STAGE_DATE_FIELDS[PledgeStage(stage)]
    # A stage date set apart from the record's date (by advancing it later) stays, unless
    # the stage itself was corrected.
    if stage != row["stage"] or row[field] in (None, row["on_date"]):
        dates[field] = on_date
    if stage != PledgeStage.CANCELLED:
        dates[STAGE_DATE_FIELDS[PledgeStage.CANCELLED]] = None
        if stage in STAGE_ORDER:
            for later in STAGE_ORDER[STAGE_ORDER.index(PledgeStage(stage)) + 1 :]:
                dates[STAGE_DATE_FIELDS[later]] = None
    return dates


def edit_changes(
    kind: RecordKind, row: Columns, answers: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Column → (old, new) for every column an edit's answers change, derived columns
    (total workdays, stage dates, the donor's matching key) included."""
    new = columns_from_answers(kind, answers)
    if kind is RecordKind.LAND:
        new.update(_land_stage_dates(row, new))
    changed: dict[str, tuple[Any, Any]] = {}
    for name, value in new.items():
        old = row[name]
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


def stage_changes(row: Columns, stage: str, on: date) -> dict[str, tuple[Any, Any]]:
    """Column → (old, new) for moving the pledge to `stage`, reached `on`."""
    if stage not in next_stages(row["stage"]):
        raise ValueError(f"a pledge at {row['stage']!r} cannot move to {stage!r}")
    field = STAGE_DATE_FIELDS[PledgeStage(stage)]
    return {"stage": (row["stage"], stage), field: (row[field], on)}


def stages_reached(row: Columns) -> list[tuple[PledgeStage, date]]:
    """The stages a land pledge reached, with their dates, in order."""
    return [(stage, row[field]) for stage, field in STAGE_DATE_FIELDS.items() if row[field]]
