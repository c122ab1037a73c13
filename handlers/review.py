"""Đã ghi: the group's latest records, to view, correct, delete, and move a land pledge on.

The rules and texts live in bot/review.py, the queries in storage/review.py; corrections go
through the record's own flow (bot/records.py), so every field is validated as when it was
logged, and handlers.flows.save hands the confirmed card back to `save_edit` here.
"""

from __future__ import annotations

from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import access, records, review
from bot.domain import flow as engine
from bot.domain.access import Role
from bot.domain.flow import Draft, Env
from bot.domain.formatting import format_date
from bot.domain.forms.records import STAGES
from bot.domain.i18n import Translator
from bot.domain.records import RecordKind, reference
from handlers import conversation as flows
from handlers.common import DanvanContext, edit_in_place, guarded, reply, stale_text
from handlers.keyboards import main_menu
from storage import review as store
from storage.models import LandPledge, Unit

STAGE_ICONS = {"huy": "⛔"}


def _denial(context: DanvanContext, scope: Unit, found: store.Found) -> access.RecordDenial | None:
    member = context.member
    assert member is not None
    row = found.row
    return access.record_change_denial(
        member_id=member.id,
        member_role=member.role,
        member_unit_path=scope.path,
        author_id=row.reporter_id,
        record_unit_path=found.unit_path,
        created_at=row.created_at,
        now=flows.now(context),
        window_days=context.settings.edit_window_days,
    )


def denial_text(t: Translator, denial: access.RecordDenial, window_days: int) -> str:
    if denial is access.RecordDenial.WINDOW_PASSED:
        return t._(
            "Records can be changed by the person who logged them for {days} days. "
            "Please ask your commune or ward official.",
            days=window_days,
        )
    if denial is access.RecordDenial.OUT_OF_SCOPE:
        return t._("This record belongs to a unit outside yours.")
    return t._("Only the person who logged this record, or an official, can change it.")


# --- the list --------------------------------------------------------------------------------


