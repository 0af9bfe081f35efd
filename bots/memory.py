"""An in-memory chat platform for tests and the scripted demo: no network, same handlers.

``say(...)`` plays a person speaking in a chat (through the hub, like a real adapter);
everything the bot posts is kept in ``sent``. ``fail_next(SendFailed(...))`` makes the next
sends fail, to exercise the outbox's retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bots.errors import SendFailed
from bots.messages import Action, IncomingMessage, OnMessage, Outcome, OutgoingMessage
from ledger.types import utcnow


@dataclass(frozen=True, slots=True)
class Posted:
    chat_id: str
    message_id: str
    text: str
    reply_to: str | None
    actions: tuple[Action, ...]
    images: tuple[Path, ...]
    idempotency_key: str | None


class MemoryAdapter:
    def __init__(
        self,
        platform: str = "memory",
        *,
        text_limit: int = 4096,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.platform = platform
        self.text_limit = text_limit
        self.clock = clock
        self.sent: list[Posted] = []
        self._on_message: OnMessage | None = None
        self._failures: list[BaseException] = []
        self.started = False

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send(self, msg: OutgoingMessage) -> str:
        if self._failures:
            raise self._failures.pop(0)
        message_id = uuid.uuid4().hex[:12]
        self.sent.append(
            Posted(
                chat_id=msg.chat_id,
                message_id=message_id,
                text=msg.text,
                reply_to=msg.reply_to,
                actions=msg.actions,
                images=msg.images,
                idempotency_key=msg.idempotency_key,
            )
        )
        return message_id

    def fail_next(self, *errors: BaseException) -> None:
        """The next ``len(errors)`` sends raise these (``SendFailed`` or anything else)."""
        self._failures.extend(errors)

    async def say(
        self,
        chat_id: str,
        sender_id: str,
        text: str,
        *,
        reply_to: str | None = None,
        private: bool = False,
        forwarded_from: str | None = None,
        forwarded_at: datetime | None = None,
        message_id: str | None = None,
    ) -> Outcome:
        """A person says ``text`` in ``chat_id``; returns what the hub made of it."""
        if self._on_message is None:
            raise RuntimeError("adapter not started")
        return await self._on_message(
            IncomingMessage(
                platform=self.platform,
                chat_id=chat_id,
                sender_id=sender_id,
                message_id=message_id or uuid.uuid4().hex[:12],
                text=text,
                received_at=self.clock(),
                forwarded_from=forwarded_from,
                forwarded_at=forwarded_at,
                reply_to=reply_to,
                private=private,
            )
        )

    async def press(self, chat_id: str, sender_id: str, posted: Posted, label: str) -> Outcome:
        """Press the button ``label`` under a message the bot posted."""
        action = next(a for a in posted.actions if a.label == label)
        return await self.say(
            chat_id,
            sender_id,
            action.command.strip(),
            reply_to=posted.message_id,
            message_id=f"cb:{uuid.uuid4().hex[:12]}",
        )

    def in_chat(self, chat_id: str) -> list[Posted]:
        return [p for p in self.sent if p.chat_id == chat_id]

    def last(self, chat_id: str) -> Posted:
        posted = self.in_chat(chat_id)
        if not posted:
            raise AssertionError(f"nothing was posted in {chat_id!r}")
        return posted[-1]


__all__ = ["MemoryAdapter", "Posted", "SendFailed"]
