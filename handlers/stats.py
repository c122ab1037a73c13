"""/thongke (/stats): the digest's figures for a unit of the official's area and a period.

First the unit (the official's own, one of its children, or a code typed after the command),
then the period. The figures are the digest's own: bot/digest.py builds and renders them, with
the chart and the XLSX file. Buttons carry the unit's id, and every press checks the scope
again, so a forged or outdated button never shows a unit outside the official's subtree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain.access import Role
from bot.domain.formatting import SHOWN_CODE, escape_html, shorten
from bot.domain.i18n import N_, Translator
from bot.domain.periods import Period
from bot.services.digests import digest_messages
from handlers import conversation as flows
from handlers.common import DanvanContext, guarded, listed_units, reply, stale_text
from storage import scope
from storage.models import Member, Unit, pk

PREFIX = "st"
# What each period button means, by its key in the callback data.
PERIODS: dict[str, tuple[str, Callable[[date], Period]]] = {
    "tw": (N_("This week"), Period.this_week_so_far),
    "lw": (N_("Last week"), Period.last_week),
    "tm": (N_("This month"), Period.this_month_so_far),
    "lm": (N_("Last month"), Period.last_month),
    "ty": (N_("This year"), Period.this_year_so_far),
}
PERIOD_LAYOUT = [["tw", "lw"], ["tm", "lm"], ["ty"]]


# --- units to choose from (shared with /lich) ----------------------------------------------------


async def child_units(session: AsyncSession, unit: Unit) -> list[Unit]:
    """The unit's active children, by name."""
    query = (
        select(Unit)
        .where(Unit.parent_id == unit.id, col(Unit.active).is_(True))
        .order_by(col(Unit.name), col(Unit.code))
    )
    return list((await session.exec(query)).all())


async def own_unit(session: AsyncSession, member: Member) -> Unit:
    unit = await session.get(Unit, member.unit_id)
    if unit is None:
        raise LookupError(f"member {member.id} has no unit {member.unit_id}")
    return unit


async def typed_unit(session: AsyncSession, member: Member, code: str) -> Unit | None:
    """The unit with this code (in any case) if it is in the member's scope."""
    return (await scope.find_unit(session, member, code=code)).unit


def unit_keyboard(
    own: Unit, children: list[Unit], data: Callable[[Unit], str]
) -> InlineKeyboardMarkup:
    """The member's own unit on the first row, then its children two to a row."""
    rows = [[InlineKeyboardButton(own.name, callback_data=data(own))]]
    buttons = [InlineKeyboardButton(child.name, callback_data=data(child)) for child in children]
    rows += [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup(rows)


def command_name(t: Translator, name: str, alias: str) -> str:
    """/thongke for Vietnamese readers, /stats for English ones (both work)."""
    return f"/{alias}" if t.language == "en" else f"/{name}"


async def scoped_unit(context: DanvanContext, unit_id: str) -> Unit | None:
    """The unit a button names, if it is still in the member's scope."""
    assert context.member is not None
    return (await scope.find_unit(context.session, context.member, unit_id=int(unit_id))).unit


# --- the command and its buttons ------------------------------------------------------------------


def _period_question(t: Translator, unit: Unit) -> tuple[str, InlineKeyboardMarkup]:
    rows = [
        [
            InlineKeyboardButton(t._(PERIODS[key][0]), callback_data=f"{PREFIX}:p:{pk(unit)}:{key}")
            for key in row
        ]
        for row in PERIOD_LAYOUT
    ]
    text = t._("Figures for <b>{unit}</b>: which period?", unit=escape_html(unit.name))
    return text, InlineKeyboardMarkup(rows)


@guarded(Role.OFFICIAL)
async def stats_command(update: Update, context: DanvanContext) -> None:
    """/thongke [CODE]: choose the unit (unless given), then the period."""
    member, t = context.member, context.t
    assert member is not None
    if context.args:
        unit = await typed_unit(context.session, member, context.args[0])
        if unit is None:
            await reply(
                update,
                t._(
                    "There is no unit with code {code}.",
                    code=escape_html(shorten(context.args[0], SHOWN_CODE)),
                ),
            )
            return
        text, markup = _period_question(t, unit)
        await reply(update, text, reply_markup=markup)
        return
    own = await own_unit(context.session, member)
    children = await child_units(context.session, own)
    if not children:
        text, markup = _period_question(t, own)
        await reply(update, text, reply_markup=markup)
        return
    shown, left_out = listed_units(t, children)
    text = "\n".join(
        [
            t._("Figures for which unit?"),
            *left_out,
            t._(
                "Or send a unit's code after the command, e.g. {example}.",
                example=f"{command_name(t, 'thongke', 'stats')} {escape_html(children[0].code)}",
            ),
        ]
    )
    markup = unit_keyboard(own, shown, lambda unit: f"{PREFIX}:u:{pk(unit)}")
    await reply(update, text, reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_unit(update: Update, context: DanvanContext) -> None:
    """A unit button: ask for the period."""
    query = update.callback_query
    assert query is not None and query.data is not None
    unit = await scoped_unit(context, query.data.split(":")[2])
    if unit is None:
        await query.answer(stale_text(context.t), show_alert=True)
        return
    await query.answer()
    text, markup = _period_question(context.t, unit)
    await query.edit_message_text(text, parse_mode="HTML", reply_markup=markup)


@guarded(Role.OFFICIAL)
async def on_period(update: Update, context: DanvanContext) -> None:
    """A period button: build the unit's digest for it and send it here."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, _, unit_id, key = query.data.split(":")
    unit = await scoped_unit(context, unit_id)
    if unit is None or key not in PERIODS:
        await query.answer(stale_text(context.t), show_alert=True)
        return
    await query.answer()
    today = flows.now(context).astimezone(context.settings.tz).date()
    period = PERIODS[key][1](today)
    messages = await digest_messages(
        context.session, context.t, pk(unit), period, tz=context.settings.tz
    )
    # Sending takes a while; on SQLite our transaction would hold the write lock meanwhile.
    await context.session.commit()
    chat = update.effective_chat
    assert chat is not None
    await context.scheduler.delivery.send_messages(chat.id, messages)


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["thongke", "stats"], stats_command),
        CallbackQueryHandler(on_unit, pattern=rf"^{PREFIX}:u:\d+$"),
        CallbackQueryHandler(on_period, pattern=rf"^{PREFIX}:p:\d+:\w+$"),
    ]
