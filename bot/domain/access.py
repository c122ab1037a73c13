"""Who may do what: the one place that decides, free of Telegram."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.i18n import N_, Translator


class Role(enum.StrEnum):
    COORDINATOR = "coordinator"
    OFFICIAL = "official"
    ADMIN = "admin"


_RANK = {Role.COORDINATOR: 1, Role.OFFICIAL: 2, Role.ADMIN: 3}
ROLE_VALUES = frozenset(role.value for role in Role)
DIGEST_ROLES = (Role.OFFICIAL, Role.ADMIN)  # who gets the digests of their area
ROLE_LABELS: dict[str, str] = {
    Role.COORDINATOR: N_("coordinator"),
    Role.OFFICIAL: N_("official"),
    Role.ADMIN: N_("admin"),
}


def role_label(t: Translator, role: str) -> str:
    """A role as people call it ("điều phối viên"); an unknown one as stored."""
    label = ROLE_LABELS.get(role)
    return t._(label) if label is not None else role


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


@dataclass(frozen=True)
class Command:
    """A bot command: its Vietnamese name, English alias, the role it needs, and what it
    does (a catalog message id). /trogiup and the command menus are made from this table."""

    name: str
    alias: str
    needs: Role
    description: str


COMMANDS: list[Command] = [
    Command("hoatdong", "activity", Role.COORDINATOR, N_("Log an activity")),
    Command("hiendat", "land", Role.COORDINATOR, N_("Log a land donation")),
    Command("ngaycong", "workday", Role.COORDINATOR, N_("Log workdays")),
    Command("daghi", "mine", Role.COORDINATOR, N_("Your group's records")),
    Command("baocao", "report", Role.COORDINATOR, N_("Your group's totals")),
    Command("khonghoatdong", "nil", Role.COORDINATOR, N_("Nothing to report this week")),
    Command("huy", "cancel", Role.COORDINATOR, N_("Cancel what you are filling in")),
    Command("ngonngu", "language", Role.COORDINATOR, N_("Tiếng Việt / English")),
    Command("trogiup", "help", Role.COORDINATOR, N_("Help")),
    Command("xembaocao", "preview", Role.OFFICIAL, N_("Preview your area's digest")),
    Command("thongke", "stats", Role.OFFICIAL, N_("Figures for a unit and a period")),
    Command("donvi", "units", Role.OFFICIAL, N_("Units of your area")),
    Command("moi", "invite", Role.OFFICIAL, N_("Invite a coordinator")),
    Command("thanhvien", "members", Role.OFFICIAL, N_("Members of a unit")),
    Command("xuat", "export", Role.OFFICIAL, N_("Export records to Excel or CSV")),
    Command("thongbao", "broadcast", Role.OFFICIAL, N_("Send an announcement")),
    Command("lich", "schedule", Role.OFFICIAL, N_("Reminder and digest times")),
    Command("nhatky", "audit", Role.OFFICIAL, N_("Recent changes (audit log)")),
    Command("guibaocao", "senddigest", Role.ADMIN, N_("Send a unit's digest now")),
]


def commands_for(role: str) -> list[Command]:
    """The commands a role may use, in menu order."""
    rank = _RANK.get(Role(role), 0)
    return [command for command in COMMANDS if _RANK[command.needs] <= rank]


def scope_path(role: str, unit_path: str) -> str | None:
    """The unit path prefix a member may see and act on; None means everywhere (admins)."""
    return None if Role(role) is Role.ADMIN else unit_path


def in_scope(scope: str | None, unit_path: str) -> bool:
    return scope is None or unit_path.startswith(scope)


# --- managing members and invites ----------------------------------------------------------


class ManageOutcome(enum.StrEnum):
    """How a request to manage a member or an invite ended (or would end)."""

    OK = "ok"
    STALE = "stale"  # gone, or changed since the button was made
    SELF = "self"  # nobody manages their own account here (an admin cannot lock themself out)
    OUT_OF_SCOPE = "out_of_scope"  # a member, unit or invite outside the actor's subtree
    ROLE = "role"  # the target's role, or the role to give, is beyond the actor's


REFUSALS = frozenset({ManageOutcome.SELF, ManageOutcome.OUT_OF_SCOPE, ManageOutcome.ROLE})
INVITE_DAYS = 7  # how long an invite made in the chat lets people join
MAX_INVITE_USES = 100  # how many people at most may join with one invite made in the chat


def grantable_roles(actor_role: str) -> list[Role]:
    """The roles a member may give, by an invite or by a change of role: admins any,
    officials coordinator only, coordinators none."""
    role = Role(actor_role)
    if role is Role.ADMIN:
        return [Role.COORDINATOR, Role.OFFICIAL, Role.ADMIN]
    if role is Role.OFFICIAL:
        return [Role.COORDINATOR]
    return []


def manage_denial(
    *,
    actor_id: int | None,
    actor_role: str,
    actor_scope: str | None,
    target_id: int | None,
    target_role: str,
    target_unit_path: str,
) -> ManageOutcome | None:
    """None when the actor may change the target member (role, unit, active); otherwise why
    not. Admins manage everyone; officials manage the coordinators of their unit's subtree;
    nobody manages themself."""
    if actor_id is not None and actor_id == target_id:
        return ManageOutcome.SELF
    if not in_scope(actor_scope, target_unit_path):
        return ManageOutcome.OUT_OF_SCOPE
    if Role(target_role) not in grantable_roles(actor_role):
        return ManageOutcome.ROLE
    return None
