"""Đã ghi: the group's latest records, to view, correct and delete."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from handlers.common import DanvanContext, reply


async def show_records(update: Update, context: DanvanContext, page: int) -> None:
    """List the group's latest records, ten to a page."""
    await reply(update, context.t._("Your records will be listed here."))


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return []
