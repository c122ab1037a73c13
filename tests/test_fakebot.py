"""The fake Bot API, exercised through the real PTB Bot and Application (no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import html
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakebot import EntityParseError, FakeBotAPI, ManualClock, parse_html, utf16_len

TOKEN = "123456:TEST-TOKEN"


@pytest.fixture(autouse=True)
def timedelta_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's coming timedelta durations (retry_after, voice.duration, ...) and so
    silence its deprecation warnings."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        yield server


def make_bot(fake: FakeBotAPI, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{fake.base_url}/bot", base_file_url=f"{fake.base_url}/file/bot")


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with make_bot(fake) as client:
        yield client


def message_of(update: Update) -> Message:
    assert update.message is not None, update
    return update.message


def yes_no() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Có", callback_data="yes"),
                InlineKeyboardButton("Không", callback_data="no"),
            ]
        ]
    )


# --- identity, auth, routing ---------------------------------------------------------------------


async def test_get_me_describes_the_bot_of_the_token(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        123456,
        True,
        "Danvan Test",
        "danvan_test_bot",
    )
    assert me.can_join_groups is True
    assert me.supports_inline_queries is False


async def test_another_token_is_unauthorized(fake: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with make_bot(fake, "654321:WRONG"):
            pass


async def test_unknown_method_is_not_found(bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")


async def test_json_urlencoded_and_get_requests_with_any_method_case(fake: FakeBotAPI) -> None:
    alice = fake.user(1001, first_name="Lan")
    url = f"{fake.base_url}/bot{TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/SENDMESSAGE", json={"chat_id": "1001", "text": "123"}) as r:
            body = await r.json()
        assert body["ok"] is True
        assert body["result"]["text"] == "123"
        async with http.post(f"{url}/sendmessage", data={"chat_id": 1001, "text": "42"}) as r:
            assert (await r.json())["result"]["message_id"] == 2
        async with http.get(f"{url}/getMe") as r:
            assert (await r.json())["result"]["username"] == "danvan_test_bot"
        async with http.post(f"{url}/nope") as r:
            assert r.status == 404
            assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert alice.texts == ["123", "42"]
    assert [c.method for c in fake.requests] == ["sendMessage", "sendMessage", "getMe", "nope"]


# --- sending and reading messages ----------------------------------------------------------------


async def test_inline_keyboard_reads_as_rows_of_text_and_data(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, first_name="Lan", last_name="Nguyễn", language_code="vi")
    sent = await bot.send_message(alice.id, "Bạn có đồng ý?", reply_markup=yes_no())

    assert sent.message_id == 1
    assert sent.chat.first_name == "Lan"
    assert sent.from_user is not None and sent.from_user.username == "danvan_test_bot"
    assert sent.reply_markup == yes_no()
    message = alice.last
    assert message.text == "Bạn có đồng ý?"
    assert message.buttons == [[("Có", "yes"), ("Không", "no")]]
    assert message.button_texts == ["Có", "Không"]
    assert message.data_for("Không") == "no"
    assert fake.calls("sendMessage")[0]["chat_id"] == 1001


async def test_reply_keyboard_and_its_removal(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton("Chia sẻ số điện thoại", request_contact=True)], ["Huỷ"]],
        one_time_keyboard=True,
    )
    await bot.send_message(alice.id, "Cho tôi số điện thoại", reply_markup=keyboard)

    assert alice.last.keyboard == [["Chia sẻ số điện thoại"], ["Huỷ"]]
    assert alice.last.keyboard_buttons[0][0].request_contact
    assert not alice.last.keyboard_buttons[1][0].request_contact
    assert alice.keyboard == [["Chia sẻ số điện thoại"], ["Huỷ"]]
    assert alice.last.buttons == []

    await bot.send_message(alice.id, "Cảm ơn", reply_markup=ReplyKeyboardRemove())
    assert alice.last.removes_keyboard
    assert alice.keyboard == []


async def test_html_is_stored_plain_and_raw(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    raw = '<b>Xin chào</b> &lt;Lan&gt; &amp; <a href="https://example.org/?a=1&amp;b=2">web</a>'
    sent = await bot.send_message(alice.id, raw, parse_mode="HTML")

    assert alice.last.text == "Xin chào <Lan> & web"
    assert alice.last.html == raw
    assert alice.last.parse_mode == "HTML"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 8),
        ("text_link", 17, 3),
    ]
    assert sent.entities[1].url == "https://example.org/?a=1&b=2"


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<b>đậm", 'can\'t find end tag corresponding to start tag "b"'),
        ("<foo>x</foo>", 'unsupported start tag "foo" at byte offset 0'),
        ("Đà Nẵng <br> x", 'unsupported start tag "br" at byte offset 12'),
        ("1 < 2", 'unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "unexpected end tag at byte offset 1"),
        ("Tom & Jerry", "can't find end of the entity starting at byte offset 4"),
        ('<span class="red">x</span>', 'tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "unclosed start tag at byte offset 0"),
    ],
)
async def test_broken_html_is_rejected_like_telegram(
    fake: FakeBotAPI, bot: Bot, markup: str, reason: str
) -> None:
    alice = fake.user(1001)
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(alice.id, markup, parse_mode="HTML")
    # PTB strips "Bad Request: " and capitalize()s the rest, lower-casing Telegram's reason.
    assert str(caught.value) == f"Can't parse entities: {reason}".capitalize()
    assert fake.errors[-1].description.startswith("Bad Request: can't parse entities: ")
    assert alice.messages() == []


@pytest.mark.parametrize(
    "markup",
    [
        "<tg-spoiler>bí mật</tg-spoiler> <span class='tg-spoiler'>x</span>",
        '<pre><code class="language-python">print("hi")</code></pre>',
        "<blockquote expandable>trích dẫn</blockquote>",
        "<s>a</s><strike>b</strike><del>c</del><u>d</u><ins>e</ins><em>f</em><strong>g</strong>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> &#39; &#x27; &quot;',
    ],
)
async def test_supported_html_is_accepted(fake: FakeBotAPI, bot: Bot, markup: str) -> None:
    alice = fake.user(1001)
    await bot.send_message(alice.id, markup, parse_mode="HTML")
    assert "<" not in alice.last.body


async def test_length_is_counted_in_utf16_after_parsing(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    await bot.send_message(alice.id, "x" * 4096)
    await bot.send_message(alice.id, f"<b>{'x' * 4096}</b>", parse_mode="HTML")

    with pytest.raises(BadRequest, match=r"^Message is too long$"):
        await bot.send_message(alice.id, "x" * 4097)
    with pytest.raises(BadRequest, match=r"^Message is too long$"):
        await bot.send_message(alice.id, "😀" * 2049)  # 2049 characters, 4098 UTF-16 units
    with pytest.raises(BadRequest, match=r"^Message caption is too long$"):
        await bot.send_photo(alice.id, b"jpeg", caption="x" * 1025)
    assert len(alice.messages()) == 2


@pytest.mark.parametrize(("text", "mode"), [("", None), ("   ", None), ("<b></b>", "HTML")])
async def test_empty_text_is_rejected(
    fake: FakeBotAPI, bot: Bot, text: str, mode: str | None
) -> None:
    alice = fake.user(1001)
    with pytest.raises(BadRequest, match=r"^Message text is empty$"):
        await bot.send_message(alice.id, text, parse_mode=mode)


async def test_text_is_trimmed_like_telegram(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    sent = await bot.send_message(alice.id, "\n  <b> Tổng kết</b> \n", parse_mode="HTML")
    assert alice.last.text == "Tổng kết"
    assert [(e.offset, e.length) for e in sent.entities] == [(0, 8)]


async def test_a_user_is_created_once(fake: FakeBotAPI) -> None:
    alice = fake.user(1001, first_name="Lan")
    assert fake.user(1001) is alice
    assert fake.user(1001, first_name="Lan") is alice
    with pytest.raises(ValueError, match="another first_name"):
        fake.user(1001, first_name="Hoa")
    assert fake.user().id == 1002


async def test_unknown_chat_and_missing_reply_target(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message(4242, "hello")
    alice = fake.user(1001)
    with pytest.raises(BadRequest, match=r"^Message to be replied not found$"):
        await bot.send_message(alice.id, "hi", reply_parameters=ReplyParameters(99))
    first = await bot.send_message(alice.id, "first")
    reply = await bot.send_message(
        alice.id, "second", reply_parameters=ReplyParameters(first.message_id)
    )
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "first"


async def test_callback_data_over_64_bytes_is_rejected(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="đ" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(alice.id, "hi", reply_markup=markup)


async def test_message_ids_are_shared_by_both_sides_of_a_chat(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    bob = fake.user(1002)
    await alice.send("hi")
    reply = await bot.send_message(alice.id, "hello")
    await alice.send("how are you")
    other = await bot.send_message(bob.id, "hello Bob")

    assert reply.message_id == 2
    assert [m.message_id for m in alice.history] == [1, 2, 3]
    assert other.message_id == 1
    assert [m.text for m in fake.bot_messages()] == ["hello", "hello Bob"]


# --- errors: blocked users, injected faults, rate limits ----------------------------------------


async def test_blocked_user_gives_forbidden_until_they_come_back(
    fake: FakeBotAPI, bot: Bot
) -> None:
    alice = fake.user(1001)
    fake.block(alice.id)
    with pytest.raises(Forbidden, match=r"^Forbidden: bot was blocked by the user$"):
        await bot.send_message(alice.id, "are you there?")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(alice.id, "typing")

    await alice.send("/start")  # "Restart" unblocks
    await bot.send_message(alice.id, "welcome back")
    updates = await bot.get_updates()
    member = updates[0].my_chat_member
    assert member is not None
    assert member.new_chat_member.status == "kicked"
    assert updates[1].my_chat_member is not None
    assert updates[1].my_chat_member.new_chat_member.status == "member"
    assert updates[2].message is not None and updates[2].message.text == "/start"


async def test_injected_429_raises_retry_after(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    fake.inject_error("SendMessage", 429, retry_after=3)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(alice.id, "hi")
    assert caught.value.retry_after == dtm.timedelta(seconds=3)
    assert fake.errors[-1].description == "Too Many Requests: retry after 3"
    assert fake.count_429 == 1
    await bot.send_message(alice.id, "hi again")  # only the next call failed
    assert fake.unused_faults() == []


async def test_injected_errors_filter_by_chat_and_count(fake: FakeBotAPI, bot: Bot) -> None:
    alice, bob = fake.user(1001), fake.user(1002)
    fake.inject_error("sendMessage", 500, chat_id=bob.id, times=2)
    fake.inject_error("getMe", 502)

    await bot.send_message(alice.id, "fine")
    for _ in range(2):
        with pytest.raises(NetworkError, match=r"Internal Server Error") as caught:
            await bot.send_message(bob.id, "boom")
        assert not isinstance(caught.value, BadRequest)
    await bot.send_message(bob.id, "fine again")
    with pytest.raises(NetworkError, match=r"Bad Gateway"):
        await bot.get_me()
    assert bob.texts == ["fine again"]


async def test_a_delayed_send_times_out_but_still_arrives(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    fake.inject_delay("sendMessage", 0.3)
    with pytest.raises(TimedOut):
        await bot.send_message(alice.id, "slow", read_timeout=0.05)
    message = await fake.wait_for(lambda: alice.messages(), timeout=3)
    assert message[0].text == "slow"


async def test_rate_limits_use_a_sliding_window_on_the_injected_clock(
    fake: FakeBotAPI, bot: Bot
) -> None:
    clock = ManualClock()
    fake.clock = clock
    fake.enforce_rate_limits(global_per_second=2, per_chat_per_second=1)
    alice, bob, carol = fake.user(1001), fake.user(1002), fake.user(1003)

    await bot.send_message(alice.id, "1")
    with pytest.raises(RetryAfter):
        await bot.send_message(alice.id, "2")  # same chat within a second
    await bot.send_chat_action(alice.id, "typing")  # not a send
    clock.advance(0.5)
    await bot.send_message(bob.id, "3")
    with pytest.raises(RetryAfter):
        await bot.send_message(carol.id, "4")  # 2 sends in the last second, globally
    clock.advance(0.6)  # alice's first send left the window
    await bot.send_message(carol.id, "4")
    assert fake.count_429 == 2
    assert fake.errors[-1].description == "Too Many Requests: retry after 1"


# --- edits, deletes, callback queries ------------------------------------------------------------


async def test_edits_and_not_modified(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    sent = await bot.send_message(
        alice.id, "<b>Bước 1</b>", parse_mode="HTML", reply_markup=yes_no()
    )

    with pytest.raises(BadRequest, match=r"^Message is not modified: specified new message"):
        await bot.edit_message_text(
            "<b>Bước 1</b>", alice.id, sent.message_id, parse_mode="HTML", reply_markup=yes_no()
        )
    with pytest.raises(BadRequest, match=r"^Message is not modified"):
        await bot.edit_message_reply_markup(alice.id, sent.message_id, reply_markup=yes_no())

    # Same text but without formatting is a change; no reply_markup drops the keyboard.
    edited = await bot.edit_message_text("Bước 1", alice.id, sent.message_id)
    assert not isinstance(edited, bool) and edited.edit_date is not None
    assert alice.last.text == "Bước 1"
    assert alice.last.buttons == []
    await bot.edit_message_text("Bước 2", alice.id, sent.message_id, reply_markup=yes_no())
    assert alice.last.edits == ["Bước 1", "Bước 1"]
    assert alice.last.buttons[0][0] == ("Có", "yes")

    with pytest.raises(BadRequest, match=r"^Message to edit not found$"):
        await bot.edit_message_text("x", alice.id, 999)
    await alice.send("my own words")
    with pytest.raises(BadRequest, match=r"^Message can't be edited$"):
        await bot.edit_message_text("x", alice.id, alice.history[-1].message_id)


async def test_delete_flags_the_message(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    sent = await bot.send_message(alice.id, "tạm thời")
    await bot.send_message(alice.id, "còn lại")

    assert await bot.delete_message(alice.id, sent.message_id) is True
    assert alice.texts == ["còn lại"]
    assert [m.deleted for m in alice.messages(include_deleted=True)] == [True, False]
    with pytest.raises(BadRequest, match=r"^Message to delete not found$"):
        await bot.delete_message(alice.id, sent.message_id)
    with pytest.raises(BadRequest, match=r"^Message to edit not found$"):
        await bot.edit_message_text("x", alice.id, sent.message_id)


async def test_pressing_buttons_and_answering_queries(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, first_name="Lan")
    old = await bot.send_message(alice.id, "Câu hỏi 1", reply_markup=yes_no())
    await bot.send_message(alice.id, "Câu hỏi 2", reply_markup=yes_no())
    first_question = alice.messages()[0]

    query_id = await alice.press(first_question, "yes")  # a stale button still works
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query is not None
    assert (query.id, query.data, query.from_user.id) == (query_id, "yes", alice.id)
    assert query.message is not None and query.message.message_id == old.message_id
    assert query.message.chat.id == alice.id

    await query.answer("Đã ghi nhận", show_alert=True)
    assert [(a.data, a.text, a.show_alert) for a in alice.answers] == [("yes", "Đã ghi nhận", True)]
    with pytest.raises(BadRequest, match=r"^Query is too old and response timeout expired"):
        await query.answer()
    with pytest.raises(BadRequest, match=r"^Query is too old"):
        await bot.answer_callback_query("12345")

    await alice.press(alice.last, text="Không")
    with pytest.raises(AssertionError, match=r"no button with callback_data 'maybe'"):
        await alice.press(alice.last, "maybe")


# --- files --------------------------------------------------------------------------------------


async def test_send_document_round_trip_and_file_id_reuse(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    content = "Đơn vị;Diện tích\nXã A;1.250,5\n".encode()
    sent = await bot.send_document(
        alice.id, content, filename="Báo cáo.csv", caption="<i>Tháng 11</i>", parse_mode="HTML"
    )

    document = alice.last.document
    assert document is not None
    assert (document.filename, document.content, document.mime_type) == (
        "Báo cáo.csv",
        content,
        "text/csv",
    )
    assert alice.last.caption == "Tháng 11"
    assert sent.document is not None and sent.document.file_size == len(content)
    upload = fake.calls("sendDocument")[0]["document"]
    assert upload.content == content

    await bot.send_document(alice.id, sent.document.file_id)
    assert alice.last.document is document
    with pytest.raises(BadRequest, match=r"(?i)^wrong file identifier"):
        await bot.send_document(alice.id, "BQACno-such-file")

    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content


async def test_send_photo_makes_three_sizes_and_reuses_them(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    sent = await bot.send_photo(alice.id, b"\xff\xd8jpeg-bytes", caption="Ảnh")
    assert [p.width for p in sent.photo] == [90, 320, 800]
    assert alice.last.kind == "photo"
    assert alice.last.photo is not None and alice.last.photo.content == b"\xff\xd8jpeg-bytes"

    again = await bot.send_photo(alice.id, sent.photo[-1].file_id)
    assert again.photo == sent.photo
    assert again.caption is None


async def test_user_sends_all_kinds_of_messages(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, first_name="Lan", last_name="Nguyễn", language_code="vi")
    await alice.send("/start ABC123")
    await alice.send("/help@danvan_test_bot")
    await alice.send_photo(caption="xem này")
    await alice.send_contact(phone_number="0912345678")
    await alice.send_location(21.0, 106.0)
    await alice.send_sticker()
    await alice.send_voice(duration=4)
    await alice.send_document("ds.csv", b"a,b\n1,2\n", "text/csv")

    messages = [message_of(u) for u in await bot.get_updates()]
    start, help_, photo, contact, location, sticker, voice, document = messages
    assert [m.message_id for m in messages] == list(range(1, 9))
    assert start.text == "/start ABC123"
    assert start.parse_entities() == {start.entities[0]: "/start"}
    assert start.from_user is not None and start.from_user.language_code == "vi"
    assert help_.entities[0].length == len("/help@danvan_test_bot")
    assert len(photo.photo) == 3 and photo.caption == "xem này"
    assert contact.contact is not None
    assert contact.contact.user_id == alice.id
    assert (contact.contact.phone_number, contact.contact.last_name) == ("0912345678", "Nguyễn")
    assert location.location is not None
    assert (location.location.latitude, location.location.longitude) == (21.0, 106.0)
    assert sticker.sticker is not None and sticker.sticker.emoji == "👍"
    assert voice.voice is not None and voice.voice.duration == dtm.timedelta(seconds=4)
    assert document.document is not None
    file = await bot.get_file(document.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"a,b\n1,2\n"


async def test_ask_returns_the_bots_reply(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)

    async def answer_once() -> None:
        (update,) = await bot.get_updates(timeout=5)
        assert update.message is not None
        await update.message.reply_text(f"echo: {update.message.text}")

    echo = asyncio.create_task(answer_once())
    reply = await alice.ask("ping")
    await echo
    assert reply.text == "echo: ping"


# --- getUpdates ----------------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_a_user_sends(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: fake.calls("getUpdates"))
    assert not poll.done()

    update_id = await alice.send("xin chào")
    (update,) = await poll
    assert loop.time() - started < 2
    assert update.update_id == update_id
    assert update.message is not None and update.message.text == "xin chào"


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.05)) == ()


async def test_offset_confirms_and_limit_pages(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001)
    first = await alice.send("1")
    second = await alice.send("2")

    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    await fake.wait_acked(first)
    assert fake.confirmed_below == second
    assert await bot.get_updates(offset=second + 1) == ()
    await fake.wait_acked(second)
    assert fake.pending_updates == []
    with pytest.raises(TimeoutError, match=r"getUpdates to confirm update 3"):
        await fake.wait_acked(await alice.send("3"), timeout=0.05)


async def test_a_second_poller_terminates_the_first(fake: FakeBotAPI, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: fake.calls("getUpdates"))
    # A second process with the same token; one Bot never polls twice at once (its getUpdates
    # connection pool has a single connection).
    async with make_bot(fake) as second_instance:
        await second_instance.get_updates()
    with pytest.raises(Conflict, match=r"terminated by other getUpdates request"):
        await first


async def test_webhook_blocks_get_updates(fake: FakeBotAPI, bot: Bot) -> None:
    fake.user(1001)
    await fake.user(1001).send("hi")
    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict, match=r"can't use getUpdates method while webhook is active"):
        await bot.get_updates()

    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_stop_ends_pending_long_polls(fake: FakeBotAPI, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for(lambda: fake.calls("getUpdates"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await fake.stop()
    assert await poll == ()
    assert loop.time() - started < 2


async def test_wait_for_dumps_the_state_on_timeout(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, first_name="Lan")
    await bot.send_message(alice.id, "chào")
    with pytest.raises(TimeoutError) as caught:
        await fake.wait_for(lambda: alice.last.text == "tạm biệt", timeout=0.05, what="goodbye")
    dump = str(caught.value)
    assert "waiting for goodbye" in dump
    assert "sendMessage chat_id=1001, text='chào'" in dump
    assert "'Lan'" in dump


# --- commands ------------------------------------------------------------------------------------


async def test_commands_are_kept_per_scope_and_language(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    await bot.set_my_commands([("start", "Bắt đầu")], language_code="vi")
    await bot.set_my_commands(
        [("report", "Báo cáo")], scope=BotCommandScopeAllPrivateChats(), language_code="vi"
    )

    assert fake.commands() == [("start", "Start"), ("help", "Help")]
    assert fake.commands(language_code="vi") == [("start", "Bắt đầu")]
    assert fake.commands("all_private_chats", "vi") == [("report", "Báo cáo")]
    assert fake.commands(BotCommandScopeAllPrivateChats(), "vi") == [("report", "Báo cáo")]
    assert fake.commands(language_code="en") == []
    vi = await bot.get_my_commands(language_code="vi")
    assert [(c.command, c.description) for c in vi] == [("start", "Bắt đầu")]

    await bot.delete_my_commands(language_code="vi")
    assert fake.commands(language_code="vi") == []
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start", "capital letters are not allowed")])


# --- a real Application --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def polling(fake: FakeBotAPI, *handlers: BaseHandler[Any, Any, Any]) -> AsyncIterator[None]:
    """A real PTB Application long-polling the fake, stopped (and timed) on exit."""
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{fake.base_url}/bot")
        .base_file_url(f"{fake.base_url}/file/bot")
        .build()
    )
    app.add_handlers(handlers)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
        loop = asyncio.get_running_loop()
        try:
            yield
        finally:
            started = loop.time()
            await app.updater.stop()
            await app.stop()
        assert loop.time() - started < 2, "stopping waited for a long poll"


async def test_application_polls_and_replies_and_stops_cleanly(fake: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        code = " ".join(context.args or [])
        await update.effective_message.reply_html(
            f"Xin chào <b>{html.escape(update.effective_user.first_name)}</b>! {code}".strip()
        )

    alice = fake.user(1001, first_name="Lan & Co")
    async with polling(fake, CommandHandler("start", start)):
        update_id = await alice.send("/start ABC")
        await fake.wait_acked(update_id)
        reply = await fake.wait_for(lambda: alice.last, what="the /start reply")
        assert reply.text == "Xin chào Lan & Co! ABC"
        assert reply.html == "Xin chào <b>Lan &amp; Co</b>! ABC"

    assert fake.pending_updates == []
    assert fake.errors == []  # the long poll PTB abandoned at stop is not reported
    assert [c.method for c in fake.requests[:2]] == ["getMe", "deleteWebhook"]


async def test_application_handles_a_button_press(fake: FakeBotAPI) -> None:
    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Đồng ý không?", reply_markup=yes_no())

    async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Đã lưu")
        await query.edit_message_text(f"Bạn chọn: {query.data}")

    alice = fake.user(1001)
    async with polling(fake, CommandHandler("start", ask), CallbackQueryHandler(choose)):
        question = await alice.ask("/start")
        await alice.press(question, text="Không")
        await fake.wait_for(lambda: question.edits, what="the edit")

    assert (question.text, question.buttons) == ("Bạn chọn: no", [])
    assert [(a.data, a.text) for a in alice.answers] == [("no", "Đã lưu")]
    with pytest.raises(AssertionError, match="no button"):
        await alice.press(question, "yes")


# --- the HTML parser on its own ------------------------------------------------------------------


def test_parser_counts_utf16_and_merges_pre_code_language() -> None:
    text, entities = parse_html('😀 <b>đ</b><pre><code class="language-py">x</code></pre>')
    assert text == "😀 đx"
    assert entities == [
        {"offset": 3, "length": 1, "type": "bold"},
        {"offset": 4, "length": 1, "type": "pre", "language": "py"},
    ]
    assert utf16_len("😀") == 2


def test_parser_byte_offsets_count_utf8_bytes() -> None:
    with pytest.raises(EntityParseError, match=r'"x" at byte offset 4$'):
        parse_html("Đà<x>")  # Đ and à take 2 bytes each


def test_lenient_ampersand_matches_telegram() -> None:
    assert parse_html("Tom & Jerry &copy;", strict_ampersand=False) == ("Tom & Jerry &copy;", [])


@given(st.text())
def test_escaped_text_always_parses_back_to_itself(text: str) -> None:
    plain, entities = parse_html(html.escape(text))
    assert (plain, entities) == (text, [])


@given(st.text(min_size=1))
def test_bold_covers_the_whole_escaped_text(text: str) -> None:
    plain, entities = parse_html(f"<b>{html.escape(text)}</b>")
    assert plain == text
    assert entities == [{"offset": 0, "length": utf16_len(text), "type": "bold"}]
