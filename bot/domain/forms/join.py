"""Joining danvan with an invite: full name, phone, and a card to confirm. Telegram-free."""

from __future__ import annotations

from bot.domain.flow import (
    SKIP,
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
from bot.domain.forms.steps import MAX_NAME, cleaned_text, line
from bot.domain.textnorm import fold, nfc, visible

MAX_PHONE_TEXT = 30  # "+84 (0) 912-345-678" and the like


def _telegram_name(draft: Draft) -> str | None:
    """The person's Telegram name, cleaned like a typed one; None if nothing is left."""
    name = nfc(draft["answers"].get("telegram_name") or "", multiline=False)[:MAX_NAME].strip()
    return name if visible(name) else None


def _name_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        suggested = _telegram_name(draft)
        choices = [[Choice(suggested, "telegram_name")]] if suggested else []
        return Prompt(t._("What is your full name? Type it, or tap your Telegram name."), choices)

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        if given.kind is InputKind.CHOICE:
            return Accept({"full_name": _telegram_name(draft)})
        text = cleaned_text(given, MAX_NAME, env.t, multiline=False)
        return text if isinstance(text, Reject) else Accept({"full_name": text})

    return Step("full_name", lambda t: t._("Full name"), prompt, handle)


def _phone_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        t = env.t
        return Prompt(
            t._(
                "Your phone number helps officials reach you. "
                "Share it with the button, type it, or skip."
            ),
            [[Choice(t._("Skip"), SKIP)]],
            accepts=frozenset({InputKind.TEXT, InputKind.CHOICE, InputKind.CONTACT}),
            ask_contact=t._("📱 Share my phone number"),
        )

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        t = env.t
        if given.kind is InputKind.CHOICE:
            return Accept({"phone": None})
        if given.kind is InputKind.CONTACT and not given.own_contact:
            return Reject(t._("Please share your own number, not someone else's."))
        typed = fold(given.value)  # full-width digits become ASCII
        digits = "".join(ch for ch in typed if ch in "0123456789")
        if len(typed) > MAX_PHONE_TEXT or not 9 <= len(digits) <= 15:
            return Reject(t._("That does not look like a phone number, e.g. 0912 345 678."))
        if typed.startswith("+"):
            digits = "+" + digits
        return Accept({"phone": digits})

    return Step("phone", lambda t: t._("Phone"), prompt, handle)


def _join_card(draft: Draft, env: Env) -> str:
    t, a = env.t, draft["answers"]
    return "\n".join(
        [
            line(t._("Full name"), escape_html(a["full_name"])),
            line(t._("Phone"), escape_html(a.get("phone") or "—")),
            line(t._("Unit"), escape_html(a["unit_name"])),
            line(t._("Role"), escape_html(a["role_label"])),
        ]
    )


JOIN = Flow(
    name="join",
    title=lambda t: t._("👋 Joining danvan"),
    card=_join_card,
    steps=[_name_step(), _phone_step()],
)
