"""Errors the ledger raises; callers map them to exit codes or chat replies."""

from __future__ import annotations

import re

# A message written before the two-part form, "中文说明 (english gloss)", is split once
# here, when the error is made; new code passes the two parts.
_GLOSS = re.compile(r"^(?P<user>.*?\S)\s*\((?P<detail>(?=[^()]*[A-Za-z])[^()]*)\)\s*$", re.S)


class DubanError(Exception):
    """An error whose user-facing text (Simplified Chinese) is kept apart from the log text.

    ``user`` is what a person reads in chat, on the web or the console; ``detail`` is an
    English gloss for logs and developers. ``str(exc)`` gives both, as logs want them.
    Every package of the application derives its base error from this one (``classifier``
    keeps its own, since it imports nothing of the application), so front ends show
    ``user_text(exc)`` and never parse a message.
    """

    exit_code = 1

    def __init__(self, user: str = "", detail: str | None = None) -> None:
        if detail is None and (split := _GLOSS.match(user)) and _has_chinese(split["user"]):
            user, detail = split["user"], split["detail"]
        super().__init__(user if not detail else f"{user} ({detail})")
        self.user = user
        self.detail = detail


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def user_text(exc: BaseException) -> str:
    """What a person should read for ``exc``: its Chinese text, without the log's gloss."""
    user = getattr(exc, "user", None)
    return user if isinstance(user, str) and user else str(exc)


class LedgerError(DubanError):
    """Base class. ``exit_code`` follows the CLI contract: 1 failure, 2 bad input."""

    exit_code = 1


class NotFound(LedgerError):
    """A unit, person, message or ticket that does not exist (the caller named it wrongly)."""

    exit_code = 2


class BadInput(LedgerError):
    """Input that cannot be accepted; the message names the field or row."""

    exit_code = 2


class IllegalTransition(LedgerError):
    """A workflow step that the ticket's current state does not allow. Nothing changed."""


class PermissionDenied(LedgerError):
    """The person may not do this to this ticket. Nothing changed."""


class SchemaNotReady(LedgerError):
    """The database has no ledger yet, or an older schema than this version of duban."""


class CalendarError(LedgerError):
    """The calendar override file is malformed."""

    exit_code = 2
