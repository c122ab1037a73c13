"""Units as people pick and find them, the rules a change to the tree of units must keep (the
pure ones: the chat's steps check a typed answer with them, and storage/unit_admin.py checks
again with them before it changes anything), and the problems, worded for the chat and the
command line."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bot.domain.formatting import shorten
from bot.domain.i18n import Translator
from bot.domain.textnorm import find_choices, nfc
from bot.domain.unit_csv import MAX_CODE, MAX_LEVEL, MAX_NAME

BUTTON_LABEL = 40  # characters of a unit's button label
_CODE_SYMBOLS = frozenset("-_.")


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


class PlacedUnit(UnitLike, Protocol):
    """What checking a move or a merge needs: where the unit sits in the tree."""

    @property
    def path(self) -> str: ...

    @property
    def parent_id(self) -> int | None: ...

    @property
    def active(self) -> bool: ...


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
    path: str = ""  # given where a move or a merge is checked against it (`check_move`)
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


# --- the rules of a change (storage/unit_admin.py applies them again before changing) ---------


def clean_code(text: str) -> str:
    """A typed code, tidied: A-Z, 0-9, "-", "_" and "." only, at most MAX_CODE characters."""
    code = nfc(text, multiline=False)
    if not code:
        raise UnitAdminError(Problem.EMPTY, field="code")
    if len(code) > MAX_CODE:
        raise UnitAdminError(Problem.TOO_LONG, field="code", limit=str(MAX_CODE))
    if not all(ch.isascii() and (ch.isalnum() or ch in _CODE_SYMBOLS) for ch in code):
        raise UnitAdminError(Problem.BAD_CODE, code=code)
    return code


def check_code_free(taken: str | None) -> None:
    """`taken`: the code of the unit that already has the new code, in any case, if one has."""
    if taken is not None:
        raise UnitAdminError(Problem.DUPLICATE_CODE, code=taken)


def clean_name(text: str) -> str:
    return _clean_text(text, "name", MAX_NAME)


def clean_level(text: str) -> str:
    return _clean_text(text, "level", MAX_LEVEL)


def _clean_text(text: str, field_name: str, limit: int) -> str:
    value = nfc(text, multiline=False)
    if not value:
        raise UnitAdminError(Problem.EMPTY, field=field_name)
    if len(value) > limit:
        raise UnitAdminError(Problem.TOO_LONG, field=field_name, limit=str(limit))
    return value


def check_parent(parent: PlacedUnit) -> None:
    if not parent.active:
        raise UnitAdminError(Problem.INACTIVE, code=parent.code)


def check_rename(unit: UnitLike, text: str) -> str:
    name = clean_name(text)
    if name == unit.name:
        raise UnitAdminError(Problem.SAME_NAME, code=unit.code)
    return name


def check_move(unit: PlacedUnit, parent: PlacedUnit) -> None:
    if unit.id == parent.id:
        raise UnitAdminError(Problem.SAME_UNIT, code=unit.code)
    if parent.path.startswith(unit.path):
        raise UnitAdminError(Problem.INSIDE_ITSELF, code=unit.code, other=parent.code)
    if unit.parent_id == parent.id:
        raise UnitAdminError(Problem.SAME_PARENT, code=unit.code, other=parent.code)
    check_parent(parent)


def check_merge(source: PlacedUnit, target: PlacedUnit) -> None:
    if source.id == target.id:
        raise UnitAdminError(Problem.SAME_UNIT, code=source.code)
    if target.path.startswith(source.path):
        raise UnitAdminError(Problem.INSIDE_ITSELF, code=source.code, other=target.code)
    if not target.active:
        raise UnitAdminError(Problem.INACTIVE, code=target.code)


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
