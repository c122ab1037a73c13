"""Callback data, the one codec every button uses: "prefix:part:part…", at most 64 bytes (what
Telegram keeps), read back strictly. Anything that does not decode is a stale or forged button,
and gets the one stale answer (handlers/common.py, `stale`).

The parts are short words and numbers without ":"; the last part of a `pack` may hold ":" (a
flow's choice value), and `unpack(..., rest=True)` gives it back whole.
"""

from __future__ import annotations

import re

MAX_BYTES = 64
SEPARATOR = ":"
_PART = re.compile(r"[A-Za-z0-9_.+\-]*")
_NUMBER = re.compile(r"\d{1,18}")


class CallbackDataError(ValueError):
    """Data that cannot be a button's: too long, or a part with a separator in it."""


def pack(prefix: str, *parts: str | int) -> str:
    """The callback data of a button: `prefix` and `parts`, joined."""
    texts = [prefix, *(str(part) for part in parts)]
    for text in texts[:-1]:
        if not _PART.fullmatch(text):
            raise CallbackDataError(f"callback part {text!r} may not hold {SEPARATOR!r}")
    data = SEPARATOR.join(texts)
    if len(data.encode()) > MAX_BYTES:
        raise CallbackDataError(f"callback data longer than {MAX_BYTES} bytes: {data!r}")
    return data


def unpack(data: str | None, prefix: str, count: int, *, rest: bool = False) -> list[str] | None:
    """The `count` parts after `prefix`, or None when `data` is not such a button's. With
    `rest`, the last part keeps any separators in it."""
    if data is None or len(data.encode()) > MAX_BYTES:
        return None
    head, _, tail = data.partition(SEPARATOR)
    if head != prefix:
        return None
    parts = tail.split(SEPARATOR, count - 1) if rest else tail.split(SEPARATOR)
    if len(parts) != count or not all(parts[: count - 1 if rest else count]):
        return None
    return parts


def numbers(parts: list[str] | None, count: int | None = None) -> list[int] | None:
    """Parts that must all be numbers (ids, pages), as ints; None when one is not."""
    if parts is None or (count is not None and len(parts) != count):
        return None
    if not all(_NUMBER.fullmatch(part) for part in parts):
        return None
    return [int(part) for part in parts]
