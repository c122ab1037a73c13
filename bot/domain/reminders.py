"""The texts of reminders, follow-ups and pledge nudges, as outbox messages. Telegram-free."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.domain.formatting import escape_html, format_area, format_date, split_lines
from bot.domain.forms.records import STAGES
from bot.domain.forms.steps import label_of
from bot.domain.i18n import Translator
from bot.domain.outgoing import Button, OutMessage

REMIND_MENU = "rem:menu"
REMIND_NIL = "rem:nil"
REMIND_SNOOZE = "rem:snooze"
STALE_PLEDGE_DAYS = 30  # a pledge this long at cam kết or ký biên bản gets its reporter a nudge


@dataclass
class SilentGroup:
    unit_id: int
    name: str
    # (coordinator's name, date of their last record or None)
    coordinators: list[tuple[str, date | None]] = field(default_factory=list)


@dataclass(frozen=True)
class StalePledge:
    pledge_id: int
    donor: str
    area_m2: object
    stage: str
    since: date


def reminder(t: Translator, week: date, *, snoozed: bool = False) -> OutMessage:
    """To a coordinator whose group has reported nothing this week."""
    text = t._(
        "🔔 Your group has not reported anything for the week {start} – {end} yet. "
        "Log what you did, or tell us there was nothing this week.",
        start=format_date(week),
        end=format_date(week + timedelta(days=6)),
    )
    buttons = [
        [Button(t._("📝 Log now"), REMIND_MENU)],
        [Button(t._("🈳 Nothing this week"), REMIND_NIL)],
    ]
    if not snoozed:
        buttons.append([Button(t._("⏰ Remind me in 2 hours"), REMIND_SNOOZE)])
    return OutMessage(text, buttons)


def followup(
    t: Translator, area_name: str, week: date, groups: Sequence[SilentGroup]
) -> list[OutMessage]:
    """To an official: the groups of their area still silent this week."""
    lines = [
        t._(
            "<b>{area}</b>: {count} group(s) have not reported for the week {start} – {end}:",
            area=escape_html(area_name),
            count=len(groups),
            start=format_date(week),
            end=format_date(week + timedelta(days=6)),
        )
    ]
    for group in groups:
        lines.append(f"\n• <b>{escape_html(group.name)}</b>")
        if not group.coordinators:
            lines.append("  " + t._("no coordinator"))
        for name, last in group.coordinators:
            when = format_date(last) if last else t._("never")
            lines.append(
                "  " + t._("{name}, last report: {when}", name=escape_html(name), when=when)
            )
    return [OutMessage(text) for text in split_lines(lines)]


def stale_pledges(t: Translator, pledges: Sequence[StalePledge]) -> list[OutMessage]:
    """To a coordinator: their pledges stuck at a stage for over STALE_PLEDGE_DAYS."""
    lines = [
        t._(
            "📌 These land pledges have not moved for more than {days} days. "
            "Please update their stage in 📋 My records:",
            days=STALE_PLEDGE_DAYS,
        )
    ]
    for pledge in pledges:
        lines.append(
            t._(
                "• #L-{id} {donor}, {area}: {stage} since {since}",
                id=pledge.pledge_id,
                donor=escape_html(pledge.donor),
                area=format_area(pledge.area_m2),  # type: ignore[arg-type]
                stage=label_of(t, STAGES, pledge.stage),
                since=format_date(pledge.since),
            )
        )
    return [OutMessage(text) for text in split_lines(lines)]
