"""The coordinators' forms on Telegram: /hoatdong (an activity), /hiendat (a land pledge) and
/ngaycong (workdays), and saving what they confirm.

The forms themselves (steps, validation, cards) are in bot/domain/forms/records.py; the row a
confirmed form becomes, in storage/records.py (`save`, with bot/domain/records.py's one mapping
from answers to columns). A correction of a saved record runs the same form, opened on "which
field?" by Đã ghi (handlers/review.py), and is stored there.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.domain import flow as engine
from bot.domain.access import Role
from bot.domain.flow import Draft, Env, Outcome
from bot.domain.forms.records import ACTIVITY, LAND, WORKDAY
from bot.domain.records import reference
from bot.domain.review import KIND_OF_FLOW
from handlers import review
from handlers.common import DanvanContext, guarded, reply
from handlers.conversation import FlowBinding, begin
from handlers.keyboards import main_menu
from storage import records


async def recent_works(context: DanvanContext, draft: Draft) -> dict[str, Any]:
    """The workday form offers the group's recent works as buttons."""
    if context.member is None:
        return {}
    return {"recent_works": await records.recent_works(context.session, context.member.unit_id)}


async def save(
    update: Update, context: DanvanContext, draft: Draft, env: Env
) -> engine.Reply | None:
    """A confirmed form: a new record of the member's group (or the correction of one)."""
    if draft.get("edit_of"):
        await review.save_edit(update, context, draft, env)
        return None
    t, member = context.t, context.member
    assert member is not None
    kind = KIND_OF_FLOW[draft["flow"]]
    answers = draft["answers"]
    duplicate = await records.find_duplicate(
        context.session, kind, member.unit_id, answers, env.now
    )
    if duplicate is not None and draft.get("duplicate_warned") != duplicate:
        draft["duplicate_warned"] = duplicate
        warning = t._(
            "This may repeat {reference}. Press ✅ Save again to save it anyway.",
            reference=duplicate,
        )
        flow = FLOW_OF_NAME[draft["flow"]]
        return engine.Reply(Outcome.PROMPT, engine.prompt_for(flow, draft, env), [f"⚠️ {warning}"])
    record_id = await records.save(context.session, kind, member, answers, env.now)
    # Owed: sent once the record commits with the update (a confirmation that fails is
    # retried by the outbox, and never undoes the record).
    await reply(
        update,
        t._("✅ Saved as <b>{reference}</b>. Thank you!", reference=reference(kind, record_id)),
        reply_markup=main_menu(t),
    )
    return None


FLOW_OF_NAME = {flow.name: flow for flow in (ACTIVITY, LAND, WORKDAY)}


@guarded(Role.COORDINATOR)
async def start_activity(update: Update, context: DanvanContext) -> None:
    """/hoatdong: log an activity."""
    await begin(update, context, ACTIVITY)


@guarded(Role.COORDINATOR)
async def start_land(update: Update, context: DanvanContext) -> None:
    """/hiendat: log a land pledge."""
    await begin(update, context, LAND)


@guarded(Role.COORDINATOR)
async def start_workday(update: Update, context: DanvanContext) -> None:
    """/ngaycong: log workdays."""
    await begin(update, context, WORKDAY)


def flows() -> list[FlowBinding]:
    return [
        FlowBinding(ACTIVITY, save),
        FlowBinding(LAND, save),
        FlowBinding(WORKDAY, save, load=recent_works),
    ]


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return [
        CommandHandler(["hoatdong", "activity"], start_activity),
        CommandHandler(["hiendat", "land"], start_land),
        CommandHandler(["ngaycong", "workday"], start_workday),
    ]
