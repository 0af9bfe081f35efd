"""The Matrix adapter (matrix-nio): rooms and MXIDs in, plain-text messages out.

The only module that imports ``nio``. It translates, nothing more: every behaviour is in
:mod:`bots.handlers`, reached through ``on_message``.

Receiving. ``start`` logs in (password, or an access token), then restores the sync token
from :class:`bots.state.AdapterState` (key ``matrix:<bot mxid>:sync_token``):

- **First start** (no token stored): one initial sync whose ``next_batch`` is stored at once
  *without handling its timeline*, so a room's history is never replayed as commands.
  Pending invitations in it are answered (see below).
- **Restart**: syncing resumes from the stored token; whatever was posted while the bot was
  down arrives now, in order. When a room's timeline is ``limited`` (more than
  ``timeline_limit`` events since the token) the gap is paged in with ``/messages`` back to
  the token, so nothing is skipped.

Then a background loop long-polls ``sync(timeout=30000, since=token)`` with a filter that
asks only for messages and memberships (no presence, receipts, typing or account data).
Each ``m.room.message`` of ``msgtype`` ``m.text`` from someone other than the bot becomes an
:class:`IncomingMessage` and is awaited in ``on_message``, in order; only when the whole
batch is handled is its ``next_batch`` stored. Stopping mid-batch keeps the previous token:
the batch comes again after a restart and the hub skips what it already handled. In a room
the bot has just joined, only events after its own join count (no history either). Edits
(``m.replace``) and notices are ignored; a reply's fallback quote (``> <@…> …``) is cut
off, so ``/签收`` sent as a reply to a card reads as ``/签收``. ``private`` is true in a direct
chat: a room the bot was invited to with ``is_direct`` (remembered in the ledger) that has
exactly two joined members (asked once per room, forgotten on a membership change).
Matrix has no standard forward metadata; ``m.forwarded`` (MSC2723) is read when present.

Invitations: the adapter asks ``on_invite("matrix", inviter)``, the rule the hub supplies
(:meth:`bots.hub.ChatHub.may_join`: only a linked, active administrator's invitation is
accepted), and joins or declines; a declined one is logged at INFO with the room id only.
Without a rule (no hub) every invitation is declined.

Sending. Plain text as ``body`` (no ``formatted_body``: the core sends plain text, so nothing
a citizen wrote can become markup); ``reply_to`` becomes ``m.relates_to.m.in_reply_to``;
``idempotency_key`` is the transaction id, so a send retried by the outbox (even after a
restart: the device id is kept in the state table and reused at login) is posted once.
Images are uploaded with ``client.upload`` and sent as ``m.image``. Matrix has no buttons:
cards carry their plain-text commands. ``text_limit`` is 16,000 UTF-16 units: at most
3 bytes each in UTF-8 (CJK), 48 KB, safely under the 65,536-byte event limit.

Errors. nio *returns* ``ErrorResponse`` objects; each is mapped at this boundary to
:class:`bots.errors.SendFailed`: ``M_LIMIT_EXCEEDED`` / HTTP 429 -> ``retry_after`` (from
``retry_after_ms``); ``M_FORBIDDEN`` (not in the room), ``M_NOT_FOUND`` (unknown room),
``M_TOO_LARGE`` and other 4xx -> ``permanent``; ``M_UNKNOWN_TOKEN``, 5xx and transport
errors (``aiohttp.ClientError``, timeouts) -> retryable. nio's own retry loops are turned
off (``max_limit_exceeded=0``, ``max_timeouts=0``) so the outbox decides about retries.

End-to-end encryption is off: the bot reads and writes unencrypted rooms only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import nio
from sqlalchemy.engine import Engine

from bots.errors import BotError, NotConfigured, SendFailed
from bots.messages import Attachment, IncomingMessage, OnInvite, OnMessage, OutgoingMessage
from bots.platforms import PlatformSetup
from bots.state import AdapterState

logger = logging.getLogger(__name__)

PLATFORM = "matrix"
TEXT_LIMIT = 16_000
SYNC_TIMEOUT_MS = 30_000
TIMELINE_LIMIT = 50
REQUEST_TIMEOUT = 30.0  # seconds, for every request but the long poll
LONG_REQUEST_TIMEOUT = 120.0  # the first sync and uploads (nio gives them no timeout)
DEVICE_NAME = "duban-bot"
GAP_PAGE = 100  # events per /messages page when filling a gap
GAP_PAGES = 50  # at most this many pages per room and batch (5,000 events)
MAX_BACKOFF = 60.0
STOP_GRACE = 30.0  # seconds stop() waits for the message in hand

WANTED_TYPES = ["m.room.message", "m.room.member"]
# 4xx errcodes that no retry can fix (the others of 4xx are treated the same way, below)
PERMANENT = frozenset(
    {
        "M_FORBIDDEN",
        "M_NOT_FOUND",
        "M_TOO_LARGE",
        "M_BAD_JSON",
        "M_NOT_JSON",
        "M_INVALID_PARAM",
        "M_UNRECOGNIZED",
        "M_GUEST_ACCESS_FORBIDDEN",
    }
)
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError)

R = TypeVar("R")


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    """Only what the bot needs: messages and memberships, members lazy-loaded."""
    nothing = {"not_types": ["*"]}
    return {
        "presence": nothing,
        "account_data": nothing,
        "room": {
            "timeline": {"types": WANTED_TYPES, "limit": timeline_limit, "lazy_load_members": True},
            "state": {"types": ["m.room.member", "m.room.encryption"], "lazy_load_members": True},
            "ephemeral": nothing,
            "account_data": nothing,
        },
    }


class MatrixAdapter:
    """A :class:`bots.adapter.ChatAdapter` for Matrix, over a matrix-nio ``AsyncClient``."""

    platform = PLATFORM
    text_limit = TEXT_LIMIT

    def __init__(
        self,
        *,
        homeserver: str,
        user: str,
        engine: Engine,
        password: str | None = None,
        access_token: str | None = None,
        device_name: str = DEVICE_NAME,
        timeline_limit: int = TIMELINE_LIMIT,
        sync_timeout_ms: int = SYNC_TIMEOUT_MS,
    ) -> None:
        if not homeserver or not user:
            raise NotConfigured(
                "Matrix 需要 DUBAN_MATRIX_HOMESERVER 和 DUBAN_MATRIX_USER "
                "(homeserver and user are required)"
            )
        if not password and not access_token:
            raise NotConfigured(
                "Matrix 需要 DUBAN_MATRIX_PASSWORD 或 DUBAN_MATRIX_ACCESS_TOKEN "
                "(a password or an access token is required)"
            )
        self.homeserver = homeserver.rstrip("/")
        self.user = user
        self.engine = engine
        self.state = AdapterState(engine, PLATFORM)
        self._password = password
        self._access_token = access_token
        self.device_name = device_name
        self.timeline_limit = timeline_limit
        self.sync_timeout_ms = sync_timeout_ms
        self.user_id: str | None = None  # the bot's MXID, known after login
        self._client: nio.AsyncClient | None = None
        self._on_message: OnMessage | None = None
        self._token: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._members: dict[str, int] = {}  # room id -> joined members (cache)
        self._direct: dict[str, bool] = {}  # room id -> invited as a direct chat (cache)
        self._encrypted: set[str] = set()  # encrypted rooms already warned about
        self.on_invite: OnInvite | None = None  # the hub's rule: join this inviter's room?

    @classmethod
    def from_settings(cls, settings: Any, engine: Engine, **kw: Any) -> MatrixAdapter:
        """From ``DUBAN_MATRIX_*`` (:class:`duban.settings.Settings`)."""
        return cls(
            homeserver=settings.matrix_homeserver or "",
            user=settings.matrix_user or "",
            engine=engine,
            password=settings.matrix_password,
            access_token=settings.matrix_access_token,
            **kw,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        """Log in, restore (or take) the sync token, sync in the background."""
        if self._task is not None:
            raise RuntimeError("the Matrix adapter is already started")
        self._on_message = on_message
        self._stopping = asyncio.Event()
        self._client = nio.AsyncClient(
            self.homeserver,
            self.user,
            config=nio.AsyncClientConfig(
                encryption_enabled=False,
                store_sync_tokens=False,
                max_limit_exceeded=0,
                max_timeouts=0,
                request_timeout=REQUEST_TIMEOUT,
            ),
        )
        try:
            await self._login()
            self._token = await asyncio.to_thread(self.state.get, self._key("sync_token"))
            if self._token is None:
                await self._first_sync()
        except BaseException:
            await self._client.close()
            self._client = None
            raise
        self._task = asyncio.create_task(self._sync_loop(), name="matrix-sync")

    async def stop(self) -> None:
        """Stop syncing after the message in hand; the last handled token stays stored."""
        task, self._task = self._task, None
        self._stopping.set()
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=STOP_GRACE)
            except TimeoutError:
                logger.warning("matrix sync loop did not stop in %.0f s; cancelled", STOP_GRACE)
            except Exception:
                logger.exception("matrix sync loop failed")
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _key(self, name: str) -> str:
        return f"{self.user_id}:{name}"

    async def _login(self) -> None:
        client = self._client
        assert client is not None
        try:
            if self._access_token:
                client.access_token = self._access_token
                who = await client.whoami()
                if isinstance(who, nio.ErrorResponse):
                    raise NotConfigured(
                        f"Matrix 访问令牌无效 (access token rejected: {who.status_code})"
                    )
                client.user_id, client.device_id = who.user_id, who.device_id or ""
            else:  # the device is keyed by the configured user: the MXID is known after login
                stored = await asyncio.to_thread(self.state.get, f"{self.user}:device_id")
                client.device_id = stored or ""
                resp = await client.login(self._password, device_name=self.device_name)
                if isinstance(resp, nio.ErrorResponse):
                    raise NotConfigured(f"Matrix 登录失败 (login failed: {resp.status_code})")
                if resp.device_id != stored:
                    await asyncio.to_thread(
                        self.state.put, f"{self.user}:device_id", resp.device_id
                    )
        except TRANSPORT_ERRORS as exc:
            raise BotError(
                f"无法连接 Matrix 服务器 {self.homeserver} (cannot reach the "
                f"homeserver: {type(exc).__name__})"
            ) from exc
        self.user_id = client.user_id
        logger.info("matrix: logged in as %s (device %s)", client.user_id, client.device_id)

    async def _first_sync(self) -> None:
        """Take the current position without handling history; answer pending invites."""
        client = self._client
        assert client is not None
        # Synapse caches sync responses per device and request for a while (2 minutes by
        # default): a second first start within that time would get a stale position and
        # replay what came after it. A room id nobody has makes this request unique.
        once = sync_filter(1)
        once["room"]["not_rooms"] = [f"!first-start-{uuid.uuid4().hex}:invalid"]
        try:
            resp = await asyncio.wait_for(
                client.sync(timeout=0, sync_filter=once), LONG_REQUEST_TIMEOUT
            )
        except TRANSPORT_ERRORS as exc:
            raise BotError(
                f"Matrix 首次同步失败 (first sync failed: {type(exc).__name__})"
            ) from exc
        if isinstance(resp, nio.ErrorResponse):
            raise BotError(f"Matrix 首次同步失败 (first sync failed: {resp.status_code})")
        for room_id, info in resp.rooms.invite.items():
            await self._answer_invite(room_id, info)
        self._token = resp.next_batch
        await asyncio.to_thread(self.state.put, self._key("sync_token"), resp.next_batch)
        logger.info(
            "matrix: first start, %d room(s) joined; earlier history is not replayed",
            len(resp.rooms.join),
        )

    # -- the sync loop --------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        """Sync, handle, store the token; any failure waits (with backoff) and syncs again."""
        backoff = 1.0
        while not self._stopping.is_set():
            resp = await self._poll()
            if resp is None:
                break  # stopping
            if isinstance(resp, BaseException | nio.ErrorResponse):
                wait = await self._sync_failed(resp, backoff)
            else:
                try:
                    if not await self._handle(resp):
                        break  # stopped mid-batch: the previous token stays stored
                    await asyncio.to_thread(
                        self.state.put, self._key("sync_token"), resp.next_batch
                    )
                    self._token = resp.next_batch
                    backoff = 1.0
                    continue
                except Exception:  # the ledger away, a join that failed: the same batch again
                    logger.exception(
                        "matrix: handling a sync batch failed; fetching it again in %.0f s", backoff
                    )
                    wait = backoff
            if await self._sleep(wait):
                break
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _poll(self) -> nio.SyncResponse | nio.ErrorResponse | BaseException | None:
        """One long poll, abandoned when stop() is called (None then)."""
        client = self._client
        assert client is not None
        poll = asyncio.ensure_future(
            client.sync(
                timeout=self.sync_timeout_ms,
                sync_filter=sync_filter(self.timeline_limit),
                since=self._token,
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait([poll, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, *TRANSPORT_ERRORS):
                await poll
            return None
        try:
            return poll.result()
        except (*TRANSPORT_ERRORS, nio.LocalProtocolError) as exc:
            return exc

    async def _sync_failed(self, error: BaseException | nio.ErrorResponse, backoff: float) -> float:
        """Log a failed sync; log in again when the token expired. Returns the wait."""
        if isinstance(error, BaseException):
            logger.warning(
                "matrix sync failed (%s); retrying in %.0f s", type(error).__name__, backoff
            )
            return backoff
        if error.status_code == "M_LIMIT_EXCEEDED":
            return (error.retry_after_ms or 5000) / 1000
        if error.status_code == "M_UNKNOWN_TOKEN" and self._password:
            logger.warning("matrix: access token expired; logging in again")
            try:
                await self._login()
            except BotError as exc:
                logger.error("matrix: logging in again failed: %s", exc)
            return backoff
        logger.error(
            "matrix sync failed: %s %s; retrying in %.0f s",
            error.status_code,
            _http_status(error),
            backoff,
        )
        return backoff

    async def _sleep(self, seconds: float) -> bool:
        """Wait, unless stop() is called first (then True)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

    async def _handle(self, resp: nio.SyncResponse) -> bool:
        """Invitations, then every room's new messages in order; False if stopped midway."""
        for room_id, invite in resp.rooms.invite.items():
            await self._answer_invite(room_id, invite)
        for room_id in resp.rooms.leave:
            self._members.pop(room_id, None)
            logger.info("matrix: the bot left (or was removed from) room %s", room_id)
        for room_id, room in resp.rooms.join.items():
            self._warn_if_encrypted(room_id)
            events = list(room.timeline.events)
            if room.timeline.limited and room.timeline.prev_batch and self._token:
                self._members.pop(room_id, None)
                events = await self._gap(room_id, room.timeline.prev_batch) + events
            for event in self._after_own_join(events):
                if self._stopping.is_set():
                    return False
                if isinstance(event, nio.RoomMemberEvent):
                    self._members.pop(room_id, None)
                    continue
                msg = await self._incoming(room_id, event)
                if msg is not None:
                    assert self._on_message is not None
                    await self._on_message(msg)
        return True

    def _warn_if_encrypted(self, room_id: str) -> None:
        room = self._client.rooms.get(room_id) if self._client is not None else None
        if room is not None and room.encrypted and room_id not in self._encrypted:
            self._encrypted.add(room_id)
            logger.warning(
                "matrix: room %s is end-to-end encrypted; the bot cannot read it. "
                "Make a room without encryption and bind that one",
                room_id,
            )

    async def _gap(self, room_id: str, prev_batch: str) -> list[Any]:
        """The events between the stored token and a limited timeline, oldest first."""
        client = self._client
        assert client is not None
        found: list[Any] = []
        start = prev_batch
        for _ in range(GAP_PAGES):
            page = await client.room_messages(
                room_id,
                start=start,
                end=self._token,
                direction=nio.MessageDirection.back,
                limit=GAP_PAGE,
                message_filter={"types": WANTED_TYPES},
            )
            if isinstance(page, nio.ErrorResponse):
                raise RuntimeError(f"/messages failed in {room_id}: {page.status_code}")
            found.extend(page.chunk)
            if not page.chunk or not page.end or page.end == start:
                break
            start = page.end
        else:
            logger.warning(
                "matrix: more than %d events missed in room %s; the oldest are skipped",
                GAP_PAGE * GAP_PAGES,
                room_id,
            )
        if found:
            logger.info("matrix: filled a gap of %d event(s) in room %s", len(found), room_id)
        return found[::-1]

    def _after_own_join(self, events: list[Any]) -> list[Any]:
        """Events after the bot's own (latest) join, if it joined in this batch: no history."""
        for index in range(len(events) - 1, -1, -1):
            event = events[index]
            if (
                isinstance(event, nio.RoomMemberEvent)
                and event.state_key == self.user_id
                and event.membership == "join"
                and event.prev_membership != "join"
            ):
                return events[index + 1 :]
        return events

    async def _incoming(self, room_id: str, event: Any) -> IncomingMessage | None:
        image = isinstance(event, nio.RoomMessageImage)
        if not (image or isinstance(event, nio.RoomMessageText)) or event.sender == self.user_id:
            return None
        content = event.source.get("content") or {}
        if image and not _caption(content):
            return None  # a picture without words: nothing to act on
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace":
            return None  # an edit: the original was handled already
        reply_to = (relates.get("m.in_reply_to") or {}).get("event_id")
        if relates.get("rel_type") == "m.thread" and (
            relates.get("is_falling_back") or not reply_to
        ):
            reply_to = relates.get("event_id")  # in a thread: the message it started on
        text = strip_reply_fallback(event.body) if reply_to else event.body
        forwarded = content.get("m.forwarded") or {}
        forwarded_at = forwarded.get("origin_server_ts")
        room = self._client.rooms.get(room_id) if self._client is not None else None
        if image:
            text = _caption(content)
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=room_id,
            sender_id=event.sender,
            message_id=event.event_id,
            text=text,
            attachments=(await self._download(event.url),) if image else (),
            received_at=_utc(event.server_timestamp),
            forwarded_from=forwarded.get("sender") if forwarded else None,
            forwarded_at=_utc(forwarded_at) if isinstance(forwarded_at, int) else None,
            reply_to=reply_to,
            private=await self._is_private(room_id),
            sender_name=room.user_name(event.sender) if room is not None else None,
        )

    async def _download(self, mxc: str) -> Attachment:
        """An ``m.image``'s file from the media repository (raises to retry the batch)."""
        assert self._client is not None
        resp = await self._client.download(mxc=mxc)
        if isinstance(resp, nio.DownloadError):
            raise SendFailed(f"matrix media {mxc}: {resp.message}")
        body = resp.body if isinstance(resp.body, bytes) else Path(resp.body).read_bytes()
        return Attachment(kind="photo", data=body, name=mxc, mime=resp.content_type)

    async def _is_private(self, room_id: str) -> bool:
        """A direct chat (invited with ``is_direct``) of exactly two members: a room an
        administrator just made for a group, still holding only them and the bot, is not."""
        if not await self._is_direct(room_id):
            return False
        count = self._members.get(room_id)
        if count is None:
            assert self._client is not None
            resp = await self._client.joined_members(room_id)
            if isinstance(resp, nio.ErrorResponse):
                logger.info("matrix: members of %s unknown (%s)", room_id, resp.status_code)
                return False
            count = self._members[room_id] = len(resp.members)
        return count == 2

    async def _is_direct(self, room_id: str) -> bool:
        direct = self._direct.get(room_id)
        if direct is None:
            stored = await asyncio.to_thread(self.state.get, self._key(f"direct:{room_id}"))
            direct = self._direct[room_id] = stored == "1"
        return direct

    # -- invitations ----------------------------------------------------------------------------

    async def _answer_invite(self, room_id: str, invite: nio.InviteInfo) -> None:
        client = self._client
        assert client is not None
        inviter = next(
            (
                e.sender
                for e in invite.invite_state
                if isinstance(e, nio.InviteMemberEvent)
                and e.state_key == self.user_id
                and e.membership == "invite"
            ),
            None,
        )
        accepted = (
            inviter is not None
            and self.on_invite is not None
            and await self.on_invite(PLATFORM, inviter)
        )
        if not accepted:
            logger.info("matrix: declined an invitation to room %s", room_id)
            logger.debug("matrix: invitation to %s was from %s", room_id, inviter)
            await _ignore_errors(client.room_leave(room_id), f"declining {room_id}")
            return
        resp = await client.join(room_id)
        if isinstance(resp, nio.ErrorResponse):
            if _permanent(resp):
                logger.warning("matrix: could not join room %s: %s", room_id, resp.status_code)
                return
            raise RuntimeError(f"joining {room_id} failed: {resp.status_code}")  # sync again
        self._members.pop(room_id, None)
        direct = any(
            isinstance(e, nio.InviteMemberEvent)
            and e.state_key == self.user_id
            and e.content.get("is_direct") is True
            for e in invite.invite_state
        )
        if direct:  # remembered in the ledger: a restarted bot still knows the room is a DM
            await asyncio.to_thread(self.state.put, self._key(f"direct:{room_id}"), "1")
        self._direct[room_id] = direct
        logger.info("matrix: joined room %s on an accepted invitation", room_id)

    # -- sending --------------------------------------------------------------------------------

    async def send(self, msg: OutgoingMessage) -> str:
        client = self._client
        if client is None or not client.access_token:
            raise SendFailed("matrix adapter not started")
        if msg.images:
            first = None
            for index, image in enumerate(msg.images):
                content = await self._image(image, msg.text if index == 0 else image.name)
                key = msg.idempotency_key and (
                    msg.idempotency_key if index == 0 else f"{msg.idempotency_key}-i{index}"
                )
                event_id = await self._send_event(
                    msg.chat_id, content, msg.reply_to if index == 0 else None, key
                )
                first = first or event_id
            assert first is not None
            return first
        content = {"msgtype": "m.text", "body": msg.text}
        return await self._send_event(msg.chat_id, content, msg.reply_to, msg.idempotency_key)

    async def _send_event(
        self, room_id: str, content: dict[str, Any], reply_to: str | None, tx_id: str | None
    ) -> str:
        assert self._client is not None
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        resp = await _call(
            self._client.room_send(room_id, "m.room.message", content, tx_id=tx_id),
            f"send to {room_id}",
        )
        return resp.event_id

    async def _image(self, path: Path, caption: str) -> dict[str, Any]:
        """Upload ``path``; the ``m.image`` content naming it (``body`` is the caption)."""
        assert self._client is not None
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise SendFailed(f"image {path.name} unreadable: {exc}", permanent=True) from exc
        uploaded, _ = await _call(
            asyncio.wait_for(
                self._client.upload(
                    lambda *_: data, content_type=mime, filename=path.name, filesize=len(data)
                ),
                LONG_REQUEST_TIMEOUT,
            ),
            f"upload {path.name}",
        )  # nio sets no timeout on uploads
        return {
            "msgtype": "m.image",
            "body": caption,
            "filename": path.name,
            "url": uploaded.content_uri,
            "info": {"mimetype": mime, "size": len(data)},
        }


