"""Who may do what: the one place that decides, free of Telegram."""

from __future__ import annotations

import enum
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
