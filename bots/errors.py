"""Errors of the chat layer. Platform errors are translated into these at the adapter."""

from __future__ import annotations

from ledger.errors import DubanError


class BotError(DubanError):
    """Base class; ``exit_code`` follows the CLI contract (1 failure, 2 bad input)."""

    exit_code = 1


class NotConfigured(BotError):
    """A platform was asked for without its settings (token, homeserver) or its module."""

    exit_code = 2


class BadBinding(BotError):
    """A binding, account link or invite that cannot be made as asked."""

    exit_code = 2


class SendFailed(BotError):
    """A platform refused or failed to take a message.

    ``retry_after`` (seconds) is set when the platform said when to try again (a rate limit);
    ``permanent`` when trying again cannot help (the bot was removed from the chat, the chat
    does not exist). Anything else is retried with exponential backoff and never dropped.
    """

    def __init__(
        self, reason: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent


BASE_ERROR = BotError
