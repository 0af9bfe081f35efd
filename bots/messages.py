"""The normalised chat messages every adapter translates to and from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message (a photo), downloaded by the adapter."""

    kind: str  # "photo"
    data: bytes
    name: str | None = None  # the platform's file name or id (logs at DEBUG only)
    mime: str | None = None  # what the platform claimed; the core checks the bytes


@dataclass(frozen=True, slots=True)
class Location:
    """A place the platform sent with the message (Telegram ``location``, Matrix geo)."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """Something a person said (or a button they pressed) in a chat the bot is in."""

    platform: str  # "telegram" | "matrix" | "console" | "memory"
    chat_id: str  # Telegram chat id / Matrix room id / console chat name
    sender_id: str  # Telegram user id / Matrix MXID / console person code
    message_id: str  # dedupe key together with platform and chat (button press: "cb:<id>")
    text: str  # a button press arrives as the command it carries
    received_at: datetime  # UTC-aware
    forwarded_from: str | None = None  # the original sender of a forwarded message
    forwarded_at: datetime | None = None  # … and when it was first sent (UTC-aware)
    reply_to: str | None = None  # platform id of the message this one replies to
    private: bool = False  # a one-to-one chat between the sender and the bot
    sender_name: str | None = None  # display name (logged at DEBUG only)
    attachments: tuple[Attachment, ...] = ()  # photos, downloaded by the adapter
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """A button: platforms that have buttons show ``label``; pressing it sends ``command``.

    A command ending in a space (``"/回复 DB-2026-000123 "``) needs more text: the bot asks
    for it. Platforms without buttons rely on the plain-text command in the message itself.
    """

    label: str
    command: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to post. Plain text: adapters escape it for their formatting, if any."""

    chat_id: str
    text: str
    reply_to: str | None = None  # platform id of the message to answer
    actions: tuple[Action, ...] = ()
    images: tuple[Path, ...] = ()  # sent with ``text`` as the caption (kept short by the core)
    # A stable id for this exact send (delivery and part). Platforms with idempotent sends
    # (Matrix transaction ids) use it so a retry after a crash cannot post twice.
    idempotency_key: str | None = None


class Outcome(StrEnum):
    """What became of an incoming message; adapters may show it (a spent button, a ✅)."""

    DONE = "done"  # a workflow step was taken, a message filed, an account linked
    ANSWERED = "answered"  # information given (help, details, a prompt for more text)
    REFUSED = "refused"  # stranger, unbound chat, no permission, bad input
    IGNORED = "ignored"  # chatter the bot does not answer
    DUPLICATE = "duplicate"  # already handled (re-delivered after a restart)
    FAILED = "failed"  # an unexpected error; the sender was told to try again


OnMessage = Callable[[IncomingMessage], Awaitable[Outcome]]
# Asked by adapters of platforms where the bot is invited into chats (Matrix rooms):
# (platform, inviter's account id) -> join? The rule is the hub's, never the adapter's.
OnInvite = Callable[[str, str], Awaitable[bool]]


@dataclass(slots=True)
class Reply:
    """A handler's answer, before it is split and sent by the hub."""

    text: str
    actions: tuple[Action, ...] = ()
    images: tuple[Path, ...] = ()
    ticket_id: int | None = None  # replying to this message later names the ticket
    quote: bool = True  # answer the incoming message (reply-to) where the platform can


@dataclass(slots=True)
class Response:
    outcome: Outcome
    replies: list[Reply] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Command:
    """A chat command as parsed from a message (``bots.commands.parse``)."""

    name: str  # canonical Chinese name, e.g. "签收"
    number: str | None  # ticket number named in the message, normalised
    args: str  # the rest, newlines kept
    raw: str  # the whole message

    def words(self) -> list[str]:
        return self.args.split()
