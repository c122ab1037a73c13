"""A fake Telegram Bot API server (aiohttp) that the real, unmodified PTB can talk to.

Point PTB at it with ``base_url=f"{fake.base_url}/bot"`` and
``base_file_url=f"{fake.base_url}/file/bot"``. Start and stop it inside the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from .html_check import EntityParseError, parse_html, utf16_len
from .models import (
    JSON,
    ApiCall,
    ApiErrorRecord,
    CallbackAnswer,
    FakeFile,
    FakeMessage,
    Upload,
)
from .users import FakeUser
from .webhook import WebhookDelivery

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[JSON], Awaitable[Any]]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100  # per message (REPLY_MARKUP_TOO_LONG beyond)
MAX_CALLBACK_ANSWER_LENGTH = 200  # the text of a button's notification or alert

# Form values are JSON-encoded by PTB except plain strings, which it sends as they are. Decoding
# these as JSON would turn a text of "123" into an int.
_STRING_FIELDS = _words(
    """text caption parse_mode chat_id from_chat_id callback_query_id inline_message_id url
    language_code action photo document voice sticker audio video animation thumbnail file_id
    secret_token ip_address name description short_description business_connection_id
    message_effect_id emoji title phone_number first_name last_name vcard address question"""
)
_TRIMMED = " \t\r\n\v\f"
_INT_ID = re.compile(r"^-?\d+$")
_CHAT_ACTIONS = _words(
    """typing upload_photo record_video upload_video record_voice upload_voice upload_document
    choose_sticker find_location record_video_note upload_video_note"""
)
_INLINE_BUTTON_ACTIONS = _words(
    """callback_data url web_app login_url switch_inline_query switch_inline_query_current_chat
    switch_inline_query_chosen_chat copy_text callback_game pay"""
)
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_PHOTO_DIMENSIONS = ((90, 67), (320, 240), (800, 600))
_FILE_PREFIX = {"photo": "AgAC", "document": "BQAC", "voice": "AwAC", "sticker": "CAAC"}

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected error",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: POLL_CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """An error response in the Bot API's shape."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        data: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            data["parameters"] = {"retry_after": self.retry_after}
        return data


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


@dataclass
class _Fault:
    method: str  # lower-case method name, or "*" for any
    chat_id: int | str | None
    remaining: int
    error: ApiError | None = None
    delay: float = 0.0

    def matches(self, method: str, params: JSON) -> bool:
        return (self.method in ("*", method.lower())) and (
            self.chat_id is None or self.chat_id == params.get("chat_id")
        )

    def __str__(self) -> str:
        what = f"error {self.error.error_code}" if self.error else f"delay {self.delay}s"
        where = f" chat_id={self.chat_id}" if self.chat_id is not None else ""
        return f"{what} on {self.method}{where} ×{self.remaining}"


@dataclass
class _Hold:
    """Calls of `method` to let through (`skip`), then to hold (`remaining`)."""

    method: str
    chat_id: int | str | None
    skip: int
    remaining: int

    def matches(self, method: str, params: JSON) -> bool:
        return (self.method in ("*", method.lower())) and (
            self.chat_id is None or self.chat_id == params.get("chat_id")
        )


@dataclass
class _RateLimits:
    global_per_second: int
    per_chat_per_second: int
    recent: deque[float] = field(default_factory=deque)
    recent_by_chat: dict[Any, deque[float]] = field(default_factory=dict)

    def admit(self, now: float, chat_id: Any) -> bool:
        """Sliding one-second window; rejected calls do not count."""
        window_start = now - 1.0
        chat_recent = self.recent_by_chat.setdefault(chat_id, deque())
        for hits in (self.recent, chat_recent):
            while hits and hits[0] <= window_start:
                hits.popleft()
        if len(self.recent) >= self.global_per_second:
            return False
        if chat_id is not None and len(chat_recent) >= self.per_chat_per_second:
            return False
        self.recent.append(now)
        chat_recent.append(now)
        return True


@dataclass
class _Query:
    user: FakeUser
    message_id: int
    data: str | None
    answered: bool = False


