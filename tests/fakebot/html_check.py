"""Telegram's HTML parse mode: plain text plus entities, or the error Telegram would give.

Follows TDLib's ``parse_html`` (the code behind the Bot API), including its error wording and
its byte offsets (UTF-8, into the markup as sent). One deliberate difference: by default a ``&``
that does not start an entity is an error here, while Telegram silently keeps it. That catches
text interpolated without ``html.escape`` before a user's ``<`` breaks a real send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)

_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n\f\v"
_URL_LIKE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?[^\s/]+\.[^\s]+$|^[a-z][a-z0-9+.-]*://\S+$", re.I
)


class EntityParseError(ValueError):
    """Markup Telegram rejects; ``str(error)`` is its reason, after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_start: int
    entity_index: int  # len(entities) when the tag opened: entities added inside come after
    order: int  # outer tags open first; ties in the final sort keep that order


def _decode_entity(markup: str, pos: int) -> tuple[str, int] | None:
    """Decode the HTML entity at ``markup[pos] == '&'`` like TDLib: (character, next position)."""
    n = len(markup)
    end = pos + 1
    if end < n and markup[end] == "#":
        end += 1
        value = 0
        if end < n and markup[end] == "x":
            end += 1
            start = end
            while end < n and markup[end] in "0123456789abcdefABCDEF":
                end += 1
            if end > start:
                value = int(markup[start:end], 16)
        else:
            start = end
            while end < n and markup[end].isascii() and markup[end].isdigit():
                end += 1
            if end > start:
                value = int(markup[start:end])
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None
        if 0xD800 <= value <= 0xDFFF:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        char = chr(value)
    else:
        while end < n and markup[end].isascii() and markup[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(markup[pos + 1 : end])
        if named is None:
            return None
        char = named
    if end < n and markup[end] == ";":
        end += 1
    return char, end


def _byte_offset(markup: str, pos: int) -> int:
    return len(markup[:pos].encode("utf-8", "surrogatepass"))


def _is_space(markup: str, pos: int) -> bool:
    return pos < len(markup) and markup[pos] in _SPACES


def parse_html(markup: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Bot API HTML into (plain text, Bot API MessageEntity dicts).

    Raises EntityParseError with Telegram's wording for markup Telegram rejects.
    """
    n = len(markup)
    out: list[str] = []
    utf16_pos = 0
    entities: list[dict[str, Any]] = []
    stack: list[_OpenTag] = []
    opened = 0
    i = 0

    while i < n:
        char = markup[i]
        if char == "&":
            decoded = _decode_entity(markup, i)
            if decoded is not None:
                out.append(decoded[0])
                utf16_pos += utf16_len(decoded[0])
                i = decoded[1]
                continue
            if strict_ampersand:
                raise EntityParseError(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(markup, i)}"
                )
        if char != "<":
            out.append(char)
            utf16_pos += utf16_len(char)
            i += 1
            continue

        begin = i
        begin_bytes = _byte_offset(markup, begin)
        i += 1
        if i < n and markup[i] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin_bytes}")
            i += 1
            while i < n and not _is_space(markup, i) and markup[i] != ">":
                i += 1
            end_name = markup[begin + 2 : i].lower()
            while _is_space(markup, i):
                i += 1
            if i >= n or markup[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {begin_bytes}")
            i += 1
            tag = stack.pop()
            if end_name and end_name != tag.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {begin_bytes}, "
                    f'expected "</{tag.name}>", found "</{end_name}>"'
                )
            _close_entity(tag, utf16_pos - tag.utf16_start, "".join(out), entities)
            continue

        while i < n and not _is_space(markup, i) and markup[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin_bytes}")
        name = markup[begin + 1 : i].lower()
        if name not in SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {begin_bytes}')

        argument = ""
        while True:
            while _is_space(markup, i):
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin_bytes}")
            if markup[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and not _is_space(markup, i) and markup[i] not in "=>":
                i += 1
            attr_name = markup[attr_start:i].lower()
            if not attr_name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {begin_bytes}'
                )
            while _is_space(markup, i):
                i += 1
            if i >= n or markup[i] != "=":
                if name == "blockquote" and attr_name == "expandable":
                    argument = "1"
                continue
            i += 1
            while _is_space(markup, i):
                i += 1
            if i >= n:
                raise EntityParseError(f'Unclosed start tag "{name}" at byte offset {begin_bytes}')
            value_chars: list[str] = []
            if markup[i] not in "'\"":
                token_start = i
                while i < n and (
                    (markup[i].isascii() and markup[i].isalnum()) or markup[i] in ".-"
                ):
                    i += 1
                if i >= n or (not _is_space(markup, i) and markup[i] != ">"):
                    raise EntityParseError(
                        "Unexpected end of name token at byte offset "
                        f"{_byte_offset(markup, token_start)}"
                    )
                value = markup[token_start:i].lower()
            else:
                quote = markup[i]
                i += 1
                while i < n and markup[i] != quote:
                    if markup[i] == "&":
                        decoded = _decode_entity(markup, i)
                        if decoded is not None:
                            value_chars.append(decoded[0])
                            i = decoded[1]
                            continue
                    value_chars.append(markup[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin_bytes}")
                i += 1
                value = "".join(value_chars)
            if name == "a" and attr_name == "href":
                argument = value
            elif name == "code" and attr_name == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif name == "span" and attr_name == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif name == "tg-emoji" and attr_name == "emoji-id":
                argument = value
            elif name == "blockquote" and attr_name == "expandable":
                argument = "1"

        if name == "span" and argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {begin_bytes}'
            )
        if name == "tg-emoji" and not argument.isdigit():
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {begin_bytes}'
            )
        stack.append(_OpenTag(name, argument, utf16_pos, len(entities), opened))
        opened += 1

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"], e["_order"]))
    return "".join(out), [{k: v for k, v in e.items() if not k.startswith("_")} for e in entities]


def _close_entity(tag: _OpenTag, length: int, text: str, entities: list[dict[str, Any]]) -> None:
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": tag.utf16_start, "length": length, "_order": tag.order}
    if tag.name in _SIMPLE_ENTITY_TYPES:
        entity["type"] = _SIMPLE_ENTITY_TYPES[tag.name]
    elif tag.name == "blockquote":
        entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
    elif tag.name == "tg-emoji":
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = tag.argument
    elif tag.name == "a":
        url = tag.argument or _utf16_tail(text, tag.utf16_start)
        if not _URL_LIKE.match(url):
            return
        entity["type"] = "text_link"
        entity["url"] = url
    elif tag.name in ("pre", "code"):
        # <pre><code class="language-x">...</code></pre> (either nesting order) covering the same
        # text is one pre entity with a language, as TDLib merges them.
        inner = entities[-1] if len(entities) > tag.entity_index else None
        same_span = (
            inner is not None and inner["offset"] == tag.utf16_start and inner["length"] == length
        )
        if tag.name == "pre":
            entity["type"] = "pre"
            if same_span and inner is not None and inner["type"] == "code" and "_lang" in inner:
                entity["language"] = inner["_lang"]
                entities.pop()
        else:
            if same_span and inner is not None and inner["type"] == "pre" and tag.argument:
                inner["language"] = tag.argument
                return
            entity["type"] = "code"
            if tag.argument:
                entity["_lang"] = tag.argument
    entities.append(entity)


def _utf16_tail(text: str, utf16_start: int) -> str:
    encoded = text.encode("utf-16-le", "surrogatepass")
    return encoded[utf16_start * 2 :].decode("utf-16-le", "surrogatepass")
