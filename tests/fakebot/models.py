"""What the fake records: messages, files, calls, callback answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

JSON = dict[str, Any]


class ApiCall(NamedTuple):
    """One request the bot made: canonical method name (e.g. ``sendMessage``) and decoded params.

    Uploaded files appear in ``params`` as :class:`Upload` under their form field name.
    """

    method: str
    params: JSON


class ApiErrorRecord(NamedTuple):
    """An error response the fake returned."""

    method: str
    error_code: int
    description: str
    params: JSON


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request, as received."""

    filename: str | None
    content: bytes
    content_type: str | None

    def __repr__(self) -> str:
        return f"Upload({self.filename!r}, {len(self.content)} bytes, {self.content_type!r})"


@dataclass
class FakeFile:
    """A file the fake knows by file_id: uploaded by the bot or sent by a fake user."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo", "document", "voice", "sticker"
    content: bytes
    filename: str | None = None
    mime_type: str | None = None
    url: str | None = None  # the bot passed an HTTP URL instead of bytes
    file_path: str = ""

    @property
    def size(self) -> int:
        return len(self.content)

    def __repr__(self) -> str:
        return (
            f"FakeFile({self.kind} {self.file_id!r}, {self.filename!r}, {self.size} bytes, "
            f"{self.mime_type!r})"
        )


class ReplyButton(NamedTuple):
    """A reply-keyboard button as the user sees it."""

    text: str
    request_contact: bool
    request_location: bool


@dataclass
class CallbackAnswer:
    """An answerCallbackQuery call for a query a fake user sent by pressing a button."""

    query_id: str
    data: str | None
    message_id: int
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass(eq=False)
class FakeMessage:
    """A message in a fake private chat, sent by the bot or by the fake user.

    ``text``/``caption`` are plain (HTML tags stripped, entities decoded); ``html`` is the text or
    caption exactly as the bot sent it. Deleted messages stay, flagged ``deleted``.
    """

    message_id: int
    chat_id: int
    date: int
    from_bot: bool
    kind: str  # "text", "photo", "document", "sticker", "voice", "location", "contact"
    sender: JSON
    chat: JSON
    text: str | None = None
    caption: str | None = None
    html: str | None = None
    parse_mode: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    media: JSON = field(default_factory=dict)  # e.g. {"photo": [...]} as in the Bot API object
    file: FakeFile | None = None
    reply_to: FakeMessage | None = None
    edits: list[str] = field(default_factory=list)  # earlier texts/captions, oldest first
    edit_date: int | None = None
    deleted: bool = False
    seq: int = 0  # global send order across chats

    def to_dict(self, *, with_reply: bool = True) -> JSON:
        """The Bot API Message object for the current state of this message."""
        data: JSON = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_dict(with_reply=False)
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        data.update(self.media)
        if self.caption is not None:
            data["caption"] = self.caption
            if self.entities:
                data["caption_entities"] = self.entities
        if self.inline_keyboard is not None:
            # Telegram echoes only inline keyboards back; reply keyboards are chat state.
            data["reply_markup"] = self.reply_markup
        return data

    @property
    def body(self) -> str:
        """Text or caption, whichever the message has ("" if neither)."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def inline_keyboard(self) -> list[list[JSON]] | None:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            rows: list[list[JSON]] = self.reply_markup["inline_keyboard"]
            return rows
        return None

    def inline_markup_or_none(self) -> JSON | None:
        """The reply_markup if it is an inline keyboard (what edits compare against)."""
        return self.reply_markup if self.inline_keyboard is not None else None

    @property
    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard rows as (text, callback_data); callback_data is None for URL etc."""
        return [
            [(button["text"], button.get("callback_data")) for button in row]
            for row in self.inline_keyboard or []
        ]

    @property
    def button_texts(self) -> list[str]:
        """All button texts, row by row: the inline keyboard, else the reply keyboard."""
        if self.inline_keyboard is not None:
            return [text for row in self.buttons for text, _ in row]
        return [text for row in self.keyboard for text in row]

    @property
    def callback_data(self) -> list[str]:
        """All callback_data values of the inline keyboard, row by row."""
        return [data for row in self.buttons for _, data in row if data is not None]

    def data_for(self, button_text: str) -> str:
        """callback_data of the inline button with this text (AssertionError if there is none)."""
        for row in self.buttons:
            for text, data in row:
                if text == button_text and data is not None:
                    return data
        raise AssertionError(
            f"message {self.message_id} has no callback button {button_text!r}; "
            f"buttons: {self.buttons}"
        )

    @property
    def keyboard_buttons(self) -> list[list[ReplyButton]]:
        """ReplyKeyboardMarkup rows sent with this message ([] if none)."""
        if not self.reply_markup or "keyboard" not in self.reply_markup:
            return []
        return [[_reply_button(b) for b in row] for row in self.reply_markup["keyboard"]]

    @property
    def keyboard(self) -> list[list[str]]:
        """ReplyKeyboardMarkup rows of button texts ([] if none)."""
        return [[b.text for b in row] for row in self.keyboard_buttons]

    @property
    def removes_keyboard(self) -> bool:
        return bool(self.reply_markup and self.reply_markup.get("remove_keyboard"))

    @property
    def document(self) -> FakeFile | None:
        return self.file if self.kind == "document" else None

    @property
    def photo(self) -> FakeFile | None:
        """The largest size of a photo message."""
        return self.file if self.kind == "photo" else None

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else "user"
        flags = " deleted" if self.deleted else ""
        flags += f" edited×{len(self.edits)}" if self.edits else ""
        extra = f" buttons={self.button_texts}" if self.button_texts else ""
        return (
            f"<FakeMessage #{self.message_id} chat={self.chat_id} {who} {self.kind}"
            f" {self.body[:60]!r}{extra}{flags}>"
        )


def _reply_button(button: JSON | str) -> ReplyButton:
    if isinstance(button, str):
        return ReplyButton(button, False, False)
    return ReplyButton(
        button["text"],
        bool(button.get("request_contact")),
        bool(button.get("request_location")),
    )


class ManualClock:
    """A clock tests move by hand, for ``FakeBotAPI.clock`` (rate limits) or ``now`` (dates)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.time = start

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds
