"""Reading a units CSV (`code,name,level,parent_code[,former_name]`) and planning its import
against the units there are (`plan_rows`): pure, no database.

Problems are reported per line as (line, code, details) so each channel can word them.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.domain.i18n import Translator
from bot.domain.textnorm import nfc

REQUIRED_COLUMNS = ("code", "name", "level", "parent_code")
OPTIONAL_COLUMNS = ("former_name",)
MAX_CODE = 50
MAX_NAME = 200
MAX_LEVEL = 50


class RowProblem(enum.StrEnum):
    BAD_HEADER = "bad_header"
    MISSING_VALUE = "missing_value"
    TOO_LONG = "too_long"
    BAD_CODE = "bad_code"
    DUPLICATE_CODE = "duplicate_code"
    UNKNOWN_PARENT = "unknown_parent"
    OWN_PARENT = "own_parent"
    CYCLE = "cycle"
    NOT_UTF8 = "not_utf8"
    EMPTY_FILE = "empty_file"


@dataclass(frozen=True)
class RowError:
    line: int
    problem: RowProblem
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitRow:
    line: int
    code: str
    name: str
    level: str
    parent_code: str | None
    former_name: str | None


@dataclass
class ImportPlan:
    """What an import would do; applying it (storage/units.py) changes the database."""

    rows: list[UnitRow]
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class KnownUnit:
    """A unit there is already, as an import compares a row with it."""

    code: str
    name: str
    level: str
    parent_code: str | None
    former_name: str | None
    active: bool


def plan_rows(rows: list[UnitRow], existing: Mapping[str, KnownUnit]) -> ImportPlan:
    """Check parents and cycles against the file and the units there are (by code), and sort
    rows into created, updated and unchanged. A plan with errors must not be applied."""
    plan = ImportPlan(rows=rows)
    parent: dict[str, str | None] = {code: unit.parent_code for code, unit in existing.items()}
    in_file = {row.code for row in rows}
    for row in rows:
        if (
            row.parent_code is not None
            and row.parent_code not in existing
            and row.parent_code not in in_file
        ):
            plan.errors.append(
                RowError(row.line, RowProblem.UNKNOWN_PARENT, {"parent": row.parent_code})
            )
        parent[row.code] = row.parent_code
    if plan.errors:
        return plan
    for row in rows:
        seen = {row.code}
        current = parent.get(row.code)
        while current is not None:
            if current in seen:
                plan.errors.append(RowError(row.line, RowProblem.CYCLE, {"code": row.code}))
                break
            seen.add(current)
            current = parent.get(current)
    if plan.errors:
        return plan
    for row in rows:
        unit = existing.get(row.code)
        if unit is None:
            plan.created.append(row.code)
        elif (
            unit.name != row.name
            or unit.level != row.level
            or row.parent_code != unit.parent_code
            or (row.former_name is not None and unit.former_name != row.former_name)
            or not unit.active
        ):
            plan.updated.append(row.code)
        else:
            plan.unchanged.append(row.code)
    return plan


def _is_valid_code(code: str) -> bool:
    return all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in code)


def parse_unit_csv(data: bytes) -> tuple[list[UnitRow], list[RowError]]:
    """Rows and every problem found; parents are checked later, against the database too."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [RowError(0, RowProblem.NOT_UTF8)]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return [], [RowError(1, RowProblem.EMPTY_FILE)]
    columns = [nfc(name).lower() for name in header]
    if (
        tuple(columns[:4]) != REQUIRED_COLUMNS
        or len(columns) > 5
        or (len(columns) == 5 and columns[4] != OPTIONAL_COLUMNS[0])
    ):
        expected = ",".join(REQUIRED_COLUMNS) + "[," + OPTIONAL_COLUMNS[0] + "]"
        return [], [RowError(1, RowProblem.BAD_HEADER, {"expected": expected})]

    rows: list[UnitRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, record in enumerate(reader, start=2):
        if not any(value.strip() for value in record):
            continue
        values = [nfc(value) for value in record] + [""] * (5 - len(record))
        code, name, level, parent_code, former_name = values[:5]
        row_errors = []
        for column, value in (("code", code), ("name", name), ("level", level)):
            if not value:
                row_errors.append(RowError(line, RowProblem.MISSING_VALUE, {"column": column}))
        for column, value, limit in (
            ("code", code, MAX_CODE),
            ("name", name, MAX_NAME),
            ("level", level, MAX_LEVEL),
            ("former_name", former_name, MAX_NAME),
        ):
            if len(value) > limit:
                row_errors.append(
                    RowError(line, RowProblem.TOO_LONG, {"column": column, "limit": str(limit)})
                )
        if code and not _is_valid_code(code):
            row_errors.append(RowError(line, RowProblem.BAD_CODE, {"code": code}))
        if code in seen:
            row_errors.append(
                RowError(line, RowProblem.DUPLICATE_CODE, {"code": code, "first": str(seen[code])})
            )
        if code and code == parent_code:
            row_errors.append(RowError(line, RowProblem.OWN_PARENT, {"code": code}))
        if row_errors:
            errors.extend(row_errors)
            continue
        seen[code] = line
        rows.append(UnitRow(line, code, name, level, parent_code or None, former_name or None))
    if not rows and not errors:
        errors.append(RowError(1, RowProblem.EMPTY_FILE))
    return rows, errors


def describe_row_error(t: Translator, error: RowError) -> str:
    d = error.details
    messages = {
        RowProblem.BAD_HEADER: lambda: t._(
            "the first line must be the header {expected}", expected=d.get("expected", "")
        ),
        RowProblem.MISSING_VALUE: lambda: t._(
            "column {column} is empty", column=d.get("column", "")
        ),
        RowProblem.TOO_LONG: lambda: t._(
            "column {column} is longer than {limit} characters",
            column=d.get("column", ""),
            limit=d.get("limit", ""),
        ),
        RowProblem.BAD_CODE: lambda: t._(
            "code {code} may only use letters A-Z, digits, '-', '_' and '.'",
            code=d.get("code", ""),
        ),
        RowProblem.DUPLICATE_CODE: lambda: t._(
            "code {code} already appears on line {first}",
            code=d.get("code", ""),
            first=d.get("first", ""),
        ),
        RowProblem.UNKNOWN_PARENT: lambda: t._(
            "parent unit {parent} is neither in the file nor in the database",
            parent=d.get("parent", ""),
        ),
        RowProblem.OWN_PARENT: lambda: t._(
            "unit {code} cannot be its own parent", code=d.get("code", "")
        ),
        RowProblem.CYCLE: lambda: t._(
            "unit {code} would end up inside itself (a loop of parents)", code=d.get("code", "")
        ),
        RowProblem.NOT_UTF8: lambda: t._("the file is not UTF-8 text"),
        RowProblem.EMPTY_FILE: lambda: t._("the file has no units"),
    }
    return t._("line {line}: {problem}", line=error.line, problem=messages[error.problem]())
