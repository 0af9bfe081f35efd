"""Refusals of the web desk (login, tokens, forms)."""

from __future__ import annotations

from ledger.errors import BadInput, DubanError, LedgerError, PermissionDenied


class WebError(LedgerError):
    """Base class of the web desk's own errors."""


class LoginRefused(WebError):
    """Wrong code or password, an inactive person, or no password set (never says which)."""

    exit_code = 1


class LoginThrottled(WebError):
    """Too many failed logins for this person or from this address; try later."""


class CsrfRefused(PermissionDenied):
    """A form without the session's CSRF token (another site, or a page from an old login)."""


class BadForm(BadInput):
    """A form field that cannot be accepted; the message names the field."""


def status_of(exc: DubanError) -> int:
    """400 bad input, 403 a refused permission or form, 409 a step the ticket's state or
    version refuses."""
    if getattr(exc, "exit_code", 1) == 2:
        return 400
    return 403 if isinstance(exc, PermissionDenied) else 409
