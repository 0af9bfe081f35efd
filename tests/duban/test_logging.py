"""No token or password reaches a log line: the redacting formatter on every handler."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bots.messages import OutgoingMessage
from bots.telegram import TelegramAdapter
from duban.logs import RedactingFormatter, install, redact
from ledger import schema
from ledger.db import make_engine
from tests.fakes.telegram_api import FakeBotAPI

# The shape of a real token from @BotFather: a bot id, a colon, 35 characters.
TOKEN = "7012345678:AAFq1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6"
SECRET = TOKEN.split(":", 1)[1]


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f"POST https://api.telegram.org/bot{TOKEN}/getMe", SECRET),
        ("POST http://127.0.0.1:8081/bot123456:short-one/getUpdates", "short-one"),
        (f"token is {TOKEN}, keep it", SECRET),
        ("GET /_matrix/client/v3/sync?access_token=syt_ZHViYW4_QwErTyUiOp_1a2b3c", "QwErTy"),
        ("login ok: syt_ZHViYW4_QwErTyUiOp_1a2b3c", "QwErTy"),
        ("Authorization: Bearer mAtRiXtOkEn123", "mAtRiXtOkEn123"),
        ('{"access_token": "mAtRiXtOkEn123", "device_id": "X"}', "mAtRiXtOkEn123"),
        (
            "https://oapi.dingtalk.com/robot/send?access_token=d1n6t4lk&timestamp=1&sign=s1Gn%3D",
            "d1n6t4lk",
        ),
        ("https://oapi.dingtalk.com/robot/send?timestamp=1&sign=s1Gn%3D", "s1Gn"),
        ("connect postgresql+psycopg://duban:pa55w0rd@db.local:5432/duban", "pa55w0rd"),
        ("Redis unavailable: redis://:pa55w0rd@127.0.0.1:6379/0", "pa55w0rd"),
    ],
)
def test_redact_removes_the_secret(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned and "<redacted>" in cleaned


def test_redact_keeps_ordinary_text() -> None:
    for line in ("收件 12:30:45", "https://example.org/path?page=2", "DB-2026-000123 已交办"):
        assert redact(line) == line


def test_a_traceback_is_redacted_too() -> None:
    handler = logging.StreamHandler(io.StringIO())
    install(handler)
    logger = logging.getLogger("tests.duban.redact_traceback")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(f"cannot reach https://api.telegram.org/bot{TOKEN}/getMe")
        except RuntimeError:
            logger.exception("send failed for %s", TOKEN)
    finally:
        logger.removeHandler(handler)
    text = handler.stream.getvalue()
    assert "RuntimeError" in text and SECRET not in text


def test_install_is_idempotent_and_keeps_the_format() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    install(install(handler))
    assert isinstance(handler.formatter, RedactingFormatter)
    assert not isinstance(handler.formatter.inner, RedactingFormatter)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token %s", (TOKEN,), None)
    assert handler.format(record) == "[WARNING] token <redacted>"


def test_the_entry_points_logging_redacts(tmp_path: Path) -> None:
    """``configure_logging`` (what ``duban``'s main calls) makes every handler redact."""
    script = (
        "import logging\n"
        "from duban.logs import configure_logging\n"
        "configure_logging('debug')\n"
        f"logging.getLogger('httpx').info('HTTP Request: POST https://api.telegram.org/bot{TOKEN}/getMe')\n"
        f"logging.getLogger('rq.worker').warning('redis://:pa55w0rd@localhost:6379/0 down')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "getMe" in done.stderr and "down" in done.stderr
    assert SECRET not in done.stderr and "pa55w0rd" not in done.stderr


def test_telegram_at_debug_never_logs_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real python-telegram-bot stack at DEBUG against the fake Bot API: the library
    does log the token (in the request URLs); the log duban writes does not."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    schema.upgrade(engine)
    captured = io.StringIO()
    handler = install(logging.StreamHandler(captured))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        api = FakeBotAPI(TOKEN)
        await api.start()
        adapter = TelegramAdapter(
            TOKEN, engine=engine, base_url=api.base_url, poll_timeout=1, request_timeout=5
        )

        async def on_message(_message) -> None:
            return None

        try:
            await adapter.start(on_message)
            await adapter.send(OutgoingMessage(chat_id="-100101", text="测试日志"))
            await asyncio.sleep(0.1)
        finally:
            await adapter.stop()
            await api.stop()

    try:
        asyncio.run(scenario())
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        engine.dispose()
    raw = "\n".join(record.getMessage() for record in caplog.records)
    assert SECRET in raw  # the libraries log it: without redaction it would be in the log
    written = captured.getvalue()
    assert "sendMessage" in written and "<redacted>" in written
    assert SECRET not in written and TOKEN not in written
