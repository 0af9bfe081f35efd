"""Settings from the environment (``DUBAN_*``), built on demand, never at import time."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything an office configures, read from ``DUBAN_*`` variables or a ``.env`` file."""

    model_config = SettingsConfigDict(env_prefix="DUBAN_", env_file=".env", extra="ignore")

    home: Path = Field(
        default=REPO_ROOT / "var",
        description="Working folder: the SQLite ledger, models, reports.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default a SQLite file under DUBAN_HOME."
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for rq; unset means jobs run inline."
    )
    queue_name: str = Field(default="duban", description="The rq queue jobs go to.")
    timezone: str = Field(default="Asia/Shanghai", description="The office's time zone.")
    data_dir: Path = Field(
        default=REPO_ROOT / "data", description="Units, dictionary, calendar, rules."
    )
    model_dir: Path | None = Field(
        default=None, description="Model registry folder; default DUBAN_HOME/models."
    )
    report_dir: Path | None = Field(
        default=None, description="Where reports are written; default DUBAN_HOME/reports."
    )
    # Routing and intake knobs (issue 4 fills them in; defaults documented in the README).
    confidence_threshold: float | None = Field(
        default=None, description="Auto-assign at or above; default: the model's own threshold."
    )
    max_message_chars: int = 20_000
    redact_for_units: bool = True

    @field_validator("database_url")
    @classmethod
    def _a_database_url(cls, value: str | None) -> str | None:
        """A URL SQLAlchemy can read (``notaurl`` was an ArgumentError traceback); the value
        is never repeated in the message: it may hold a password."""
        if value is None or not value.strip():
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(value.strip()).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError):
            raise ValueError(
                "不是数据库地址，应写成 postgresql://用户:密码@主机/库名 或 sqlite:////路径/duban.db"
                " (not a database URL)"
            ) from None
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'duban.db'}"

    @property
    def models_path(self) -> Path:
        return self.model_dir or self.home / "models"

    @property
    def reports_path(self) -> Path:
        return self.report_dir or self.home / "reports"

    @property
    def calendar_file(self) -> Path:
        return self.data_dir / "calendar.yaml"

    # Matrix bot (``duban bot --matrix``): the homeserver, the bot's account and either its
    # password or an access token. Secrets come only from the environment; never logged.
    matrix_homeserver: str | None = Field(
        default=None, description="Matrix homeserver URL, e.g. https://matrix.example.org."
    )
    matrix_user: str | None = Field(
        default=None, description="The bot's Matrix user: @duban:example.org (or the localpart)."
    )
    matrix_password: str | None = Field(
        default=None, repr=False, description="The bot's password (or use the access token)."
    )
    matrix_access_token: str | None = Field(
        default=None, repr=False, description="The bot's access token (instead of a password)."
    )
    # The web desk's address as people open it (behind the office's reverse proxy): the bot
    # hands out one-time login links under it (``/登录`` in a private chat).
    web_url: str | None = Field(
        default=None,
        description="The web desk's address people open, e.g. https://duban.example.gov.cn.",
    )
    # Telegram bot (``duban bot --telegram``): the token from @BotFather. Long polling unless
    # a webhook URL is set. Secrets come only from the environment; never logged.
    telegram_token: str | None = Field(
        default=None, repr=False, description="The bot token from @BotFather."
    )
    telegram_base_url: str | None = Field(
        default=None, description="Bot API URL (a local Bot API server); default Telegram's."
    )
    telegram_webhook_url: str | None = Field(
        default=None, description="Public HTTPS URL of the webhook; unset means long polling."
    )
    telegram_webhook_secret: str | None = Field(
        default=None, repr=False, description="Secret Telegram sends with every webhook call."
    )
    telegram_webhook_listen: str = Field(
        default="127.0.0.1:8443", description="host:port the webhook server listens on."
    )
    # DingTalk bot (``duban bot --dingtalk``): the app's client id and secret (Stream mode,
    # no inbound port), or only a group's custom robot webhook (push-only). Secrets come
    # only from the environment; never logged.
    dingtalk_client_id: str | None = Field(
        default=None, description="The DingTalk app's Client ID (AppKey); Stream mode."
    )
    dingtalk_client_secret: str | None = Field(
        default=None, repr=False, description="The DingTalk app's Client Secret (AppSecret)."
    )
    dingtalk_robot_code: str | None = Field(
        default=None, description="The robot's RobotCode; default the Client ID."
    )
    dingtalk_api_url: str = Field(
        default="https://api.dingtalk.com", description="DingTalk OpenAPI URL (new API)."
    )
    dingtalk_oapi_url: str = Field(
        default="https://oapi.dingtalk.com", description="DingTalk oapi URL (media upload)."
    )
    dingtalk_webhook_url: str | None = Field(
        default=None,
        repr=False,
        description="A group's custom robot webhook URL: push-only, nothing received.",
    )
    dingtalk_webhook_secret: str | None = Field(
        default=None, repr=False, description="The custom robot's signing secret (SEC…)."
    )
    # Chat core knobs.
    bot_outbox_interval: float = Field(
        default=0.5, description="Seconds between outbox passes of `duban bot`."
    )
    invite_hours: int = Field(
        default=72, description="Hours a `duban people invite` code stays valid."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    return Settings()
