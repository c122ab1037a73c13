"""A fake Telegram user in a private chat with the bot: the test's side of the conversation."""

from __future__ import annotations

import re
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from .html_check import utf16_len
from .models import JSON, CallbackAnswer, FakeMessage, ReplyButton

if TYPE_CHECKING:
    from .server import FakeBotAPI

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")


class FakeUser:
    """A person talking to the bot. Private chat, so the chat id is the user id.

    Every action queues an update for the bot's getUpdates and returns its update_id (``press``
    returns the callback query id). Acting as a user who blocked the bot unblocks it first, as
    pressing "Restart" does in Telegram.
    """

    def __init__(
        self,
        fake: FakeBotAPI,
        user_id: int,
        *,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        self.fake = fake
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.blocked = False
        self.answers: list[CallbackAnswer] = []
        self.history: list[FakeMessage] = []  # every message in the chat, both sides, by id
        self.reply_keyboard: JSON | None = None  # the ReplyKeyboardMarkup currently shown
        self._next_message_id = 1

    @property
    def chat_id(self) -> int:
        return self.id

    def to_dict(self) -> JSON:
        """The Bot API User object."""
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    def chat_dict(self) -> JSON:
        """The Bot API Chat object of the private chat."""
        data: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name is not None:
            data["last_name"] = self.last_name
        if self.username is not None:
            data["username"] = self.username
        return data

    # --- reading what the bot did -------------------------------------------------------------

    def messages(self, *, include_deleted: bool = False) -> list[FakeMessage]:
        """Messages the bot sent to this chat, oldest first; deleted ones only if asked."""
        return [m for m in self.history if m.from_bot and (include_deleted or not m.deleted)]

    @property
    def last(self) -> FakeMessage:
        """The bot's latest visible message here (AssertionError if there is none)."""
        visible = self.messages()
        if not visible:
            raise AssertionError(f"the bot has sent no (undeleted) message to chat {self.id}")
        return visible[-1]

    @property
    def texts(self) -> list[str]:
        """Text or caption of each visible bot message, oldest first."""
        return [m.body for m in self.messages()]

    @property
    def keyboard(self) -> list[list[str]]:
        """Rows of the reply keyboard the user currently sees ([] if none)."""
        return [[b.text for b in row] for row in self.keyboard_buttons]

    @property
    def keyboard_buttons(self) -> list[list[ReplyButton]]:
        if not self.reply_keyboard:
            return []
        holder = FakeMessage(0, self.id, 0, True, "text", {}, {}, reply_markup=self.reply_keyboard)
        return holder.keyboard_buttons

    def message(self, message_id: int) -> FakeMessage:
        """Any message of this chat by id (AssertionError if unknown)."""
        for message in self.history:
            if message.message_id == message_id:
                return message
        raise AssertionError(f"chat {self.id} has no message {message_id}")

    # --- acting --------------------------------------------------------------------------------

    async def send(self, text: str, *, reply_to: FakeMessage | None = None) -> int:
        """Send a text message. A leading /command (also "/cmd@bot_username") is tagged
        bot_command as Telegram does."""
        entities: list[JSON] = []
        match = _COMMAND.match(text)
        if match:
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(match[0])})
        return self._deliver(
            self._new_message("text", text=text, entities=entities, reply_to=reply_to)
        )

    async def ask(self, text: str, *, timeout: float = 5.0) -> FakeMessage:  # noqa: ASYNC109
        """Send ``text`` and wait for the bot's first new message in this chat."""
        first_new_id = self._next_message_id
        await self.send(text)

        def first_reply() -> FakeMessage | None:
            return next((m for m in self.messages() if m.message_id > first_new_id), None)

        return await self.fake.wait_for(
            first_reply, timeout=timeout, what=f"a reply to {text!r} in chat {self.id}"
        )

    async def send_photo(
        self,
        file_id: str | None = None,
        *,
        caption: str | None = None,
        content: bytes = b"\xff\xd8\xff\xe0fake-jpeg",
    ) -> int:
        """Send a photo (Telegram's 3 generated sizes); a new file_id unless one is given."""
        sizes, largest = self.fake._photo_sizes(content, file_id=file_id)
        message = self._new_message("photo", caption=caption, media={"photo": sizes}, file=largest)
        return self._deliver(message)

    async def send_document(
        self,
        filename: str = "document.txt",
        content: bytes = b"hello",
        mime_type: str | None = "text/plain",
        *,
        caption: str | None = None,
    ) -> int:
        """Send a file as a document."""
        file = self.fake._new_file("document", content, filename=filename, mime_type=mime_type)
        message = self._new_message(
            "document",
            caption=caption,
            media={"document": self.fake._document_dict(file)},
            file=file,
        )
        return self._deliver(message)

    async def send_contact(
        self,
        phone_number: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        user_id: int | EllipsisType | None = ...,
    ) -> int:
        """Share a contact. By default it is the user's own (user_id == self.id), as sent by a
        request_contact button; pass user_id=None for a contact that is not a Telegram user, or
        another id for someone else's."""
        contact: JSON = {"phone_number": phone_number, "first_name": first_name or self.first_name}
        last = last_name if first_name is not None else (last_name or self.last_name)
        if last is not None:
            contact["last_name"] = last
        owner = self.id if user_id is ... else user_id
        if owner is not None:
            contact["user_id"] = owner
        return self._deliver(self._new_message("contact", media={"contact": contact}))

    async def send_location(self, latitude: float, longitude: float) -> int:
        location = {"latitude": latitude, "longitude": longitude}
        return self._deliver(self._new_message("location", media={"location": location}))

    async def send_sticker(self, emoji: str = "👍", *, file_id: str | None = None) -> int:
        file = self.fake._new_file("sticker", b"RIFF-fake-webp", file_id=file_id)
        sticker: JSON = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": file.size,
        }
        return self._deliver(self._new_message("sticker", media={"sticker": sticker}, file=file))

    async def send_voice(self, duration: int = 3, *, content: bytes = b"OggS-fake-opus") -> int:
        file = self.fake._new_file("voice", content, mime_type="audio/ogg")
        voice: JSON = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": file.size,
        }
        return self._deliver(self._new_message("voice", media={"voice": voice}, file=file))

    async def press(
        self, message: FakeMessage, callback_data: str | None = None, *, text: str | None = None
    ) -> str:
        """Press an inline button of a bot message (by callback_data or by button text).

        Old messages are fine (that is how stale buttons are tested); a button the message does
        not currently have is a test bug and raises AssertionError. Returns the query id.
        """
        if message.chat_id != self.id or not message.from_bot:
            raise AssertionError(f"{message!r} is not a bot message in chat {self.id}")
        if message.deleted:
            raise AssertionError(f"{message!r} was deleted; its buttons cannot be pressed")
        if (callback_data is None) == (text is None):
            raise TypeError("press() needs exactly one of callback_data or text")
        data = message.data_for(text) if text is not None else callback_data
        if data not in message.callback_data:
            raise AssertionError(
                f"{message!r} has no button with callback_data {data!r}; buttons: {message.buttons}"
            )
        self.fake._user_came_back(self)
        query_id = self.fake._new_query(self, message, data)
        query: JSON = {
            "id": query_id,
            "from": self.to_dict(),
            "message": message.to_dict(),
            "chat_instance": str(-(10**12) - self.id),
            "data": data,
        }
        self.fake._push_update({"callback_query": query})
        return query_id

    # --- plumbing ------------------------------------------------------------------------------

    def _new_message(self, kind: str, **fields: Any) -> FakeMessage:
        message = FakeMessage(
            message_id=self._next_message_id,
            chat_id=self.id,
            date=int(self.fake.now()),
            from_bot=fields.pop("from_bot", False),
            kind=kind,
            sender=fields.pop("sender", None) or self.to_dict(),
            chat=self.chat_dict(),
            seq=self.fake._next_seq(),
            **fields,
        )
        self._next_message_id += 1
        self.history.append(message)
        return message

    def _deliver(self, message: FakeMessage) -> int:
        self.fake._user_came_back(self)
        return self.fake._push_update({"message": message.to_dict()})

    def __repr__(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return f"<FakeUser {self.id} {name!r}{' blocked' if self.blocked else ''}>"
