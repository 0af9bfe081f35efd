"""A small fake Telegram Bot API on 127.0.0.1, for the real python-telegram-bot stack.

It speaks the HTTP interface of https://core.telegram.org/bots/api: ``POST
/bot<token>/<method>`` with form or multipart parameters (JSON-encoded where structured),
answering ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": …, "description":
…, "parameters": {"retry_after": …}}``. Updates are queued with :meth:`push` in the Bot
API's JSON shapes (the helpers build messages, forwarded messages and callback queries as
documented) and handed out by ``getUpdates`` like Telegram does: ``offset`` confirms (and
forgets) every earlier update, a long poll waits up to ``timeout`` seconds.

Implemented: getMe, getUpdates, deleteWebhook, setWebhook, sendMessage, sendPhoto,
answerCallbackQuery, editMessageReplyMarkup, getFile and the file download (``GET
/file/bot<token>/<file_path>``) of photos made with :meth:`photo_message`. Every call is
recorded in :attr:`calls`;
:meth:`fail` makes the next calls of a method fail (429 with ``retry_after``, 403, 400,
502 …).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAHfake-token-for-tests"
RAW_STRINGS = {"text", "caption", "callback_query_id", "secret_token", "url", "data"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: list[str] = field(default_factory=list)


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


class FakeBotAPI:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.me = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "督办助手",
            "username": "duban_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.offsets: list[int | None] = []  # the offset of every getUpdates call
        self.webhook: dict[str, Any] | None = None
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count] = {}
        self._failures: dict[str, list[Failure]] = {}
        self._new = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.files: dict[str, bytes] = {}  # file_id -> content (getFile, download)
        self._file_ids = itertools.count(1)

    # -- server -----------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def stop(self) -> None:
        self._new.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- Bot API objects ---------------------------------------------------------------------

    @staticmethod
    def user(
        user_id: int, first_name: str, last_name: str | None = None, username: str | None = None
    ) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "zh-hans",
        }
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        return user

    @staticmethod
    def group(chat_id: int, title: str) -> dict[str, Any]:
        return {"id": chat_id, "type": "supergroup", "title": title}

    @staticmethod
    def private(user: dict[str, Any]) -> dict[str, Any]:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if "last_name" in user:
            chat["last_name"] = user["last_name"]
        return chat

    def message(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        text: str,
        *,
        reply_to: dict[str, Any] | None = None,
        forward_origin: dict[str, Any] | None = None,
        date: int | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id or self._next_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": date or int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [
                {
                    "type": "bot_command",
                    "offset": 0,
                    "length": len(command.encode("utf-16-le")) // 2,
                }
            ]
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if forward_origin is not None:
            message["forward_origin"] = forward_origin
        return message

    @staticmethod
    def origin_user(user: dict[str, Any], date: int) -> dict[str, Any]:
        return {"type": "user", "date": date, "sender_user": user}

    @staticmethod
    def origin_hidden_user(name: str, date: int) -> dict[str, Any]:
        return {"type": "hidden_user", "date": date, "sender_user_name": name}

    @staticmethod
    def origin_chat(
        chat: dict[str, Any], date: int, signature: str | None = None
    ) -> dict[str, Any]:
        origin = {"type": "chat", "date": date, "sender_chat": chat}
        if signature:
            origin["author_signature"] = signature
        return origin

    @staticmethod
    def origin_channel(chat: dict[str, Any], message_id: int, date: int) -> dict[str, Any]:
        return {"type": "channel", "date": date, "chat": chat, "message_id": message_id}

    # -- updates -------------------------------------------------------------------------------

    def push(self, **body: Any) -> dict[str, Any]:
        """Queue an update (``message=…`` or ``callback_query=…``); returns it."""
        update = {"update_id": next(self._update_ids), **body}
        self.updates.append(update)
        self._new.set()
        return update

    def say(
        self, chat: dict[str, Any], user: dict[str, Any], text: str, **kw: Any
    ) -> dict[str, Any]:
        return self.push(message=self.message(chat, user, text, **kw))

    def press(self, user: dict[str, Any], card: dict[str, Any], data: str) -> dict[str, Any]:
        """A callback query: ``user`` presses the button carrying ``data`` under ``card``."""
        query = {
            "id": str(next(self._update_ids) * 7919),
            "from": user,
            "message": card,
            "chat_instance": str(-card["chat"]["id"]),
            "data": data,
        }
        return self.push(callback_query=query)

    def photo_message(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        caption: str | None,
        photos: list[bytes],
        **kw: Any,
    ) -> dict[str, Any]:
        """A photo message as Telegram sends it: ``photo`` is one picture in several sizes
        (PhotoSize array, smallest first); ``caption`` instead of ``text``. A second picture
        of an album is a second message, so ``photos`` are the sizes of one picture."""
        message = self.message(chat, user, caption or "", **kw)
        message.pop("text")
        message.pop("entities", None)
        if caption:
            message["caption"] = caption
        sizes = []
        for index, data in enumerate(photos):
            file_id = f"AgACAgUAAxkBAAI{next(self._file_ids):05d}"
            self.files[file_id] = data
            side = 90 * (index + 1)
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": f"AQAD{file_id[-5:]}",
                    "file_size": len(data),
                    "width": side * 4 // 3,
                    "height": side,
                }
            )
        message["photo"] = sizes
        return message

    @staticmethod
    def with_location(message: dict[str, Any], latitude: float, longitude: float) -> dict[str, Any]:
        message["location"] = {"latitude": latitude, "longitude": longitude}
        return message

    # -- what the bot did --------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        self._failures.setdefault(method, []).extend(
            Failure(status, description, retry_after) for _ in range(times)
        )

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The messages the bot posted (sendMessage / sendPhoto results), in order."""
        return [
            c.params["_result"]
            for c in self.calls
            if c.method in ("sendMessage", "sendPhoto")
            and "_result" in c.params
            and (chat_id is None or c.params["_result"]["chat"]["id"] == chat_id)
        ]

    async def wait_for(self, condition, *, timeout: float = 15.0) -> None:
        """Until ``condition()`` holds (a deadline for a hung test, not a timing assertion)."""
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)

    # -- HTTP ------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _params(request)
        call = Call(method, params, files)
        self.calls.append(call)
        queued = self._failures.get(method)
        if queued:
            failure = queued.pop(0)
            return _error(failure.status, failure.description, failure.retry_after)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except _ApiError as exc:
            return _error(exc.status, exc.description)
        if isinstance(result, dict) and "message_id" in result:
            params["_result"] = result
        return web.json_response({"ok": True, "result": result})

    async def _api_getFile(self, params: dict[str, Any]) -> Any:
        file_id = params.get("file_id", "")
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"AQAD{file_id[-5:]}",
            "file_size": len(self.files[file_id]),
            "file_path": f"photos/{file_id}.jpg",
        }

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        self.calls.append(Call("download", {"path": path}))
        file_id = path.removeprefix("photos/").removesuffix(".jpg")
        if file_id not in self.files:
            return _error(404, "Not Found")
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return self.me

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = params.get("offset")
        self.offsets.append(offset)
        if offset is not None:  # confirmed: Telegram forgets them
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self.updates and time.monotonic() < deadline:
            self._new.clear()
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                    await self._new.wait()
            except TimeoutError:
                break
        limit = int(params.get("limit") or 100)
        return self.updates[:limit]

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        message = self._bot_message(params)
        message["text"] = params["text"]
        return message

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        message = self._bot_message(params)
        message["photo"] = [
            {
                "file_id": "photo-1",
                "file_unique_id": "u-photo-1",
                "width": 640,
                "height": 480,
                "file_size": 1234,
            }
        ]
        if params.get("caption"):
            message["caption"] = params["caption"]
        return message

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        for call in self.calls:
            result = call.params.get("_result")
            if result and result["chat"]["id"] == chat_id and result["message_id"] == message_id:
                edited = dict(result)
                markup = params.get("reply_markup")
                if markup:
                    edited["reply_markup"] = markup
                else:
                    edited.pop("reply_markup", None)
                return edited
        raise _ApiError(400, "Bad Request: message to edit not found")

    def _bot_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = (
            {"id": chat_id, "type": "private", "first_name": "用户"}
            if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": f"群{chat_id}"}
        )
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": chat,
            "date": int(time.time()),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        reply = params.get("reply_parameters")
        if reply:
            message["reply_to_message"] = {
                "message_id": reply["message_id"],
                "chat": chat,
                "date": int(time.time()),
            }
        return message

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> tuple[dict[str, Any], list[str]]:
    """Form or multipart parameters; structured ones JSON-decoded as PTB encodes them."""
    params: dict[str, Any] = {}
    files: list[str] = []
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.filename:  # type: ignore[union-attr]
                await part.read()  # type: ignore[union-attr]
                files.append(part.name or "")  # type: ignore[union-attr]
            else:
                params[part.name or ""] = await part.text()  # type: ignore[union-attr]
    elif request.can_read_body:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
    for key, value in list(params.items()):
        if key in RAW_STRINGS:
            continue
        with contextlib.suppress(TypeError, ValueError):
            params[key] = json.loads(value)
    return params, files