async def _list_view(context: DanvanContext, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    member, t = context.member, context.t
    assert member is not None
    scope = await store.member_unit(context.session, member)
    listed = await store.records_page(context.session, scope, page)
    now = flows.now(context)
    rows: list[list[InlineKeyboardButton]] = []
    for line in listed.lines:
        buttons = [
            InlineKeyboardButton(
                f"👁 {line.reference}",
                callback_data=review.record_callback("view", line.kind, line.id),
            )
        ]
        allowed = access.can_modify_record(
            member_id=member.id,
            member_role=member.role,
            member_unit_path=scope.path,
            author_id=line.reporter_id,
            record_unit_path=line.unit_path,
            created_at=line.created_at,
            now=now,
            window_days=context.settings.edit_window_days,
        )
        if allowed:
            buttons += [
                InlineKeyboardButton(
                    f"✏️ {line.reference}",
                    callback_data=review.record_callback("edit", line.kind, line.id),
                ),
                InlineKeyboardButton(
                    f"🗑 {line.reference}",
                    callback_data=review.record_callback("del", line.kind, line.id),
                ),
            ]
        rows.append(buttons)
    paging = []
    if listed.page > 0:
        paging.append(
            InlineKeyboardButton("◀", callback_data=review.list_callback(listed.page - 1))
        )
    if listed.page < listed.pages - 1:
        paging.append(
            InlineKeyboardButton("▶", callback_data=review.list_callback(listed.page + 1))
        )
    if paging:
        rows.append(paging)
    return review.list_text(t, listed), InlineKeyboardMarkup(rows) if rows else None


async def show_records(update: Update, context: DanvanContext, page: int) -> None:
    """List the group's latest records, ten to a page."""
    if access.check(context.member, Role.COORDINATOR) is not None:  # e.g. deactivated
        await reply(update, context.t._("Sorry, you do not have permission to do that."))
        return
    text, markup = await _list_view(context, page)
    await reply(update, text, reply_markup=markup)


@guarded(Role.COORDINATOR)
async def records_command(update: Update, context: DanvanContext) -> None:
    """/daghi: the group's records."""
    await show_records(update, context, page=0)


@guarded(Role.COORDINATOR)
async def on_page(update: Update, context: DanvanContext) -> None:
    """◀ / ▶ under the list: show another page in the same message."""
    query = update.callback_query
    assert query is not None
    request = review.parse_callback(query.data)
    if request is None or request.extra is None:
        await query.answer(stale_text(context.t), show_alert=True)
        return
    await query.answer()
    text, markup = await _list_view(context, int(request.extra))
    await edit_in_place(query, text, markup)


# --- one record ------------------------------------------------------------------------------


async def _target(
    update: Update, context: DanvanContext, *, change: bool
) -> tuple[CallbackQuery, review.Callback, store.Found, Unit] | None:
    """The record a button names, if it is still there and in the member's scope (and, for a
    `change`, the member may change it); otherwise answer the button and return None."""
    query = update.callback_query
    assert query is not None and context.member is not None
    t = context.t
    request = review.parse_callback(query.data)
    scope = await store.member_unit(context.session, context.member)
    found = None
    if request is not None and request.kind is not None and request.record_id is not None:
        found = await store.find_record(context.session, request.kind, request.record_id, scope)
    if request is None or found is None:
        await query.answer(stale_text(t), show_alert=True)
        return None
    if change:
        denial = _denial(context, scope, found)
        if denial is not None:
            await query.answer(
                denial_text(t, denial, context.settings.edit_window_days), show_alert=True
            )
            return None
    return query, request, found, scope


async def _record_view(
    context: DanvanContext, found: store.Found, scope: Unit
) -> tuple[str, InlineKeyboardMarkup]:
    t = context.t
    row = found.row
    assert row.id is not None
    events = await store.history(context.session, found.kind, row.id, review.MAX_HISTORY)
    text = review.record_text(
        t,
        flows.flow_env(context),
        found.kind,
        store.columns(row),
        reporter=found.reporter_name,
        unit=found.unit_name,
        history=events,
        tz=context.settings.tz,
    )
    rows: list[list[InlineKeyboardButton]] = []
    if _denial(context, scope, found) is None:
        rows.append(
            [
                InlineKeyboardButton(
                    t._("✏️ Edit"), callback_data=review.record_callback("edit", found.kind, row.id)
                ),
                InlineKeyboardButton(
                    t._("🗑 Delete"),
                    callback_data=review.record_callback("del", found.kind, row.id),
                ),
            ]
        )
        if isinstance(row, LandPledge):
            for stage in records.next_stages(row.stage):
                icon = STAGE_ICONS.get(stage, "➡️")
                rows.append(
                    [
                        InlineKeyboardButton(
                            f"{icon} {t._(STAGES[stage])}",
                            callback_data=review.record_callback(
                                "stage", found.kind, row.id, stage
                            ),
                        )
                    ]
                )
    rows.append([InlineKeyboardButton(t._("◀ Back"), callback_data=review.list_callback(0))])
    return text, InlineKeyboardMarkup(rows)


@guarded(Role.COORDINATOR)
async def on_view(update: Update, context: DanvanContext) -> None:
    """👁 under the list: the record's fields and history."""
    target = await _target(update, context, change=False)
    if target is None:
        return
    query, _, found, scope = target
    await query.answer()
    text, markup = await _record_view(context, found, scope)
    await reply(update, text, reply_markup=markup)


# --- correcting ------------------------------------------------------------------------------


@guarded(Role.COORDINATOR)
async def on_edit(update: Update, context: DanvanContext) -> None:
    """✏️: open the record's flow on its "which field?" question, answers filled in."""
    target = await _target(update, context, change=True)
    if target is None:
        return
    query, _, found, _ = target
    await query.answer()
    row = found.row
    assert row.id is not None
    note = context.t._("✏️ Correcting {reference}.", reference=reference(found.kind, row.id))
    await flows.begin(
        update,
        context,
        review.FLOW_OF_KIND[found.kind],
        step=engine.EDIT_PICK_STEP,
        history=[engine.CONFIRM_STEP],
        keep={"edit_of": {"kind": found.kind.value, "id": row.id}},
        notes=[note],
        **records.answers_of(found.kind, store.columns(row)),
    )


async def save_edit(update: Update, context: DanvanContext, draft: Draft, env: Env) -> None:
    """The edit card of an existing record was confirmed: store the changed fields."""
    member, t = context.member, context.t
    assert member is not None
    kind = RecordKind(draft["edit_of"]["kind"])
    record_id = int(draft["edit_of"]["id"])
    ref = reference(kind, record_id)
    scope = await store.member_unit(context.session, member)
    found = await store.find_record(context.session, kind, record_id, scope)
    if found is None or review.FLOW_OF_KIND[kind].name != draft["flow"]:
        await reply(update, stale_text(t), reply_markup=main_menu(t))
        return
    denial = _denial(context, scope, found)
    if denial is not None:
        text = denial_text(t, denial, context.settings.edit_window_days)
        await reply(update, text, reply_markup=main_menu(t))
        return
    changed = await store.apply_edit(context.session, found.row, draft["answers"], member, env.now)
    if not changed:
        await reply(
            update,
            t._("Nothing was changed in {reference}.", reference=ref),
            reply_markup=main_menu(t),
        )
        return
    fields = ", ".join(dict.fromkeys(review.field_label(t, name) for name in changed))
    await reply(
        update,
        t._("✅ <b>{reference}</b> was corrected: {fields}.", reference=ref, fields=fields),
        reply_markup=main_menu(t),
    )


# --- deleting --------------------------------------------------------------------------------


@guarded(Role.COORDINATOR)
async def on_delete(update: Update, context: DanvanContext) -> None:
    """🗑: ask before deleting."""
    target = await _target(update, context, change=True)
    if target is None:
        return
    query, _, found, _ = target
    await query.answer()
    t = context.t
    row = found.row
    assert row.id is not None
    ref = reference(found.kind, row.id)
    buttons = [
        InlineKeyboardButton(
            t._("🗑 Delete"), callback_data=review.record_callback("delok", found.kind, row.id)
        ),
        InlineKeyboardButton(
            t._("✖️ Cancel"), callback_data=review.record_callback("keep", found.kind, row.id)
        ),
    ]
    await reply(
        update,
        t._("Delete <b>{reference}</b>? It will no longer count in reports.", reference=ref),
        reply_markup=InlineKeyboardMarkup([buttons]),
    )


@guarded(Role.COORDINATOR)
async def on_delete_confirmed(update: Update, context: DanvanContext) -> None:
    """🗑 on the question: soft-delete the record."""
    target = await _target(update, context, change=True)
    if target is None:
        return
    query, _, found, _ = target
    assert context.member is not None and found.row.id is not None
    await store.soft_delete(context.session, found.row, context.member, flows.now(context))
    await query.answer()
    ref = reference(found.kind, found.row.id)
    await edit_in_place(
        query, context.t._("🗑 <b>{reference}</b> was deleted.", reference=ref), None
    )


@guarded(Role.COORDINATOR)
async def on_keep(update: Update, context: DanvanContext) -> None:
    """✖️ on the question: keep the record."""
    query = update.callback_query
    assert query is not None
    request = review.parse_callback(query.data)
    await query.answer()
    if request is None or request.kind is None or request.record_id is None:
        return
    ref = reference(request.kind, request.record_id)
    await edit_in_place(query, context.t._("<b>{reference}</b> was kept.", reference=ref), None)


# --- a land pledge's stage -------------------------------------------------------------------


@guarded(Role.COORDINATOR)
async def on_stage(update: Update, context: DanvanContext) -> None:
    """A stage button under a land pledge: it reached that stage today."""
    target = await _target(update, context, change=True)
    if target is None:
        return
    query, request, found, scope = target
    row = found.row
    t = context.t
    stage = request.extra
    if (
        not isinstance(row, LandPledge)
        or stage is None
        or stage not in records.next_stages(row.stage)
    ):
        await query.answer(stale_text(t), show_alert=True)
        return
    assert context.member is not None and row.id is not None
    moment = flows.now(context)
    today = moment.astimezone(context.settings.tz).date()
    await store.advance_stage(context.session, row, stage, today, context.member, moment)
    await query.answer()
    text, markup = await _record_view(context, found, scope)
    await edit_in_place(query, text, markup)
    await reply(
        update,
        t._(
            "✅ <b>{reference}</b>: {stage} on {date}.",
            reference=reference(found.kind, row.id),
            stage=t._(STAGES[stage]),
            date=format_date(today),
        ),
        reply_markup=main_menu(t),
    )


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["daghi", "mine"], records_command),
        CallbackQueryHandler(on_page, pattern=r"^rv:list:\d+$"),
        CallbackQueryHandler(on_view, pattern=r"^rv:view:"),
        CallbackQueryHandler(on_edit, pattern=r"^rv:edit:"),
        CallbackQueryHandler(on_delete, pattern=r"^rv:del:"),
        CallbackQueryHandler(on_delete_confirmed, pattern=r"^rv:delok:"),
        CallbackQueryHandler(on_keep, pattern=r"^rv:keep:"),
        CallbackQueryHandler(on_stage, pattern=r"^rv:stage:"),
    ]
