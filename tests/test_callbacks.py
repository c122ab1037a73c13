"""The one callback-data codec (bot/domain/callbacks.py): what it packs it reads back, within
Telegram's 64 bytes, and anything else reads as nothing (a stale or forged button)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.callbacks import CallbackDataError, numbers, pack, unpack

PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)


@given(PART, st.lists(PART, min_size=1, max_size=4))
def test_what_is_packed_reads_back(prefix: str, parts: list[str]) -> None:
    data = pack(prefix, *parts)
    assert unpack(data, prefix, len(parts)) == parts
    assert unpack(data, prefix + "x", len(parts)) is None
    assert unpack(data, prefix, len(parts) + 1) is None


def test_the_last_part_may_hold_separators_when_read_whole() -> None:
    data = pack("d", "3fa2", "pending:1")
    assert unpack(data, "d", 2, rest=True) == ["3fa2", "pending:1"]
    assert unpack(data, "d", 2) is None


def test_a_part_with_a_separator_or_data_past_64_bytes_is_refused() -> None:
    with pytest.raises(CallbackDataError):
        pack("un", "a:b", 1)
    with pytest.raises(CallbackDataError):
        pack("un", "x" * 70)
    assert unpack("un:" + "9" * 70, "un", 1) is None


@given(st.text(max_size=80))
def test_anything_typed_into_callback_data_decodes_to_nothing_or_to_parts(data: str) -> None:
    found = unpack(data, "un", 2)
    assert found is None or (len(found) == 2 and all(found))
    ids = numbers(found)
    assert ids is None or all(isinstance(i, int) for i in ids)


def test_numbers_are_ids_or_nothing() -> None:
    assert numbers(["12", "0"]) == [12, 0]
    assert numbers(["12", "x"]) is None
    assert numbers(["1" * 19]) is None  # longer than any id
    assert numbers(["1", "2"], 3) is None
    assert numbers(None) is None
