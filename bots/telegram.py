"""The Telegram adapter (python-telegram-bot): updates in, plain-text messages out.

The only module that imports ``telegram``. It translates, nothing more: every behaviour is
in :mod:`bots.handlers`, reached through ``on_message``.

Receiving, by long polling (the default). PTB's ``Application`` parses each update and runs
our one ``TypeHandler``, but the polling loop is ours: PTB's ``Updater`` confirms an update
to Telegram (the ``offset``) as soon as it is *fetched*, before it is handled, so a crash
would lose it. Here ``get_updates(offset=…)`` starts from the offset stored in the
``bot_state`` table (``telegram:offset``), each update is handled, and only then is
``update_id + 1`` stored — a restart neither repeats nor skips an update (the hub's inbox
also drops a message it has seen). If the ledger cannot be reached the same update is tried
again with backoff instead of being skipped. ``stop()`` interrupts a waiting long poll but
lets an update being handled finish.

Receiving by webhook (``DUBAN_TELEGRAM_WEBHOOK_URL``): an aiohttp server takes Telegram's
POSTs, refuses any without the secret token header (403), handles the update and only then
answers 200 (Telegram re-sends on anything else; the inbox drops repeats).

What becomes an :class:`IncomingMessage`: text messages and captions (commands, pastes,
replies: ``reply_to`` is the replied message's id), forwarded messages (``forward_origin``
of type user / hidden_user / chat / channel gives ``forwarded_from`` and ``forwarded_at``),
and button presses (``callback_query``: ``text`` is the button's command, ``message_id`` is
``cb:<query id>``, ``reply_to`` the card). A press is answered (the spinner stops) with a
short word on the outcome, and a button whose command was carried out is taken off the card.

Sending: plain text (no ``parse_mode``: nothing can be read as markup, so nothing needs
escaping), link previews off, ``reply_to`` as ``ReplyParameters`` that tolerate a deleted
message, buttons as an inline keyboard. Callback data is the command itself when it fits
Telegram's 64 bytes, else a short key kept in ``chat_button``. Images go as photos with the
text as caption.

Errors are mapped here: ``RetryAfter`` -> ``SendFailed(retry_after=…)``; ``Forbidden``
(blocked, kicked), ``BadRequest`` (chat not found, …) and ``ChatMigrated`` (a group became
a supergroup: bind the new id) -> permanent; ``TimedOut``, ``NetworkError`` and anything
else -> retried by the outbox. A timed-out send may still have reached Telegram (it has no
idempotency key), so it may be posted twice; it is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import warnings
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ContextTypes, TypeHandler

from bots.errors import NotConfigured, SendFailed
from bots.messages import (
    Attachment,
    IncomingMessage,
    Location,
    OnMessage,
    Outcome,
    OutgoingMessage,
)
from bots.platforms import PlatformSetup
from bots.state import AdapterState

logger = logging.getLogger(__name__)

PLATFORM = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64  # bytes of callback data
ALLOWED_UPDATES = ["message", "callback_query"]
ANSWERS = {
    Outcome.DONE: "已办理",
    Outcome.REFUSED: "未能办理，请看群内说明",
    Outcome.DUPLICATE: "已处理过",
    Outcome.FAILED: "系统出错，请稍后再试",
}


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str  # the public HTTPS URL Telegram posts to
    secret: str  # sent back by Telegram in X-Telegram-Bot-Api-Secret-Token
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "/telegram"


class TelegramAdapter:
    platform = PLATFORM
    text_limit = TEXT_LIMIT

    def __init__(
        self,
        token: str,
        *,
        engine: Engine,
        base_url: str | None = None,
        webhook: Webhook | None = None,
        poll_timeout: float = 30.0,
        request_timeout: float = 15.0,
        max_backoff: float = 60.0,
    ) -> None:
        if not token:
            raise NotConfigured("Telegram 需要 DUBAN_TELEGRAM_TOKEN (the bot token is required)")
        if webhook is not None and not webhook.secret:
            raise NotConfigured("Webhook 需要 DUBAN_TELEGRAM_WEBHOOK_SECRET (a secret token)")
        builder = (
            Application.builder()
            .token(token)
            .updater(None)
            .connect_timeout(request_timeout)
            .read_timeout(request_timeout)
            .write_timeout(request_timeout)
            .pool_timeout(request_timeout)
            .get_updates_read_timeout(poll_timeout + request_timeout)
        )
        if base_url:
            builder = builder.base_url(base_url)
            if base_url.rstrip("/").endswith("/bot"):  # a local Bot API server's files
                builder = builder.base_file_url(base_url.rstrip("/")[: -len("/bot")] + "/file/bot")
        self.app = builder.build()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.state = AdapterState(engine, PLATFORM)
        self.webhook = webhook
        self.poll_timeout = poll_timeout
        self.max_backoff = max_backoff
        self._on_message: OnMessage | None = None
        self._task: asyncio.Task | None = None
        self._site: Any = None
        self._stopping = False
        self._waiting = False
        self._failure: BaseException | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Any, engine: Engine, **kw: Any) -> TelegramAdapter:
        webhook = None
        if settings.telegram_webhook_url:
            host, _, port = settings.telegram_webhook_listen.rpartition(":")
            webhook = Webhook(
                url=settings.telegram_webhook_url,
                secret=settings.telegram_webhook_secret or "",
                listen=host or "127.0.0.1",
                port=int(port or 8443),
            )
        return cls(
            settings.telegram_token or "",
            engine=engine,
            base_url=settings.telegram_base_url,
            webhook=webhook,
            **kw,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self._stopping = False
        try:
            await self.app.initialize()  # getMe: checks the token
        except InvalidToken as exc:
            raise NotConfigured("Telegram 拒绝了 DUBAN_TELEGRAM_TOKEN (invalid token)") from exc
        logger.info("telegram bot @%s ready", self.app.bot.username)
        if self.webhook is not None:
            await self._start_webhook(self.webhook)
        else:
            await self.app.bot.delete_webhook(drop_pending_updates=False)
            self._task = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            if self._waiting:
                self._task.cancel()  # only ever while waiting for updates, never mid-update
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._site is not None:
            await self._site.cleanup()
            self._site = None
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    # -- polling -------------------------------------------------------------------------------

    async def _poll(self) -> None:
        stored = await asyncio.to_thread(self.state.get, "offset")
        offset = int(stored) if stored else None
        errors = 0
        while not self._stopping:
            try:
                self._waiting = True
                updates = await self.app.bot.get_updates(
                    offset=offset, timeout=int(self.poll_timeout), allowed_updates=ALLOWED_UPDATES
                )
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc))
                continue
            except TimedOut:
                continue
            except (NetworkError, Conflict, Forbidden, InvalidToken) as exc:
                errors += 1
                delay = min(self.max_backoff, 2.0 ** min(errors, 6))
                logger.warning(
                    "telegram get_updates failed (%s); retrying in %.0f s",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            finally:
                self._waiting = False
            errors = 0
            for update in updates:
                await self._handle_until_done(update)
                offset = update.update_id + 1
                await asyncio.to_thread(self.state.put, "offset", str(offset))
                if self._stopping:
                    return

    async def _handle_until_done(self, update: Update) -> None:
        """Handle one update; if the ledger is unreachable, try the same update again."""
        attempt = 0
        while True:
            if await self._process(update):
                return
            attempt += 1
            delay = min(self.max_backoff, 2.0 ** min(attempt, 6))
            logger.warning(
                "telegram update %s not handled (%s); retrying in %.0f s",
                update.update_id,
                type(self._failure).__name__,
                delay,
            )
            await asyncio.sleep(delay)

    async def _process(self, update: Update) -> bool:
        async with self._lock:
            self._failure = None
            await self.app.process_update(update)
            return self._failure is None

    # -- webhook -------------------------------------------------------------------------------

    async def _start_webhook(self, hook: Webhook) -> None:
        from aiohttp import web

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), hook.secret.encode()):
                logger.warning("telegram webhook call without the right secret token refused")
                return web.Response(status=403)
            try:
                update = Update.de_json(await request.json(), self.app.bot)
            except ValueError:
                return web.Response(status=400)
            if update is None or not await self._process(update):
                return web.Response(status=500)  # Telegram delivers it again later
            return web.Response(status=200)

        server = web.Application()
        server.router.add_post(hook.path, receive)
        runner = web.AppRunner(server, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, hook.listen, hook.port).start()
        self._site = runner
        await self.app.bot.set_webhook(
            url=hook.url,
            secret_token=hook.secret,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=1,
        )
        logger.info("telegram webhook listening on %s:%s%s", hook.listen, hook.port, hook.path)

    # -- updates -> IncomingMessage ---------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert self._on_message is not None
        try:
            if update.callback_query is not None:
                await self._on_callback(update)
                return
            msg = translate_message(update.message, bot_username=self.app.bot.username)
        except Exception:  # a shape we do not know: log it, never block the updates behind
            logger.exception("telegram update %s could not be read; skipped", update.update_id)
            return
        if msg is None:
            return
        try:
            if update.message is not None and update.message.photo:
                msg = await _with_photo(msg, update.message)
            await self._on_message(msg)
        except Exception as exc:  # the ledger (or the file) is unreachable: the poller tries again
            self._failure = exc

    async def _on_callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None and self._on_message is not None
        card = query.message
        if not isinstance(card, Message) or not query.data:
            await _answer(query, "消息已过期")
            return
        command = await asyncio.to_thread(self.state.button_command, query.data)
        if command is None:
            await _answer(query, "按钮已失效")
            return
        msg = IncomingMessage(
            platform=PLATFORM,
            chat_id=str(card.chat.id),
            sender_id=str(query.from_user.id),
            message_id=f"cb:{query.id}",
            text=command.strip(),
            received_at=datetime.now(UTC),
            reply_to=str(card.message_id),
            private=card.chat.type == "private",
            sender_name=query.from_user.full_name,
        )
        try:
            outcome = await self._on_message(msg)
        except Exception as exc:
            self._failure = exc
            return
        await _answer(query, ANSWERS.get(outcome))
        if outcome == Outcome.DONE and not command.endswith(" "):
            await self._spend_button(card, query.data)

    async def _spend_button(self, card: Message, data: str) -> None:
        """Take a carried-out button off the card (the others stay)."""
        markup = card.reply_markup
        if markup is None:
            return
        rows = [[b for b in row if b.callback_data != data] for row in markup.inline_keyboard]
        rows = [row for row in rows if row]
        try:
            await self.app.bot.edit_message_reply_markup(
                chat_id=card.chat.id,
                message_id=card.message_id,
                reply_markup=InlineKeyboardMarkup(rows) if rows else None,
            )
        except TelegramError as exc:
            logger.info("card %s: buttons not updated (%s)", card.message_id, exc)

    # -- OutgoingMessage -> Telegram -----------------------------------------------------------

    async def send(self, msg: OutgoingMessage) -> str:
        chat_id: int | str = int(msg.chat_id) if msg.chat_id.lstrip("-").isdigit() else msg.chat_id
        markup = await self._keyboard(msg) if msg.actions else None
        reply = None
        if msg.reply_to and msg.reply_to.isdigit():
            reply = ReplyParameters(message_id=int(msg.reply_to), allow_sending_without_reply=True)
        try:
            if msg.images:
                sent = None
                for index, path in enumerate(msg.images):
                    with open(path, "rb") as image:
                        posted = await self.app.bot.send_photo(
                            chat_id=chat_id,
                            photo=image,
                            caption=msg.text[:CAPTION_LIMIT] if index == 0 else None,
                            reply_markup=markup if index == 0 else None,
                            reply_parameters=reply if index == 0 else None,
                        )
                    sent = sent or posted
            else:
                sent = await self.app.bot.send_message(
                    chat_id=chat_id,
                    text=msg.text,
                    reply_markup=markup,
                    reply_parameters=reply,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
        except OSError as exc:
            raise SendFailed(f"image not readable: {exc}", permanent=True) from exc
        except TelegramError as exc:
            raise send_failed(exc) from exc
        assert sent is not None
        return str(sent.message_id)

    async def _keyboard(self, msg: OutgoingMessage) -> InlineKeyboardMarkup:
        buttons = []
        for action in msg.actions:
            data = action.command
            if len(data.encode()) > CALLBACK_LIMIT:
                data = await asyncio.to_thread(self.state.button_key, action.command)
            buttons.append(InlineKeyboardButton(action.label, callback_data=data))
        return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


_ADDRESSED = re.compile(r"^\s*[/／][^\s@/／]+@(\w+)")


def translate_message(
    message: Message | None, *, bot_username: str | None = None
) -> IncomingMessage | None:
    """A Telegram message as an :class:`IncomingMessage`; None for what the bot ignores
    (among them a command addressed to another bot in the group: ``/help@other_bot``)."""
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    addressed = _ADDRESSED.match(message.text or "")
    if addressed and bot_username and addressed[1].lower() != bot_username.lower():
        return None
    if message.migrate_to_chat_id:
        logger.warning(
            "telegram chat %s became %s: bind the new id (duban bind)",
            message.chat.id,
            message.migrate_to_chat_id,
        )
        return None
    text = message.text or message.caption or ""
    if not text.strip():
        return None
    forwarded_from, forwarded_at = forward_origin(message)
    reply = message.reply_to_message
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=str(message.chat.id),
        sender_id=str(message.from_user.id),
        message_id=str(message.message_id),
        text=text,
        received_at=_aware(message.date),
        forwarded_from=forwarded_from,
        forwarded_at=forwarded_at,
        reply_to=str(reply.message_id) if reply else None,
        private=message.chat.type == "private",
        sender_name=message.from_user.full_name,
        location=(
            Location(latitude=message.location.latitude, longitude=message.location.longitude)
            if message.location is not None
            else None
        ),
    )


async def _with_photo(msg: IncomingMessage, message: Message) -> IncomingMessage:
    """The message with its photo downloaded: the largest size (the last of the array)."""
    size = message.photo[-1]
    file = await size.get_file()
    data = bytes(await file.download_as_bytearray())
    photo = Attachment(kind="photo", data=data, name=size.file_unique_id)
    return replace(msg, attachments=(*msg.attachments, photo))


def forward_origin(message: Message) -> tuple[str | None, datetime | None]:
    """Who first sent a forwarded message, and when (Bot API ``forward_origin``)."""
    origin = message.forward_origin
    if origin is None:
        return None, None
    if isinstance(origin, MessageOriginUser):
        user = origin.sender_user
        name = user.full_name + (f" (@{user.username})" if user.username else "")
    elif isinstance(origin, MessageOriginHiddenUser):
        name = origin.sender_user_name
    elif isinstance(origin, MessageOriginChat):
        name = (
            origin.sender_chat.title or origin.sender_chat.full_name or str(origin.sender_chat.id)
        )
        if origin.author_signature:
            name += f"（{origin.author_signature}）"
    elif isinstance(origin, MessageOriginChannel):
        name = origin.chat.title or str(origin.chat.id)
        if origin.author_signature:
            name += f"（{origin.author_signature}）"
    else:
        name = "转发"
    return name or "转发", _aware(origin.date)


def send_failed(exc: TelegramError) -> SendFailed:
    """A python-telegram-bot error as the outbox understands it."""
    name = type(exc).__name__
    if isinstance(exc, RetryAfter):
        return SendFailed(f"{name}: {exc}", retry_after=_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return SendFailed(
            f"{name}: the chat is now {exc.new_chat_id}; bind it (duban bind)", permanent=True
        )
    if isinstance(exc, Forbidden | BadRequest):  # BadRequest before its base NetworkError
        return SendFailed(f"{name}: {exc.message}", permanent=True)
    return SendFailed(f"{name}: {exc.message}")


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about the int form; take either
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _answer(query: Any, text: str | None) -> None:
    try:
        await query.answer(text=text)
    except TelegramError as exc:  # too old to answer: nothing to do
        logger.info("callback query not answered: %s", exc)


def make_adapter(setup: PlatformSetup) -> TelegramAdapter:
    """``duban bot --telegram`` (:mod:`bots.platforms`): from ``DUBAN_TELEGRAM_*``."""
    if not setup.settings.telegram_token:
        raise NotConfigured("未设置 DUBAN_TELEGRAM_TOKEN（向 @BotFather 申请机器人令牌）")
    return TelegramAdapter.from_settings(setup.settings, setup.engine)
