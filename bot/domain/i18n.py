"""Translations from the gettext catalogs in locale/ (vi is the default, en the second).

Message ids are English; every one has a Vietnamese and an English entry, which a test checks.
The .po files are compiled in memory at first use, so there is no build step to forget.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.domain.formatting import format_number

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
DOMAIN = "danvan"
LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"


def N_(message: str) -> str:  # the name gettext tools look for
    """Mark a string for the catalogs without translating it yet."""
    return message


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translator:
    """Texts in one language: `t._("Hello {name}", name=...)`."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._translations = _catalog(self.language)

    def _(self, message: str, /, **values: object) -> str:
        text = self._translations.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, count: int, /, **values: object) -> str:
        """The form for ``count``, which is shown as a number is (1.250)."""
        text = self._translations.ngettext(singular, plural, count)
        return text.format(count=format_number(count), **values)


def translator(language: str | None) -> Translator:
    return Translator(language or DEFAULT_LANGUAGE)


def pick_language(telegram_language_code: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The language for someone not yet registered, from their Telegram app's setting."""
    code = (telegram_language_code or "").split("-")[0].lower()
    return code if code in LANGUAGES else default
