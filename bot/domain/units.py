"""Units as people pick and find them, and the problems with a change to the tree of units
(storage/unit_admin.py checks for them), worded for the chat and the command line."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bot.domain.formatting import shorten
from bot.domain.i18n import Translator
from bot.domain.textnorm import find_choices, nfc

BUTTON_LABEL = 40  # characters of a unit's button label


class UnitLike(Protocol):
    """What finding a unit needs: a stored Unit or a UnitOption."""

    @property
    def id(self) -> int | None: ...

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def former_name(self) -> str | None: ...


U = TypeVar("U", bound=UnitLike)


@dataclass(frozen=True)
class UnitOption:
    """A unit offered to choose from (a picker's button), as plain data."""

    id: int
    code: str
    name: str
    level: str = ""
    former_name: str | None = None
    active: bool = True
    has_children: bool = False
    parent_id: int | None = None


def button_label(unit: UnitLike) -> str:
    """ "CN1 · Cung Nhượng 1", cut to fit a button."""
    return shorten(f"{unit.code} · {unit.name}", BUTTON_LABEL)


def find_units(text: str, candidates: Sequence[U]) -> list[U]:
    """The candidates that `text` means: a code (any case) first, else names and former names
    matched without accents ("cung nhuong 1" finds "Cung Nhượng 1"); several when ambiguous."""
    wanted = nfc(text, multiline=False)
    if not wanted:
        return []
    by_code = [unit for unit in candidates if unit.code.casefold() == wanted.casefold()]
    if by_code:
        return by_code
    labels = {
        index: [unit.name, unit.code, *([unit.former_name] if unit.former_name else [])]
        for index, unit in enumerate(candidates)
    }
    return [candidates[index] for index in find_choices(wanted, labels)]


class Problem(enum.StrEnum):
    EMPTY = "empty"  # field
    TOO_LONG = "too_long"  # field, limit
    BAD_CODE = "bad_code"  # code
    DUPLICATE_CODE = "duplicate_code"  # code
    UNKNOWN_UNIT = "unknown_unit"  # code (also: outside the person's area)
    INACTIVE = "inactive"  # code
    SAME_NAME = "same_name"  # code
    SAME_PARENT = "same_parent"  # code, other
    SAME_UNIT = "same_unit"  # code
    INSIDE_ITSELF = "inside_itself"  # code, other: `other` is one of code's own units
    HAS_ACTIVE_UNITS = "has_active_units"  # code, count
    OWN_UNIT = "own_unit"  # code: the person's own unit
    ALREADY_INACTIVE = "already_inactive"  # code


class UnitAdminError(Exception):
    """A change that must not be made, and why (`details` fill the wording's placeholders)."""

    def __init__(self, problem: Problem, **details: str) -> None:
        super().__init__(f"{problem}: {details}")
        self.problem = problem
        self.details = details


def field_label(t: Translator, name: str) -> str:
    labels = {"code": t._("unit code"), "name": t._("unit name"), "level": t._("unit level")}
    return labels.get(name, name)


def describe_problem(t: Translator, error: UnitAdminError) -> str:
    """One sentence saying why a change to the units was not made."""
    d = error.details
    code, other = d.get("code", ""), d.get("other", "")
    messages: dict[Problem, Callable[[], str]] = {
        Problem.EMPTY: lambda: t._(
            "The {field} must not be empty.", field=field_label(t, d.get("field", ""))
        ),
        Problem.TOO_LONG: lambda: t._(
            "The {field} may have at most {limit} characters.",
            field=field_label(t, d.get("field", "")),
            limit=d.get("limit", ""),
        ),
        Problem.BAD_CODE: lambda: t._(
            "code {code} may only use letters A-Z, digits, '-', '_' and '.'", code=code
        ),
        Problem.DUPLICATE_CODE: lambda: t._("There is already a unit with code {code}.", code=code),
        Problem.UNKNOWN_UNIT: lambda: t._("There is no unit with code {code}.", code=code),
        Problem.INACTIVE: lambda: t._("Unit {code} is inactive.", code=code),
        Problem.SAME_NAME: lambda: t._("Unit {code} already has that name.", code=code),
        Problem.SAME_PARENT: lambda: t._(
            "Unit {code} is already under {other}.", code=code, other=other
        ),
        Problem.SAME_UNIT: lambda: t._(
            "Unit {code} cannot be moved under or merged into itself.", code=code
        ),
        Problem.INSIDE_ITSELF: lambda: t._(
            "{other} is one of the units under {code}, so {code} would end up inside itself.",
            code=code,
            other=other,
        ),
        Problem.HAS_ACTIVE_UNITS: lambda: t._(
            "Unit {code} still has {count} active unit(s) under it; move, merge or deactivate "
            "them first.",
            code=code,
            count=d.get("count", ""),
        ),
        Problem.OWN_UNIT: lambda: t._("You cannot deactivate your own unit ({code}).", code=code),
        Problem.ALREADY_INACTIVE: lambda: t._("Unit {code} is inactive.", code=code),
    }
    return messages[error.problem]()