class FakeBotAPI:
    """A Telegram Bot API server for tests, with fake users to play the other side.

    Use ``async with FakeBotAPI() as fake:`` or ``await fake.start()`` / ``await fake.stop()``.
    ``now`` gives message dates (unix seconds); ``clock`` drives the rate-limit windows.
    With ``strict_html_ampersand`` (default) a bare ``&`` in HTML text is rejected, which real
    Telegram tolerates; see html_check.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        first_name: str = "Danvan Test",
        username: str = "danvan_test_bot",
        now: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        strict_html_ampersand: bool = True,
    ) -> None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError(f"not a bot token: {token!r}")
        self.token = token
        self.bot_id = int(bot_id)
        self.first_name = first_name
        self.username = username
        self.now = now
        self.clock = clock
        self.strict_html_ampersand = strict_html_ampersand

        self.requests: list[ApiCall] = []
        self.errors: list[ApiErrorRecord] = []
        self.count_429 = 0
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook: WebhookDelivery | None = None

        self._users: dict[int, FakeUser] = {}
        self._updates: list[tuple[int, JSON]] = []  # unconfirmed, in order
        self._next_update_id = 1
        self._confirmed_below = 0  # highest getUpdates offset seen
        self._poll_generation = 0
        self._queries: dict[str, _Query] = {}
        self._files: dict[str, FakeFile] = {}
        self._photo_sets: dict[str, list[JSON]] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._faults: list[_Fault] = []
        self._holds: list[_Hold] = []
        self._release_held = asyncio.Event()
        self.held: list[JSON] = []  # params of the calls held by hold(), in order
        self._limits: _RateLimits | None = None
        self._counter = 0
        self._internal_errors: list[BaseException] = []

        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in (
                ("getMe", self._get_me),
                ("getUpdates", self._get_updates),
                ("setWebhook", self._set_webhook),
                ("deleteWebhook", self._delete_webhook),
                ("getWebhookInfo", self._get_webhook_info),
                ("sendMessage", self._send_message),
                ("editMessageText", self._edit_message_text),
                ("editMessageCaption", self._edit_message_caption),
                ("editMessageReplyMarkup", self._edit_message_reply_markup),
                ("deleteMessage", self._delete_message),
                ("answerCallbackQuery", self._answer_callback_query),
                ("sendPhoto", self._send_photo),
                ("sendDocument", self._send_document),
                ("getFile", self._get_file),
                ("sendChatAction", self._send_chat_action),
                ("setMyCommands", self._set_my_commands),
                ("getMyCommands", self._get_my_commands),
                ("deleteMyCommands", self._delete_my_commands),
                ("close", self._true),
                ("logOut", self._true),
                ("setMyDescription", self._true),
                ("setMyShortDescription", self._true),
                ("setMyName", self._true),
                ("setChatMenuButton", self._true),
            )
        }

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # Requests are not cancelled when the client goes away: a send whose client timed out
        # still takes effect, as on the real server.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop serving; pending long polls and injected delays end at once.

        Raises RuntimeError if the fake itself crashed while handling a request.
        """
        self._closing.set()
        self._touch()
        if self.webhook is not None:
            await self.webhook.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._internal_errors:
            raise RuntimeError(
                f"the fake Bot API crashed {len(self._internal_errors)} time(s); first: "
                f"{self._internal_errors[0]!r}"
            ) from self._internal_errors[0]

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def bot_user(self) -> JSON:
        """The bot's User object as it appears in messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    # --- test-side API --------------------------------------------------------------------------

    def user(
        self,
        user_id: int | None = None,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> FakeUser:
        """The fake user with this id, created on first use (first_name defaults to "Test").

        Later calls return the same user; naming different attributes then is a test bug.
        """
        if user_id is None:
            user_id = 1001 + len(self._users)
            while user_id in self._users:
                user_id += 1
        given = {
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        existing = self._users.get(user_id)
        if existing is not None:
            for key, value in given.items():
                if value is not None and getattr(existing, key) != value:
                    raise ValueError(f"user {user_id} already exists with another {key}")
            return existing
        self._users[user_id] = FakeUser(
            self,
            user_id,
            first_name=first_name or "Test",
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        return self._users[user_id]

    @property
    def users(self) -> list[FakeUser]:
        return list(self._users.values())

    def block(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sends and edits to them get 403 until they act again.

        With ``notify`` the bot gets the my_chat_member update Telegram sends.
        """
        user = self._users[user_id]
        if not user.blocked and notify:
            self._push_update({"my_chat_member": self._member_change(user, "member", "kicked")})
        user.blocked = True

    def unblock(self, user_id: int, *, notify: bool = True) -> None:
        user = self._users[user_id]
        if user.blocked and notify:
            self._push_update({"my_chat_member": self._member_change(user, "kicked", "member")})
        user.blocked = False

    def inject_error(
        self,
        method: str,
        error_code: int = 400,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        chat_id: int | str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any) fail with this error.

        429 defaults to retry_after=1 and Telegram's "Too Many Requests: retry after N".
        """
        if error_code == 429:
            retry_after = retry_after or 1
            default = f"Too Many Requests: retry after {retry_after}"
        else:
            default = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        error = ApiError(error_code, description or default, retry_after)
        self._faults.append(_Fault(method.lower(), chat_id, times, error=error))

    def inject_delay(
        self, method: str, seconds: float, *, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any) wait before being handled.

        The call still takes effect after the delay even if the client gave up meanwhile.
        """
        self._faults.append(_Fault(method.lower(), chat_id, times, delay=seconds))

    def hold(
        self, method: str, *, after: int = 0, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        """Let the next ``after`` calls of ``method`` ("*" = any) through, then hold the
        ``times`` calls after them: each waits unanswered until ``release_held()`` or ``stop()``,
        then fails with 500 without taking effect, like a request lost on its way to Telegram.
        ``held`` lists the params of the calls held so far."""
        self._holds.append(_Hold(method.lower(), chat_id, after, times))

    def release_held(self) -> None:
        """End the holds: the held calls fail with 500, later calls go through."""
        for hold in self._holds:
            hold.remaining = 0
        self._release_held.set()

    def unused_faults(self) -> list[str]:
        """Injected errors/delays not yet consumed."""
        return [str(f) for f in self._faults if f.remaining > 0]

    def enforce_rate_limits(
        self, global_per_second: int = 30, per_chat_per_second: int = 1
    ) -> None:
        """Answer sends over these limits (sliding 1 s window on ``clock``) with 429."""
        self._limits = _RateLimits(global_per_second, per_chat_per_second)

    def disable_rate_limits(self) -> None:
        self._limits = None

    def route_webhook(self, route: str) -> WebhookDelivery:
        """Deliver updates by webhook, once the bot has set one, to `route` (where the reverse
        proxy in front of the bot listens), keeping the registered URL's path."""
        self.webhook = WebhookDelivery(self, route)
        self.webhook.start()
        return self.webhook

    # --- for WebhookDelivery --------------------------------------------------------------------

    def changed_event(self) -> asyncio.Event:
        return self._changed

    def closing_event(self) -> asyncio.Event:
        return self._closing

    def pending_webhook_update(self) -> tuple[int, JSON] | None:
        """The oldest update waiting for webhook delivery, while a webhook is set."""
        if not self.webhook_url or not self._updates or self._closing.is_set():
            return None
        return self._updates[0]

    def webhook_delivered(self, update_id: int) -> None:
        self._updates = [(uid, u) for uid, u in self._updates if uid != update_id]
        self._confirmed_below = max(self._confirmed_below, update_id + 1)
        self._touch()

    def calls(self, method: str) -> list[JSON]:
        """Params of every call of ``method`` (case-insensitive), in order."""
        return [c.params for c in self.requests if c.method.lower() == method.lower()]

    def commands(
        self, scope: object = None, language_code: str | None = None
    ) -> list[tuple[str, str]]:
        """(command, description) pairs set via setMyCommands for this scope and language.

        ``scope`` may be a dict, a scope type like "all_private_chats", or a PTB BotCommandScope.
        """
        stored = self._commands.get((_scope_key(scope), language_code or ""), [])
        return [(c["command"], c["description"]) for c in stored]

    def bot_messages(self, *, include_deleted: bool = False) -> list[FakeMessage]:
        """Every bot message in every chat, in the order they were sent."""
        messages = [
            m for u in self._users.values() for m in u.messages(include_deleted=include_deleted)
        ]
        return sorted(messages, key=lambda m: m.seq)

    @property
    def files(self) -> dict[str, FakeFile]:
        return dict(self._files)

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        return [update for _, update in self._updates]

    @property
    def last_update_id(self) -> int:
        """The id of the newest update a user produced (0 before any)."""
        return self._next_update_id - 1

    @property
    def confirmed_below(self) -> int:
        """Every update_id below this has been confirmed by the bot's getUpdates offset."""
        return self._confirmed_below

    async def wait_acked(self, update_id: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the bot's getUpdates confirmed ``update_id`` (offset > update_id)."""
        await self.wait_for(
            lambda: self._confirmed_below > update_id,
            timeout=timeout,
            what=f"getUpdates to confirm update {update_id}",
        )

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109 - the deadline and the dump belong together
        *,
        what: str | None = None,
    ) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked whenever the fake handles a request or a user acts. An AssertionError from the
        predicate counts as "not yet". On timeout raises TimeoutError with a dump of the state.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_failure: AssertionError | None = None
        while True:
            changed = self._changed
            try:
                value = predicate()
            except AssertionError as failure:
                last_failure = failure
            else:
                if value:
                    return value
            if self._internal_errors:
                raise RuntimeError("the fake Bot API crashed") from self._internal_errors[0]
            remaining = deadline - loop.time()
            if remaining <= 0:
                header = f"Timed out after {timeout}s waiting for {what or 'the predicate'}"
                if last_failure is not None:
                    header += f"\nLast assertion: {last_failure}"
                raise TimeoutError(f"{header}\n{self.describe()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def describe(self, last_calls: int = 15) -> str:
        """A readable dump of recent calls, errors, pending updates and chats."""
        shown = f", last {last_calls} shown" if len(self.requests) > last_calls else ""
        lines = [f"API calls ({len(self.requests)} in all{shown}):"]
        for call in self.requests[-last_calls:]:
            lines.append(f"  {call.method} {_short(call.params)}")
        if self.errors:
            lines.append("Errors returned (last 5):")
            lines += [f"  {e.method}: {e.error_code} {e.description}" for e in self.errors[-5:]]
        lines.append(
            f"Unconfirmed updates: {[uid for uid, _ in self._updates]}; "
            f"confirmed below {self._confirmed_below}"
        )
        if self.unused_faults():
            lines.append(f"Unused faults: {self.unused_faults()}")
        for user in self._users.values():
            lines.append(f"Chat {user!r}:")
            lines += [f"  {m!r}" for m in user.history[-8:]]
        return "\n".join(lines)

    # --- used by FakeUser -----------------------------------------------------------------------

    def _touch(self) -> None:
        """Wake everything waiting for a change (long polls, wait_for)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _next_seq(self) -> int:
        self._counter += 1
        return self._counter

    def _push_update(self, payload: JSON) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append((update_id, {"update_id": update_id, **payload}))
        self._touch()
        return update_id

    def _user_came_back(self, user: FakeUser) -> None:
        if user.blocked:
            self.unblock(user.id)

    def _member_change(self, user: FakeUser, old: str, new: str) -> JSON:
        def member(status: str) -> JSON:
            data: JSON = {"status": status, "user": self.bot_user}
            if status == "kicked":
                data["until_date"] = 0
            return data

        return {
            "chat": user.chat_dict(),
            "from": user.to_dict(),
            "date": int(self.now()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }

    def _new_query(self, user: FakeUser, message: FakeMessage, data: str | None) -> str:
        query_id = str(4_000_000_000_000_000_000 + self._next_seq())
        self._queries[query_id] = _Query(user, message.message_id, data)
        return query_id

    def _new_file(
        self,
        kind: str,
        content: bytes,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        file_id: str | None = None,
        url: str | None = None,
    ) -> FakeFile:
        n = self._next_seq()
        file_id = file_id or f"{_FILE_PREFIX.get(kind, 'BQAC')}AgADfake{self.bot_id}x{n:06d}"
        extension = ""
        if filename and "." in filename:
            extension = filename[filename.rindex(".") :]
        elif mime_type:
            extension = mimetypes.guess_extension(mime_type) or ""
        file = FakeFile(
            file_id=file_id,
            file_unique_id=f"AQAD{n:08d}",
            kind=kind,
            content=content,
            filename=filename,
            mime_type=mime_type,
            url=url,
            file_path=f"{kind}s/file_{n}{extension}",
        )
        self._files[file_id] = file
        return file

    def _photo_sizes(
        self, content: bytes, *, file_id: str | None = None
    ) -> tuple[list[JSON], FakeFile]:
        """The three PhotoSize dicts Telegram makes of a photo, and the largest as a FakeFile."""
        if file_id is not None and file_id in self._photo_sets:
            return self._photo_sets[file_id], self._files[self._photo_sets[file_id][-1]["file_id"]]
        sizes: list[JSON] = []
        largest: FakeFile | None = None
        for index, (width, height) in enumerate(_PHOTO_DIMENSIONS):
            is_largest = index == len(_PHOTO_DIMENSIONS) - 1
            largest = self._new_file(
                "photo", content, mime_type="image/jpeg", file_id=file_id if is_largest else None
            )
            sizes.append(
                {
                    "file_id": largest.file_id,
                    "file_unique_id": largest.file_unique_id,
                    "file_size": largest.size,
                    "width": width,
                    "height": height,
                }
            )
        for size in sizes:
            self._photo_sets[size["file_id"]] = sizes
        assert largest is not None
        return sizes, largest

    @staticmethod
    def _document_dict(file: FakeFile) -> JSON:
        data: JSON = {"file_id": file.file_id, "file_unique_id": file.file_unique_id}
        if file.filename is not None:
            data["file_name"] = file.filename
        if file.mime_type is not None:
            data["mime_type"] = file.mime_type
        data["file_size"] = file.size
        return data

    # --- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        known = self._methods.get(raw_method.lower())
        method = known[0] if known else raw_method
        params: JSON = {}
        try:
            params = await _read_params(request)
            self.requests.append(ApiCall(method, params))
            self._touch()
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if known is None:
                raise ApiError(404, "Not Found")
            await self._apply_faults(method, params)
            self._apply_rate_limits(method, params)
            result = await known[1](params)
        except ApiError as error:
            # A client that hung up (e.g. PTB cancelling its long poll at shutdown) never sees
            # the error, so it is not recorded.
            if request.transport is not None and not request.transport.is_closing():
                if error.error_code == 429:
                    self.count_429 += 1
                self.errors.append(
                    ApiErrorRecord(method, error.error_code, error.description, params)
                )
            return _json_response(error.payload(), status=error.error_code)
        except Exception as crash:
            _LOGGER.exception("fake Bot API crashed handling %s %s", method, params)
            self._internal_errors.append(crash)
            failure = ApiError(500, f"Internal Server Error: the fake crashed: {crash!r}")
            return _json_response(failure.payload(), status=500)
        finally:
            self._touch()
        return _json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json_response(ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        for file in self._files.values():
            if file.file_path == path:
                return web.Response(body=file.content)
        return _json_response(ApiError(404, "Not Found").payload(), status=404)

    async def _apply_holds(self, method: str, params: JSON) -> None:
        for hold in self._holds:
            if hold.remaining > 0 and hold.matches(method, params):
                if hold.skip > 0:
                    hold.skip -= 1
                    return
                hold.remaining -= 1
                self.held.append(params)
                self._touch()
                released = asyncio.ensure_future(self._release_held.wait())
                closing = asyncio.ensure_future(self._closing.wait())
                _, pending = await asyncio.wait(
                    (released, closing), return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in pending:
                    waiter.cancel()
                raise ApiError(500, _DEFAULT_DESCRIPTIONS[500])

    async def _apply_faults(self, method: str, params: JSON) -> None:
        await self._apply_holds(method, params)
        for fault in self._faults:
            if fault.remaining > 0 and fault.delay and fault.matches(method, params):
                fault.remaining -= 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), fault.delay)
                break
        for fault in self._faults:
            if fault.remaining > 0 and fault.error and fault.matches(method, params):
                fault.remaining -= 1
                raise fault.error

    def _apply_rate_limits(self, method: str, params: JSON) -> None:
        counted = method.startswith("send") and method != "sendChatAction"
        counted = counted or method in ("copyMessage", "forwardMessage")
        if counted and self._limits and not self._limits.admit(self.clock(), params.get("chat_id")):
            raise too_many_requests(1)

    # --- Bot API methods ------------------------------------------------------------------------

    async def _true(self, params: JSON) -> bool:
        return True

    async def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = _int(params, "offset", 0)
        limit = min(max(_int(params, "limit", 100), 1), 100)
        timeout = max(_number(params, "timeout", 0.0), 0.0)
        if offset < 0:
            # "All previous updates will be forgotten."
            self._updates = self._updates[offset:]
        elif offset > self._confirmed_below:
            self._confirmed_below = offset
            self._updates = [(uid, u) for uid, u in self._updates if uid >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._touch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            if self._updates or self._closing.is_set():
                return [update for _, update in self._updates[:limit]]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def _set_webhook(self, params: JSON) -> bool:
        url = _str(params, "url") or ""
        if url and not url.startswith("https://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = _str(params, "secret_token") or ""
        if secret and not _WEBHOOK_SECRET.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook_url = url
        self.webhook_secret = secret
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: JSON) -> bool:
        self.webhook_url = ""
        self.webhook_secret = ""
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JSON) -> JSON:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _send_message(self, params: JSON) -> JSON:
        user = self._chat(params, sending=True)
        raw = _str(params, "text")
        plain, entities = self._formatted(raw or "", params, "entities", caption=False)
        reply_to = self._reply_target(user, params)
        markup = _reply_markup(params)
        message = self._bot_message(
            user,
            "text",
            text=plain,
            html=raw,
            parse_mode=_str(params, "parse_mode"),
            entities=entities,
            reply_markup=markup,
            reply_to=reply_to,
        )
        return message.to_dict()

    async def _send_photo(self, params: JSON) -> JSON:
        user = self._chat(params, sending=True)
        photo = params.get("photo")
        if isinstance(photo, Upload):
            if not photo.content:
                raise ApiError(400, "Bad Request: file must be non-empty")
            sizes, largest = self._photo_sizes(photo.content)
        elif isinstance(photo, str) and photo:
            if photo.startswith(("http://", "https://")):
                sizes, largest = self._photo_sizes(b"")
                largest.url = photo
            elif photo in self._photo_sets:
                sizes, largest = self._photo_sizes(b"", file_id=photo)
            else:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        return self._send_media(user, params, "photo", {"photo": sizes}, largest)

    async def _send_document(self, params: JSON) -> JSON:
        user = self._chat(params, sending=True)
        document = params.get("document")
        if isinstance(document, Upload):
            if not document.content:
                raise ApiError(400, "Bad Request: file must be non-empty")
            file = self._new_file(
                "document",
                document.content,
                filename=document.filename,
                mime_type=document.content_type,
            )
        elif isinstance(document, str) and document:
            if document.startswith(("http://", "https://")):
                name = document.rsplit("/", 1)[-1] or "file"
                file = self._new_file("document", b"", filename=name, url=document)
            elif document in self._files:
                file = self._files[document]
                if file.kind != "document":
                    raise ApiError(400, "Bad Request: type of file mismatch")
            else:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise ApiError(400, "Bad Request: there is no document in the request")
        return self._send_media(
            user, params, "document", {"document": self._document_dict(file)}, file
        )

    def _send_media(
        self, user: FakeUser, params: JSON, kind: str, media: JSON, file: FakeFile
    ) -> JSON:
        raw = _str(params, "caption")
        caption: str | None = None
        entities: list[JSON] = []
        if raw is not None:
            caption, entities = self._formatted(raw, params, "caption_entities", caption=True)
        reply_to = self._reply_target(user, params)
        message = self._bot_message(
            user,
            kind,
            caption=caption or None,
            html=raw,
            parse_mode=_str(params, "parse_mode"),
            entities=entities,
            reply_markup=_reply_markup(params),
            reply_to=reply_to,
            media=media,
            file=file,
        )
        return message.to_dict()

    async def _get_file(self, params: JSON) -> JSON:
        file = self._files.get(_str(params, "file_id") or "")
        if file is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_size": file.size,
            "file_path": file.file_path,
        }

    async def _edit_message_text(self, params: JSON) -> JSON:
        message = self._editable(params)
        if message.text is None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        raw = _str(params, "text")
        plain, entities = self._formatted(raw or "", params, "entities", caption=False)
        markup = _edit_markup(params)
        if (plain, entities, markup) == (
            message.text,
            message.entities,
            message.inline_markup_or_none(),
        ):
            raise ApiError(400, NOT_MODIFIED)
        message.edits.append(message.text)
        message.text, message.html, message.entities = plain, raw, entities
        message.parse_mode = _str(params, "parse_mode")
        self._replace_inline_markup(message, markup)
        message.edit_date = int(self.now())
        return message.to_dict()

    async def _edit_message_caption(self, params: JSON) -> JSON:
        message = self._editable(params)
        if message.kind == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        raw = _str(params, "caption")
        caption: str | None = None
        entities: list[JSON] = []
        if raw is not None:
            caption, entities = self._formatted(raw, params, "caption_entities", caption=True)
        caption = caption or None
        markup = _edit_markup(params)
        if (caption, entities, markup) == (
            message.caption,
            message.entities,
            message.inline_markup_or_none(),
        ):
            raise ApiError(400, NOT_MODIFIED)
        message.edits.append(message.caption or "")
        message.caption, message.html, message.entities = caption, raw, entities
        message.parse_mode = _str(params, "parse_mode")
        self._replace_inline_markup(message, markup)
        message.edit_date = int(self.now())
        return message.to_dict()

    async def _edit_message_reply_markup(self, params: JSON) -> JSON:
        message = self._editable(params)
        markup = _edit_markup(params)
        if markup == message.inline_markup_or_none():
            raise ApiError(400, NOT_MODIFIED)
        self._replace_inline_markup(message, markup)
        message.edit_date = int(self.now())
        return message.to_dict()

    async def _delete_message(self, params: JSON) -> bool:
        user = self._chat(params, sending=False)
        message_id = _int(params, "message_id", 0)
        message = next((m for m in user.history if m.message_id == message_id), None)
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        message.deleted = True
        return True

    async def _answer_callback_query(self, params: JSON) -> bool:
        query_id = _str(params, "callback_query_id") or ""
        query = self._queries.get(query_id)
        if query is None or query.answered:
            raise ApiError(400, QUERY_TOO_OLD)
        if len(_str(params, "text") or "") > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered = True
        query.user.answers.append(
            CallbackAnswer(
                query_id=query_id,
                data=query.data,
                message_id=query.message_id,
                text=_str(params, "text"),
                show_alert=_bool(params, "show_alert"),
                url=_str(params, "url"),
                cache_time=_int(params, "cache_time", 0) if "cache_time" in params else None,
            )
        )
        return True

    async def _send_chat_action(self, params: JSON) -> bool:
        self._chat(params, sending=True)
        if _str(params, "action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.match(
                str(command.get("command", ""))
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(params.get("scope")), _str(params, "language_code") or "")
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSON) -> list[JSON]:
        key = (_scope_key(params.get("scope")), _str(params, "language_code") or "")
        return self._commands.get(key, [])

    async def _delete_my_commands(self, params: JSON) -> bool:
        key = (_scope_key(params.get("scope")), _str(params, "language_code") or "")
        self._commands.pop(key, None)
        return True

    # --- method helpers -------------------------------------------------------------------------

    def _chat(self, params: JSON, *, sending: bool) -> FakeUser:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        user = self._users.get(chat_id) if isinstance(chat_id, int) else None
        if user is None:
            raise ApiError(400, "Bad Request: chat not found")
        if sending and user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return user

    def _editable(self, params: JSON) -> FakeMessage:
        if "inline_message_id" in params and "chat_id" not in params:
            raise ApiError(400, "Bad Request: message to edit not found")
        user = self._chat(params, sending=True)
        message_id = _int(params, "message_id", 0)
        message = next((m for m in user.history if m.message_id == message_id), None)
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _replace_inline_markup(self, message: FakeMessage, markup: JSON | None) -> None:
        # A reply keyboard sent with the message is chat state that edits do not touch.
        if message.reply_markup is None or message.inline_keyboard is not None:
            message.reply_markup = markup

    def _reply_target(self, user: FakeUser, params: JSON) -> FakeMessage | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, str):
            reply = _loads(reply, "reply parameters")
        if isinstance(reply, dict):
            message_id, lenient = (
                reply.get("message_id"),
                bool(reply.get("allow_sending_without_reply")),
            )
        elif "reply_to_message_id" in params:
            message_id = params["reply_to_message_id"]
            lenient = _bool(params, "allow_sending_without_reply")
        else:
            return None
        target = next(
            (m for m in user.history if m.message_id == message_id and not m.deleted), None
        )
        if target is None and not lenient:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return target

    def _formatted(
        self, raw: str, params: JSON, entities_field: str, *, caption: bool
    ) -> tuple[str, list[JSON]]:
        """Plain text and entities of a text/caption, with Telegram's validation errors."""
        parse_mode = (_str(params, "parse_mode") or "").lower()
        if parse_mode == "html":
            try:
                plain, entities = parse_html(raw, strict_ampersand=self.strict_html_ampersand)
            except EntityParseError as error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        elif parse_mode in ("", "markdown", "markdownv2"):
            # Markdown is stored as sent, not parsed.
            plain = raw
            given = params.get(entities_field)
            if isinstance(given, str):
                given = _loads(given, "entities")
            entities = list(given) if isinstance(given, list) and not parse_mode else []
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        plain, entities = _trim(plain, entities)
        if caption:
            if utf16_len(plain) > MAX_CAPTION_LENGTH:
                raise ApiError(400, "Bad Request: message caption is too long")
        else:
            if not plain.strip():
                raise ApiError(400, "Bad Request: message text is empty")
            if utf16_len(plain) > MAX_TEXT_LENGTH:
                raise ApiError(400, "Bad Request: message is too long")
        return plain, entities

    def _bot_message(self, user: FakeUser, kind: str, **fields: Any) -> FakeMessage:
        message = user._new_message(kind, from_bot=True, sender=self.bot_user, **fields)
        markup = message.reply_markup
        if markup and ("keyboard" in markup or markup.get("remove_keyboard")):
            user.reply_keyboard = markup if "keyboard" in markup else None
        return message


# --- request decoding -----------------------------------------------------------------------------


async def _read_params(request: web.Request) -> JSON:
    """Query string plus urlencoded, multipart or JSON body, decoded like the Bot API does."""
    params: JSON = {key: _decode_value(key, value) for key, value in request.query.items()}
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json":
        body = await request.read()
        if body:
            data = _loads(body.decode("utf-8"), "request body")
            if not isinstance(data, dict):
                raise ApiError(400, "Bad Request: request body must be a JSON object")
            params.update(data)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                uploads[key] = Upload(value.filename, value.file.read(), value.content_type)
            else:
                params[key] = _decode_value(key, str(value))
    for name, param in list(params.items()):
        if isinstance(param, str) and param.startswith("attach://"):
            params[name] = uploads.pop(param.removeprefix("attach://"), param)
    params.update(uploads)
    for key in ("chat_id", "from_chat_id"):
        chat_id = params.get(key)
        if isinstance(chat_id, str) and _INT_ID.match(chat_id):
            params[key] = int(chat_id)
    return params


def _decode_value(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ApiError(400, f"Bad Request: can't parse {what} JSON object") from None


def _reply_markup(params: JSON) -> JSON | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if isinstance(markup, str):
        markup = _loads(markup, "reply keyboard markup")
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        if sum(len(row) for row in markup["inline_keyboard"]) > MAX_INLINE_BUTTONS:
            raise ApiError(400, "Bad Request: reply markup is too long")
        for row in markup["inline_keyboard"]:
            for button in row:
                if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _trim(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Strip leading/trailing whitespace and clip entities to what is left, as Telegram does."""
    body = text.strip(_TRIMMED)
    if body == text:
        return text, entities
    start = utf16_len(text[: len(text) - len(text.lstrip(_TRIMMED))])
    end = start + utf16_len(body)
    clipped = []
    for entity in entities:
        first = max(entity["offset"], start)
        last = min(entity["offset"] + entity["length"], end)
        if last > first:
            clipped.append({**entity, "offset": first - start, "length": last - first})
    return body, clipped


def _edit_markup(params: JSON) -> JSON | None:
    markup = _reply_markup(params)
    if markup is not None and "inline_keyboard" not in markup:
        raise ApiError(400, "Bad Request: inline keyboard expected")
    return markup


def _scope_key(scope: Any) -> str:
    if scope is None:
        return json.dumps({"type": "default"})
    if isinstance(scope, str):
        scope = _loads(scope, "scope") if scope.startswith("{") else {"type": scope}
    if hasattr(scope, "to_dict"):
        scope = scope.to_dict()
    return json.dumps(scope, sort_keys=True)


def _str(params: JSON, key: str) -> str | None:
    value = params.get(key)
    return None if value is None else str(value)


def _int(params: JSON, key: str, default: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: wrong parameter {key}") from None


def _number(params: JSON, key: str, default: float) -> float:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: wrong parameter {key}") from None


def _bool(params: JSON, key: str) -> bool:
    return params.get(key) in (True, "true", "True", 1, "1")


def _json_response(data: JSON, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json"
    )


def _short(params: JSON) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) <= 160 else text[:157] + "..."
