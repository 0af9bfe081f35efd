"""Logging for duban's entry points, with secrets taken out of every line.

Every handler :func:`configure_logging` finds gets a :class:`RedactingFormatter`, so no
log line (message, arguments, traceback) carries a Telegram bot token (alone or inside a
``/bot<token>/`` URL), a Matrix access token (``syt_…``, ``access_token=…``, a bearer
header), a DingTalk-style secret in a URL (``access_token=``, ``sign=``, ``secret=`` …) or
the password of a database or Redis URL. python-telegram-bot and httpx log request URLs at
DEBUG, and a Bot API URL holds the token.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # https://api.telegram.org/bot<token>/getMe, /file/bot<token>/…
    (re.compile(r"(/bot)\d+:[^/\s?#]+"), rf"\1{MASK}"),
    # a Telegram bot token on its own: 123456789:AA…
    (re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}"), MASK),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    # Synapse access tokens
    (re.compile(r"\bsyt_[A-Za-z0-9_-]+"), f"syt_{MASK}"),
    # secrets in query strings and forms (Matrix, DingTalk, WeCom, Feishu webhooks …)
    (
        re.compile(
            r"(?i)\b(access_token|token|secret|sign|signature|key|password|passwd|pwd)"
            r"=[^&\s\"'#]+"
        ),
        rf"\1={MASK}",
    ),
    # the same in JSON bodies and dict reprs: "access_token": "…"
    (
        re.compile(r"(?i)([\"'](?:access_token|token|password|secret)[\"']\s*:\s*[\"'])[^\"']+"),
        rf"\1{MASK}",
    ),
    # scheme://user:password@host (PostgreSQL, Redis, AMQP …)
    (re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/\s@]*:)[^@\s/]+(@)"), rf"\1{MASK}\2"),
)


def redact(text: str) -> str:
    """``text`` with every secret the patterns know replaced by ``<redacted>``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner`` (or :data:`FORMAT`), then redacts the whole line, so the
    message, its arguments and any traceback are covered."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def install(handler: logging.Handler) -> logging.Handler:
    """Make ``handler`` redact (once)."""
    if not isinstance(handler.formatter, RedactingFormatter):
        handler.setFormatter(RedactingFormatter(handler.formatter))
    return handler


def configure_logging(level: str | int = "WARNING") -> None:
    """The entry points' logging: ``basicConfig`` at ``level``, then every handler that is
    configured by now (the root's and any library's own) redacts."""
    if isinstance(level, str):
        level = level.upper()
    logging.basicConfig(level=level, format=FORMAT)
    loggers = [logging.getLogger()] + [
        item
        for item in logging.Logger.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            install(handler)
