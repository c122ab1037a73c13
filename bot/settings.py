"""Settings, read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import re
from datetime import time
from functools import cached_property
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.i18n import LANGUAGES
from bot.domain.parsing import LandRegion
from storage.engine import to_async_url

TELEGRAM_PUBLIC_API = "https://api.telegram.org"
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = TELEGRAM_PUBLIC_API
    database_url: str = "sqlite:///danvan.db"
    timezone: str = "Asia/Ho_Chi_Minh"
    default_language: str = "vi"
    land_unit_region: LandRegion = LandRegion.BAC
    edit_window_days: int = Field(default=7, ge=0, le=3650)
    conversation_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    quiet_hours: str = "21:00-07:00"
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=1, le=65535)

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _blank_token_is_missing(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError("Telegram only calls https URLs, e.g. https://bot.example.vn/telegram")
        return value.strip()

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for secret_token; the value itself never goes into the message.
        if value is not None and not WEBHOOK_SECRET_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.strip().rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        to_async_url(value)
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        try:
            start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
        except ValueError:
            raise ValueError("must look like 21:00-07:00") from None
        return f"{start:%H:%M}-{end:%H:%M}"

    @property
    def quiet_start(self) -> time:
        return time.fromisoformat(self.quiet_hours.split("-")[0])

    @property
    def quiet_end(self) -> time:
        return time.fromisoformat(self.quiet_hours.split("-")[1])

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def bot_base_url(self) -> str:
        """What PTB's `base_url` wants: it appends the token and the method itself."""
        return f"{self.telegram_api_url}/bot"

    def bot_file_url(self) -> str:
        return f"{self.telegram_api_url}/file/bot"

    @property
    def webhook_path(self) -> str:
        """The path Telegram posts to (the reverse proxy passes it on unchanged)."""
        return urlsplit(self.webhook_url or "").path or "/"

    def secrets(self) -> list[str]:
        """What must never appear in a log line or an error message."""
        return [
            secret.get_secret_value()
            for secret in (self.telegram_bot_token, self.webhook_secret)
            if secret is not None
        ]


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
