"""Telegram keyboards: the main menu and the rendering of flow prompts."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.domain import callbacks
from bot.domain.flow import Prompt
from bot.domain.i18n import LANGUAGES, N_, Translator
from bot.domain.textnorm import match_choice

# The menu's actions, in the order of its buttons.
MENU: dict[str, str] = {
    "activity": N_("📝 Log activity"),
    "land": N_("🏡 Land donation"),
    "workday": N_("🛠 Workdays"),
    "mine": N_("📋 My records"),
    "report": N_("📊 Summary"),
    "nil": N_("🈳 Nothing this week"),
    "help": N_("❓ Help"),
}
MENU_LAYOUT = [["activity", "land"], ["workday", "mine"], ["report", "help"], ["nil"]]
# Extra words people type for each action, beyond the button labels in both languages.
MENU_ALIASES: dict[str, list[str]] = {
    "activity": ["hoat dong", "ghi hoat dong", "activity"],
    "land": ["hien dat", "land"],
    "workday": ["ngay cong", "workday", "workdays"],
    "mine": ["da ghi", "mine", "my records"],
    "report": ["bao cao", "report", "summary"],
    "nil": ["khong co hoat dong", "tuan nay khong co hoat dong"],
    "help": ["huong dan", "tro giup", "help"],
}


def main_menu(t: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[t._(MENU[action]) for action in row] for row in MENU_LAYOUT],
        resize_keyboard=True,
        is_persistent=True,
    )


def _strip_icon(label: str) -> str:
    return label.split(" ", 1)[1] if " " in label and not label[0].isalnum() else label


def menu_action(text: str, *, exact: bool = False) -> str | None:
    """Which menu action a typed or tapped text means, in either language, with or without
    diacritics or the icon. `exact` accepts only a button's own label (a tap), so that an
    answer typed inside a flow is never taken for a menu action."""
    if exact:
        for action, label in MENU.items():
            if text.strip() in (Translator(language)._(label) for language in LANGUAGES):
                return action
        return None
    choices: dict[str, list[str]] = {}
    for action, label in MENU.items():
        labels = [Translator(language)._(label) for language in LANGUAGES]
        choices[action] = [*labels, *(_strip_icon(x) for x in labels), *MENU_ALIASES[action]]
    return match_choice(_strip_icon(text.strip()), choices)


DRAFT_BUTTON = "d"  # callback data of a flow prompt's buttons: d:<draft id>:<choice value>


def inline(prompt: Prompt, draft_id: str) -> InlineKeyboardMarkup | None:
    if not prompt.choices:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    choice.label, callback_data=callbacks.pack(DRAFT_BUTTON, draft_id, choice.value)
                )
                for choice in row
            ]
            for row in prompt.choices
        ]
    )


def contact_keyboard(prompt: Prompt) -> ReplyKeyboardMarkup:
    """A prompt that asks for a phone number puts all its buttons on the reply keyboard,
    since one message cannot carry both kinds of keyboard."""
    assert prompt.ask_contact is not None
    rows = [[KeyboardButton(prompt.ask_contact, request_contact=True)]]
    rows += [[KeyboardButton(choice.label) for choice in row] for row in prompt.choices]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)


def reply_choices(prompt: Prompt) -> dict[str, str]:
    """Label → value of the buttons on a reply keyboard, so their text can be read back."""
    return {choice.label: choice.value for row in prompt.choices for choice in row}
