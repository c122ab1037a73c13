"""/thanhvien: the chats of managing members. Telegram-free; who may do what is
bot/domain/access.py's (`manage_denial`, `grantable_roles`), the changes storage/members.py's.

- MEMBERS_UNIT: the unit whose members to list (a picker of the member's area, from the unit
  seeded as "start" or the member's own); the list itself is a page to browse, not a chat.
- From a member's card, each change is a chat that ends on a card to confirm, and whose ◀ Back
  on its first question goes back to the member's card: MEMBER_ROLE (the new role), MEMBER_MOVE
  (the new unit), MEMBER_DEACTIVATE and MEMBER_REACTIVATE (only the card).

Seeds of the card's chats: "member" (the id), "member_name", and what the change expects to
find: "expected" (the role) or "from_unit" and "from_unit_name". The loaders give "roles" (the
roles the actor may give now, the member's own left out) and, for a unit step, "units" and
"home" (bot/domain/forms/unit_tree.py).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.access import REFUSALS, ROLE_LABELS, ManageOutcome, role_label
from bot.domain.flow import (
    Accept,
    Choice,
    Confirm,
    Draft,
    Env,
    Flow,
    Input,
    Prompt,
    Reject,
    Step,
    StepResult,
)
from bot.domain.formatting import escape_html, shorten
from bot.domain.forms.steps import picked
from bot.domain.forms.unit_tree import tree_unit_step
from bot.domain.i18n import Translator

SHOWN_NAME = 60  # how much of a name or a unit name a list line or a short message shows


def refusal_text(t: Translator, outcome: ManageOutcome) -> str:
    """Why a request about a member or an invite was refused."""
    if outcome is ManageOutcome.OUT_OF_SCOPE:
        return t._("Sorry, that is outside your area.")
    if outcome is ManageOutcome.SELF:
        return t._("You cannot change your own account here. Please ask an admin.")
    return t._("Sorry, you do not have permission to do that.")


def problem_text(t: Translator, outcome: ManageOutcome) -> str:
    """Why a request did not go through: refused, or out of date (stale)."""
    return refusal_text(t, outcome) if outcome in REFUSALS else t._("This card has expired.")


def _name(draft: Draft) -> str:
    return escape_html(draft["answers"]["member_name"])


# --- which unit's members --------------------------------------------------------------------


def _members_question(draft: Draft, env: Env) -> str:
    return env.t._("<b>Members</b> — of which unit? The list includes the units under it.")


MEMBERS_UNIT = Flow(
    name="members_unit",
    title=lambda t: t._("Members of a unit"),
    steps=[tree_unit_step("unit", lambda t: t._("Unit"), _members_question)],
    confirm=None,
    cancel_button=True,
)


# --- a new role ------------------------------------------------------------------------------


def role_step(
    question: Callable[[Draft, Env], str],
    button: Callable[[Translator, str], str],
    when: Callable[[Draft], bool] = lambda draft: True,
) -> Step:
    """One of the roles in `env.extra["roles"]` (those the member may give now, from the
    loader): a button each, or a role's name typed in either language."""

    def offered(env: Env) -> list[str]:
        roles: list[str] = env.extra.get("roles") or []
        return roles

    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        return Prompt(
            question(draft, env), [[Choice(button(t, role), role)] for role in offered(env)]
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        role = picked({role: ROLE_LABELS[role] for role in offered(env)}, given)
        if role is None:
            return Reject(env.t._("Please choose one of the buttons."))
        return Accept({"role": role})

    return Step("role", lambda t: t._("Role"), prompt, handle, when)


def _new_role_question(draft: Draft, env: Env) -> str:
    t = env.t
    return t._(
        "New role for <b>{name}</b> (now {role}):",
        name=_name(draft),
        role=role_label(t, draft["answers"]["expected"]),
    )


def _role_card(draft: Draft, env: Env) -> str:
    t, answers = env.t, draft["answers"]
    old, new = role_label(t, answers["expected"]), role_label(t, answers["role"])
    return f"<b>{_name(draft)}</b>: {old} → <b>{new}</b>"


def _confirm_label(t: Translator) -> str:
    return t._("✅ Confirm")


def _change(
    name: str,
    title: Callable[[Translator], str],
    steps: list[Step],
    card: Callable[[Draft, Env], str],
    question: Callable[[Translator], str],
    save: Callable[[Translator], str] = _confirm_label,
) -> Flow:
    """A change begun from a member's card: its questions, then a card to confirm with the
    words of the change; ✖️ Cancel on every step, ◀ Back on the first goes back to the card."""
    return Flow(
        name=name,
        title=title,
        steps=steps,
        card=card,
        confirm=Confirm(question, save, editable=False),
        cancel_button=True,
        back_out=True,
    )


MEMBER_ROLE = _change(
    "member_role",
    lambda t: t._("👤 Change role"),
    [role_step(_new_role_question, role_label)],
    _role_card,
    lambda t: t._("Change the role?"),
)


# --- another unit ----------------------------------------------------------------------------


def _move_question(draft: Draft, env: Env) -> str:
    return env.t._(
        "Move <b>{name}</b> (now in {unit}) to which unit?",
        name=_name(draft),
        unit=escape_html(draft["answers"]["from_unit_name"]),
    )


def _already_there(unit_id: int, draft: Draft, env: Env) -> str | None:
    answers = draft["answers"]
    if unit_id != answers["from_unit"]:
        return None
    return env.t._(
        "{name} is already in {unit}.",
        name=escape_html(shorten(answers["member_name"], SHOWN_NAME)),
        unit=escape_html(shorten(answers["from_unit_name"], SHOWN_NAME)),
    )


def _move_card(draft: Draft, env: Env) -> str:
    answers = draft["answers"]
    old = escape_html(answers["from_unit_name"])
    new = escape_html(answers["unit_name"])
    stay = env.t._("Their records stay with the unit they were logged for.")
    return f"<b>{_name(draft)}</b>: {old} → <b>{new}</b>\n{stay}"


MEMBER_MOVE = _change(
    "member_move",
    lambda t: t._("🏠 Move to another unit"),
    [tree_unit_step("unit", lambda t: t._("Unit"), _move_question, refuse=_already_there)],
    _move_card,
    lambda t: t._("Move them?"),
)


# --- active ----------------------------------------------------------------------------------


def _deactivate_card(draft: Draft, env: Env) -> str:
    return env.t._(
        "<b>{name}</b> will no longer be able to use danvan. Their records stay and keep counting.",
        name=_name(draft),
    )


def _reactivate_card(draft: Draft, env: Env) -> str:
    return env.t._("<b>{name}</b> will be able to use danvan again.", name=_name(draft))


def _deactivate_label(t: Translator) -> str:
    return t._("⛔ Deactivate")


def _reactivate_label(t: Translator) -> str:
    return t._("✅ Reactivate")


MEMBER_DEACTIVATE = _change(
    "member_deactivate",
    _deactivate_label,
    [],
    _deactivate_card,
    lambda t: t._("Deactivate this account?"),
    _deactivate_label,
)
MEMBER_REACTIVATE = _change(
    "member_reactivate",
    _reactivate_label,
    [],
    _reactivate_card,
    lambda t: t._("Reactivate this account?"),
    _reactivate_label,
)
