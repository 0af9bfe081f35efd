"""Refusals of the desk, on top of the ledger's own (state, permission, bad input)."""

from __future__ import annotations

from ledger.errors import IllegalTransition, PermissionDenied


class StaleVersion(IllegalTransition):
    """The ticket moved since the caller saw it; nothing was changed."""


class DutyConflict(PermissionDenied):
    """Separation of duties: a person may not judge or take work of their own unit."""
