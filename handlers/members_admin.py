"""(Being built.)"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler

from handlers.common import DanvanContext


def handlers() -> list[BaseHandler[Update, DanvanContext, Any]]:
    return []
