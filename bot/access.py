"""Who may do what: the one place that decides, free of Telegram."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Protocol

from storage.models import Role

_RANK = {Role.COORDINATOR: 1, Role.OFFICIAL: 2, Role.ADMIN: 3}


class Denial(enum.StrEnum):
    NOT_REGISTERED = "not_registered"
    INACTIVE = "inactive"
    ROLE = "role"


class HasRole(Protocol):
    role: str
    active: bool


def check(member: HasRole | None, needs: Role | None) -> Denial | None:
    """None when allowed; otherwise why not. `needs=None` means anyone, even a stranger."""
    if needs is None:
        return None
    if member is None:
        return Denial.NOT_REGISTERED
    if not member.active:
        return Denial.INACTIVE
    if _RANK.get(Role(member.role), 0) < _RANK[needs]:
        return Denial.ROLE
    return None


class RecordDenial(enum.StrEnum):
    """Why someone may not edit, delete or advance a record."""

    NOT_AUTHOR = "not_author"  # a coordinator who did not log it
    WINDOW_PASSED = "window_passed"  # the author, after the edit window
    OUT_OF_SCOPE = "out_of_scope"  # an official, for a record outside their unit's subtree


def record_change_denial(
    *,
    member_id: int | None,
    member_role: str,
    member_unit_path: str,
    author_id: int,
    record_unit_path: str,
    created_at: datetime,
    now: datetime,
    window_days: int,
) -> RecordDenial | None:
    """None when the member may change (edit, delete, advance) the record; otherwise why not.

    The author may, within `window_days` of creating it. After that only officials, for
    records in their unit's subtree (a unit path prefix), and admins, anywhere.
    """
    role = Role(member_role)
    if role is Role.ADMIN:
        return None
    is_author = member_id is not None and member_id == author_id
    if is_author and now - created_at <= timedelta(days=window_days):
        return None
    if role is Role.OFFICIAL:
        if record_unit_path.startswith(member_unit_path):
            return None
        return RecordDenial.OUT_OF_SCOPE
    return RecordDenial.WINDOW_PASSED if is_author else RecordDenial.NOT_AUTHOR


def can_modify_record(
    *,
    member_id: int | None,
    member_role: str,
    member_unit_path: str,
    author_id: int,
    record_unit_path: str,
    created_at: datetime,
    now: datetime,
    window_days: int,
) -> bool:
    """Whether the member may change the record (see `record_change_denial`)."""
    return (
        record_change_denial(
            member_id=member_id,
            member_role=member_role,
            member_unit_path=member_unit_path,
            author_id=author_id,
            record_unit_path=record_unit_path,
            created_at=created_at,
            now=now,
            window_days=window_days,
        )
        is None
    )
