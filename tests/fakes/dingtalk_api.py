"""A small fake DingTalk on 127.0.0.1, for the real ``dingtalk-stream`` SDK and our adapter.

It speaks the documented protocol (open.dingtalk.com, Stream mode and robot APIs):

- ``POST /v1.0/oauth2/accessToken`` {appKey, appSecret} -> {accessToken, expireIn};
- ``POST /v1.0/gateway/connections/open`` {clientId, clientSecret, subscriptions} ->
  {endpoint: ws://127.0.0.1:…/connect, ticket};
- the WebSocket stream: ``SYSTEM`` frames (topic ``ping``, ``disconnect``) and ``CALLBACK``
  frames (topic ``/v1.0/im/bot/messages/get`` with robot message JSON shaped like
  DingTalk's examples, topic ``/v1.0/card/instances/callback`` for card button presses),
  each answered by an ack ``{code, headers: {messageId}, message, data}``. A frame not
  acknowledged with code 200 is sent again on the next connection (as DingTalk re-sends);
- ``POST /v1.0/robot/groupMessages/send`` and ``/v1.0/robot/oToMessages/batchSend``
  (``x-acs-dingtalk-access-token``), a group robot limited to 20 messages a minute;
- ``POST /v1.0/im/v1.0/robot/interactiveCards/send``, ``PUT /v1.0/im/robots/interactiveCards``;
- ``POST /media/upload?access_token=…`` (oapi), ``POST /robot/send?access_token=…&timestamp=…
  &sign=…`` (a custom robot's webhook, checking the signature).

Errors: new-API calls answer ``{"code": …, "message": …}`` with an HTTP status; oapi calls
``{"errcode": …, "errmsg": …}``. :meth:`fail` makes the next calls of a path fail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from aiohttp import WSMsgType, web

CLIENT_ID = "dingfaketestappkey"
CLIENT_SECRET = "fake-app-secret-for-tests"
CORP_ID = "ding0000fakecorp"
BOT_USER = "$:LWCP_v1:$duban-bot"
MESSAGE_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]
    token: str | None = None


@dataclass
class Failure:
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sent:
    """One message the robot posted, as a group or a person sees it."""

    chat: str  # openConversationId, or "user:<userid>"
    kind: str  # "text" | "image" | "card"
    text: str
    key: str  # processQueryKey, or the card's cardBizId
    card: dict[str, Any] | None = None

    def buttons(self) -> list[list[dict[str, Any]]]:
        assert self.card is not None
        return [c["actions"] for c in self.card["contents"] if c["type"] == "action"]

    def labels(self) -> list[list[str]]:
        return [[b["label"]["text"] for b in row] for row in self.buttons()]


class FakeDingTalk:
    def __init__(self, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expire_in = 7200
        self.per_minute = 20
        self.clock = time.monotonic  # the group limit's minute (a test may set its own)
        self.calls: list[Call] = []
        self.sent_messages: list[Sent] = []
        self.cards: dict[str, Sent] = {}
        self.tokens: set[str] = set()
        self.tickets: set[str] = set()
        self.connections = 0
        self.acks: list[dict[str, Any]] = []
        self.pending: dict[str, dict[str, Any]] = {}  # messageId -> frame, until acked 200
        self.frames_sent: list[str] = []  # messageIds in the order they were pushed
        self.subscriptions: list[dict[str, Any]] = []
        self.throttled = 0  # sends refused for the group limit
        self.members: set[str] = set()  # userids in the organisation
        self.webhooks: dict[str, str] = {}  # access_token -> secret
        self.webhook_posts: list[dict[str, Any]] = []
        self.uploads: list[str] = []
        self._failures: dict[str, list[Failure]] = {}
        self._group_sends: dict[str, list[float]] = {}
        self._ids = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- server -----------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._connect)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._group_send)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._private_send)
        app.router.add_post("/v1.0/im/v1.0/robot/interactiveCards/send", self._card_send)
        app.router.add_put("/v1.0/im/robots/interactiveCards", self._card_update)
        app.router.add_post("/media/upload", self._upload)
        app.router.add_post("/robot/send", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, condition, *, timeout: float = 20.0) -> None:
        """Until ``condition()`` holds (a deadline for a hung test, not a timing assertion)."""
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)

    # -- test controls ---------------------------------------------------------------------------

    def fail(self, path: str, status: int, code: str, message: str = "", **headers: str) -> None:
        self._failures.setdefault(path, []).append(Failure(status, code, message, headers))

    def expire_tokens(self) -> None:
        """Every access token handed out so far stops being valid."""
        self.tokens.clear()

    async def drop(self) -> None:
        """The stream connection breaks (unacknowledged frames wait for the next one)."""
        if self._ws is not None:
            await self._ws.close(code=1011, message=b"gateway restart")

    def sent(self, chat: str) -> list[Sent]:
        return [m for m in self.sent_messages if m.chat == chat]

    def texts(self, chat: str) -> list[str]:
        return [m.text for m in self.sent(chat)]

    def called(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    # -- what people do ------------------------------------------------------------------------

    def say(
        self, conversation: dict[str, Any], user: dict[str, Any], text: str, **kw: Any
    ) -> dict[str, Any]:
        """``user`` writes ``text`` (to the bot); returns the message JSON."""
        message = self.message(conversation, user, text, **kw)
        self.push(MESSAGE_TOPIC, message)
        return message

    def message(
        self,
        conversation: dict[str, Any],
        user: dict[str, Any],
        text: str,
        *,
        created: int | None = None,
        mention: bool = True,
        replied: str | None = None,
    ) -> dict[str, Any]:
        """A robot message, shaped like DingTalk's example."""
        private = conversation["conversationType"] == "1"
        msg_id = f"msg{uuid.uuid4().hex[:20]}"
        content: dict[str, Any] = {
            "content": text if private or not mention else f"@督办助手 {text}"
        }
        if replied:
            content.update(isReplyMsg=True, repliedMsg={"msgId": replied, "msgType": "text"})
        message = {
            "conversationId": conversation["conversationId"],
            "atUsers": [] if private else [{"dingtalkId": BOT_USER}],
            "chatbotCorpId": CORP_ID,
            "chatbotUserId": BOT_USER,
            "msgId": msg_id,
            "senderNick": user["nick"],
            "isAdmin": False,
            "senderStaffId": user["staffId"],
            "sessionWebhookExpiredTime": int(time.time() * 1000) + 5400000,
            "createAt": created or int(time.time() * 1000),
            "senderCorpId": CORP_ID,
            "conversationType": conversation["conversationType"],
            "senderId": f"$:LWCP_v1:${user['staffId']}",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=fake",
            "text": content,
            "robotCode": self.client_id,
            "msgtype": "text",
        }
        if not private:
            message["conversationTitle"] = conversation["title"]
            message["isInAtList"] = True
        return message

    def picture(self, conversation: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        message = {**self.message(conversation, user, "x"), "msgtype": "picture"}
        message.pop("text")
        message["content"] = {"downloadCode": "fake-download-code", "pictureDownloadCode": "x"}
        self.push(MESSAGE_TOPIC, message)
        return message

    def press(self, user: dict[str, Any], card: Sent, label: str) -> str:
        """``user`` presses the button ``label`` on ``card``; returns the stream message id."""
        button = next(b for row in card.buttons() for b in row if b["label"]["text"] == label)
        data = {
            "extension": "{}",
            "corpId": CORP_ID,
            "type": "actionCallback",
            "userId": user["staffId"],
            "userIdType": 1,
            "spaceType": "im",
            "spaceId": card.chat,
            "content": json.dumps({"cardPrivateData": {"actionIds": [button["id"]], "params": {}}}),
            "outTrackId": card.key,
        }
        return self.push(CARD_TOPIC, data)

    def push(self, topic: str, data: dict[str, Any]) -> str:
        """Queue a CALLBACK frame (sent now if connected); returns its messageId."""
        message_id = f"fake-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        frame = {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {
                "appId": "fake-app",
                "connectionId": "fake-connection",
                "contentType": "application/json",
                "messageId": message_id,
                "time": str(int(time.time() * 1000)),
                "topic": topic,
            },
            "data": json.dumps(data, ensure_ascii=False),
        }
        self.pending[message_id] = frame
        self.frames_sent.append(message_id)
        if self.connected:
            asyncio.get_running_loop().create_task(self._send_frame(frame))
        return message_id

    def system(self, topic: str) -> str:
        message_id = f"sys-{next(self._ids)}"
        frame = {
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {
                "contentType": "application/json",
                "messageId": message_id,
                "time": str(int(time.time() * 1000)),
                "topic": topic,
            },
            "data": json.dumps({"opaque": message_id}),
        }
        if self.connected:
            asyncio.get_running_loop().create_task(self._send_frame(frame))
        return message_id

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps(frame, ensure_ascii=False))

    # -- HTTP ------------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        token = request.headers.get("x-acs-dingtalk-access-token")
        self.calls.append(Call(request.method, request.path, body, token))
        return body

    def _failure(self, path: str) -> web.Response | None:
        queued = self._failures.get(path)
        if not queued:
            return None
        f = queued.pop(0)
        return web.json_response(
            {"code": f.code, "message": f.message, "requestid": uuid.uuid4().hex},
            status=f.status,
            headers=f.headers,
        )

    def _authorised(self, request: web.Request) -> web.Response | None:
        if request.headers.get("x-acs-dingtalk-access-token") not in self.tokens:
            return web.json_response(
                {"code": "InvalidAuthentication", "message": "不合法的access_token"}, status=401
            )
        return None

    async def _token(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if (body.get("appKey"), body.get("appSecret")) != (self.client_id, self.client_secret):
            return web.json_response(
                {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"},
                status=400,
            )
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return web.json_response({"accessToken": token, "expireIn": self.expire_in})

    async def _open(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if (body.get("clientId"), body.get("clientSecret")) != (
            self.client_id,
            self.client_secret,
        ):
            return web.json_response({"code": "Unauthorized", "message": "bad client"}, status=401)
        failed = self._failure(request.path)
        if failed is not None:
            return failed
        self.subscriptions = body.get("subscriptions", [])
        ticket = uuid.uuid4().hex
        self.tickets.add(ticket)
        return web.json_response(
            {"endpoint": f"ws://127.0.0.1:{self.port}/connect", "ticket": ticket}
        )

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            return web.Response(status=403)
        self.tickets.discard(ticket)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        self._ws = ws
        self.connections += 1
        for frame in list(self.pending.values()):  # re-send what was never acknowledged
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                continue
            ack = json.loads(raw.data)
            self.acks.append(ack)
            message_id = ack.get("headers", {}).get("messageId")
            if ack.get("code") == 200 and message_id in self.pending:
                del self.pending[message_id]
        if self._ws is ws:
            self._ws = None
        return ws

    async def _group_send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        refused = self._authorised(request) or self._failure(request.path)
        if refused is not None:
            return refused
        chat = body["openConversationId"]
        now = self.clock()
        recent = [t for t in self._group_sends.get(chat, []) if t > now - 60]
        if len(recent) >= self.per_minute:
            self.throttled += 1
            return web.json_response(
                {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "群机器人限流"},
                status=429,
            )
        self._group_sends[chat] = [*recent, now]
        return self._posted(chat, body)

    async def _private_send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        refused = self._authorised(request) or self._failure(request.path)
        if refused is not None:
            return refused
        invalid = [u for u in body["userIds"] if self.members and u not in self.members]
        for user in body["userIds"]:
            if user not in invalid:
                self._posted(f"user:{user}", body)
        return web.json_response(
            {
                "processQueryKey": uuid.uuid4().hex,
                "invalidStaffIdList": invalid,
                "flowControlledStaffIdList": [],
            }
        )

    def _posted(self, chat: str, body: dict[str, Any]) -> web.Response:
        param = json.loads(body["msgParam"])
        key = uuid.uuid4().hex
        if body["msgKey"] == "sampleText":
            self.sent_messages.append(Sent(chat, "text", param["content"], key))
        elif body["msgKey"] == "sampleImageMsg":
            self.sent_messages.append(Sent(chat, "image", param["photoURL"], key))
        else:
            return web.json_response(
                {"code": "invalidParameter.msgKey", "message": "?"}, status=400
            )
        return web.json_response({"processQueryKey": key})

    async def _card_send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        refused = self._authorised(request) or self._failure(request.path)
        if refused is not None:
            return refused
        if "openConversationId" in body:
            chat = body["openConversationId"]
        else:
            chat = "user:" + json.loads(body["singleChatReceiver"])["userId"]
        biz_id = body["cardBizId"]
        if biz_id in self.cards:
            return web.json_response(
                {"code": "param.cardBizId.duplicate", "message": "cardBizId已存在"}, status=400
            )
        card = json.loads(body["cardData"])
        text = next(c["text"] for c in card["contents"] if c["type"] == "text")
        sent = Sent(chat, "card", text, biz_id, card)
        self.cards[biz_id] = sent
        self.sent_messages.append(sent)
        return web.json_response({"processQueryKey": uuid.uuid4().hex})

    async def _card_update(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        refused = self._authorised(request) or self._failure(request.path)
        if refused is not None:
            return refused
        card = self.cards.get(body["cardBizId"])
        if card is None:
            return web.json_response({"code": "cardNotExist", "message": "卡片不存在"}, status=400)
        card.card = json.loads(body["cardData"])
        return web.json_response({"success": True, "result": True})

    async def _upload(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})
        form = await request.post()
        media = form["media"]
        self.uploads.append(getattr(media, "filename", ""))
        self.calls.append(Call("POST", request.path, {"type": form.get("type")}))
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "media_id": f"@lA{uuid.uuid4().hex[:12]}",
                "type": "image",
            }
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = request.query.get("access_token", "")
        if token not in self.webhooks:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        secret = self.webhooks[token]
        timestamp = request.query.get("timestamp", "")
        given = request.query.get("sign", "")
        if not timestamp.isdigit() or abs(int(timestamp) / 1000 - time.time()) > 3600:
            return web.json_response({"errcode": 310000, "errmsg": "timestamp expired"})
        digest = hmac.new(
            secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
        ).digest()
        if given != base64.b64encode(digest).decode():  # aiohttp has url-decoded the query
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        recent = [p for p in self.webhook_posts if p["at"] > self.clock() - 60]
        if len(recent) >= self.per_minute:
            self.throttled += 1
            return web.json_response(
                {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
            )
        self.webhook_posts.append({"at": self.clock(), "body": body})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def webhook_url(self, token: str = "fake-robot-token") -> str:
        return f"{self.base_url}/robot/send?access_token={quote_plus(token)}"
