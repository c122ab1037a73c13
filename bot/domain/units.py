"""Problems with a change to the tree of units (storage/unit_admin.py checks for them), and
their wording for the chat and the command line."""

from __future__ import annotations

import enum
from collections.abc import Callable

from bot.domain.i18n import Translator


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
