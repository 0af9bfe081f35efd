"""Errors the ledger raises; callers map them to exit codes or chat replies."""

from __future__ import annotations


class LedgerError(Exception):
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
