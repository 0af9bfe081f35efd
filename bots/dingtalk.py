"""The DingTalk adapter (钉钉, official ``dingtalk-stream`` SDK): Stream mode in, robot APIs out.

The only module that imports ``dingtalk_stream``. It translates, nothing more: every
behaviour is in :mod:`bots.handlers`, reached through ``on_message``.

Receiving, in Stream mode: the bot opens an outgoing connection, so the office needs no
public URL and no inbound port. ``POST /v1.0/gateway/connections/open`` (with the app's
client id and secret, subscribing to the robot message topic and the card callback topic)
answers a WebSocket endpoint and a ticket; frames arrive on that WebSocket and each is
acknowledged. The SDK's :class:`DingTalkStreamClient` does the framing: its
``route_message`` parses a frame (``SystemMessage`` ping / disconnect, ``CallbackMessage``),
runs our handler registered for its topic and sends the acknowledgement. Its ``start()``
loop is not used: it blocks the event loop with ``requests``, reads the API address only
from an environment variable at import, handles frames concurrently in any order and waits
ten seconds after a dropped connection. Here the connection loop is ours: one frame at a
time, in order, acknowledged only after the hub has taken the message; a drop reconnects at
once (then with backoff), and DingTalk re-sends what was not acknowledged — the hub's inbox
drops a message it has seen, so nothing is handled twice.

What becomes an :class:`IncomingMessage`: text and rich-text messages in groups (where the
bot is @-mentioned; the mention is stripped) and in one-to-one chats, and card button
presses (``message_id`` ``cb:<stream message id>``, ``reply_to`` the card). Pictures carry
no text and :class:`IncomingMessage` has no attachments: they are not taken.
Chat ids: a group is its ``openConversationId`` (``cid…``); a one-to-one chat is
``user:<userid>`` (the person's userid in the organisation, also their ``sender_id``).

Sending, with the robot APIs and an access token (``/v1.0/oauth2/accessToken``) kept here
and renewed before it expires (or at once when DingTalk says it is no longer valid):
text as ``sampleText`` (group ``/v1.0/robot/groupMessages/send``, private
``/v1.0/robot/oToMessages/batchSend``), buttons as an interactive card (``StandardCard``,
``/v1.0/im/v1.0/robot/interactiveCards/send``) whose buttons carry the same commands as
Telegram's; a pressed button whose command was carried out is taken off the card
(``PUT /v1.0/im/robots/interactiveCards``). Images are uploaded through ``upload`` (by
default the media upload of ``oapi``) and sent as ``sampleImageMsg``. DingTalk's robot
APIs have no reply-to: answers are posted plainly.

Rate limits: a group robot may post 20 messages a minute to a group; the adapter counts
its own sends per chat and raises ``SendFailed(retry_after=…)`` before DingTalk would
refuse, and DingTalk's own throttling answers map to ``retry_after`` as well.
Errors: 401 renews the token and tries once more; throttling -> ``retry_after``; other
4xx (no permission, no such group, bad request) -> permanent; 5xx and network -> retried.

Push-only (:class:`DingTalkWebhookAdapter`): an office that can only add a custom robot to
a group posts digests, reports and reminders through its webhook, signed with the robot's
secret (HMAC-SHA256 of ``timestamp\\nsecret``, base64, url-encoded); nothing is received.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import websockets
from dingtalk_stream import (  # type: ignore[import-untyped]
    AckMessage,
    CallbackHandler,
    ChatbotMessage,
    Credential,
)
from dingtalk_stream.card_callback import CardCallbackMessage  # type: ignore[import-untyped]
from dingtalk_stream.frames import (  # type: ignore[import-untyped]
    CallbackMessage,
    SystemMessage,
)
from dingtalk_stream.stream import DingTalkStreamClient  # type: ignore[import-untyped]
from sqlalchemy.engine import Engine

from bots.errors import NotConfigured, SendFailed
from bots.messages import IncomingMessage, OnMessage, Outcome, OutgoingMessage
from bots.platforms import PlatformSetup
from bots.state import AdapterState

logger = logging.getLogger(__name__)

PLATFORM = "dingtalk"
TEXT_LIMIT = 3500  # sampleText takes ~5000 characters; stay clear of it
API_URL = "https://api.dingtalk.com"
OAPI_URL = "https://oapi.dingtalk.com"
CARD_TOPIC = CallbackHandler.TOPIC_CARD_CALLBACK  # /v1.0/card/instances/callback
PRIVATE = "user:"  # chat id prefix of a one-to-one chat
WEBHOOK_CHAT = "webhook"  # the one chat of the push-only adapter
PER_MINUTE = 20  # a robot's messages to one group a minute
TOKEN_MARGIN = 300.0  # renew the access token this many seconds before it expires
THROTTLED_WAIT = 60.0  # seconds to wait when DingTalk throttles without saying how long
ANSWERS = {
    Outcome.DONE: "已办理",
    Outcome.REFUSED: "未能办理，请看群内说明",
    Outcome.DUPLICATE: "已处理过",
    Outcome.FAILED: "系统出错，请稍后再试",
}
# Codes DingTalk answers when a robot sends too fast (new API / oapi webhook).
_THROTTLE_CODES = ("Forbidden.AccessDenied.QpsLimit", "Throttling", "130101", "410100")
_MENTION = re.compile(r"^(?:\s*@\S+)+\s")

Clock = Callable[[], float]
Upload = Callable[[Path], Awaitable[str]]


class Throttle:
    """At most ``limit`` sends per ``window`` seconds for each chat (a sliding window)."""

    def __init__(self, limit: int = PER_MINUTE, window: float = 60.0, *, clock: Clock) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}

    def take(self, key: str) -> float | None:
        """Count one send now; or, when the window is full, the seconds until it frees."""
        now = self.clock()
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        if len(sent) >= self.limit:
            return max(0.001, sent[0] + self.window - now)
        sent.append(now)
        return None


def send_failed(status: int, code: str, message: str, retry_after: float | None) -> SendFailed:
    """A DingTalk error answer as the outbox understands it."""
    reason = f"dingtalk {status} {code}: {message}".strip()
    if status == 429 or any(code.startswith(c) for c in _THROTTLE_CODES):
        return SendFailed(reason, retry_after=retry_after or THROTTLED_WAIT)
    if status >= 500 or status == 0:
        return SendFailed(reason)
    if 400 <= status < 500:
        return SendFailed(reason, permanent=True)  # no permission, no such group, bad request
    return SendFailed(reason)


def strip_mentions(text: str) -> str:
    """``@督办助手 /签收 DB-…`` -> ``/签收 DB-…`` (DingTalk leaves @names at the start)."""
    return (
        _MENTION.sub("", text + " ", count=1).strip()
        if text.lstrip().startswith("@")
        else (text.strip())
    )


def translate_message(message: ChatbotMessage) -> IncomingMessage | None:
    """A robot message as an :class:`IncomingMessage`; None for what the bot ignores."""
    sender = message.sender_staff_id or message.sender_id
    if not sender or not message.message_id:
        return None
    if message.chatbot_user_id and message.sender_id == message.chatbot_user_id:
        return None  # the bot itself
    texts = (message.get_text_list() or []) if message.message_type in ("text", "richText") else []
    text = strip_mentions("".join(t for t in texts if t))
    if not text:
        return None
    private = message.conversation_type == "1"
    reply_to = None
    if message.text is not None and message.text.extensions.get("isReplyMsg"):
        replied = message.text.extensions.get("repliedMsg") or {}
        reply_to = replied.get("msgId")
    created = message.create_at
    received = datetime.fromtimestamp(int(created) / 1000, UTC) if created else datetime.now(UTC)
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=f"{PRIVATE}{sender}" if private else str(message.conversation_id),
        sender_id=str(sender),
        message_id=str(message.message_id),
        text=text,
        received_at=received,
        reply_to=reply_to,
        private=private,
        sender_name=message.sender_nick,
    )


def card_data(text: str, buttons: list[tuple[str, str]]) -> dict[str, Any]:
    """A ``StandardCard``: the text, then the buttons two by two (``(label, id)``)."""
    title = text.split("\n", 1)[0][:60]
    contents: list[dict[str, Any]] = [{"type": "text", "text": text, "id": "text_body"}]
    for row in range(0, len(buttons), 2):
        contents.append(
            {
                "type": "action",
                "id": f"action_{row // 2}",
                "actions": [
                    {
                        "type": "button",
                        "label": {"type": "text", "text": label, "id": f"label_{button_id}"},
                        "actionType": "request",
                        "status": "primary" if row + i == 0 else "normal",
                        "id": button_id,
                    }
                    for i, (label, button_id) in enumerate(buttons[row : row + 2])
                ],
            }
        )
    return {
        "config": {"autoLayout": True, "enableForward": True},
        "header": {"title": {"type": "text", "text": title}},
        "contents": contents,
    }


class _Messages(CallbackHandler):
    def __init__(self, adapter: DingTalkAdapter) -> None:
        super().__init__()
        self.adapter = adapter

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        return await self.adapter._on_robot_message(message)


class _Cards(CallbackHandler):
    def __init__(self, adapter: DingTalkAdapter) -> None:
        super().__init__()
        self.adapter = adapter

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        return await self.adapter._on_card(message)


class _Http:
    """The access token, kept and renewed, and the authorised calls of the robot APIs."""

    def __init__(
        self,
        credential: Credential,
        *,
        api_url: str,
        clock: Clock,
        request_timeout: float,
        token_margin: float,
    ) -> None:
        self.credential = credential
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.token_margin = token_margin
        self.session: aiohttp.ClientSession | None = None
        self.token: str | None = None
        self.expires_at = 0.0
        self.tokens_fetched = 0
        self._lock = asyncio.Lock()

    async def open(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def access_token(self) -> str:
        async with self._lock:
            if self.token and self.clock() < self.expires_at - self.token_margin:
                return self.token
            session = await self.open()
            body = {"appKey": self.credential.client_id, "appSecret": self.credential.client_secret}
            try:
                async with session.post(f"{self.api_url}/v1.0/oauth2/accessToken", json=body) as r:
                    answer = await _json(r)
                    if r.status != 200 or "accessToken" not in answer:
                        raise send_failed(
                            r.status,
                            str(answer.get("code", "")),
                            str(answer.get("message", "")),
                            None,
                        )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise SendFailed(f"dingtalk access token: {exc!r}") from exc
            self.token = str(answer["accessToken"])
            self.expires_at = self.clock() + float(answer.get("expireIn", 7200))
            self.tokens_fetched += 1
            logger.info("dingtalk access token renewed (valid %s s)", answer.get("expireIn"))
            return self.token

    async def call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One API call with the token; a 401 renews the token and tries once more."""
        for attempt in (1, 2):
            token = await self.access_token()
            session = await self.open()
            try:
                async with session.request(
                    method,
                    f"{self.api_url}{path}",
                    json=body,
                    headers={"x-acs-dingtalk-access-token": token},
                ) as r:
                    answer = await _json(r)
                    if r.status == 200:
                        return answer
                    code = str(answer.get("code", ""))
                    if r.status == 401 and attempt == 1:
                        logger.info("dingtalk token refused (%s): renewing", code)
                        self.token = None
                        continue
                    raise send_failed(
                        r.status, code, str(answer.get("message", "")), _retry_after(r)
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise SendFailed(f"dingtalk {path}: {exc!r}") from exc
        raise SendFailed(f"dingtalk {path}: token refused twice")


class DingTalkAdapter:
    platform = PLATFORM
    text_limit = TEXT_LIMIT

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        engine: Engine,
        robot_code: str | None = None,
        api_url: str = API_URL,
        oapi_url: str = OAPI_URL,
        upload: Upload | None = None,
        clock: Clock = time.monotonic,
        per_minute: int = PER_MINUTE,
        request_timeout: float = 15.0,
        max_backoff: float = 30.0,
        token_margin: float = TOKEN_MARGIN,
    ) -> None:
        if not client_id or not client_secret:
            raise NotConfigured(
                "钉钉需要 DUBAN_DINGTALK_CLIENT_ID 和 DUBAN_DINGTALK_CLIENT_SECRET（应用凭证）"
            )
        self.credential = Credential(client_id, client_secret)
        self.robot_code = robot_code or client_id
        self.http = _Http(
            self.credential,
            api_url=api_url,
            clock=clock,
            request_timeout=request_timeout,
            token_margin=token_margin,
        )
        self.oapi_url = oapi_url.rstrip("/")
        self.upload: Upload = upload or self._upload
        self.throttle = Throttle(per_minute, clock=clock)
        self.state = AdapterState(engine, PLATFORM)
        self.max_backoff = max_backoff
        self.client = DingTalkStreamClient(self.credential, logger=logger.getChild("stream"))
        self.client.register_callback_handler(ChatbotMessage.TOPIC, _Messages(self))
        self.client.register_callback_handler(CARD_TOPIC, _Cards(self))
        self.client.pre_start()
        self.connections = 0  # streams opened (a reconnect adds one)
        self._on_message: OnMessage | None = None
        self._task: asyncio.Task | None = None
        self._ws: Any = None
        self._stopping = False
        self._waiting = False

    @classmethod
    def from_settings(cls, settings: Any, engine: Engine, **kw: Any) -> DingTalkAdapter:
        return cls(
            settings.dingtalk_client_id or "",
            settings.dingtalk_client_secret or "",
            engine=engine,
            robot_code=settings.dingtalk_robot_code,
            api_url=settings.dingtalk_api_url,
            oapi_url=settings.dingtalk_oapi_url,
            **kw,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self._stopping = False
        try:
            await self.http.access_token()  # checks the credentials
        except SendFailed as exc:
            await self.http.close()
            if exc.permanent:
                raise NotConfigured(
                    f"钉钉拒绝了应用凭证 (credentials refused: {exc.reason})"
                ) from exc
            raise
        self._task = asyncio.create_task(self._run(), name="dingtalk-stream")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            if self._waiting:
                self._task.cancel()  # never while a frame is being handled
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.http.close()

    # -- the stream ----------------------------------------------------------------------------

    async def _open_connection(self) -> dict[str, Any]:
        session = await self.http.open()
        body = {
            "clientId": self.credential.client_id,
            "clientSecret": self.credential.client_secret,
            "subscriptions": [
                {"type": "CALLBACK", "topic": topic} for topic in self.client.callback_handler_map
            ],
            "ua": "duban/dingtalk-stream",
            "localIp": "",
        }
        url = f"{self.http.api_url}/v1.0/gateway/connections/open"
        async with session.post(url, json=body) as r:
            answer = await _json(r)
            if r.status != 200 or "endpoint" not in answer:
                raise ConnectionError(f"open connection: {r.status} {answer.get('code', '')}")
            return answer

    async def _run(self) -> None:
        errors = 0
        while not self._stopping:
            self._waiting = True
            try:
                connection = await self._open_connection()
                uri = f"{connection['endpoint']}?ticket={quote_plus(connection['ticket'])}"
                async with websockets.connect(uri, ping_interval=30, ping_timeout=30) as ws:
                    self._ws = self.client.websocket = ws
                    self.connections += 1
                    errors = 0
                    logger.info("dingtalk stream connected")
                    if await self._frames(ws):
                        return
            except (
                OSError,
                aiohttp.ClientError,
                TimeoutError,
                websockets.WebSocketException,
            ) as exc:
                errors += 1
                logger.warning("dingtalk stream: %s", exc)
            finally:
                self._ws = None
            if self._stopping:
                return
            delay = min(self.max_backoff, 0.1 * 2 ** min(errors, 9)) if errors else 0.05
            logger.info("dingtalk stream dropped; reconnecting in %.1f s", delay)
            self._waiting = True
            await asyncio.sleep(delay)

    async def _frames(self, ws: Any) -> bool:
        """Handle frames one by one until the stream ends; True when asked to stop."""
        while True:
            self._waiting = True
            try:
                raw = await ws.recv()
            except websockets.ConnectionClosedOK:
                return self._stopping
            self._waiting = False
            try:
                frame = json.loads(raw)
            except ValueError:
                logger.warning("dingtalk stream: a frame that is not JSON skipped")
                continue
            if frame.get("type") == SystemMessage.TYPE and _topic(frame) == "ping":
                # answered here: the SDK's router logs every ping as an unknown topic
                ack = await self.client.system_handler.raw_process(SystemMessage.from_dict(frame))
                await ws.send(json.dumps(ack.to_dict()))
                continue
            result = await self.client.route_message(frame)
            if self._stopping:
                await ws.close()
                return True
            if result == DingTalkStreamClient.TAG_DISCONNECT:
                await ws.close()  # DingTalk asks the client to reconnect
                return False

    async def _on_robot_message(self, frame: CallbackMessage) -> tuple[int, Any]:
        assert self._on_message is not None
        try:
            msg = translate_message(ChatbotMessage.from_dict(frame.data))
        except Exception:  # a shape we do not know: log it, never block the frames behind
            logger.exception(
                "dingtalk message %s could not be read; skipped", frame.headers.message_id
            )
            return AckMessage.STATUS_OK, "skipped"
        if msg is None:
            return AckMessage.STATUS_OK, "ignored"
        try:
            outcome = await self._on_message(msg)
        except Exception:  # the ledger is unreachable: DingTalk sends it again
            logger.exception("dingtalk message %s not handled; not acknowledged", msg.message_id)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "retry"
        return AckMessage.STATUS_OK, outcome.value

    async def _on_card(self, frame: CallbackMessage) -> tuple[int, Any]:
        assert self._on_message is not None
        press = CardCallbackMessage.from_dict(frame.data)
        private = press.content.get("cardPrivateData") or {}
        action_ids = private.get("actionIds") or []
        card = await asyncio.to_thread(self.state.get, f"card:{press.card_instance_id}")
        if not action_ids or not press.user_id or card is None:
            return AckMessage.STATUS_OK, {"answer": "消息已过期"}
        command = await asyncio.to_thread(self.state.button_command, str(action_ids[0]))
        if command is None:
            return AckMessage.STATUS_OK, {"answer": "按钮已失效"}
        sent = json.loads(card)
        msg = IncomingMessage(
            platform=PLATFORM,
            chat_id=sent["chat_id"],
            sender_id=str(press.user_id),
            message_id=f"cb:{frame.headers.message_id}",
            text=command.strip(),
            received_at=datetime.now(UTC),
            reply_to=press.card_instance_id,
            private=sent["chat_id"].startswith(PRIVATE),
        )
        try:
            outcome = await self._on_message(msg)
        except Exception:
            logger.exception("dingtalk card press %s not handled", msg.message_id)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "retry"
        if outcome == Outcome.DONE and not command.endswith(" "):
            await self._spend_button(press.card_instance_id, sent, str(action_ids[0]))
        return AckMessage.STATUS_OK, {"answer": ANSWERS.get(outcome, "")}

    async def _spend_button(self, biz_id: str, sent: dict[str, Any], button_id: str) -> None:
        """Take a carried-out button off the card (the others stay)."""
        buttons = [(label, bid) for label, bid in sent["buttons"] if bid != button_id]
        sent["buttons"] = buttons
        body = {
            "cardBizId": biz_id,
            "cardData": json.dumps(card_data(sent["text"], buttons), ensure_ascii=False),
        }
        try:
            await self.http.call("PUT", "/v1.0/im/robots/interactiveCards", body)
        except SendFailed as exc:
            logger.info("card %s: buttons not updated (%s)", biz_id, exc.reason)
            return
        await asyncio.to_thread(
            self.state.put, f"card:{biz_id}", json.dumps(sent, ensure_ascii=False)
        )

    # -- OutgoingMessage -> DingTalk -------------------------------------------------------------

    async def send(self, msg: OutgoingMessage) -> str:
        first: str | None = None
        for path in msg.images:
            try:
                media_id = await self.upload(path)
            except OSError as exc:
                raise SendFailed(f"image not readable: {exc}", permanent=True) from exc
            sent = await self._post(msg.chat_id, "sampleImageMsg", {"photoURL": media_id})
            first = first or sent
        if msg.actions:
            sent = await self._card(msg)
        else:
            sent = await self._post(msg.chat_id, "sampleText", {"content": msg.text})
        return first or sent

    def _wait(self, chat_id: str) -> None:
        wait = self.throttle.take(chat_id)
        if wait is not None:
            raise SendFailed(
                f"dingtalk: {self.throttle.limit} messages a minute to {chat_id} reached",
                retry_after=wait,
            )

    async def _post(self, chat_id: str, key: str, param: dict[str, Any]) -> str:
        self._wait(chat_id)
        body: dict[str, Any] = {
            "robotCode": self.robot_code,
            "msgKey": key,
            "msgParam": json.dumps(param, ensure_ascii=False),
        }
        if chat_id.startswith(PRIVATE):
            user = chat_id[len(PRIVATE) :]
            body["userIds"] = [user]
            answer = await self.http.call("POST", "/v1.0/robot/oToMessages/batchSend", body)
            if user in (answer.get("invalidStaffIdList") or []):
                raise SendFailed(
                    f"dingtalk: {user} is not a member of the organisation", permanent=True
                )
            if user in (answer.get("flowControlledStaffIdList") or []):
                raise SendFailed(
                    f"dingtalk: messages to {user} throttled", retry_after=THROTTLED_WAIT
                )
        else:
            body["openConversationId"] = chat_id
            answer = await self.http.call("POST", "/v1.0/robot/groupMessages/send", body)
        return str(answer.get("processQueryKey") or uuid.uuid4().hex)

    async def _card(self, msg: OutgoingMessage) -> str:
        """Post a card; the same delivery part (``idempotency_key``) is posted once."""
        seed = msg.idempotency_key or uuid.uuid4().hex
        biz_id = "duban-" + hashlib.sha256(f"{msg.chat_id}|{seed}".encode()).hexdigest()[:24]
        key = f"card:{biz_id}"
        if msg.idempotency_key:
            known = await asyncio.to_thread(self.state.get, key)
            if known is not None and json.loads(known).get("sent"):
                logger.info("card %s was posted before (a retry): not again", biz_id)
                return biz_id
        self._wait(msg.chat_id)
        buttons = [
            (action.label, await asyncio.to_thread(self.state.button_key, action.command))
            for action in msg.actions
        ]
        record = {"chat_id": msg.chat_id, "text": msg.text, "buttons": buttons, "sent": False}
        await asyncio.to_thread(self.state.put, key, json.dumps(record, ensure_ascii=False))
        body: dict[str, Any] = {
            "cardTemplateId": "StandardCard",
            "robotCode": self.robot_code,
            "cardBizId": biz_id,
            "cardData": json.dumps(card_data(msg.text, buttons), ensure_ascii=False),
            "sendOptions": {"atAll": False},
        }
        if msg.chat_id.startswith(PRIVATE):
            body["singleChatReceiver"] = json.dumps({"userId": msg.chat_id[len(PRIVATE) :]})
        else:
            body["openConversationId"] = msg.chat_id
        await self.http.call("POST", "/v1.0/im/v1.0/robot/interactiveCards/send", body)
        record["sent"] = True
        await asyncio.to_thread(self.state.put, key, json.dumps(record, ensure_ascii=False))
        return biz_id

    async def _upload(self, path: Path) -> str:
        """Upload an image with the media API of ``oapi``; its ``media_id``."""
        content = await asyncio.to_thread(path.read_bytes)
        token = await self.http.access_token()
        session = await self.http.open()
        form = aiohttp.FormData()
        form.add_field("type", "image")
        form.add_field("media", content, filename=path.name, content_type="image/png")
        url = f"{self.oapi_url}/media/upload?access_token={quote_plus(token)}"
        try:
            async with session.post(url, data=form) as r:
                answer = await _json(r)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(f"dingtalk upload: {exc!r}") from exc
        if answer.get("errcode", 0) != 0 or "media_id" not in answer:
            raise send_failed(
                r.status, str(answer.get("errcode", "")), str(answer.get("errmsg", "")), None
            )
        return str(answer["media_id"])


class DingTalkWebhookAdapter:
    """Push only: a group's custom robot webhook, signed with its secret; receives nothing.

    Its one chat is ``webhook`` (bind it with ``duban bind --platform dingtalk --chat
    webhook``). Buttons are left out (the text carries the commands); images too.
    """

    platform = PLATFORM
    text_limit = TEXT_LIMIT

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        *,
        clock: Clock = time.monotonic,
        wall: Callable[[], float] = time.time,
        per_minute: int = PER_MINUTE,
        request_timeout: float = 15.0,
    ) -> None:
        if not url:
            raise NotConfigured(
                "钉钉推送需要 DUBAN_DINGTALK_WEBHOOK_URL (the custom robot webhook)"
            )
        self.url = url
        self.secret = secret
        self.wall = wall
        self.throttle = Throttle(per_minute, clock=clock)
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.session: aiohttp.ClientSession | None = None

    async def start(self, on_message: OnMessage) -> None:
        self.session = aiohttp.ClientSession(timeout=self.timeout)
        logger.info("dingtalk webhook push-only: nothing is received")

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def signed_url(self) -> str:
        if not self.secret:
            return self.url
        timestamp = str(int(self.wall() * 1000))
        return f"{self.url}&timestamp={timestamp}&sign={sign(timestamp, self.secret)}"

    async def send(self, msg: OutgoingMessage) -> str:
        if msg.chat_id != WEBHOOK_CHAT:
            raise SendFailed(
                f"dingtalk push-only: no chat {msg.chat_id!r} (only {WEBHOOK_CHAT!r})",
                permanent=True,
            )
        wait = self.throttle.take(WEBHOOK_CHAT)
        if wait is not None:
            raise SendFailed("dingtalk webhook: 20 messages a minute reached", retry_after=wait)
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        body = {"msgtype": "text", "text": {"content": msg.text}}
        try:
            async with self.session.post(self.signed_url(), json=body) as r:
                answer = await _json(r)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(f"dingtalk webhook: {exc!r}") from exc
        errcode = answer.get("errcode", 0 if r.status == 200 else r.status)
        if errcode != 0:
            raise send_failed(
                r.status if r.status != 200 else 400,
                str(errcode),
                str(answer.get("errmsg", "")),
                None,
            )
        return uuid.uuid4().hex


def sign(timestamp: str, secret: str) -> str:
    """The custom robot's signature: HMAC-SHA256 of ``timestamp\\nsecret``, base64, url-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        answer = await response.json(content_type=None)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _topic(frame: dict[str, Any]) -> str:
    headers = frame.get("headers")
    return str(headers.get("topic", "")) if isinstance(headers, dict) else ""


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def make_adapter(setup: PlatformSetup) -> DingTalkAdapter | DingTalkWebhookAdapter:
    """``duban bot --dingtalk`` (:mod:`bots.platforms`): from ``DUBAN_DINGTALK_*``.

    With the app's client id: Stream mode (receives and sends). With only a custom robot
    webhook: push-only."""
    settings = setup.settings
    if settings.dingtalk_client_id:
        return DingTalkAdapter.from_settings(settings, setup.engine)
    if settings.dingtalk_webhook_url:
        return DingTalkWebhookAdapter(
            settings.dingtalk_webhook_url, settings.dingtalk_webhook_secret
        )
    raise NotConfigured(
        "未设置 DUBAN_DINGTALK_CLIENT_ID（钉钉开发者后台的应用凭证）或 DUBAN_DINGTALK_WEBHOOK_URL"
    )
