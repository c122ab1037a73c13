"""Unicode hygiene and accent-folded matching for Vietnamese text.

Pure functions, no Telegram import.

``nfc(text)`` — the form in which text is *stored*:

* line breaks ``\\r\\n``, ``\\r``, ``\\v``, ``\\f``, U+001C..U+001E, U+0085, U+2028, U+2029
  become ``\\n``; a tab is ordinary whitespace;
* other control characters (category Cc), format characters (Cf: zero-width space, BOM,
  soft hyphen, bidirectional overrides and isolates...) and lone surrogates (Cs) are removed,
  except ZERO WIDTH JOINER / NON-JOINER, which emoji sequences need;
* the text is composed to NFC;
* on every line, runs of whitespace become one space and the line is stripped; more than one
  empty line in a row becomes one empty line; the whole text is stripped;
* with ``multiline=False`` every newline becomes a space as well (names, titles, one-line
  answers).

``fold(text)`` — the matching key (never shown to users, but stored in ``*_key`` columns, so
changing it needs a data migration): compatibility decomposition (NFKD, so ``m²`` → ``m2`` and
full-width digits become ASCII), case folding, all combining marks dropped, ``đ``/``Đ`` (and the
look-alikes ``ð``/``Ð``, ``ɖ``/``Ɖ``) mapped to ``d`` explicitly, control and format characters
removed, whitespace collapsed to single spaces and stripped. ``hòa``, ``hoà``, ``HÒA`` and ``hoa``
all fold to ``hoa``; ``fold(fold(x)) == fold(x)``.

``visible(text)`` — whether the text shows anything at all: an answer of nothing but spaces,
zero-width joiners or combining marks on nothing counts as empty.

``match_choice(text, choices)`` — which of a few choices the user meant, see its docstring.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TypeVar

__all__ = ["find_choices", "fold", "match_choice", "match_key", "nfc", "visible"]

K = TypeVar("K")

# Characters that str.splitlines() treats as line boundaries.
_LINE_BREAKS_RE = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_HSPACE_RE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")
_NON_ALNUM_RE = re.compile(r"[\W_]+")
_KEEP_FORMAT = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ
# Categories that draw nothing on their own: separators, controls, format, combining marks.
_BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Mn", "Me"})
_D_LIKE = str.maketrans({"đ": "d", "ð": "d", "ɖ": "d"})  # after casefold: Đ→đ, Ð→ð, Ɖ→ɖ


def _drop_invisible(text: str) -> str:
    """Remove control (except tab/newline), format (except ZWJ/ZWNJ) and surrogate code points."""
    out: list[str] = []
    for ch in text:
        if ch in "\n\t" or ch in _KEEP_FORMAT:
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs"):
            continue
        out.append(ch)
    return "".join(out)


def nfc(text: str, *, multiline: bool = True) -> str:
    """Return ``text`` cleaned for storage: NFC, no invisible characters, tidy whitespace."""
    text = _LINE_BREAKS_RE.sub("\n", text)
    text = _drop_invisible(text)
    text = unicodedata.normalize("NFC", text)
    if not multiline:
        return " ".join(text.split())
    lines = [_HSPACE_RE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip()


def visible(text: str) -> bool:
    """Whether ``text`` shows anything: a letter, digit, symbol or punctuation mark, not only
    spaces, invisible characters (ZWJ...) or combining marks on nothing."""
    return any(unicodedata.category(ch) not in _BLANK_CATEGORIES for ch in text)


def _fold_once(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(
        ch
        for ch in text
        if not unicodedata.category(ch).startswith("M")
        and (unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch.isspace())
    )
    return text.translate(_D_LIKE)


def fold(text: str) -> str:
    """Return the accent-folded, lower-case matching key of ``text`` (see module docstring)."""
    # Case folding can produce characters that decompose again (and vice versa); iterate to a
    # fixed point so that the key is idempotent. Two or three rounds always suffice in practice.
    for _ in range(4):
        folded = _fold_once(text)
        if folded == text:
            break
        text = folded
    return " ".join(text.split())


def match_key(text: str) -> str:
    """Return ``fold(text)`` with punctuation turned into spaces: ``"Họp-dân!"`` → ``"hop dan"``."""
    return " ".join(_NON_ALNUM_RE.sub(" ", fold(text)).split())


def find_choices(text: str, choices: Mapping[K, Iterable[str]]) -> list[K]:
    """Return the choices that ``text`` may mean, best tier only, in ``choices`` order.

    Matching is done on :func:`match_key` of the text and of every label/alias, in tiers; the
    first tier with any hit wins:

    1. exact match (also ignoring spaces: ``"hiendat"`` = ``"Hiến đất"``);
    2. the text is a prefix of a label (``"hien"`` → ``"Hiến đất"``);
    3. the text starts at a word boundary inside a label (``"dat"`` → ``"Hiến đất"``).

    Tiers 2 and 3 need at least two characters. An empty list means no match; more than one
    element means the text is ambiguous (the caller can offer those as buttons).
    """
    query = match_key(text)
    if not query:
        return []
    compact_query = query.replace(" ", "")
    keyed: list[tuple[K, str]] = [
        (key, alias_key)
        for key, aliases in choices.items()
        for alias_key in (match_key(alias) for alias in aliases)
        if alias_key
    ]
    tiers = [
        lambda alias: alias == query or alias.replace(" ", "") == compact_query,
        lambda alias: len(query) >= 2 and alias.startswith(query),
        lambda alias: len(query) >= 2 and f" {query}" in f" {alias}",
    ]
    for matches in tiers:
        found: list[K] = []
        for key, alias_key in keyed:
            if matches(alias_key) and key not in found:
                found.append(key)
        if found:
            return found
    return []


def match_choice(text: str, choices: Mapping[K, Iterable[str]]) -> K | None:
    """Return the single choice ``text`` means, or None if nothing or several match.

    ``choices`` maps each result to its labels and aliases, e.g.
    ``{Kind.LAND: ["Hiến đất", "hien dat", "đất"], Kind.MEETING: ["Họp dân"]}``.
    ``"hien dat"``, ``"HIẾN ĐẤT"``, ``"hiến"`` and ``"hop dan"`` each find one choice. See
    :func:`find_choices` for the matching tiers.
    """
    found = find_choices(text, choices)
    return found[0] if len(found) == 1 else None