# -- helpers ------------------------------------------------------------------------------------


async def _call(request: Awaitable[R], what: str) -> R:
    """Await a nio request; an ``ErrorResponse`` (or a transport error) -> ``SendFailed``."""
    try:
        resp = await request
    except TRANSPORT_ERRORS as exc:
        raise SendFailed(f"{what}: {type(exc).__name__}") from exc
    except nio.LocalProtocolError as exc:
        raise SendFailed(f"{what}: {exc}") from exc
    error = resp[0] if isinstance(resp, tuple) else resp
    if isinstance(error, nio.ErrorResponse):
        raise send_failed(error, what)
    return resp


def send_failed(resp: nio.ErrorResponse, what: str = "send") -> SendFailed:
    """Map a nio ``ErrorResponse`` to ``SendFailed`` (rate limit / permanent / retryable)."""
    status = _http_status(resp)
    reason = f"{what}: {resp.status_code or 'error'} (HTTP {status or '?'}) {resp.message}"
    if resp.status_code == "M_LIMIT_EXCEEDED" or status == 429:
        return SendFailed(reason, retry_after=(resp.retry_after_ms or 5000) / 1000)
    return SendFailed(reason, permanent=_permanent(resp))


def _permanent(resp: nio.ErrorResponse) -> bool:
    status = _http_status(resp)
    if resp.status_code in PERMANENT:
        return True
    if resp.status_code in ("M_LIMIT_EXCEEDED", "M_UNKNOWN_TOKEN"):
        return False
    return status is not None and 400 <= status < 500 and status not in (401, 408, 429)


def _http_status(resp: nio.ErrorResponse) -> int | None:
    transport = resp.transport_response
    return getattr(transport, "status", None) if transport is not None else None


async def _ignore_errors(request: Awaitable[Any], what: str) -> None:
    try:
        resp = await request
    except TRANSPORT_ERRORS as exc:
        logger.info("matrix: %s failed: %s", what, type(exc).__name__)
        return
    if isinstance(resp, nio.ErrorResponse):
        logger.info("matrix: %s failed: %s", what, resp.status_code)


def _caption(content: dict[str, Any]) -> str:
    """An ``m.image``'s caption: its ``body`` when a ``filename`` other than it is given
    (Matrix 1.10); otherwise the body is just the file's name."""
    body, filename = content.get("body") or "", content.get("filename")
    return body if filename and filename != body else ""


def strip_reply_fallback(body: str) -> str:
    """A reply's body without the quoted fallback (``> <@a:b> original`` lines, a blank)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith(">"):
        return body
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    if lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def _utc(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def make_adapter(setup: PlatformSetup) -> MatrixAdapter:
    """``duban bot --matrix`` (:mod:`bots.platforms`): from ``DUBAN_MATRIX_*``."""
    return MatrixAdapter.from_settings(setup.settings, setup.engine)
