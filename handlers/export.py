"""/xuat (/export): an official or admin takes the records of a unit of their area out of the
bot, as an Excel workbook or as CSV files. The chat is bot/domain/forms/exports.py's flow
(period, dates if asked for, unit, format); the file is bot/services/exports.py's.

/xuat CODE starts from that unit, if it is in the member's area; /xuat alone from the member's
own. The units offered are read again before every answer, from the member's area as it is
then, and the unit is checked once more when the file is made.
"""

from __future__ import annotations

import io
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.domain.access import Role
from bot.domain.flow import Draft, Env
from bot.domain.formatting import escape_html, format_date, format_number
from bot.domain.forms.exports import EXPORT, span
from bot.domain.outgoing import Attachment, OutMessage
from bot.services.exports import ExportFormat, export_filename, write_export
from handlers.common import DanvanContext, guarded, named_unit, reply, stale_text, unit_options
from handlers.conversation import FlowBinding, begin, now
from handlers.keyboards import main_menu
from storage import export as store
from storage import scope
from storage.audit import record
from storage.models import pk

TELEGRAM_FILE_LIMIT = 50 * 1024 * 1024  # what a bot may upload


async def units_to_choose(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The starting unit and the active units below it, as the member may see them now."""
    root = (await scope.find_unit(context.session, context.member, unit_id=draft["root"])).unit
    if root is None:
        return {"units": []}
    return {"units": unit_options(await store.unit_choices(context.session, root))}


@guarded(Role.OFFICIAL)
async def export_command(update: Update, context: DanvanContext) -> None:
    """/xuat [UNIT]: export records, starting with the period."""
    member = context.member
    assert member is not None
    if context.args:
        root = await named_unit(update, context, " ".join(context.args))
        if root is None:
            return
    else:
        root = (await scope.find_unit(context.session, member, unit_id=member.unit_id)).unit
        assert root is not None
    choices = await store.unit_choices(context.session, root)
    seed: dict[str, Any] = {"choose_unit": len(choices) > 1}
    if len(choices) == 1:
        seed.update(unit=pk(root), unit_name=root.name)
    await begin(update, context, EXPORT, keep={"root": pk(root)}, **seed)


async def send_export(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """The format was chosen: make the file (of the unit, if still in the member's area)."""
    member, t = context.member, context.t
    assert member is not None
    answers = draft["answers"]
    unit = (await scope.find_unit(context.session, member, unit_id=answers["unit"])).unit
    if unit is None:
        await reply(update, stale_text(t), reply_markup=main_menu(t))
        return
    fmt = ExportFormat(answers["format"])
    start, end = span(draft)
    shown = {"unit": escape_html(unit.name), "start": format_date(start), "end": format_date(end)}
    await reply(update, t._("⏳ Preparing the export of <b>{unit}</b>, {start} – {end}…", **shown))
    buffer = io.BytesIO()
    counts = await write_export(context.session, unit, start, end, fmt, buffer, today=env.today)
    await record(
        context.session,
        "export",
        pk(unit),
        "exported",
        None,
        {
            "unit": unit.code,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "format": fmt.value,
            "records": counts.records,
        },
        unit_id=pk(unit),
        actor_id=member.id,
        at=now(context),
    )
    # The file is built: let SQLite's write lock go before the upload.
    await context.session.commit()
    content = buffer.getvalue()
    if len(content) > TELEGRAM_FILE_LIMIT:
        await reply(
            update,
            t._(
                "The file is too large to send through Telegram ({size} MB). Please choose a "
                "shorter period or a smaller unit.",
                size=format_number(len(content) // (1024 * 1024)),
            ),
        )
        return
    caption = t._(
        "<b>{unit}</b>, {start} – {end}\n"
        "Activities: {activities} · Land pledges: {land} · Workday entries: {workdays}",
        activities=format_number(counts.activities),
        land=format_number(counts.land),
        workdays=format_number(counts.workdays),
        **shown,
    )
    attachment = Attachment(export_filename(unit.code, start, end, fmt), content, caption=caption)
    chat = update.effective_chat
    assert chat is not None
    await context.scheduler.delivery.send_messages(
        chat.id, [OutMessage("", attachments=[attachment])]
    )


def flows() -> list[FlowBinding]:
    return [FlowBinding(EXPORT, send_export, needs=Role.OFFICIAL, load=units_to_choose)]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [CommandHandler(["xuat", "export"], export_command)]
