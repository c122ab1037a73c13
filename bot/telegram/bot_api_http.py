"""The bot's HTTP client for the Bot API: aiohttp in place of PTB's default httpx.

Measured against the fake Bot API on loopback (bench/test_conversation_load.py), one call
through PTB's HTTPXRequest costs about 3 ms of CPU here and one through this class about
0.7 ms; a step of a form makes two or three calls, so the client was the bot's largest cost
under load. The behaviour PTB relies on is kept: the same default timeouts (media uploads get
their own write timeout), TimedOut for any timeout, NetworkError for any other failure of the
connection, and the status and body of every answer, errors included, for PTB to interpret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# HTTPXRequest's defaults, in seconds.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
MEDIA_WRITE_TIMEOUT = 20.0
_DEFAULT = type(BaseRequest.DEFAULT_NONE)  # "not given": the timeout set here applies
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


def _total(*parts: float | None) -> float | None:
    """aiohttp has no write timeout: the whole request may take as long as its phases may
    together. No limit if any phase has none."""
    if any(part is None for part in parts):
        return None
    return sum(part for part in parts if part is not None)


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` over one aiohttp session (a pool of `pool_size`
    connections), made in `initialize` and closed in `shutdown`."""

    __slots__ = ("_pool_size", "_session", "_timeouts")

    def __init__(
        self,
        pool_size: int = 256,
        *,
        read_timeout: float | None = READ_TIMEOUT,
        write_timeout: float | None = WRITE_TIMEOUT,
        connect_timeout: float | None = CONNECT_TIMEOUT,
        pool_timeout: float | None = POOL_TIMEOUT,
        media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT,
    ) -> None:
        self._pool_size = pool_size
        self._timeouts = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
            "media_write": media_write_timeout,
        }
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                # No cookies, and no proxy or .netrc settings read from the environment: the
                # Bot API URL is a setting of its own.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _timeout(self, given: Any, which: str) -> float | None:
        return self._timeouts[which] if isinstance(given, _DEFAULT) else given

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        body: aiohttp.FormData | bytes | None = None
        headers = None
        if files:
            body = aiohttp.FormData(fields or {})
            for name, (filename, content, mime_type) in files.items():
                body.add_field(name, content, filename=filename, content_type=mime_type)
        elif fields:
            # What aiohttp would make of the dict, without the FormData it builds for it
            # (a random multipart boundary each time, though the form is never multipart).
            body = urlencode(fields).encode()
            headers = URLENCODED
        read = self._timeout(read_timeout, "read")
        connect = self._timeout(connect_timeout, "connect")
        pool = self._timeout(pool_timeout, "pool")
        write = self._timeout(write_timeout, "media_write" if files else "write")
        timeout = aiohttp.ClientTimeout(
            total=_total(pool, connect, write, read),
            connect=_total(pool, connect),  # aiohttp counts the wait for a free connection here
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as answer:
                return answer.status, await answer.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # Without the URL: it holds the token.
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {_without(str(exc), url)}") from exc


def _without(text: str, url: str) -> str:
    return text.replace(url, "<Bot API URL>")
