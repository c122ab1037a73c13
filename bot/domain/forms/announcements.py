"""/thongbao: an announcement as a chat: its text (given after the command, or typed at the
first step), the unit whose coordinators and officials receive it (skipped when the sender's
unit has none below it), then the preview: what the recipients will read and how many they
are, sent with ✅ Send; ✏️ Edit changes the text or the unit first. Telegram-free; the texts
are bot/domain/announcements.py's, the sends bot/services/broadcasts.py's.

Seeds: "choose_unit" and, when there is nothing to choose, the sender's unit ("unit",
"unit_name"); "text" when the command carried one. The loader gives "sender_unit" and
"sender" (the names in the header recipients see), the unit step's options under "units",
and on the preview the `Reach` of the unit chosen under "reach".
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.announcements import (
    AnnouncementError,
    announcement_html,
    clean_announcement,
    describe_problem,
    prompt_text,
)
from bot.domain.flow import (
    Accept,
    Confirm,
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
from bot.domain.formatting import escape_html, format_number
from bot.domain.forms.steps import unit_step


@dataclass(frozen=True)
class Reach:
    """Who an announcement to the unit chosen reaches (storage/export.py's Audience, counted)."""

    size: int
    coordinators: int
    officials: int
    unreachable: int  # members of the audience who blocked the bot: not sent to


def _text_step() -> Step:
    def prompt(draft: Draft, env: Env) -> Prompt:
        return Prompt(escape_html(prompt_text(env.t)), accepts=frozenset({InputKind.TEXT}))

    def handle(given: Input, draft: Draft, env: Env) -> StepResult:
        try:
            text = clean_announcement(given.value)
        except AnnouncementError as error:
            return Reject(escape_html(describe_problem(env.t, error)))
        return Accept({"text": text})

    return Step("text", lambda t: t._("Text"), prompt, handle)


def _unit_question(draft: Draft, env: Env) -> str:
    return env.t._(
        "Who should receive it? The coordinators and officials of the unit you choose, and "
        "of every unit below it."
    )


def _card(draft: Draft, env: Env) -> str:
    """The preview: the announcement as recipients will read it, then who they are."""
    t, answers = env.t, draft["answers"]
    lines = [
        t._("<b>Preview</b>: this is what they will receive."),
        "",
        announcement_html(t, env.extra["sender_unit"], env.extra["sender"], answers["text"]),
        "",
    ]
    reach: Reach | None = env.extra.get("reach")
    name = escape_html(answers.get("unit_name", ""))
    if reach is not None and reach.size:
        lines.append(
            t._(
                "Recipients in {unit}: {count} (coordinators: {coordinators}, "
                "officials: {officials}).",
                count=format_number(reach.size),
                unit=name,
                coordinators=format_number(reach.coordinators),
                officials=format_number(reach.officials),
            )
        )
    elif reach is not None:
        lines.append("⚠️ " + t._("No one in {unit} can receive it.", unit=name))
    if reach is not None and reach.unreachable:
        lines.append(
            t._("Left out: {count} who blocked the bot.", count=format_number(reach.unreachable))
        )
    return "\n".join(lines)


ANNOUNCEMENT = Flow(
    name="announcement",
    title=lambda t: t._("📢 Send an announcement"),
    steps=[
        _text_step(),
        unit_step(
            "unit",
            lambda t: t._("Unit"),
            _unit_question,
            when=lambda draft: bool(draft["answers"].get("choose_unit")),
        ),
    ],
    card=_card,
    confirm=Confirm(
        question=lambda t: t._("Send the announcement now?"),
        save=lambda t: t._("✅ Send"),
        editable=True,
    ),
    cancel_button=True,
)
