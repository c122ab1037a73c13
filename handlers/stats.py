"""/thongke (/stats): the digest's figures for a unit of the official's area and a period.

The chat is bot/domain/forms/stats.py's flow: the unit (the official's own or one below it,
tapped, or typed as a code or name; skipped for a code typed after the command, or when the
official's unit has none below it), then the period. The figures are the digest's own
(bot/services/digests.py), with the chart and the XLSX file. The units offered are read again
before every answer, and the unit is checked once more when the figures are made, so nothing
outside the official's area is ever shown.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.domain.access import Role
from bot.domain.flow import Draft, Env
from bot.domain.forms.stats import STATS, chosen_period
from bot.services.digests import digest_messages
from handlers.common import DanvanContext, guarded, named_unit, reply, stale_text, unit_options
from handlers.conversation import FlowBinding, begin
from handlers.keyboards import main_menu
from storage import export as store
from storage import scope
from storage.models import pk


async def units_to_choose(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """On the unit step: the official's own unit and the active units below it, as now."""
    if draft["step"] != "unit" or context.member is None:
        return {}
    return {"units": unit_options(await store.member_area(context.session, context.member))}


@guarded(Role.OFFICIAL)
async def stats_command(update: Update, context: DanvanContext) -> None:
    """/thongke [CODE]: choose the unit (unless given), then the period."""
    member = context.member
    assert member is not None
    if context.args:
        unit = await named_unit(update, context, " ".join(context.args))
        if unit is None:
            return
        await begin(update, context, STATS, choose_unit=False, unit=pk(unit), unit_name=unit.name)
        return
    own, *below = await store.member_area(context.session, member)
    if below:
        await begin(update, context, STATS, choose_unit=True)
    else:
        await begin(update, context, STATS, choose_unit=False, unit=pk(own), unit_name=own.name)


async def send_figures(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """The period was chosen: the unit's digest for it (if the unit is still in the area)."""
    member, t = context.member, context.t
    assert member is not None
    unit = (await scope.find_unit(context.session, member, unit_id=draft["answers"]["unit"])).unit
    if unit is None:
        await reply(update, stale_text(t), reply_markup=main_menu(t))
        return
    period = chosen_period(draft, env.today)
    messages = await digest_messages(context.session, t, pk(unit), period, tz=context.settings.tz)
    chat = update.effective_chat
    assert chat is not None
    await context.scheduler.delivery.send_messages(chat.id, messages)


def flows() -> list[FlowBinding]:
    return [FlowBinding(STATS, send_figures, needs=Role.OFFICIAL, load=units_to_choose)]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [CommandHandler(["thongke", "stats"], stats_command)]
