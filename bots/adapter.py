"""The interface a chat platform implements. Adapters only translate.

Lifecycle, as :class:`bots.runner.BotRunner` drives it::

    await adapter.start(hub.on_message)   # log in, restore the offset / sync token,
                                          # begin receiving in the background; returns
                                          # once ``send`` works
    mid = await adapter.send(OutgoingMessage(chat_id, text))   # any time after start
    await adapter.stop()                  # stop receiving, finish the message in hand,
                                          # persist the offset, log out

For every message received, the adapter awaits ``on_message(IncomingMessage)`` and only
then records the platform's offset (Telegram ``update_id + 1``, Matrix ``next_batch``) with
:class:`bots.state.AdapterState`, so a restart neither repeats nor skips a message. The hub
also remembers every ``(platform, chat_id, message_id)`` it handled, so a message delivered
twice is handled once.

``send`` returns the platform's id of the message posted (Telegram ``message_id``, Matrix
``event_id``) and raises :class:`bots.errors.SendFailed` for every platform error, with
``retry_after`` for rate limits and ``permanent`` when retrying cannot help. ``text`` is
already split under ``text_limit`` by the core.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bots.messages import OnInvite, OnMessage, OutgoingMessage


@runtime_checkable
class ChatAdapter(Protocol):
    platform: str  # "telegram" | "matrix" | "console" | "memory"
    text_limit: int  # longest text one message may carry (Telegram: 4096)

    async def start(self, on_message: OnMessage) -> None: ...

    async def send(self, msg: OutgoingMessage) -> str: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Invitable(Protocol):
    """An adapter of a platform where the bot is invited into chats (Matrix rooms).

    It asks ``on_invite(platform, inviter_id)`` and joins or declines; the hub sets
    ``on_invite`` to its rule when the adapter is added (:meth:`bots.hub.ChatHub.add`)."""

    on_invite: OnInvite | None
