"""/thongbao (/broadcast): an official or admin sends an announcement to the coordinators and
officials of a unit of their area, through the shared paced Delivery.

The chat is bot/domain/forms/announcements.py's flow: the text (after the command, or typed at
its step: at most MAX_LENGTH characters as Telegram counts them, tidied like every text we
keep and sent as plain text, HTML-escaped), the unit (the sender's own, or one below it:
skipped when there is none), then the preview with the number of recipients and ✅ Send. The
units offered and the recipients counted are read again before every answer, from the
sender's area as it is then, and the unit is checked once more when it is sent.

✅ Send: audited ("sent"), committed, then delivered, then audited again ("delivered"). Every
Send's period_key is "b-<token>", the token kept in the draft, so the SendLedger sends each
person the announcement once, even if ✅ is tapped twice (the second tap finds the draft ended
and is answered as stale). A bot killed mid-delivery handles the ✅ again when it restarts
(bot/telegram/inbox.py), with the draft it had before (the draft is persisted with the
update's end, which never came): finding the "sent" event of that key, it finishes the
delivery instead of beginning it anew, and tells the sender so.

Who receives it: the active coordinators and officials of the unit's subtree, not the sender and
not admins (storage.export.broadcast_audience). Members the bot already knows it cannot reach
(they blocked it) are not sent to, and are counted with those who turn out to have blocked it.
The text is shown under a header naming the sender's unit and the sender, in each recipient's
language.
"""

from __future__ import annotations

import secrets
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.domain import flow as engine
from bot.domain.access import Role
from bot.domain.announcements import (
    AnnouncementError,
    broadcast_key,
    clean_announcement,
    describe_problem,
    outcome_text,
)
from bot.domain.flow import Draft, Env, Outcome
from bot.domain.formatting import escape_html, format_number
from bot.domain.forms.announcements import ANNOUNCEMENT, Reach
from bot.services.broadcasts import broadcast_sends, record_delivered
from handlers.common import (
    DanvanContext,
    guarded,
    reply,
    reply_now,
    stale_text,
    unit_options,
)
from handlers.conversation import FlowBinding, begin, now
from handlers.keyboards import main_menu
from storage import export as store
from storage import scope
from storage.audit import broadcast_started, record
from storage.models import pk


def reach_of(audience: store.Audience) -> Reach:
    return Reach(audience.size, audience.coordinators, audience.officials, audience.unreachable)


async def what_the_steps_need(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The names in the header; the units to choose from, on the unit step; who the chosen
    unit's members are, on the preview."""
    member = context.member
    assert member is not None
    area = await store.member_area(context.session, member)
    extra: dict[str, Any] = {"sender_unit": area[0].name, "sender": member.full_name}
    if draft["step"] == "unit":
        extra["units"] = unit_options(area)
    if draft["step"] == engine.CONFIRM_STEP and "unit" in draft["answers"]:
        lookup = await scope.find_unit(context.session, member, unit_id=draft["answers"]["unit"])
        if lookup.unit is not None:
            audience = await store.broadcast_audience(
                context.session, lookup.unit, sender_id=member.id
            )
            extra["reach"] = reach_of(audience)
    return extra


@guarded(Role.OFFICIAL)
async def broadcast_command(update: Update, context: DanvanContext) -> None:
    """/thongbao [TEXT]: start an announcement, at the unit (or the preview) if the text came
    with the command."""
    message = update.effective_message
    assert message is not None and context.member is not None
    own, *below = await store.member_area(context.session, context.member)
    seed: dict[str, Any] = {"choose_unit": bool(below)}
    if not below:
        seed.update(unit=pk(own), unit_name=own.name)
    keep = {"token": secrets.token_hex(6)}
    parts = (message.text or "").split(maxsplit=1)
    if len(parts) < 2:
        await begin(update, context, ANNOUNCEMENT, keep=keep, **seed)
        return
    try:
        text = clean_announcement(parts[1])
    except AnnouncementError as error:
        problem = f"⚠️ {escape_html(describe_problem(context.t, error))}"
        await begin(update, context, ANNOUNCEMENT, keep=keep, notes=[problem], **seed)
        return
    step = "unit" if seed["choose_unit"] else engine.CONFIRM_STEP
    await begin(
        update, context, ANNOUNCEMENT, step=step, history=["text"], keep=keep, text=text, **seed
    )


async def send_announcement(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    """✅ Send: audit, then deliver, then tell the sender how it went."""
    member, t = context.member, context.t
    assert member is not None
    answers = draft["answers"]
    unit = (await scope.find_unit(context.session, member, unit_id=answers["unit"])).unit
    if unit is None:
        await reply(update, stale_text(t), reply_markup=main_menu(t))
        return None
    text, key = answers["text"], broadcast_key(draft["token"])
    audience = await store.broadcast_audience(context.session, unit, sender_id=member.id)
    # The update is handled again after a crash mid-delivery (bot/telegram/inbox.py), its draft
    # intact: it then finishes the delivery, which skips whoever has the announcement already.
    resuming = await broadcast_started(context.session, pk(unit), key)
    if not resuming and not audience.size:
        # Nobody to send to (they left, or blocked the bot): the preview again, saying so,
        # where ✏️ Edit can choose another unit.
        env.extra["reach"] = reach_of(audience)
        return engine.Reply(Outcome.PROMPT, engine.prompt_for(ANNOUNCEMENT, draft, env))
    sender_unit = (await scope.find_unit(context.session, member, unit_id=member.unit_id)).unit
    assert sender_unit is not None  # a member's own unit is always in their area
    moment = now(context)
    if not resuming:
        await record(
            context.session,
            "broadcast",
            pk(unit),
            "sent",
            None,
            {
                "key": key,
                "unit": unit.code,
                "text": text,
                "recipients": audience.size,
                "unreachable": audience.unreachable,
            },
            unit_id=pk(unit),
            actor_id=member.id,
            at=moment,
        )
    sends = broadcast_sends(
        audience, draft["token"], sender_unit.name, member.full_name, text, moment
    )
    # Delivery claims each Send in sessions of its own; on SQLite ours holds the write lock.
    await context.session.commit()
    if not resuming:
        await reply_now(
            update,
            t._(
                "⏳ Sending the announcement to {unit} (recipients: {count})…",
                count=format_number(len(sends)),
                unit=escape_html(unit.name),
            ),
        )
    report = await context.scheduler.delivery.deliver(sends)
    await record_delivered(context.session, unit, key, report, now(context), actor_id=member.id)
    outcome = outcome_text(t, unit.name, report, audience.unreachable)
    if resuming:
        restarted = t._(
            "The bot restarted while sending your announcement to {unit}; it has now finished.",
            unit=escape_html(unit.name),
        )
        outcome = f"{restarted}\n{outcome}"
    await reply(update, outcome)
    return None


def flows() -> list[FlowBinding]:
    return [
        FlowBinding(ANNOUNCEMENT, send_announcement, needs=Role.OFFICIAL, load=what_the_steps_need)
    ]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [CommandHandler(["thongbao", "broadcast"], broadcast_command)]
