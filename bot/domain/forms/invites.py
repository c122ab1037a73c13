"""/moi: inviting someone, as a chat: the role (only when the member may give more than one:
admins; officials invite coordinators only), the unit (a picker of the member's area, or the
unit `/moi CODE` named), and how many people may join with the code; the invite is made at
once, without a card (it can be withdrawn from the open invites). Telegram-free; the invite
itself is storage/invites.py's `create_by`.

Seeds: "choose_role" and, when it is False, the one role as "role"; "choose_unit" and, when it
is False, the unit as "unit" and "unit_name". The loader gives "roles" (the roles the member
may give now) and, for the unit step, "units" and "home" (bot/domain/forms/unit_tree.py).

The first question also offers 📋 Open invites: it ends the chat with the list of invites
(answer "list").
"""

from __future__ import annotations

from bot.domain.access import INVITE_DAYS, MAX_INVITE_USES, role_label
from bot.domain.flow import (
    Accept,
    Choice,
    Draft,
    Env,
    Flow,
    Input,
    InputKind,
    Prompt,
    Reject,
    Step,
    StepResult,
)
from bot.domain.formatting import escape_html
from bot.domain.forms.members import role_step
from bot.domain.forms.steps import MAX_CHOICE_TEXT
from bot.domain.forms.unit_tree import tree_unit_step
from bot.domain.i18n import N_, Translator
from bot.domain.parsing import ParseError, parse_int
from bot.domain.refusals import explain

LIST = "list"  # the first question's 📋 Open invites
USE_CHOICES = (1, 5, 20)  # the buttons; any number from 1 to MAX_INVITE_USES may be typed
INVITE_BUTTONS: dict[str, str] = {
    "coordinator": N_("➕ Invite a coordinator"),
    "official": N_("➕ Invite an official"),
    "admin": N_("➕ Invite an admin"),
}


def uses_label(t: Translator, uses: int) -> str:
    return t.ngettext("{count} use", "{count} uses", uses)


def open_invites_label(t: Translator) -> str:
    return t._("📋 Open invites")


def _inviting(draft: Draft) -> bool:
    return not draft["answers"].get(LIST)


def _first(draft: Draft) -> bool:
    """Whether the step is the first one asked: it offers 📋 Open invites."""
    return not draft["history"]


def _with_list(step: Step) -> Step:
    """The step, offering 📋 Open invites when it is the first question."""

    def prompt(draft: Draft, env: Env) -> Prompt:
        shown = step.prompt(draft, env)
        if _first(draft):
            shown.choices = [*shown.choices, [Choice(open_invites_label(env.t), LIST)]]
        return shown

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.CHOICE and given.value == LIST:
            return Accept({LIST: True})
        return step.handle(given, draft, env)

    return Step(step.name, step.label, prompt, handle, step.when, step.editable)


def _whom(draft: Draft, env: Env) -> str:
    t = env.t
    lines = [t._("<b>Invite someone to danvan</b>")]
    if not draft["answers"].get("choose_unit"):
        unit = escape_html(draft["answers"].get("unit_name", ""))
        lines.append(t._("Unit: <b>{unit}</b>", unit=unit))
    lines.append(t._("Whom do you want to invite?"))
    return "\n".join(lines)


def _invite_button(t: Translator, role: str) -> str:
    return t._(INVITE_BUTTONS[role])


def _unit_question(draft: Draft, env: Env) -> str:
    t = env.t
    return t._("Invite as {role} into which unit?", role=role_label(t, draft["answers"]["role"]))


def _uses_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t, answers = env.t, draft["answers"]
        text = t._(
            "Invite as {role} into <b>{unit}</b>.\nHow many people may join with this code? "
            "It will be valid for {days} days.",
            role=role_label(t, answers["role"]),
            unit=escape_html(answers.get("unit_name", "")),
            days=INVITE_DAYS,
        )
        text += "\n" + t._("Tap one, or type a number from 1 to {most}.", most=MAX_INVITE_USES)
        return Prompt(text, [[Choice(uses_label(t, uses), str(uses)) for uses in USE_CHOICES]])

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.CHOICE:
            return Accept({"uses": int(given.value)})
        if len(given.value) > MAX_CHOICE_TEXT:
            return Reject(env.t._("Please type a number from 1 to {most}.", most=MAX_INVITE_USES))
        try:
            return Accept({"uses": parse_int(given.value, 1, MAX_INVITE_USES)})
        except ParseError as error:
            return Reject(explain(env.t, error))

    return Step("uses", lambda t: t._("Uses"), prompt, handle, when=_inviting)


INVITE = Flow(
    name="invite",
    title=lambda t: t._("✉️ Invite someone"),
    steps=[
        _with_list(
            role_step(
                _whom,
                _invite_button,
                when=lambda draft: bool(draft["answers"].get("choose_role")) and _inviting(draft),
            )
        ),
        _with_list(
            tree_unit_step(
                "unit",
                lambda t: t._("Unit"),
                _unit_question,
                when=lambda draft: bool(draft["answers"].get("choose_unit")) and _inviting(draft),
            )
        ),
        _with_list(_uses_step()),
    ],
    confirm=None,
    cancel_button=True,
)
